"""An Airbyte Configuration-API emulator: a real HTTP server on 127.0.0.1 for tests, demos and users' CI.

It follows Airbyte's OpenAPI spec (config-api.yaml) and the server behaviour the project depends on:
a new UUID per create, duplicate names accepted, update keeps the ID and changes only what Airbyte
changes, 404 for unknown IDs, 200 from ``get`` for a deleted definition, expiring bearer tokens, and the
differences between Airbyte versions (profiles ``0.63``, ``1.6``, ``2.0``).
"""

from __future__ import annotations

import copy
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

from airflow_airbyte_connectors.testing.actors import ActorRecord, ActorStore, masked
from airflow_airbyte_connectors.testing.auth import DEFAULT_ORGANIZATION_ID, Auth, Workspaces
from airflow_airbyte_connectors.testing.definitions import KINDS, Definition, DefinitionStore, older_tag
from airflow_airbyte_connectors.testing.errors import ApiError, require
from airflow_airbyte_connectors.testing.faults import FaultInjector, Faults, WriteHolds
from airflow_airbyte_connectors.testing.local_server import LocalServer
from airflow_airbyte_connectors.testing.registry import ConnectorRegistry, support_state, upcoming
from airflow_airbyte_connectors.testing.seeds import load_registry

# Re-exported: callers import these from here.
__all__ = [
    "DEFAULT_ORGANIZATION_ID",
    "KINDS",
    "PROFILES",
    "AirbyteEmulator",
    "ApiError",
    "RecordedRequest",
    "older_tag",
]


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
    paginated_actor_lists: bool = False  # sources/list and destinations/list page by cursor (v1.8.0+)


PROFILES: dict[str, Profile] = {
    "0.63": Profile("0.63", "basic", 0, True, False, False, False, False),
    "1.6": Profile("1.6", "bearer", 180, True, False, False, True, False),
    "2.0": Profile("2.0", "bearer", 900, False, True, True, True, True, paginated_actor_lists=True),
}


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


