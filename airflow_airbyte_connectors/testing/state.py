"""What every endpoint group of the emulated Airbyte shares: the release line it behaves as, its stores and
the one lock that guards them."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

from airflow_airbyte_connectors.testing.actors import ActorStore
from airflow_airbyte_connectors.testing.auth import Auth, Workspaces
from airflow_airbyte_connectors.testing.definitions import DefinitionStore
from airflow_airbyte_connectors.testing.jobs import JobStore
from airflow_airbyte_connectors.testing.local_server import LocalServer
from airflow_airbyte_connectors.testing.registry import ConnectorRegistry


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
    basic_auth: bool = True  # HTTP Basic with the credentials is accepted (removed on Community in 2.2)
    # 403 for a request naming resources of more than one workspace or organization, with auth on (2.4)
    single_scope_requests: bool = False
    spec_commands: bool = False  # commands/run/spec, commands/status, commands/output/spec (2.0)
    create_takes_spec: bool = False  # create_custom takes connectorSpecification and runs no SPEC job (2.1)
    # jobs/list serves the page holding rowOffset (a Micronaut Pageable, 1.0+); before, SQL's OFFSET as given
    job_pages_start_at_page_boundaries: bool = True


_V2_0 = Profile("2.0", "bearer", 900, False, True, True, True, True, paginated_actor_lists=True, spec_commands=True)

PROFILES: dict[str, Profile] = {
    "0.63": Profile("0.63", "basic", 0, True, False, False, False, False, job_pages_start_at_page_boundaries=False),
    "1.6": Profile("1.6", "bearer", 180, True, False, False, True, False),
    "2.0": _V2_0,
    "2.2": replace(_V2_0, name="2.2", basic_auth=False, create_takes_spec=True),
    "2.4": replace(_V2_0, name="2.4", basic_auth=False, create_takes_spec=True, single_scope_requests=True),
}


class EmulatorState(LocalServer):
    """The state the endpoint groups (``*_api`` modules) work on, declared once so each group is typed;
    :class:`~.server.AirbyteEmulator` sets it. The stores are not locked themselves: hold ``_lock``."""

    profile: Profile
    write_delay: float  # seconds a SPEC job takes (in a create/update, or as a SPEC command)
    unpullable_tags: frozenset[str]
    blocked_tags: frozenset[str]
    _lock: threading.RLock
    _auth: Auth
    _workspaces: Workspaces
    _definitions: DefinitionStore
    _actors: ActorStore
    _jobs: JobStore
    _registry: ConnectorRegistry
