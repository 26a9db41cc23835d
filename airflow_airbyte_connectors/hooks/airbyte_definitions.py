"""The one module that talks HTTP to Airbyte: its Configuration API (``/api/v1``, POST + JSON).

Why not the public API: only the Configuration API can change the version of a built-in connector.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any, Generic, Literal, TypeVar, overload
from urllib.parse import unquote, urlsplit, urlunsplit

import tenacity
from airflow.sdk import BaseHook

from airflow_airbyte_connectors import settings
from airflow_airbyte_connectors.budgets import CALL_BUDGET, SPEC_POLL_MAX_WAIT
from airflow_airbyte_connectors.clients.bounded_http import (
    Answer,
    ConnectFailed,
    DeadlineError,
    RetryPolicy,
    Session,
    Timeout,
    TooLargeError,
    new_session,
    send,
)
from airflow_airbyte_connectors.core.compatibility import parse_version
from airflow_airbyte_connectors.core.kinds import Kind, id_key
from airflow_airbyte_connectors.core.sync_jobs import SyncJob
from airflow_airbyte_connectors.core.urls import INVALID_URL, instance_url, without_userinfo
from airflow_airbyte_connectors.hooks.airbyte_errors import (
    GATEWAY_STATUSES,
    AirbyteApiError,
    AirbyteNotFoundError,
    SpecFailedError,
    SpecStillRunningError,
    WriteOutcomeUnknownError,
    answer_json,
    describe_body,
    is_refused,
    is_retryable_read,
    was_never_sent,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

# Airbyte OSS has one organization with this fixed ID (used where instance_configuration does not name it).
DEFAULT_ORGANIZATION_ID = "00000000-0000-0000-0000-000000000000"
# Suffixes users put on the connection host; they all mean the same server root.
_API_SUFFIXES = ("/api/public/v1", "/api/public", "/api/v1", "/api")
_CONNECT_TIMEOUT = 10.0
_READ_ATTEMPTS = 5
_ERROR_BODY_LIMIT = 64 * 1024  # an error's message is near the start; the rest is not read
_TOKEN_ANSWER_LIMIT = 64 * 1024  # a token answer is a JWT of a few KB
_ACTOR_PAGE_SIZE = 100  # sources/list, destinations/list (Airbyte's default page: 20)
# 100 000 actors in one workspace (pages of 100) is far beyond any instance seen; a server still sending full
# pages of new actors then ignores the cursor in some new way, and would otherwise be read for ever.
_MAX_ACTOR_PAGES = 1000
# jobs/list pages (Airbyte's default: 200): a check of the last few syncs reads one small page.
_JOB_PAGE_SIZE = 50
# Enough for any limit list_sync_jobs accepts; reached only by a server whose paging is broken (one that ignores
# rowOffset answers the same page for ever).
_MAX_JOB_PAGES = 200
# A 401 to HTTP Basic: a wrong login or password, or (the likely cause on a current install) Airbyte 2.2+.
_BASIC_REFUSED = (
    "HTTP Basic auth refused: a wrong login or password, or likely Airbyte 2.2 or later. Airbyte 2.2 and later "
    "accept no HTTP Basic; use an application's client id and secret (abctl local credentials)"
)

# From 2.1 on, create_custom takes the connector's spec (from a SPEC command run first) instead of running a
# SPEC job inside the create: the create becomes a quick database write.
CREATE_TAKES_SPEC_SINCE = (2, 1, 0)

AuthType = Literal["none", "bearer", "basic"]

# One bearer token per process and server, shared by every hook instance (mapped tasks, retries). Each server's
# token is asked for under its own lock: hooks of several Airbytes (environments) do not wait for each other's.
_token_cache: dict[tuple[str, str], str] = {}
_token_lock = threading.Lock()  # guards _token_locks
_token_locks: dict[tuple[str, str], threading.Lock] = {}


@dataclass(frozen=True)
class InstanceInfo:
    """What ``GET /api/v1/instance_configuration`` tells of the instance; all None where it is not answered."""

    version: str | None = None
    edition: str | None = None
    default_organization_id: str | None = None
    default_workspace_id: str | None = None

    @property
    def create_takes_spec(self) -> bool:
        """Whether ``create_custom`` takes a spec from ``commands/run/spec`` (Airbyte 2.1 and later). An unknown
        or unreadable version (``dev``) keeps the create that runs its own SPEC job, which every version has."""
        version = parse_version(self.version or "")
        return version is not None and version >= CREATE_TAKES_SPEC_SINCE


class OwnerWorkspaceNotFoundError(LookupError):
    """No workspace of the instance lists a custom definition, so no workspace can be sent with its update
    (Airbyte 2.4 refuses one that does not own it)."""

    def __init__(self, kind: Kind, definition_id: str, workspaces_tried: list[str]):
        self.kind = kind
        self.definition_id = definition_id
        self.workspaces_tried = workspaces_tried
        super().__init__(
            f"custom {kind} definition {definition_id} is listed by none of the workspaces tried "
            f"({', '.join(workspaces_tried)}): no workspace owns it, so no update can be sent for it"
        )


@dataclass(frozen=True)
class ClientSettings:
    """What the hook needs from the Airflow Connection, with secrets kept out of ``repr``."""

    root_url: str
    auth_type: AuthType
    client_id: str | None
    client_secret: str | None
    workspace_id: str | None
    verify: bool | str
    proxies: Mapping[str, str] | None

    def __repr__(self) -> str:
        return f"ClientSettings(root_url={self.root_url!r}, auth_type={self.auth_type!r})"


def server_root(host: str, port: int | None = None) -> str:
    """Normalise a connection host to Airbyte's server root.

    ``http://localhost:8000``, ``.../api/public/v1`` and ``.../api/v1`` all name the same server;
    a bare host name gets ``http://`` and the connection's port. A ``user:password@`` is left out (see
    :func:`host_credentials`): the root is what logs, XCom and the Asset show.
    """
    host = (host or "").strip()
    if not host:
        raise ValueError("the Airbyte connection has no host; set it to e.g. http://localhost:8000")
    if "://" not in host:
        host = f"http://{host}"
    if without_userinfo(host) == INVALID_URL:  # urlsplit's own errors may quote the host, password included
        raise ValueError(
            "the Airbyte connection's host is not a valid URL (percent-encode '/', '?', '#' or '@' in a password)"
        )
    parts = urlsplit(host)
    netloc = parts.netloc.rpartition("@")[2]
    if port and parts.port is None:
        netloc = f"{netloc}:{port}"
    path = parts.path.rstrip("/")
    for suffix in _API_SUFFIXES:
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    return urlunsplit((parts.scheme, netloc, path, "", ""))


def host_credentials(host: str) -> tuple[str, str] | None:
    """The ``(user, password)`` a connection host carries as ``user:password@`` (percent-decoded), or None."""
    host = (host or "").strip()
    host = host if "://" in host else f"http://{host}"
    if without_userinfo(host) == INVALID_URL:
        return None  # server_root refuses the host without quoting it
    parts = urlsplit(host)
    if "@" not in parts.netloc:
        return None
    return unquote(parts.username or ""), unquote(parts.password or "")


class _read_once(Generic[T]):  # noqa: N801 - used as a decorator, like cached_property
    """``functools.cached_property`` for what a hook reads from its Airbyte, without the lock Python 3.11 holds
    around every instance's first read: the hooks of five environments reading their Airbytes at once would wait for
    each other, one request each. A hook is read from one thread at a time until it holds these."""

    def __init__(self, read: Callable[[Any], T]):
        self._read = read
        self.__doc__ = read.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> _read_once[T]: ...
    @overload
    def __get__(self, instance: object, owner: type | None = None) -> T: ...
    def __get__(self, instance: object | None, owner: type | None = None) -> T | _read_once[T]:
        if instance is None:
            return self
        # The value goes into the instance's __dict__, which wins over this descriptor from then on.
        value = instance.__dict__[self._name] = self._read(instance)
        return value


class AirbyteDefinitionsHook(BaseHook):
    """Read and write Airbyte's source and destination definitions.

    Uses the ``airbyte`` Connection of apache-airflow-providers-airbyte:

    - ``host``: the server root (``http://localhost:8000``), or the public-API base
      (``.../api/public/v1``), or ``.../api/v1``;
    - ``login`` / ``password``: application client id / secret (bearer tokens); empty: no auth;
    - extra ``{"auth_type": "basic"}``: HTTP Basic with login/password (old docker-compose installs);
    - extra ``workspace_id``; extra ``verify`` (false, or a CA bundle path); extra ``proxies``.

    A host with ``user:password@`` is used as HTTP Basic auth with those credentials (what HTTP clients do
    with such a URL), and the URL the hook shows and stores (``root_url``: logs, XCom, the Asset, errors) is
    without them; the password is masked in task logs. A host with credentials and a login as well is refused
    (which one was meant?) with an error that does not repeat them.

    :param airbyte_conn_id: the Connection ID (default ``[airbyte_connectors] conn_id``).
    :param workspace_id: overrides the configured or discovered workspace.
    :param read_timeout: seconds Airbyte has to answer a read in full (default ``[airbyte_connectors]
        read_timeout``); a read with its retries ends within twice that.
    :param write_timeout: the same for creates/updates (default ``[airbyte_connectors] write_timeout``).
    """

    conn_name_attr = "airbyte_conn_id"
    default_conn_name = "airbyte_default"
    conn_type = "airbyte"
    hook_name = "Airbyte connector definitions"

    def __init__(
        self,
        airbyte_conn_id: str | None = None,
        *,
        workspace_id: str | None = None,
        read_timeout: float | None = None,
        write_timeout: float | None = None,
    ):
        super().__init__()
        self.airbyte_conn_id = airbyte_conn_id or settings.conn_id()
        self._workspace_id = workspace_id
        # IDs each workspace lists, by (kind, workspace): one read serves every custom definition's owner.
        self._listed_for_workspace: dict[tuple[Kind, str], frozenset[str]] = {}
        self.read_timeout = read_timeout if read_timeout is not None else settings.read_timeout()
        self.write_timeout = write_timeout if write_timeout is not None else settings.write_timeout()

    # -- connection --------------------------------------------------------------------------

    @cached_property
    def client_settings(self) -> ClientSettings:
        conn = self.get_connection(self.airbyte_conn_id)
        extra = conn.extra_dejson or {}
        auth_type: AuthType = "none"
        login, password = conn.login or None, conn.password or None
        in_host = host_credentials(conn.host or "")
        if in_host and login:
            raise ValueError(
                f"the host of connection {self.airbyte_conn_id!r} carries credentials (user:password@) and the "
                "connection has a login as well; keep one: the login and password fields are preferred"
            )
        if in_host:
            login, password = in_host[0] or None, in_host[1] or None
            if password:
                _mask(password)
            auth_type = "basic" if login else "none"
        elif login:
            auth_type = "basic" if str(extra.get("auth_type", "")).lower() == "basic" else "bearer"
        verify = extra.get("verify", extra.get("verify_ssl", True))
        if isinstance(verify, str) and verify.lower() in ("false", "0", "no"):
            verify = False
        if verify is False:
            log.warning(
                "TLS certificate verification is OFF for connection %s (extra 'verify': false)", self.airbyte_conn_id
            )
        return ClientSettings(
            root_url=server_root(conn.host or "", conn.port),
            auth_type=auth_type,
            client_id=login,
            client_secret=password,
            workspace_id=extra.get("workspace_id") or None,
            verify=verify,
            proxies=extra.get("proxies") or None,
        )

    @cached_property
    def session(self) -> Session:
        session = new_session(headers={"Accept": "application/json", "Content-Type": "application/json"})
        cfg = self.client_settings
        session.verify = cfg.verify
        if cfg.proxies:
            session.proxies.update(cfg.proxies)
        if cfg.auth_type == "basic":
            session.auth = (cfg.client_id or "", cfg.client_secret or "")
        return session

    def api_url(self, operation: str) -> str:
        return f"{self.client_settings.root_url}/api/v1/{operation}"

    @_read_once
    def instance_id(self) -> str:
        """Which Airbyte this is, whichever URL reaches it: ``deployment <id>`` from ``deployment/metadata``.

        Where Airbyte refuses that call (400/403/404/405/422) or answers without an id: the normalised URL
        (:func:`~airflow_airbyte_connectors.core.urls.instance_url`). Any other failure raises: a guess could name one
        Airbyte two ways. Read only where pending creates are kept.
        """
        try:
            answer = self._read("deployment/metadata", None)
        except AirbyteApiError as exc:
            if not is_refused(exc):
                raise
            answer = {}
        deployment = answer.get("id") if isinstance(answer, dict) else None
        if isinstance(deployment, str) and deployment.strip():
            return f"deployment {deployment.strip().lower()}"
        log.warning(
            "Airbyte at %s does not tell its deployment id: its pending creates are kept under its URL",
            self.client_settings.root_url,
        )
        return instance_url(self.client_settings.root_url)

    @_read_once
    def instance(self) -> InstanceInfo:
        """Version, edition and default organization/workspace from ``GET instance_configuration`` (anonymous
        in Airbyte; read once per hook). Where Airbyte refuses the call (4xx but 401/429), all None."""
        try:
            answer = self._operation(is_retryable_read, self.read_timeout, self._get, "instance_configuration")
        except AirbyteApiError as exc:
            if not is_refused(exc):
                raise
            log.warning("Airbyte at %s does not tell its version: %s", self.client_settings.root_url, exc)
            return InstanceInfo()

        def text(key: str) -> str | None:
            value = answer.get(key) if isinstance(answer, dict) else None
            return value.strip() if isinstance(value, str) and value.strip() else None

        return InstanceInfo(
            version=text("version"),
            edition=text("edition"),
            default_organization_id=text("defaultOrganizationId"),
            default_workspace_id=text("defaultWorkspaceId"),
        )

    # -- definitions -------------------------------------------------------------------------

    def list_definitions(self, kind: Kind) -> list[dict[str, Any]]:
        """Every non-deleted definition of ``kind`` (built-in and custom, default versions)."""
        answer = self._read(f"{kind}_definitions/list", None)
        return list(answer[f"{kind}Definitions"])

    def list_definitions_for_workspace(self, kind: Kind, workspace_id: str) -> list[dict[str, Any]]:
        """The definitions a workspace may use: every built-in and the custom ones granted to it. Each has the
        version resolved for that workspace (its pins), not the default: read versions from ``list_definitions``."""
        answer = self._read(f"{kind}_definitions/list_for_workspace", {"workspaceId": workspace_id})
        return list(answer[f"{kind}Definitions"])

    def owner_workspace_id(self, kind: Kind, definition_id: str) -> str:
        """The workspace a custom definition belongs to: the one to send with its update, since Airbyte 2.4
        refuses (403) a request naming a definition and a workspace it does not belong to.

        With one workspace, the write workspace (:meth:`get_workspace_id`). Otherwise the first workspace
        whose ``list_for_workspace`` shows the definition: the write workspace first, then the others. Only IDs
        are compared. :raises OwnerWorkspaceNotFoundError: no workspace lists it.
        """
        preferred = self.get_workspace_id()
        workspace_ids: list[str] = [w["workspaceId"] for w in self._workspaces]
        if len(workspace_ids) <= 1:
            return preferred
        candidates = [preferred, *(w for w in workspace_ids if w != preferred)]
        for workspace_id in candidates:
            if definition_id in self._definition_ids_for_workspace(kind, workspace_id):
                return workspace_id
        raise OwnerWorkspaceNotFoundError(kind, definition_id, candidates)

    @cached_property
    def _workspaces(self) -> list[dict[str, Any]]:
        """The workspaces, read once per hook: for the discovered workspace and the owner look-ups."""
        return self.list_workspaces()

    def _definition_ids_for_workspace(self, kind: Kind, workspace_id: str) -> frozenset[str]:
        key = (kind, workspace_id)
        if key not in self._listed_for_workspace:
            reads = self.list_definitions_for_workspace(kind, workspace_id)
            self._listed_for_workspace[key] = frozenset(read[id_key(kind)] for read in reads)
        return self._listed_for_workspace[key]

    def get_definition(self, kind: Kind, definition_id: str) -> dict[str, Any]:
        """One definition. Airbyte answers 200 for a deleted one: use ``list_definitions`` for existence."""
        return self._read(f"{kind}_definitions/get", {id_key(kind): definition_id})

    def create_definition(
        self,
        kind: Kind,
        definition: Mapping[str, Any],
        workspace_id: str,
        *,
        connector_specification: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Create a custom definition. Not idempotent: Airbyte makes a new one on every call.

        With ``connector_specification`` (from :meth:`connector_spec`, Airbyte 2.1 and later) Airbyte only
        stores it; without, it runs the connector's SPEC job inside the create, which takes minutes.
        """
        fields: dict[str, Any] = {
            "name": definition["name"],
            "dockerRepository": definition["dockerRepository"],
            "dockerImageTag": definition["dockerImageTag"],
            "documentationUrl": definition["documentationUrl"],
        }
        if connector_specification is not None:
            fields["connectorSpecification"] = dict(connector_specification)
        body = {"workspaceId": workspace_id, f"{kind}Definition": fields}
        return self._write(f"{kind}_definitions/create_custom", body)

    def connector_spec(
        self, command_id: str, workspace_id: str, docker_repository: str, docker_image_tag: str
    ) -> dict[str, Any]:
        """The image's connector specification, from Airbyte's SPEC command ``command_id`` (Airbyte 2.0 and later).

        Starting it is repeated like a read: Airbyte starts one command per id and ignores a second start, so a
        retry (of this call or of the task, with the same id) waits for the same command. Polled for at most
        ``write_timeout`` seconds (:class:`SpecStillRunningError` after that); :class:`SpecFailedError` with
        Airbyte's ``failureReason`` when the SPEC failed (an image it cannot pull, a connector that crashed).
        """
        image = f"{docker_repository}:{docker_image_tag}"
        self._read(
            "commands/run/spec",
            {
                "id": command_id,
                "workspace_id": workspace_id,
                "docker_image": docker_repository,
                "docker_image_tag": docker_image_tag,
            },
        )
        status = self._command_status_when_done(command_id, image)
        if status != "completed":
            raise SpecFailedError("POST", self.api_url("commands/status"), 200, f"the SPEC of {image} was {status}")
        output = self._read("commands/output/spec", {"id": command_id})
        spec = output.get("spec")
        if output.get("status") != "succeeded" or not isinstance(spec, dict):
            reason = _failure_text(output.get("failureReason"))
            url = self.api_url("commands/output/spec")
            raise SpecFailedError("POST", url, 200, f"the SPEC of {image} failed: {reason}")
        return spec

    def _command_status_when_done(self, command_id: str, image: str) -> str:
        """Poll ``commands/status`` until the command is ``completed`` or ``cancelled`` (Airbyte's
        ``pending``/``running`` mean not yet), waiting longer each time, for at most ``write_timeout`` s."""
        polling = tenacity.Retrying(
            retry=tenacity.retry_if_result(lambda status: status not in ("completed", "cancelled")),
            wait=tenacity.wait_exponential(multiplier=0.25, max=SPEC_POLL_MAX_WAIT),
            stop=tenacity.stop_after_delay(self.write_timeout),
        )
        try:
            return polling(lambda: str(self._read("commands/status", {"id": command_id}).get("status")))
        except tenacity.RetryError:
            raise SpecStillRunningError(
                "POST",
                self.api_url("commands/status"),
                200,
                f"the SPEC of {image} (command {command_id}) had not finished after {self.write_timeout:g} s",
            ) from None

    def update_definition(
        self, kind: Kind, definition_id: str, *, docker_image_tag: str, workspace_id: str, name: str | None = None
    ) -> dict[str, Any]:
        """Change a definition's default version (and, for custom ones, its name). Keeps the ID."""
        body: dict[str, Any] = {
            id_key(kind): definition_id,
            "dockerImageTag": docker_image_tag,
            "workspaceId": workspace_id,
        }
        if name is not None:
            body["name"] = name
        return self._write(f"{kind}_definitions/update", body)

    # -- sources, destinations, connections (for the plan's impact) ----------------------------

    def search_actors(self, kind: Kind, definition_id: str) -> list[dict[str, Any]]:
        """Every source (or destination) using the definition, in all workspaces.

        ``sources/search`` where the server has it; otherwise each workspace's ``sources/list``.
        """
        try:
            answer = self._read(f"{kind}s/search", {id_key(kind): definition_id})
            return list(answer.get(f"{kind}s", []))
        except AirbyteNotFoundError:
            return [
                actor
                for workspace in self.list_workspaces()
                for actor in self._list_actors(kind, workspace["workspaceId"])
                if actor.get(id_key(kind)) == definition_id
            ]

    def _list_actors(self, kind: Kind, workspace_id: str) -> list[dict[str, Any]]:
        """Every source (or destination) of a workspace. Airbyte 1.8+ answers a page at a time (``pageSize``
        actors after the one in ``cursor``); older versions answer everything at once and ignore both."""
        actors: dict[str, dict[str, Any]] = {}
        body: dict[str, Any] = {"workspaceId": workspace_id, "pageSize": _ACTOR_PAGE_SIZE}
        for _ in range(_MAX_ACTOR_PAGES):
            page = self._read(f"{kind}s/list", body).get(f"{kind}s", [])
            new = {actor[f"{kind}Id"]: actor for actor in page if actor[f"{kind}Id"] not in actors}
            actors.update(new)
            # A short page is the last; a page with nothing new means the cursor was ignored.
            if len(page) < _ACTOR_PAGE_SIZE or not new:
                return list(actors.values())
            body["cursor"] = page[-1][f"{kind}Id"]
        raise AirbyteApiError(
            "POST",
            self.api_url(f"{kind}s/list"),
            200,
            f"workspace {workspace_id} still answered full pages of new {kind}s after {_MAX_ACTOR_PAGES} pages "
            f"({len(actors)} {kind}s); stopped reading: its paging looks broken",
        )

    def list_connections(self, workspace_id: str) -> list[dict[str, Any]]:
        """The workspace's connections with their selected streams (``syncCatalog``)."""
        return list(self._read("connections/list", {"workspaceId": workspace_id}).get("connections", []))

    def get_actor_version(self, kind: Kind, actor_id: str) -> dict[str, Any]:
        """The definition version one source (or destination) runs: the default, or its pin."""
        return self._read(f"actor_definition_versions/get_for_{kind}", {f"{kind}Id": actor_id})

    # -- sync jobs (for a promotion gate) ------------------------------------------------------

    def list_sync_jobs(self, connection_id: str, *, since: datetime | None = None, limit: int = 100) -> list[SyncJob]:
        """The connection's sync jobs, newest first: at most ``limit``, and none created before ``since``.

        Reads ``jobs/list`` a page at a time (Airbyte answers newest first) and stops at the first job older than
        ``since``, so a long history is not read whole.

        :param since: timezone-aware; jobs created at or after it are returned.
        :param limit: from 1 to 10 000.
        :raises AirbyteApiError: still full pages after 200 of them: the server's paging is broken (a working one
            answers 10 000 jobs in 200 pages).
        """
        max_jobs = _MAX_JOB_PAGES * _JOB_PAGE_SIZE
        if not 1 <= limit <= max_jobs:
            raise ValueError(f"limit must be from 1 to {max_jobs}, not {limit}")
        if since is not None and since.tzinfo is None:
            raise ValueError("since must be timezone-aware (Airbyte's times are UTC)")
        page_size = min(limit, _JOB_PAGE_SIZE)
        # By ID: a job created while we read pushes the others down a row, so a page may repeat one.
        jobs: dict[int, SyncJob] = {}
        for page_number in range(_MAX_JOB_PAGES):
            body = {
                "configTypes": ["sync"],
                "configId": connection_id,
                "pagination": {"pageSize": page_size, "rowOffset": page_number * page_size},
            }
            page = [SyncJob.from_job_read(item["job"]) for item in self._read("jobs/list", body).get("jobs", [])]
            for job in page:
                if since is not None and job.created_at < since:
                    return list(jobs.values())  # every job after this one is older still
                jobs.setdefault(job.job_id, job)
                if len(jobs) == limit:
                    return list(jobs.values())
            if len(page) < page_size:
                return list(jobs.values())
        raise AirbyteApiError(
            "POST",
            self.api_url("jobs/list"),
            200,
            f"connection {connection_id} still answered full pages of sync jobs after {_MAX_JOB_PAGES} pages "
            f"({len(jobs)} jobs, {limit} asked for); stopped reading: its paging looks broken",
        )

    # -- workspace ---------------------------------------------------------------------------

    def list_workspaces(self) -> list[dict[str, Any]]:
        """The instance's workspaces (not deleted ones)."""
        try:
            organization = self.instance.default_organization_id or DEFAULT_ORGANIZATION_ID
            answer = self._read("workspaces/list_by_organization_id", {"organizationId": organization})
        except AirbyteNotFoundError:
            answer = self._read("workspaces/list", None)  # Airbyte before 1.7
        return [w for w in answer.get("workspaces", []) if not w.get("tombstone")]

    def get_workspace_id(self) -> str:
        """The workspace for writes: argument, ``[airbyte_connectors] workspace_id``, the connection's
        extra ``workspace_id``, or else the instance's only workspace."""
        if self._workspace_id:
            return self._workspace_id
        configured = settings.workspace_id() or self.client_settings.workspace_id
        self._workspace_id = configured or self._discover_workspace_id()
        return self._workspace_id

    def _discover_workspace_id(self) -> str:
        workspaces = self._workspaces
        if len(workspaces) == 1:
            return str(workspaces[0]["workspaceId"])
        if not workspaces:
            raise AirbyteApiError("POST", self.api_url("workspaces"), 200, "Airbyte has no workspace")
        listed = ", ".join(f"{w.get('name')!r} ({w['workspaceId']})" for w in workspaces)
        raise ValueError(
            f"Airbyte at {self.client_settings.root_url} has {len(workspaces)} workspaces: {listed}. "
            f"Set [airbyte_connectors] workspace_id or the extra 'workspace_id' of connection "
            f"{self.airbyte_conn_id!r} to the one to use."
        )

    def test_connection(self) -> tuple[bool, str]:
        try:
            count = len(self.list_definitions("source"))
        except Exception as exc:  # shown in the UI's "Test" button, so any failure is an answer
            return False, str(exc)
        return True, f"Connected to Airbyte at {self.client_settings.root_url}: {count} source definitions"

    # -- transport ---------------------------------------------------------------------------

    def _read(self, operation: str, body: Mapping[str, Any] | None) -> dict[str, Any]:
        return self._operation(is_retryable_read, self.read_timeout, self._post, operation, body)

    def _operation(
        self, retry: Callable[[BaseException], bool], timeout: float, call: Callable[..., T], *args: Any
    ) -> T:
        """``call(*args, timeout, budget_end)``, repeated while ``retry`` says so; with its repeats and waits it
        ends within ``CALL_BUDGET`` times ``timeout`` (``budget_end``, on ``time.monotonic()``'s clock): a retry
        still has a chance after a call ran out of time, and nothing waits for ever."""
        budget = timeout * CALL_BUDGET
        policy = RetryPolicy(retry, attempts=_READ_ATTEMPTS, budget=budget, what="Airbyte call")
        return policy.run(call, *args, timeout, time.monotonic() + budget)

    def _write(self, operation: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """A write is repeated only when it provably never reached Airbyte; a lost answer is reported
        as :class:`WriteOutcomeUnknownError` so the caller re-reads before doing anything else."""
        try:
            return self._operation(was_never_sent, self.write_timeout, self._post, operation, body)
        except (ConnectFailed, Timeout) as exc:
            if was_never_sent(exc):
                raise
            if isinstance(exc, DeadlineError):
                what = f"no complete answer within {self.write_timeout:g} s"
            else:
                what = f"{type(exc).__name__} after sending"
            raise WriteOutcomeUnknownError(
                "POST", self.api_url(operation), None, f"{what}; Airbyte may have applied the write"
            ) from None
        except AirbyteApiError as exc:
            if exc.status in GATEWAY_STATUSES:
                # A proxy gave up waiting; Airbyte may still be running the spec job and commit the write later.
                raise WriteOutcomeUnknownError(
                    exc.method,
                    exc.url,
                    exc.status,
                    f"{exc.detail}; a gateway answered, Airbyte may apply the write later",
                ) from None
            if exc.status is not None and 200 <= exc.status < 300:
                # Airbyte accepted the write; only its answer could not be read.
                raise WriteOutcomeUnknownError(
                    "POST", exc.url, exc.status, f"{exc.detail}; Airbyte may have applied the write"
                ) from None
            raise

    def _get(self, operation: str, timeout: float, budget_end: float) -> dict[str, Any]:
        return self._post(operation, None, timeout, budget_end, method="GET")

    def _post(
        self,
        operation: str,
        body: Mapping[str, Any] | None,
        timeout: float,
        budget_end: float,
        method: str = "POST",
    ) -> dict[str, Any]:
        url = self.api_url(operation)
        started = time.monotonic()
        answer = self._send(url, body, timeout, budget_end, method)
        if answer.status == 401 and self.client_settings.auth_type == "bearer":
            # Tokens expire (3 to 15 minutes): fetch a new one once and repeat; a 401 did nothing.
            self._forget_token()
            answer = self._send(url, body, timeout, budget_end, method)
        log.debug("%s %s -> %s in %.2fs", method, url, answer.status, time.monotonic() - started)
        if answer.status == 401 and self.client_settings.auth_type == "basic":
            raise self._error(answer, hint=_BASIC_REFUSED, method=method)
        if answer.status >= 300:
            raise self._error(answer, method=method)
        return answer_json(answer)

    def _send(
        self, url: str, body: Mapping[str, Any] | None, timeout: float, budget_end: float, method: str = "POST"
    ) -> Answer:
        headers = {}
        if self.client_settings.auth_type == "bearer":
            headers["Authorization"] = f"Bearer {self._token()}"
        return self._exchange(url, body, headers, timeout, budget_end, self._max_response_bytes, method)

    @cached_property
    def _max_response_bytes(self) -> int:
        return settings.max_response_bytes()

    def _exchange(
        self,
        url: str,
        body: Mapping[str, Any] | None,
        headers: Mapping[str, str],
        timeout: float,
        budget_end: float,
        limit: int,
        method: str = "POST",
    ) -> Answer:
        """One POST (or GET) and its whole answer, within ``timeout`` and the operation's budget."""
        try:
            # No redirects: an API call is not meant to move, and its credentials stay with Airbyte.
            return send(
                self.session,
                method,
                url,
                json=body,
                headers=headers,
                timeout=timeout,
                deadline=min(time.monotonic() + timeout, budget_end),
                connect_timeout=_CONNECT_TIMEOUT,
                limit=limit,
                error_limit=_ERROR_BODY_LIMIT,
            )
        except TooLargeError as exc:
            detail = f"{exc} (the limit is [airbyte_connectors] max_response_mb)"
            raise AirbyteApiError(method, url, exc.status, detail) from None

    def _token(self) -> str:
        cfg = self.client_settings
        key = (cfg.root_url, cfg.client_id or "")
        with _token_lock:
            lock = _token_locks.setdefault(key, threading.Lock())
        with lock:
            token = _token_cache.get(key)
            if token is None:
                # Asking for a token changes nothing in Airbyte: retried like a read.
                token = self._operation(is_retryable_read, self.read_timeout, self._fetch_token)
                _token_cache[key] = token
        return token

    def _forget_token(self) -> None:
        cfg = self.client_settings
        key = (cfg.root_url, cfg.client_id or "")
        with _token_lock:
            lock = _token_locks.setdefault(key, threading.Lock())
        with lock:
            _token_cache.pop(key, None)

    def _fetch_token(self, timeout: float, budget_end: float) -> str:
        cfg = self.client_settings
        url = self.api_url("applications/token")
        # JSON, not form-encoded: Airbyte OSS answers 401/415 to the form the airbyte-api SDK sends.
        credentials = {"client_id": cfg.client_id, "client_secret": cfg.client_secret}
        answer = self._exchange(url, credentials, {}, timeout, budget_end, _TOKEN_ANSWER_LIMIT)
        if answer.status != 200:
            raise self._error(answer, hint="check the connection's login (client id) and password (client secret)")
        token = str(answer_json(answer)["access_token"])
        _mask(token)
        return token

    def _error(self, answer: Answer, hint: str | None = None, method: str = "POST") -> AirbyteApiError:
        detail = self._redact(describe_body(answer))
        if hint:
            detail = f"{detail} ({hint})"
        if 300 <= answer.status < 400:
            target = urlsplit(answer.headers.get("Location", "")).netloc.rpartition("@")[2][:80] or "another path"
            detail = f"redirected to {target}; not followed: set the connection's host to where Airbyte answers"
        error_type = AirbyteNotFoundError if answer.status == 404 else AirbyteApiError
        error = error_type(method, answer.url, answer.status, detail)
        retry_after = answer.headers.get("Retry-After")
        if retry_after and retry_after.strip().isdigit():
            error.retry_after = float(retry_after)
        return error

    def _redact(self, text: str) -> str:
        secrets = [self.client_settings.client_secret, *_token_cache.values()]
        for secret in secrets:
            if secret:
                text = text.replace(secret, "***")
        return text


def _failure_text(reason: Any) -> str:
    """Airbyte's ``FailureReason`` in words: its message for people, its type and origin (no stack trace)."""
    if not isinstance(reason, dict):
        return "Airbyte gave no reason"
    message = reason.get("externalMessage") or reason.get("internalMessage") or "no message"
    labels = [str(reason[key]) for key in ("failureType", "failureOrigin") if reason.get(key)]
    return f"{message} ({', '.join(labels)})" if labels else str(message)


def _mask(secret: str) -> None:
    """Tell Airflow's log masker about a token so it never appears in a task log."""
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # outside an Airflow runtime there is no task log to mask
        return
    mask_secret(secret)
