"""An Airbyte Configuration-API emulator: a real HTTP server on 127.0.0.1 for tests, demos and users' CI.

It follows Airbyte's OpenAPI spec (config-api.yaml) and the server behaviour the project depends on:
a new UUID per create, duplicate names accepted, update keeps the ID and changes only what Airbyte
changes, 404 for unknown IDs, 200 from ``get`` for a deleted definition, expiring bearer tokens, and the
differences between Airbyte versions (profiles ``0.63``, ``1.6``, ``2.0``, ``2.2``, ``2.4``).

This module routes requests and speaks HTTP; each resource's endpoints live beside its state.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_airbyte_connectors.testing.contract import ContractValidator

from airflow_airbyte_connectors.core.kinds import KINDS
from airflow_airbyte_connectors.testing.actors import ActorStore
from airflow_airbyte_connectors.testing.actors_api import ActorEndpoints
from airflow_airbyte_connectors.testing.auth import DEFAULT_ORGANIZATION_ID, Auth, Workspaces
from airflow_airbyte_connectors.testing.auth_api import AuthEndpoints
from airflow_airbyte_connectors.testing.commands_api import COMMAND_ACTIONS, CommandEndpoints
from airflow_airbyte_connectors.testing.definitions import DefinitionStore, older_tag
from airflow_airbyte_connectors.testing.definitions_api import DEFINITION_ACTIONS, DefinitionEndpoints
from airflow_airbyte_connectors.testing.errors import ApiError, problem_body
from airflow_airbyte_connectors.testing.faults import DrawnFault, FaultInjector, Faults, WriteHolds
from airflow_airbyte_connectors.testing.jobs import JobStore
from airflow_airbyte_connectors.testing.jobs_api import SYNC_JOBS_CONTROL_PATH, JobEndpoints
from airflow_airbyte_connectors.testing.registry import ConnectorRegistry
from airflow_airbyte_connectors.testing.registry_api import (
    PLATFORM_COMPATIBILITY_PATH,
    REGISTRY_PATH,
    RegistryEndpoints,
)
from airflow_airbyte_connectors.testing.seeds import load_registry
from airflow_airbyte_connectors.testing.state import PROFILES, Profile

# Re-exported: callers import these from here.
__all__ = [
    "DEFAULT_ORGANIZATION_ID",
    "KINDS",
    "PROFILES",
    "AirbyteEmulator",
    "ApiError",
    "Profile",
    "RecordedRequest",
    "older_tag",
]


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
    seconds: float = 0.0  # from the request read to its answer (or its drop)


class AirbyteEmulator(
    DefinitionEndpoints, ActorEndpoints, JobEndpoints, AuthEndpoints, CommandEndpoints, RegistryEndpoints
):
    """Airbyte's Configuration API for definitions, sources, destinations, connections, actor versions, sync
    jobs, tokens and workspaces, on 127.0.0.1; and the connector registry it consults, over HTTP too.

    This class is the facade: routing, request log, contract checks and faults. Each resource's endpoints
    live beside its state: :mod:`.definitions_api`, :mod:`.actors_api`, :mod:`.jobs_api`, :mod:`.auth_api` and
    :mod:`.registry_api` over :mod:`.definitions`, :mod:`.actors`, :mod:`.jobs`, :mod:`.auth` and
    :mod:`.registry`, all guarded by one lock (:class:`~.state.EmulatorState`).

    Endpoints (``POST /api/v1/...``): ``{source,destination}_definitions/{list, list_for_workspace, get,
    create_custom, update, delete}``, ``{sources,destinations}/{search, list, get}``, ``connections/list``,
    ``actor_definition_versions/get_for_{source,destination}``, ``jobs/list``, ``deployment/metadata``,
    ``applications/token``, ``commands/{run/spec, status, output/spec}`` (2.0 and later; see :mod:`.commands_api`),
    ``workspaces/list`` (profiles 0.63, 1.6) or ``workspaces/list_by_organization_id`` (2.0 and later).
    ``GET /registry/oss_registry.json`` and ``GET /metadata/<dockerRepository>/latest/oss.json`` serve the
    registry (see :attr:`registry_url`), ``GET /files/platform/v0/platform-compatibility.json`` the matrix
    (:attr:`platform_compatibility_url`).

    Control endpoint, for tests that run the emulator in another process (not Airbyte's API: no credentials
    asked, no faults injected, never checked against the contract): ``POST /emulator/control/sync_jobs`` with
    ``{"connectionId": ..., "status": ..., "createdAt": <epoch seconds>, "updatedAt": ..., "configType": ...}``
    (the last three optional) gives a connection a job, as :meth:`add_sync_job` does in-process; it answers 200
    with the ``JobRead`` (an ``id`` that increases), or 400 with a ``message``.

    :param seed: None (no definitions), ``"builtin"`` (the small registry shipped with the package), an
        ``http(s)://`` URL or a path of a registry JSON (``{"sources": [...], "destinations": [...]}``), or
        such a dict. A seed that cannot be read raises :class:`~.seeds.SeedError`.
    :param profile: ``"0.63"``, ``"1.6"``, ``"2.0"``, ``"2.2"`` (HTTP Basic answered 401) or ``"2.4"`` (also 403
        for a request whose resources span workspaces or organizations).
    :param client_id: with ``client_secret``, turns auth on (Basic for 0.63, bearer tokens otherwise; Basic
        too before 2.2).
    :param token_lifetime: seconds a token lives (default: the profile's).
    :param workspaces: how many workspaces the instance has.
    :param older_fraction: share of seeded definitions given an older tag (deterministic from ``rng_seed``).
    :param missing_fraction: share of seeded definitions left out.
    :param write_delay: seconds a SPEC job takes: inside a create/update, or as a SPEC command. The write is
        applied first, so a client that times out meanwhile has still changed the server, as with Airbyte. A
        create with ``connectorSpecification`` (2.2 and 2.4 profiles) runs no SPEC job and does not wait.
    :param unpullable_tags: tags whose create/update fail with 500 after ``write_delay``, changing nothing; and
        whose SPEC command fails ("Failed to pull container image").
    :param crashing_tags: tags whose SPEC command fails (the connector exits with code 1).
    :param blocked_tags: tags blocked whatever the connector: 400 at once ("temporarily blocked from upgrade"),
        changing nothing.
    :param compatibility_matrix: a platform-compatibility matrix (``{"compatibleConnectors": [...]}``) that
        ``update`` enforces as Airbyte does (400, Airbyte's problem body and wording). Settable while running.
    :param airbyte_version: what ``instance_configuration`` and ``deployment/metadata`` answer as the version
        (default ``<profile>.0``, e.g. ``2.0.0``); the matrix is checked against it.
    :param organization_id: the default organization's ID (default Airbyte's zero UUID).
    :param max_lifetime: the server stops itself after this many seconds.
    :param faults: inject transient failures (see :class:`Faults`); :attr:`faults_injected` counts them.
    :param contract: when given, every request and answer is checked against Airbyte's OpenAPI spec and
        violations are collected in :attr:`contract_violations`.
    :param registry: the connector registry (as ``seed``: path, URL, ``"builtin"`` or a dict) whose
        ``releases.breakingChanges`` a definition ``update`` uses to pin actors back, as Airbyte does with
        ``metadata/<repo>/latest/oss.json``. None: no registry, so no connector has breaking changes.
    :param registry_unreachable: the registry cannot be fetched (an air-gapped Airbyte): definition
        ``update`` answers 500 and changes nothing; the HTTP registry answers 503. Settable while running.
    :param deployment_id: what ``deployment/metadata`` answers as the instance's ``id`` (default: a new UUID,
        kept for the emulator's life, whichever URL reaches it). Settable while running; None: the call
        answers 404, as a server without it would.
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
        crashing_tags: Iterable[str] = (),
        compatibility_matrix: Mapping[str, Any] | None = None,
        airbyte_version: str | None = None,
        organization_id: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        max_lifetime: float | None = None,
        contract: ContractValidator | None = None,
        faults: Faults | None = None,
        registry: str | Path | Mapping[str, Any] | None = None,
        registry_unreachable: bool = False,
        deployment_id: str | None = None,
    ):
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r}; choose one of {sorted(PROFILES)}")
        self.profile = PROFILES[profile]
        lifetime = token_lifetime if token_lifetime is not None else self.profile.token_lifetime
        self._auth = Auth(self.profile.auth, client_id, client_secret, lifetime, basic=self.profile.basic_auth)
        self.write_delay = write_delay
        self.deployment_id: str | None = deployment_id or str(uuid.uuid4())
        self.unpullable_tags = frozenset(unpullable_tags)
        self.blocked_tags = frozenset(blocked_tags)
        self.crashing_tags = frozenset(crashing_tags)
        self._commands = {}
        self.compatibility_matrix = compatibility_matrix
        self.airbyte_version = airbyte_version or f"{self.profile.name}.0"
        super().__init__(host=host, port=port, max_lifetime=max_lifetime)
        self.contract = contract
        self.fault_injector = FaultInjector(faults) if faults else None
        self._faults_injected: Counter[str] = Counter()
        self.write_holds = WriteHolds()  # writes to hold open (see WriteHolds.hold)
        self._violations: list[str] = []
        self._requests: list[RecordedRequest] = []
        self._lock = threading.RLock()
        self._idle = threading.Condition(self._lock)
        self._in_flight = 0
        self._workspaces = Workspaces(workspaces)
        self.organization_id = organization_id or DEFAULT_ORGANIZATION_ID
        for workspace in self._workspaces.reads:
            workspace["organizationId"] = self.organization_id
        self._definitions = DefinitionStore()
        self._actors = ActorStore()
        self._jobs = JobStore()
        document = load_registry(registry) if registry is not None else None
        self._registry = ConnectorRegistry(document, unreachable=registry_unreachable)
        if seed is not None:
            self._definitions.seed(load_registry(seed), older_fraction, missing_fraction, random.Random(rng_seed))

    # -- life cycle ----------------------------------------------------------------------------

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return type("Handler", (_Handler,), {"emulator": self})

    # -- request log ------------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def write_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.operation.rsplit("/", 1)[-1] in ("create_custom", "update", "delete")]

    # -- request handling ----------------------------------------------------------------------

    def handle_get(self, path: str) -> tuple[int, Any]:
        """Answer a GET: ``instance_configuration`` (anonymous, as in Airbyte), or the registry: the whole
        document, or one connector's ``latest/oss.json``."""
        if path == "/api/v1/instance_configuration":
            return 200, self._instance_configuration()
        if path == REGISTRY_PATH:
            return self._registry_document()
        if path == PLATFORM_COMPATIBILITY_PATH:
            return self._platform_compatibility()
        metadata = re.fullmatch(r"/metadata/(.+)/latest/oss\.json", path)
        if metadata:
            return self._registry_entry(metadata[1])
        return (405, {"message": "Use POST"}) if path.startswith("/api/v1/") else (404, {"message": "Not found"})

    def handle(self, path: str, headers: Mapping[str, str], raw_body: bytes) -> tuple[int, Any]:
        """Answer one POST; returns (status, JSON body or None)."""
        if path == SYNC_JOBS_CONTROL_PATH:  # a test's channel, not Airbyte's API: asks for no credentials
            return self._control_add_sync_job(raw_body)
        operation = path.removeprefix("/api/v1/") if path.startswith("/api/v1/") else path
        if operation == "applications/token" and self.profile.auth == "bearer":
            return self._token(headers, raw_body)
        if not self._authorised(headers):
            return 401, {"message": "Unauthorized"}
        try:
            body = json.loads(raw_body) if raw_body.strip() else None
        except ValueError:
            return self._error(ApiError(400, "Malformed JSON body"))
        if refusal := self._scope_refusal(body):
            return refusal
        try:
            with self.write_holds.around(operation, body):
                return 200, self._dispatch(operation, body)
        except ApiError as error:
            return self._error(error)

    def _dispatch(self, operation: str, body: Any) -> Any:
        fields = body if isinstance(body, dict) else {}
        match = re.fullmatch(r"(source|destination)_definitions/(\w+)", operation)
        if match and match[2] in DEFINITION_ACTIONS:
            return getattr(self, f"_definition_{match[2]}")(match[1], fields)
        match = re.fullmatch(r"(source|destination)s/(search|list|get)", operation)
        if match:
            return getattr(self, f"_actor_{match[2]}")(match[1], fields)
        match = re.fullmatch(r"actor_definition_versions/get_for_(source|destination)", operation)
        if match:
            return self._actor_version_read(match[1], fields)
        if operation == "connections/list":
            return self._connections_list(body)
        if operation == "jobs/list":
            return self._jobs_list(fields)
        command = COMMAND_ACTIONS.get(operation.removeprefix("commands/"))
        if operation.startswith("commands/") and command and self.profile.spec_commands:
            return getattr(self, f"_command_{command}")(fields)
        if operation == "deployment/metadata" and self.deployment_id is not None:
            return {"id": self.deployment_id, "mode": "OSS", "version": self.airbyte_version}
        if operation == "workspaces/list" and self.profile.workspaces_list:
            return self._workspaces_list()
        if operation == "workspaces/list_by_organization_id" and self.profile.list_by_organization:
            return self._workspaces_list_by_organization_id(body)
        raise ApiError(404, f"No such endpoint: {operation}")

    def _instance_configuration(self) -> dict[str, Any]:
        with self._lock:
            workspace = self._workspaces.reads[0]["workspaceId"] if self._workspaces.reads else str(uuid.uuid4())
        return {
            "edition": "community",
            "version": self.airbyte_version,
            "licenseStatus": "pro",
            "auth": {"mode": "simple" if self._auth.enabled else "none"},
            "airbyteUrl": self.url,
            "initialSetupComplete": True,
            "defaultUserId": "00000000-0000-0000-0000-000000000000",
            "defaultOrganizationId": self.organization_id,
            "defaultOrganizationEmail": "admin@example.com",
            "defaultWorkspaceId": workspace,
            "trackingStrategy": "logging",
        }

    def _error(self, error: ApiError) -> tuple[int, Any]:
        if error.problem:
            return error.status, problem_body(error.status, error.message)
        if error.status == 422:
            return 422, {"message": error.message, "validationErrors": error.validation_errors or []}
        if self.profile.error_id_only:
            return error.status, {"errorId": str(uuid.uuid4())}
        exception = {400: "BadRequestException", 404: "ConfigNotFoundException"}.get(error.status, "RuntimeException")
        return error.status, {"message": error.message, "exceptionClassName": f"io.airbyte.commons.{exception}"}

    # -- faults, contract, in-flight requests ------------------------------------------------------

    @property
    def faults_injected(self) -> dict[str, int]:
        """What was injected, by fault; kept across :meth:`set_faults`."""
        with self._lock:
            return dict(self._faults_injected)

    def set_faults(self, faults: Faults | None) -> None:
        """Change (or, with None, stop) fault injection while running."""
        self.fault_injector = FaultInjector(faults) if faults else None

    def draw_fault(self, operation: str) -> DrawnFault | None:
        injector = self.fault_injector  # read once: set_faults may swap it meanwhile
        fault = injector.draw(operation) if injector else None
        if injector is None or fault is None:
            return None
        with self._lock:
            self._faults_injected[fault] += 1
        return DrawnFault(fault, injector)

    def begin(self) -> None:
        with self._lock:
            self._in_flight += 1

    def record(self, request: RecordedRequest) -> None:
        violations = []
        # Only the Configuration API has a contract; the registry's documents are not in the spec.
        api_call = request.path.startswith("/api/")
        if self.contract is not None and api_call and request.fault not in ("dropped", "lost_write"):
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
            self._requests.append(request)
            self._in_flight -= 1
            self._idle.notify_all()

    @property
    def contract_violations(self) -> list[str]:
        """What the ``contract`` check found wrong in the requests and answers recorded so far."""
        with self._lock:
            return list(self._violations)

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Wait until every request received so far has been answered and recorded (slow writes)."""
        with self._idle:
            if not self._idle.wait_for(lambda: self._in_flight == 0, timeout):
                raise TimeoutError(f"{self._in_flight} request(s) still in flight after {timeout}s")


class _Handler(BaseHTTPRequestHandler):
    emulator: AirbyteEmulator
    started: float  # time.monotonic() when the request came in
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without TCP_NODELAY the body waits for the client's delayed
    # ACK (about 40 ms a request on Linux), which no real server adds.
    disable_nagle_algorithm = True

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.started = time.monotonic()
        self.emulator.begin()
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        # Faults are Airbyte's; the control endpoint is the test's own channel.
        if self.path == SYNC_JOBS_CONTROL_PATH:
            drawn = None
        else:
            drawn = self.emulator.draw_fault(self.path.removeprefix("/api/v1/"))
        if drawn and self._inject(drawn, headers, raw_body):
            return
        fault = drawn.name if drawn else None
        status, answer = self.emulator.handle(self.path, headers, raw_body)
        if fault == "lost_write":
            return self._drop(headers, raw_body, fault)
        self._answer(status, answer, headers, raw_body, fault)

    def _inject(self, drawn: DrawnFault, headers: dict[str, str], raw_body: bytes) -> bool:
        """Answer a fault that replaces the handling (True), or wait out a slow one (False: handle it)."""
        faults = drawn.injector.faults
        if drawn.name == "error":
            status = drawn.injector.error_status()
            self._answer(status, {"errorId": str(uuid.uuid4())}, headers, raw_body, drawn.name)
        elif drawn.name == "rate_limited":
            self._answer(
                429,
                {"message": "Too Many Requests"},
                headers,
                raw_body,
                drawn.name,
                extra_headers={"Retry-After": str(faults.retry_after)},
            )
        elif drawn.name == "dropped":
            self._drop(headers, raw_body, drawn.name)
        else:
            if drawn.name == "slow":
                time.sleep(faults.slow_seconds)
            return False
        return True

    def do_GET(self) -> None:  # noqa: N802
        self.started = time.monotonic()
        self.emulator.begin()
        status, answer = self.emulator.handle_get(self.path)
        self._answer(status, answer, {k.lower(): v for k, v in self.headers.items()}, b"")

    def do_PUT(self) -> None:  # noqa: N802
        self.started = time.monotonic()
        self.emulator.begin()
        self._answer(405 if self.path.startswith("/api/v1/") else 404, {"message": "Use POST"}, {}, b"")

    do_DELETE = do_PATCH = do_PUT  # noqa: N815

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
                seconds=time.monotonic() - self.started,
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
        self._send(status, payload, extra_headers or {})

    def _send(self, status: int, payload: bytes, extra_headers: dict[str, str]) -> None:
        try:
            self.send_response(status)
            if payload:
                self.send_header("Content-Type", "application/json")
            for name, value in extra_headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            # The client stopped waiting (a short timeout against a slow write); Airbyte carries on too.
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence: keep logs free of headers
        return
