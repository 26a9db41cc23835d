"""An Airbyte Configuration-API emulator: a real HTTP server on 127.0.0.1 for tests, demos and users' CI.

It follows Airbyte's OpenAPI spec (config-api.yaml) and the server behaviour the project depends on:
a new UUID per create, duplicate names accepted, update keeps the ID and changes only what Airbyte
changes, 404 for unknown IDs, 200 from ``get`` for a deleted definition, expiring bearer tokens, and the
differences between Airbyte versions (profiles ``0.63``, ``1.6``, ``2.0``).
"""

from __future__ import annotations

import base64
import copy
import json
import random
import re
import secrets
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_airbyte_connectors.testing.contract import ContractValidator

from airflow_airbyte_connectors.testing.faults import FaultInjector, Faults
from airflow_airbyte_connectors.testing.local_server import LocalServer
from airflow_airbyte_connectors.testing.seeds import load_registry

KINDS = ("source", "destination")
DEFAULT_ORGANIZATION_ID = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class Profile:
    """How one Airbyte release line behaves, as far as this project can tell apart."""

    name: str
    auth: str  # "basic" (docker-compose era) or "bearer"
    token_lifetime: float
    workspaces_list: bool  # POST /workspaces/list exists
    list_by_organization: bool  # POST /workspaces/list_by_organization_id exists
    update_requires_workspace: bool
    custom_rename: bool  # update.name renames a custom definition
    error_id_only: bool  # 400/404/500 bodies are {"errorId"} only


PROFILES: dict[str, Profile] = {
    "0.63": Profile("0.63", "basic", 0, True, False, False, False, False),
    "1.6": Profile("1.6", "bearer", 180, True, False, False, True, False),
    "2.0": Profile("2.0", "bearer", 900, False, True, True, True, True),
}

# Enum values the spec allows in SourceDefinitionRead / DestinationDefinitionRead.
_SOURCE_TYPES = {"api", "file", "database", "custom"}
_SUPPORT_LEVELS = {"community", "certified", "archived", "none"}
_RELEASE_STAGES = {"alpha", "beta", "generally_available", "custom"}


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    operation: str
    body: Any
    status: int
    headers: dict[str, str]
    response: Any
    fault: str | None = None  # the fault injected into this exchange, if any; status 0 = no answer


@dataclass
class _Definition:
    kind: str
    read: dict[str, Any]
    tombstone: bool = False

    @property
    def id(self) -> str:
        return self.read[f"{self.kind}DefinitionId"]