class AirbyteEmulator(LocalServer):
    """Airbyte's Configuration API for definitions, sources, destinations, connections, actor versions,
    tokens and workspaces, on 127.0.0.1; and the connector registry it consults, over HTTP too.

    This class is the facade: HTTP dispatch, request log, contract checks and faults. The state lives in
    one object per resource (:mod:`.definitions`, :mod:`.actors`, :mod:`.auth`, :mod:`.registry`), all
    guarded by one lock.

    Endpoints (``POST /api/v1/...``): ``{source,destination}_definitions/{list, list_for_workspace, get,
    create_custom, update, delete}``, ``{sources,destinations}/{search, list, get}``, ``connections/list``,
    ``actor_definition_versions/get_for_{source,destination}``, ``applications/token``, ``workspaces/list``
    (profiles 0.63, 1.6) or ``workspaces/list_by_organization_id`` (2.0). ``GET /registry/oss_registry.json``
    and ``GET /metadata/<dockerRepository>/latest/oss.json`` serve the registry (see :attr:`registry_url`).

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
    :param registry: the connector registry (as ``seed``: path, URL, ``"builtin"`` or a dict) whose
        ``releases.breakingChanges`` a definition ``update`` uses to pin actors back, as Airbyte does with
        ``metadata/<repo>/latest/oss.json``. None: no registry, so no connector has breaking changes.
    :param registry_unreachable: the registry cannot be fetched (an air-gapped Airbyte): definition
        ``update`` answers 500 and changes nothing; the HTTP registry answers 503. Settable while running.
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
        registry: str | Path | Mapping[str, Any] | None = None,
        registry_unreachable: bool = False,
    ):
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r}; choose one of {sorted(PROFILES)}")
        self.profile = PROFILES[profile]
        lifetime = token_lifetime if token_lifetime is not None else self.profile.token_lifetime
        self._auth = Auth(self.profile.auth, client_id, client_secret, lifetime)
        self.write_delay = write_delay
        self.unpullable_tags = frozenset(unpullable_tags)
        self.blocked_tags = frozenset(blocked_tags)
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
        self._definitions = DefinitionStore()
        self._actors = ActorStore()
        document = load_registry(registry) if registry is not None else None
        self._registry = ConnectorRegistry(document, unreachable=registry_unreachable)
        if seed is not None:
            self._definitions.seed(load_registry(seed), older_fraction, missing_fraction, random.Random(rng_seed))

    # -- life cycle ----------------------------------------------------------------------------

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return type("Handler", (_Handler,), {"emulator": self})

    @property
    def client_id(self) -> str | None:
        return self._auth.client_id

    @property
    def client_secret(self) -> str | None:
        return self._auth.client_secret

    @property
    def token_lifetime(self) -> float:
        return self._auth.token_lifetime

    @property
    def auth_enabled(self) -> bool:
        return self._auth.enabled

    # -- inspection and direct seeding (no request logged) ---------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def write_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.operation.rsplit("/", 1)[-1] in ("create_custom", "update", "delete")]

    @property
    def workspace_ids(self) -> list[str]:
        return self._workspaces.ids

    def definitions(self, kind: str) -> list[dict[str, Any]]:
        with self._lock:
            return self._definitions.reads(kind)

    def add_definition(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Add a definition (no request logged); ``fields`` as :meth:`DefinitionStore.add` takes them."""
        with self._lock:
            return self._definitions.add(kind, **fields)

    def delete_definition(self, kind: str, definition_id: str) -> None:
        with self._lock:
            self._definitions.by_kind[kind][definition_id].tombstone = True
            self._actors.delete_for_definition(kind, definition_id)

    def remove(self, kind: str, docker_repository: str) -> None:
        """Forget every definition using ``docker_repository``, as if this Airbyte never had it."""
        with self._lock:
            self._definitions.remove(kind, docker_repository)

    def set_tag(self, kind: str, docker_repository: str, tag: str) -> None:
        """Set the default version of every definition using ``docker_repository`` (an older Airbyte)."""
        with self._lock:
            for definition in self._definitions.with_repository(kind, docker_repository):
                definition.read["dockerImageTag"] = tag

    # -- sources, destinations, connections, version pins (direct; no request logged) ----------

    def add_source(
        self,
        definition: str,
        *,
        name: str,
        workspace_id: str | None = None,
        configuration: Mapping[str, Any] | None = None,
    ) -> str:
        """Create a source of ``definition`` (a definition ID or ``dockerRepository``); returns its sourceId.

        ``workspace_id`` defaults to the first workspace; ``configuration`` to a small one with one
        secret (answered masked as ``**********``).
        """
        return self._add_actor("source", definition, name, workspace_id, configuration)

    def add_destination(
        self,
        definition: str,
        *,
        name: str,
        workspace_id: str | None = None,
        configuration: Mapping[str, Any] | None = None,
    ) -> str:
        """Create a destination, like :meth:`add_source`; returns its destinationId."""
        return self._add_actor("destination", definition, name, workspace_id, configuration)

    def _add_actor(
        self, kind: str, definition: str, name: str, workspace_id: str | None, configuration: Mapping[str, Any] | None
    ) -> str:
        with self._lock:
            found = self._definitions.resolve(kind, definition)
            workspace = workspace_id or self._workspaces.ids[0]
            self._workspaces.find(workspace)
            actor = self._actors.add_actor(
                kind, definition_id=found.id, workspace_id=workspace, name=name, configuration=configuration
            )
            return actor.id

    def add_connection(
        self, source_id: str, destination_id: str, streams: Mapping[str, bool] | Iterable[str], **options: Any
    ) -> str:
        """Connect a source to a destination (same workspace); returns the connectionId. ``streams`` and
        ``options`` (``status``, ``name``) as :meth:`ActorStore.add_connection` takes them."""
        with self._lock:
            return self._actors.add_connection(source_id, destination_id, streams, **options).id

    def pin_actor(
        self, kind: str, actor_id: str, tag: str, *, origin: str = "user", breaking_change: str | None = None
    ) -> None:
        """Pin one source/destination to ``tag`` (an actor-scoped ``connector_version`` configuration).

        :param origin: ``"user"`` (shown as ``isVersionOverrideApplied``; never moved by ``update``) or
            ``"breaking_change"`` (as ``update`` makes them; give the breaking change's version).
        """
        with self._lock:
            self._actors.pin(kind, actor_id, tag, origin=origin, breaking_change=breaking_change)

    def unpin_actor(self, kind: str, actor_id: str) -> None:
        """Remove an actor's pin (it follows its definition's default again)."""
        with self._lock:
            self._actors.pins[kind].pop(actor_id, None)

    def actor_version(self, kind: str, actor_id: str) -> str:
        """The tag the actor runs: its pin's, else its definition's default."""
        with self._lock:
            actor = self._actors.get(kind, actor_id)
            return self._actors.version(actor, self._definitions.by_kind[kind][actor.definition_id].tag)

    def actor_pins(self, kind: str) -> dict[str, tuple[str, str, str | None]]:
        """Every pin of ``kind``: actor ID -> (tag, origin, breaking-change version or None)."""
        with self._lock:
            return {key: (pin.tag, pin.origin, pin.breaking_change) for key, pin in self._actors.pins[kind].items()}

    # -- the connector registry ------------------------------------------------------------------

    @property
    def registry_unreachable(self) -> bool:
        return self._registry.unreachable

    @registry_unreachable.setter
    def registry_unreachable(self, value: bool) -> None:
        self._registry.unreachable = value

    @property
    def registry_url(self) -> str:
        """Where the registry document is served (the shape of connectors.airbyte.com's oss_registry.json)."""
        return f"{self.url}/registry/oss_registry.json"

    def handle_get(self, path: str) -> tuple[int, Any]:
        """Answer a GET of the registry: the whole document, or one connector's ``latest/oss.json``."""
        metadata = re.fullmatch(r"/metadata/(.+)/latest/oss\.json", path)
        if path != "/registry/oss_registry.json" and not metadata:
            return (405, {"message": "Use POST"}) if path.startswith("/api/v1/") else (404, {"message": "Not found"})
        if self._registry.unreachable:
            return 503, {"message": "Service Unavailable"}
        if metadata:
            entry = self._registry.entry("source", metadata[1]) or self._registry.entry("destination", metadata[1])
            return (200, copy.deepcopy(dict(entry))) if entry else (404, {"message": "Not found"})
        if self._registry.document is None:
            return 404, {"message": "This emulator has no registry"}
        return 200, copy.deepcopy(dict(self._registry.document))

    def issue_token(self) -> str:
        with self._lock:
            return self._auth.issue()

    @property
    def tokens_issued(self) -> list[str]:
        """Every token handed out so far (tests scan logs and XCom for them)."""
        with self._lock:
            return list(self._auth.issued)

    def expire_tokens(self) -> None:
        with self._lock:
            self._auth.tokens.clear()

    # -- request handling ----------------------------------------------------------------------

    def handle(self, path: str, headers: Mapping[str, str], raw_body: bytes) -> tuple[int, Any]:
        """Answer one POST; returns (status, JSON body or None)."""
        operation = path.removeprefix("/api/v1/") if path.startswith("/api/v1/") else path
        if operation == "applications/token" and self.profile.auth == "bearer":
            with self._lock:
                status, answer, _ = self._auth.token_answer(headers, raw_body)
            return status, answer
        with self._lock:
            authorised = not self._auth.enabled or self._auth.authorised(headers)
        if not authorised:
            return 401, {"message": "Unauthorized"}
        try:
            body = json.loads(raw_body) if raw_body.strip() else None
        except ValueError:
            return self._error(ApiError(400, "Malformed JSON body"))
        try:
            with self.write_holds.around(operation, body):
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
        match = re.fullmatch(r"(source|destination)s/(search|list|get)", operation)
        if match:
            kind, action = match.groups()
            return getattr(self, f"_actor_{action}")(kind, body if isinstance(body, dict) else {})
        match = re.fullmatch(r"actor_definition_versions/get_for_(source|destination)", operation)
        if match:
            return self._actor_version_read(match[1], body if isinstance(body, dict) else {})
        if operation == "connections/list":
            return self._connections_list(body)
        if operation == "workspaces/list" and self.profile.workspaces_list:
            return {"workspaces": copy.deepcopy(self._workspaces.reads)}
        if operation == "workspaces/list_by_organization_id" and self.profile.list_by_organization:
            require(body, "organizationId")
            org = body["organizationId"]
            return {"workspaces": [copy.deepcopy(w) for w in self._workspaces.reads if w["organizationId"] == org]}
        raise ApiError(404, f"No such endpoint: {operation}")

    # -- definitions (subclasses in tests override these to misbehave) ---------------------------

    def _definition_list(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        return {f"{kind}Definitions": self.definitions(kind)}

    def _definition_list_for_workspace(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        require(body, "workspaceId")
        self._workspaces.find(body["workspaceId"])
        return self._definition_list(kind, body)

    def _definition_get(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        # Like Airbyte, a deleted (tombstoned) definition is still returned by get.
        with self._lock:
            return copy.deepcopy(self._definitions.find(kind, body, include_deleted=True).read)

    def _definition_create_custom(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        require(body, f"{kind}Definition")
        fields = body[f"{kind}Definition"]
        missing = [f for f in ("name", "dockerRepository", "dockerImageTag", "documentationUrl") if not fields.get(f)]
        if missing:
            raise ApiError(
                422,
                "Invalid definition",
                [{"propertyPath": f"{kind}Definition.{f}", "message": "must not be null"} for f in missing],
            )
        # Current servers need a workspace (the scope-only form fails).
        require(body, "workspaceId")
        self._workspaces.find(body["workspaceId"])
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
        require(body, f"{kind}DefinitionId")
        require(body, "dockerImageTag")
        if "workspaceId" not in body and self.profile.update_requires_workspace:
            raise ApiError(400, "workspaceId is required")
        with self._lock:
            definition = self._definitions.find(kind, body)
        self._spec_job(body["dockerImageTag"])
        with self._lock:
            if self._registry.unreachable:  # Airbyte fetches latest/oss.json on every update, even for customs
                raise ApiError(
                    500, f"Failed to fetch connector registry entry for {definition.read['dockerRepository']}"
                )
            # Custom definitions and repositories the registry lacks (404) have no breaking changes.
            custom = definition.read.get("custom")
            changes = {} if custom else self._registry.breaking_changes(kind, definition.read["dockerRepository"])
            try:
                self._actors.apply_default_change(kind, definition.id, definition.tag, body["dockerImageTag"], changes)
            except ValueError as error:  # Airbyte's Version throws on such a tag: a 500, nothing written
                raise ApiError(500, str(error)) from None
            self._apply_update(definition, body)
            answer = copy.deepcopy(definition.read)
        time.sleep(self.write_delay)
        return answer

    def _apply_update(self, definition: Definition, body: dict[str, Any]) -> None:
        """What ``update`` changes: the default tag, resources, and (custom, newer servers) the name."""
        definition.read["dockerImageTag"] = body["dockerImageTag"]
        if body.get("name") and definition.read.get("custom") and self.profile.custom_rename:
            definition.read["name"] = body["name"]
        if "resourceRequirements" in body:
            definition.read["resourceRequirements"] = body["resourceRequirements"]

    def _definition_delete(self, kind: str, body: dict[str, Any]) -> None:
        with self._lock:
            definition = self._definitions.find(kind, body)
            definition.tombstone = True
            self._actors.delete_for_definition(kind, definition.id)

    def _spec_job(self, tag: str) -> None:
        """Airbyte checks the version, then pulls the image to read its spec; an unpullable tag fails
        after a while."""
        if tag in self.blocked_tags:
            raise ApiError(400, f"Version {tag} is not supported by this Airbyte version")
        if tag in self.unpullable_tags:
            time.sleep(self.write_delay)
            raise ApiError(500, f"Get Spec job failed: image tag {tag} cannot be pulled")

    # -- sources, destinations, connections ----------------------------------------------------

    def _actor_search(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        """``SourceSearch``/``DestinationSearch``: every live actor of the instance (all workspaces) whose
        fields equal the ones given; an empty body matches all."""
        fields = {
            f"{kind}DefinitionId": lambda a: a.definition_id,
            f"{kind}Id": lambda a: a.id,
            "workspaceId": lambda a: a.workspace_id,
            "name": lambda a: a.name,
        }
        with self._lock:
            actors = [
                a
                for a in self._actors.live(kind)
                if all(get(a) == body[key] for key, get in fields.items() if body.get(key) is not None)
                and (body.get(f"{kind}Name") is None or self._definition_of(a).read["name"] == body[f"{kind}Name"])
            ]
            return {f"{kind}s": [self._actor_read(a) for a in actors]}

    def _actor_list(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        """Per workspace. From v1.8.0 (profile 2.0) paged by cursor: ``pageSize`` (default 20) actors after
        the actor ID in ``cursor``; before, everything at once."""
        require(body, "workspaceId")
        with self._lock:
            self._workspaces.find(body["workspaceId"])
            actors = [a for a in self._actors.live(kind) if a.workspace_id == body["workspaceId"]]
            if not self.profile.paginated_actor_lists:
                return {f"{kind}s": [self._actor_read(a) for a in actors]}
            page_size = int(body.get("pageSize") or 20)
            ids = [a.id for a in actors]
            start = ids.index(body["cursor"]) + 1 if body.get("cursor") in ids else 0
            page = actors[start : start + page_size]
            return {
                f"{kind}s": [self._actor_read(a) for a in page],
                "page_size": page_size,
                "num_connections": len(actors),
            }

    def _actor_get(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        require(body, f"{kind}Id")
        with self._lock:
            return self._actor_read(self._actors.find(kind, body[f"{kind}Id"]))

    def _actor_version_read(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        """``ActorDefinitionVersionRead`` of the version the actor runs."""
        require(body, f"{kind}Id")
        with self._lock:
            actor = self._actors.find(kind, body[f"{kind}Id"])
            definition = self._definition_of(actor)
            read: dict[str, Any] = {
                "dockerRepository": definition.read["dockerRepository"],
                "dockerImageTag": self._actors.version(actor, definition.tag),
                "supportsRefreshes": False,
                "supportsFileTransfer": False,
                "supportsDataActivation": False,
                **self._version_state(actor),
            }
            if definition.read.get("supportLevel"):
                read["supportLevel"] = definition.read["supportLevel"]
            return read

    def _connections_list(self, body: Any) -> dict[str, Any]:
        require(body, "workspaceId")
        with self._lock:
            self._workspaces.find(body["workspaceId"])
            connections = [
                c
                for c in self._actors.connections.values()
                if c.workspace_id == body["workspaceId"] and c.status != "deprecated"  # deprecated = deleted
            ]
            return {"connections": [self._actors.connection_read(c) for c in connections]}

    def _definition_of(self, actor: ActorRecord) -> Definition:
        return self._definitions.by_kind[actor.kind][actor.definition_id]

    def _version_state(self, actor: ActorRecord) -> dict[str, Any]:
        """``isVersionOverrideApplied`` (user pins only), ``supportState`` of the version the actor runs
        and ``breakingChanges`` (only when it runs behind some) from the registry's list."""
        definition = self._definition_of(actor)
        pin = self._actors.pins[actor.kind].get(actor.id)
        tag = self._actors.version(actor, definition.tag)
        changes = (
            {}
            if definition.read.get("custom")
            else self._registry.breaking_changes(actor.kind, definition.read["dockerRepository"])
        )
        state: dict[str, Any] = {
            "isVersionOverrideApplied": bool(pin and pin.origin == "user"),
            "supportState": support_state(tag, definition.tag, changes),
        }
        breaking = upcoming(tag, definition.tag, changes)
        if breaking:
            state["breakingChanges"] = breaking
        return state

    def _actor_read(self, actor: ActorRecord) -> dict[str, Any]:
        """``SourceRead``/``DestinationRead``: the spec's required fields plus version state and usage."""
        definition = self._definition_of(actor)
        connections = self._actors.connections_of(actor)
        read: dict[str, Any] = {
            f"{actor.kind}DefinitionId": actor.definition_id,
            f"{actor.kind}Id": actor.id,
            "workspaceId": actor.workspace_id,
            "connectionConfiguration": masked(actor.configuration),
            "name": actor.name,
            f"{actor.kind}Name": definition.read["name"],
            "createdAt": actor.created_at,
            "status": "active" if any(c.status == "active" for c in connections) else "inactive",
            "numConnections": len(connections),
            **self._version_state(actor),
        }
        if definition.read.get("icon"):
            read["icon"] = definition.read["icon"]
        return read

    def _error(self, error: ApiError) -> tuple[int, Any]:
        if error.status == 422:
            return 422, {"message": error.message, "validationErrors": error.validation_errors or []}
        if self.profile.error_id_only:
            return error.status, {"errorId": str(uuid.uuid4())}
        exception = {400: "BadRequestException", 404: "ConfigNotFoundException"}.get(error.status, "RuntimeException")
        return error.status, {"message": error.message, "exceptionClassName": f"io.airbyte.commons.{exception}"}


class _Handler(BaseHTTPRequestHandler):
    emulator: AirbyteEmulator
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without TCP_NODELAY the body waits for the client's delayed
    # ACK (about 40 ms a request on Linux), which no real server adds.
    disable_nagle_algorithm = True

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
        status, answer = self.emulator.handle_get(self.path)
        self._answer(status, answer, {}, b"")

    def do_PUT(self) -> None:  # noqa: N802
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
        try:
            self.send_response(status)
            if payload:
                self.send_header("Content-Type", "application/json")
            for name, value in (extra_headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            # The client stopped waiting (a short timeout against a slow write); Airbyte carries on too.
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence: keep logs free of headers
        return