class ApiError(Exception):
    def __init__(self, status: int, message: str, validation_errors: list[dict[str, str]] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.validation_errors = validation_errors


@dataclass
class _State:
    definitions: dict[str, dict[str, _Definition]] = field(default_factory=lambda: {k: {} for k in KINDS})
    workspaces: list[dict[str, Any]] = field(default_factory=list)
    tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry (monotonic)
    requests: list[RecordedRequest] = field(default_factory=list)


class AirbyteEmulator(LocalServer):
    """Airbyte's Configuration API for definitions, tokens and workspaces, on 127.0.0.1.

    :param seed: None (no definitions), ``"builtin"`` (the small registry shipped with the package), an
        ``http(s)://`` URL or a path of a registry JSON (``{"sources": [...], "destinations": [...]}``), or
        such a dict. A seed that cannot be read raises :class:`~.seeds.SeedError`.
    :param profile: ``"0.63"``, ``"1.6"`` or ``"2.0"``.
    :param client_id: with ``client_secret``, turns auth on (Basic for 0.63, bearer tokens otherwise).
    :param token_lifetime: seconds a token lives (default: the profile's).
    :param workspaces: how many workspaces the instance has.
    :param older_fraction: share of seeded definitions given an older tag (deterministic from ``rng_seed``).
    :param missing_fraction: share of seeded definitions left out.
    :param write_delay: seconds a create/update takes (Airbyte runs a spec job). The write is applied
        first, so a client that times out meanwhile has still changed the server, as with Airbyte.
    :param unpullable_tags: tags whose create/update fail with 500 after ``write_delay``, changing nothing.
    :param blocked_tags: tags the platform's compatibility matrix blocks: 400 at once, changing nothing.
    :param max_lifetime: the server stops itself after this many seconds.
    :param faults: inject transient failures (see :class:`Faults`); :attr:`faults_injected` counts them.
    :param contract: when given, every request and answer is checked against Airbyte's OpenAPI spec and
        violations are collected in :attr:`contract_violations`.
    """

    thread_name = "airbyte-emulator"

    def __init__(
        self,
        seed: str | Path | Mapping[str, Any] | None = None,
        *,
        profile: str = "2.0",
        client_id: str | None = None,
        client_secret: str | None = None,
        token_lifetime: float | None = None,
        workspaces: int = 1,
        older_fraction: float = 0.0,
        missing_fraction: float = 0.0,
        rng_seed: int = 0,
        write_delay: float = 0.0,
        unpullable_tags: Iterable[str] = (),
        blocked_tags: Iterable[str] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        max_lifetime: float | None = None,
        contract: ContractValidator | None = None,
        faults: Faults | None = None,
    ):
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r}; choose one of {sorted(PROFILES)}")
        self.profile = PROFILES[profile]
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_lifetime = token_lifetime if token_lifetime is not None else self.profile.token_lifetime
        self.write_delay = write_delay
        self.unpullable_tags = frozenset(unpullable_tags)
        self.blocked_tags = frozenset(blocked_tags)
        super().__init__(host=host, port=port, max_lifetime=max_lifetime)
        self.contract = contract
        self.fault_injector = FaultInjector(faults) if faults else None
        self._faults_injected: Counter[str] = Counter()
        self._violations: list[str] = []
        self._lock = threading.RLock()
        self._idle = threading.Condition(self._lock)
        self._in_flight = 0
        self._issued: list[str] = []
        self._state = _State()
        for number in range(1, workspaces + 1):
            self._state.workspaces.append(_workspace("Default Workspace" if number == 1 else f"Workspace {number}"))
        if seed is not None:
            self._seed(seed, older_fraction, missing_fraction, random.Random(rng_seed))

    # -- life cycle ----------------------------------------------------------------------------

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return type("Handler", (_Handler,), {"emulator": self})

    @property
    def auth_enabled(self) -> bool:
        return bool(self.client_id and self.client_secret)

    # -- inspection and direct seeding (no request logged) ---------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._state.requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._state.requests.clear()

    def write_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.operation.rsplit("/", 1)[-1] in ("create_custom", "update", "delete")]

    @property
    def workspace_ids(self) -> list[str]:
        return [w["workspaceId"] for w in self._state.workspaces]

    def definitions(self, kind: str) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(d.read) for d in self._state.definitions[kind].values() if not d.tombstone]

    def add_definition(
        self,
        kind: str,
        *,
        name: str,
        docker_repository: str,
        docker_image_tag: str,
        documentation_url: str,
        custom: bool = False,
        definition_id: str | None = None,
    ) -> dict[str, Any]:
        read = {
            f"{kind}DefinitionId": definition_id or str(uuid.uuid4()),
            "name": name,
            "dockerRepository": docker_repository,
            "dockerImageTag": docker_image_tag,
            "documentationUrl": documentation_url,
            "custom": custom,
        }
        with self._lock:
            self._state.definitions[kind][read[f"{kind}DefinitionId"]] = _Definition(kind, read)
        return copy.deepcopy(read)

    def delete_definition(self, kind: str, definition_id: str) -> None:
        with self._lock:
            self._state.definitions[kind][definition_id].tombstone = True

    def remove(self, kind: str, docker_repository: str) -> None:
        """Forget every definition using ``docker_repository``, as if this Airbyte never had it."""
        with self._lock:
            definitions = self._state.definitions[kind]
            matches = [key for key, d in definitions.items() if d.read["dockerRepository"] == docker_repository]
            if not matches:
                raise KeyError(f"no {kind} definition uses {docker_repository}")
            for key in matches:
                del definitions[key]

    def set_tag(self, kind: str, docker_repository: str, tag: str) -> None:
        """Set the default version of every definition using ``docker_repository`` (an older Airbyte)."""
        with self._lock:
            matches = [
                d for d in self._state.definitions[kind].values() if d.read["dockerRepository"] == docker_repository
            ]
            if not matches:
                raise KeyError(f"no {kind} definition uses {docker_repository}")
            for definition in matches:
                definition.read["dockerImageTag"] = tag

    def issue_token(self) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._state.tokens[token] = time.monotonic() + self.token_lifetime
            self._issued.append(token)
        return token

    @property
    def tokens_issued(self) -> list[str]:
        """Every token handed out so far (tests scan logs and XCom for them)."""
        with self._lock:
            return list(self._issued)

    def expire_tokens(self) -> None:
        with self._lock:
            self._state.tokens.clear()

    # -- request handling ----------------------------------------------------------------------

    def handle(self, path: str, headers: Mapping[str, str], raw_body: bytes) -> tuple[int, Any]:
        """Answer one POST; returns (status, JSON body or None)."""
        operation = path.removeprefix("/api/v1/") if path.startswith("/api/v1/") else path
        if operation == "applications/token" and self.profile.auth == "bearer":
            return self._token(headers, raw_body)
        if self.auth_enabled and not self._authorised(headers):
            return 401, {"message": "Unauthorized"}
        try:
            body = json.loads(raw_body) if raw_body.strip() else None
        except ValueError:
            return self._error(ApiError(400, "Malformed JSON body"))
        try:
            return 200, self._dispatch(operation, body)
        except ApiError as error:
            return self._error(error)

    @property
    def faults_injected(self) -> dict[str, int]:
        """What was injected, by fault; kept across :meth:`set_faults`."""
        with self._lock:
            return dict(self._faults_injected)

    def set_faults(self, faults: Faults | None) -> None:
        """Change (or, with None, stop) fault injection while running."""
        self.fault_injector = FaultInjector(faults) if faults else None

    def draw_fault(self, operation: str) -> str | None:
        fault = self.fault_injector.draw(operation) if self.fault_injector else None
        if fault:
            with self._lock:
                self._faults_injected[fault] += 1
        return fault

    @property
    def contract_violations(self) -> list[str]:
        with self._lock:
            return list(self._violations)

    def begin(self) -> None:
        with self._lock:
            self._in_flight += 1

    def record(self, request: RecordedRequest) -> None:
        violations = []
        if self.contract is not None and request.fault not in ("dropped", "lost_write"):
            violations = self.contract.check(
                method=request.method,
                path=request.path,
                request_body=request.body,
                status=request.status,
                response_body=request.response,
                request_headers=request.headers,
            )
        with self._lock:
            self._violations.extend(violations)
            self._state.requests.append(request)
            self._in_flight -= 1
            self._idle.notify_all()

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Wait until every request received so far has been answered and recorded (slow writes)."""
        with self._idle:
            if not self._idle.wait_for(lambda: self._in_flight == 0, timeout):
                raise TimeoutError(f"{self._in_flight} request(s) still in flight after {timeout}s")

    def _dispatch(self, operation: str, body: Any) -> Any:
        match = re.fullmatch(r"(source|destination)_definitions/(\w+)", operation)
        if match:
            kind, action = match.groups()
            handler = getattr(self, f"_definition_{action}", None)
            if handler is not None:
                return handler(kind, body if isinstance(body, dict) else {})
        if operation == "workspaces/list" and self.profile.workspaces_list:
            return {"workspaces": copy.deepcopy(self._state.workspaces)}
        if operation == "workspaces/list_by_organization_id" and self.profile.list_by_organization:
            _require(body, "organizationId")
            org = body["organizationId"]
            return {"workspaces": [copy.deepcopy(w) for w in self._state.workspaces if w["organizationId"] == org]}
        raise ApiError(404, f"No such endpoint: {operation}")

    def _definition_list(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        return {f"{kind}Definitions": self.definitions(kind)}

    def _definition_list_for_workspace(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        _require(body, "workspaceId")
        self._workspace(body["workspaceId"])
        return self._definition_list(kind, body)

    def _definition_get(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        # Like Airbyte, a deleted (tombstoned) definition is still returned by get.
        return copy.deepcopy(self._find(kind, body, include_deleted=True).read)

    def _definition_create_custom(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        _require(body, f"{kind}Definition")
        fields = body[f"{kind}Definition"]
        missing = [f for f in ("name", "dockerRepository", "dockerImageTag", "documentationUrl") if not fields.get(f)]
        if missing:
            raise ApiError(
                422,
                "Invalid definition",
                [{"propertyPath": f"{kind}Definition.{f}", "message": "must not be null"} for f in missing],
            )
        # Current servers need a workspace (the scope-only form fails).
        _require(body, "workspaceId")
        self._workspace(body["workspaceId"])
        self._spec_job(fields["dockerImageTag"])
        read = self.add_definition(
            kind,
            name=fields["name"],
            docker_repository=fields["dockerRepository"],
            docker_image_tag=fields["dockerImageTag"],
            documentation_url=fields["documentationUrl"],
            custom=True,
        )
        time.sleep(self.write_delay)
        return read

    def _definition_update(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        _require(body, f"{kind}DefinitionId")
        _require(body, "dockerImageTag")
        if "workspaceId" not in body and self.profile.update_requires_workspace:
            raise ApiError(400, "workspaceId is required")
        definition = self._find(kind, body)
        self._spec_job(body["dockerImageTag"])
        with self._lock:
            definition.read["dockerImageTag"] = body["dockerImageTag"]
            if body.get("name") and definition.read.get("custom") and self.profile.custom_rename:
                definition.read["name"] = body["name"]
            if "resourceRequirements" in body:
                definition.read["resourceRequirements"] = body["resourceRequirements"]
            answer = copy.deepcopy(definition.read)
        time.sleep(self.write_delay)
        return answer

    def _definition_delete(self, kind: str, body: dict[str, Any]) -> None:
        definition = self._find(kind, body)
        with self._lock:
            definition.tombstone = True

    def _spec_job(self, tag: str) -> None:
        """Airbyte checks the version, then pulls the image to read its spec; an unpullable tag fails
        after a while."""
        if tag in self.blocked_tags:
            raise ApiError(400, f"Version {tag} is not supported by this Airbyte version")
        if tag in self.unpullable_tags:
            time.sleep(self.write_delay)
            raise ApiError(500, f"Get Spec job failed: image tag {tag} cannot be pulled")

    def _find(self, kind: str, body: dict[str, Any], *, include_deleted: bool = False) -> _Definition:
        key = f"{kind}DefinitionId"
        _require(body, key)
        definition = self._state.definitions[kind].get(str(body[key]))
        if definition is None or (definition.tombstone and not include_deleted):
            raise ApiError(404, f"Could not find configuration for {kind}_definition: {body[key]}.")
        return definition

    def _workspace(self, workspace_id: str) -> dict[str, Any]:
        for workspace in self._state.workspaces:
            if workspace["workspaceId"] == workspace_id:
                return workspace
        raise ApiError(404, f"Could not find configuration for STANDARD_WORKSPACE: {workspace_id}.")

    # -- auth and errors -------------------------------------------------------------------------

    def _token(self, headers: Mapping[str, str], raw_body: bytes) -> tuple[int, Any]:
        if not headers.get("content-type", "").startswith("application/json"):
            return 415, {"message": "Content-Type must be application/json"}
        try:
            body = json.loads(raw_body or b"{}")
        except ValueError:
            return 400, {"message": "Malformed JSON body"}
        missing = [f for f in ("client_id", "client_secret") if not isinstance(body.get(f), str)]
        if missing:
            return 422, {
                "message": "Invalid token request",
                "validationErrors": [{"propertyPath": f, "message": "required"} for f in missing],
            }
        if (body["client_id"], body["client_secret"]) != (self.client_id, self.client_secret):
            return 401, {"message": "Invalid client credentials"}
        return 200, {"access_token": self.issue_token()}

    def _authorised(self, headers: Mapping[str, str]) -> bool:
        header = headers.get("authorization", "")
        if self.profile.auth == "basic":
            expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
            return secrets.compare_digest(header, f"Basic {expected}")
        if not header.startswith("Bearer "):
            return False
        with self._lock:
            expiry = self._state.tokens.get(header.removeprefix("Bearer "))
        return expiry is not None and time.monotonic() < expiry

    def _error(self, error: ApiError) -> tuple[int, Any]:
        if error.status == 422:
            return 422, {"message": error.message, "validationErrors": error.validation_errors or []}
        if self.profile.error_id_only:
            return error.status, {"errorId": str(uuid.uuid4())}
        exception = {400: "BadRequestException", 404: "ConfigNotFoundException"}.get(error.status, "RuntimeException")
        return error.status, {"message": error.message, "exceptionClassName": f"io.airbyte.commons.{exception}"}

    # -- seeding -------------------------------------------------------------------------------

    def _seed(self, seed: str | Path | Mapping[str, Any], older: float, missing: float, rng: random.Random) -> None:
        registry = load_registry(seed)
        for kind in KINDS:
            for entry in registry.get(f"{kind}s", []):
                if entry.get("tombstone") or rng.random() < missing:
                    continue
                read = _read_from_registry(kind, entry)
                if rng.random() < older:
                    read["dockerImageTag"] = older_tag(read["dockerImageTag"])
                self._state.definitions[kind][read[f"{kind}DefinitionId"]] = _Definition(kind, read)


def older_tag(tag: str) -> str:
    """A lower version than ``tag`` (patch, else minor, else major), still a valid Docker tag."""
    parts = tag.split(".")
    for index in range(len(parts) - 1, -1, -1):
        if parts[index].isdigit() and int(parts[index]) > 0:
            parts[index] = str(int(parts[index]) - 1)
            return ".".join(parts)
    return f"{tag}-old"


def _read_from_registry(kind: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    read: dict[str, Any] = {
        f"{kind}DefinitionId": entry[f"{kind}DefinitionId"],
        "name": entry["name"],
        "dockerRepository": entry["dockerRepository"],
        "dockerImageTag": entry["dockerImageTag"],
        "documentationUrl": entry.get("documentationUrl") or "https://docs.airbyte.com",
        "custom": bool(entry.get("custom", False)),
    }
    if entry.get("iconUrl"):
        read["icon"] = entry["iconUrl"]
    if entry.get("supportLevel") in _SUPPORT_LEVELS:
        read["supportLevel"] = entry["supportLevel"]
    if entry.get("releaseStage") in _RELEASE_STAGES:
        read["releaseStage"] = entry["releaseStage"]
    if kind == "source" and entry.get("sourceType") in _SOURCE_TYPES:
        read["sourceType"] = entry["sourceType"]
    if entry.get("language"):
        read["language"] = entry["language"]
    return read


def _workspace(name: str) -> dict[str, Any]:
    return {
        "workspaceId": str(uuid.uuid4()),
        "customerId": str(uuid.uuid4()),
        "organizationId": DEFAULT_ORGANIZATION_ID,
        "name": name,
        "slug": re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-"),
        "initialSetupComplete": True,
    }


def _require(body: Any, key: str) -> None:
    if not isinstance(body, dict) or body.get(key) in (None, ""):
        raise ApiError(422, f"{key} is required", [{"propertyPath": key, "message": "must not be null"}])


class _Handler(BaseHTTPRequestHandler):
    emulator: AirbyteEmulator
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.emulator.begin()
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        fault = self.emulator.draw_fault(self.path.removeprefix("/api/v1/"))
        if fault == "error":
            status = self.emulator.fault_injector.error_status()  # type: ignore[union-attr]
            return self._answer(status, {"errorId": str(uuid.uuid4())}, headers, raw_body, fault)
        if fault == "rate_limited":
            retry_after = self.emulator.fault_injector.faults.retry_after  # type: ignore[union-attr]
            return self._answer(
                429,
                {"message": "Too Many Requests"},
                headers,
                raw_body,
                fault,
                extra_headers={"Retry-After": str(retry_after)},
            )
        if fault == "dropped":
            return self._drop(headers, raw_body, fault)
        if fault == "slow":
            time.sleep(self.emulator.fault_injector.faults.slow_seconds)  # type: ignore[union-attr]
        status, answer = self.emulator.handle(self.path, headers, raw_body)
        if fault == "lost_write":
            return self._drop(headers, raw_body, fault)
        self._answer(status, answer, headers, raw_body, fault)

    def do_GET(self) -> None:  # noqa: N802
        self.emulator.begin()
        self._answer(405 if self.path.startswith("/api/v1/") else 404, {"message": "Use POST"}, {}, b"")

    do_PUT = do_DELETE = do_PATCH = do_GET  # noqa: N815

    def _record(self, status: int, answer: Any, headers: dict[str, str], raw_body: bytes, fault: str | None) -> None:
        try:
            body = json.loads(raw_body) if raw_body.strip() else None
        except ValueError:
            body = raw_body.decode("utf-8", "replace")
        self.emulator.record(
            RecordedRequest(
                method=self.command,
                path=self.path,
                operation=self.path.removeprefix("/api/v1/"),
                body=body,
                status=status,
                headers=headers,
                response=answer,
                fault=fault,
            )
        )

    def _drop(self, headers: dict[str, str], raw_body: bytes, fault: str) -> None:
        """Close the connection without answering (the client sees it reset or closed)."""
        self._record(0, None, headers, raw_body, fault)
        self.close_connection = True

    def _answer(
        self,
        status: int,
        answer: Any,
        headers: dict[str, str],
        raw_body: bytes,
        fault: str | None = None,
        extra_headers: dict[str, str] | None = None,
    ) -> None:
        if answer is None and status == 200:
            status = 204
        payload = b"" if answer is None else json.dumps(answer).encode()
        self._record(status, answer, headers, raw_body, fault)
        self.send_response(status)
        if payload:
            self.send_header("Content-Type", "application/json")
        for name, value in (extra_headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence: keep logs free of headers
        return
