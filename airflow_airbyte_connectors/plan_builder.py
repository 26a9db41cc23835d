"""``build_plan``: the one sequence of steps from basic_config and Airbyte to a plan, shared by the DAG's
``prepare`` task and the ``airbyte-connectors plan`` command. A new plan step is added here, once.

Steps: load and validate basic_config → list Airbyte's definitions → compare (planning.make_plan) →
leave out creates still pending → what each version move means and what is held → would this Airbyte
refuse a version (its platform-compatibility matrix) → do the images exist → whom each version move touches.
Nothing is written.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import Counter
from collections.abc import Callable, Mapping, Set
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from airflow_airbyte_connectors import settings
from airflow_airbyte_connectors.configs import ConfigError, get_configs, read_basic_config
from airflow_airbyte_connectors.impact import Actor, Crossing, predict, selected_streams
from airflow_airbyte_connectors.kinds import KINDS, Kind
from airflow_airbyte_connectors.planning import (
    Action,
    Finding,
    Plan,
    make_plan,
    with_holds,
    with_image_checks,
    with_pending_creates,
    with_platform_compatibility,
    with_version_changes,
)
from airflow_airbyte_connectors.urls import without_userinfo

if TYPE_CHECKING:
    from airflow_airbyte_connectors.hooks.airbyte_definitions import AirbyteDefinitionsHook, InstanceInfo

log = logging.getLogger(__name__)

# Impact reads (sources/search, connections/list) sent to Airbyte at the same time.
IMPACT_READS_AT_ONCE = 4

# Which creates ``(kind, dockerRepository)`` an earlier create in this Airbyte may still be committing, each
# with why (pending_creates.PendingCreates.unsettled, bound to the settle window), given what Airbyte lists
# and what the plan would create.
PendingCreatesOf = Callable[
    ["AirbyteDefinitionsHook", Set[tuple[Kind, str]], Set[tuple[Kind, str]]], Mapping[tuple[Kind, str], str]
]


@dataclass(frozen=True)
class BuiltPlan:
    plan: Plan
    hook: AirbyteDefinitionsHook
    config_path: Path
    # sha256 of the basic_config bytes planned from (the file is read once).
    config_digest: str
    # More writes than ``write_limit``: the image check and the impact reads were skipped.
    too_large: bool = False

    @property
    def writes(self) -> int:
        """Creates, updates and held changes: a person may approve the held ones in the same run."""
        return len(self.plan.actions) + len(self.plan.held)


def build_plan(
    *,
    conn_id: str | None = None,
    config_path: str | os.PathLike[str] | None = None,
    apply_held: bool = False,
    pending_creates: PendingCreatesOf | None = None,
    write_limit: int | None = None,
) -> BuiltPlan:
    """Plan basic_config (``config_path``, default ``[airbyte_connectors] basic_config_path``) against the
    Airbyte of ``conn_id``. A config error stops here, before any request to Airbyte.

    ``apply_held``: held updates go into the writes (only where no person approves them).
    ``pending_creates``: leave out creates an earlier run may still be committing (inside Airflow).
    ``write_limit``: past this many writes, skip the image check and the impact reads (the run stops anyway).
    """
    from airflow_airbyte_connectors.hooks.airbyte_definitions import AirbyteDefinitionsHook

    path = Path(config_path) if config_path else settings.basic_config_path()
    raw = read_basic_config(path)
    desired = get_configs("connectors", path=path, raw=raw)
    if desired.environments:
        # Each environment's Airbyte is its own connection: planning them all against one would write prod's
        # versions (and staging's) to that one Airbyte, ungated.
        names = ", ".join(environment.name for environment in desired.environments)
        raise ConfigError(
            str(path),
            [
                f"connectors.environments: declares {names}; this version validates the section but does not plan "
                "or write several Airbyte instances yet: remove the section to keep one Airbyte in step"
            ],
        )
    log.info(
        "basic_config %s: %d source and %d destination definitions",
        path,
        len(desired.source_definitions),
        len(desired.destination_definitions),
    )
    hook = AirbyteDefinitionsHook(conn_id)
    instance = hook.instance
    current = {kind: hook.list_definitions(kind) for kind in KINDS}
    plan = make_plan(desired, current)
    if pending_creates is not None:
        shown = {(kind, read["dockerRepository"]) for kind, reads in current.items() for read in reads}
        wanted = {(a.kind, a.desired.docker_repository) for a in plan.creates}
        plan = with_pending_creates(plan, pending_creates(hook, shown, wanted))
    plan = assess_versions(plan, apply_held=apply_held)
    plan = check_platform_compatibility(plan, instance)
    built = BuiltPlan(plan, hook, path, hashlib.sha256(raw).hexdigest())
    if write_limit is not None and built.writes > write_limit:
        return replace(built, too_large=True)
    return replace(built, plan=assess_impact(hook, check_plan_images(plan)))


def assess_versions(plan: Plan, *, apply_held: bool = False) -> Plan:
    """What each update's version move means (classes, crossed breaking changes from Airbyte's connector
    registry, read once and only when there is an update), and which updates are held."""
    if not any(action.tag_change for action in plan.updates):
        return plan
    location = settings.registry_url()
    if location is None:
        plan = with_version_changes(plan, None, registry="off")
        note = "registry_url is empty: breaking changes are not checked (downgrades are still held)"
        plan = replace(plan, findings=(*plan.findings, Finding("registry", None, "", note)))
    else:
        from airflow_airbyte_connectors.clients.connector_registry import read_connector_registry

        releases, problems = read_connector_registry(location, timeout=settings.read_timeout())
        plan = with_version_changes(plan, releases, registry="read" if releases is not None else "failed")
        if releases is None:
            # The reader's finding names the registry (without userinfo) already; so does this note.
            note = "without breaking-change data, a major or unknown version move counts as breaking"
            problems = [*problems, f"connector registry {without_userinfo(location)}: {note}"]
        findings = tuple(Finding("registry", None, "", p) for p in problems)
        plan = replace(plan, findings=plan.findings + findings)
    return with_holds(plan, settings.hold_changes(), apply_held=apply_held)


def check_platform_compatibility(plan: Plan, instance: InstanceInfo) -> Plan:
    """Block the updates this Airbyte would refuse by Airbyte's platform-compatibility matrix (read once, and
    only when a definition is updated). Unreadable, or Airbyte's version unknown: a finding; the updates go
    ahead, as Airbyte's own check lets them."""
    location = settings.platform_compatibility_url()
    if location is None or not any(a.definition_id for a in plan.updates + plan.held):
        return plan
    if instance.version is None:
        note = "Airbyte did not tell its version: updates are not checked against the platform-compatibility matrix"
        return replace(plan, findings=(*plan.findings, Finding("platform_compatibility", None, "", note)))
    from airflow_airbyte_connectors.clients.connector_registry import read_platform_compatibility

    matrix, problems = read_platform_compatibility(location, timeout=settings.read_timeout())
    if matrix is None:
        problems = [f"{p}; updates go ahead unchecked (Airbyte's own check lets them through too)" for p in problems]
        findings = tuple(Finding("platform_compatibility", None, "", p) for p in problems)
        return replace(plan, findings=plan.findings + findings)
    return with_platform_compatibility(plan, matrix, instance.version, instance.edition)


def check_plan_images(plan: Plan) -> Plan:
    """Ask the image registries whether each image to create or update exists (``check_images``); writes
    whose image does not exist leave the plan, so Airbyte never pulls for them."""
    if not (plan.actions or plan.held) or not settings.check_images():
        return plan
    from airflow_airbyte_connectors.clients.image_registry import check_images

    # Held changes too: a person may approve them in this run.
    images = [(a.desired.docker_repository, a.desired.docker_image_tag) for a in plan.actions + plan.held]
    checked = check_images(
        images,
        docker_hub_url=settings.docker_hub_url(),
        token_hosts=settings.image_token_hosts(),
        timeout=settings.image_check_timeout(),
    )
    log.info(
        "Image check: %s",
        ", ".join(f"{status} {n}" for status, n in Counter(c.status for c in checked.values()).most_common()),
    )
    return with_image_checks(plan, {image: (c.status, c.reason) for image, c in checked.items()})


def assess_impact(hook: AirbyteDefinitionsHook, plan: Plan) -> Plan:
    """Find the sources/destinations each planned or held version move touches, and predict which Airbyte
    moves and which it keeps behind. Reads Airbyte only for those definitions, a few reads at a time."""
    changes = {
        id(action): (action, action.version_change, action.definition_id)
        for action in plan.updates + plan.held
        if action.version_change is not None and action.definition_id is not None
    }
    if not changes:
        return plan
    crossings = {
        key: [Crossing(c.version, c.impacted_streams) for c in change.crossed]
        for key, (_, change, _) in changes.items()
    }
    # Airbyte scopes its pins by stream on the way up only; a downgrade moves every source.
    downgrades = {key for key, (_, change, _) in changes.items() if "downgrade" in change.classes}
    scoped = {key for key in changes if key not in downgrades and any(c.impacted_streams for c in crossings[key])}

    def actors_of(key: int) -> list[Actor]:
        action, _, definition_id = changes[key]
        return [Actor.from_api(action.kind, read) for read in hook.search_actors(action.kind, definition_id)]

    with ThreadPoolExecutor(max_workers=min(IMPACT_READS_AT_ONCE, len(changes)), thread_name_prefix="impact") as pool:
        actors = dict(zip(changes, pool.map(actors_of, changes), strict=True))
        # Connections: once per workspace, and only where a stream-scoped breaking change is crossed.
        workspaces = sorted({actor.workspace_id for key in scoped for actor in actors[key]})
        connections = dict(zip(workspaces, pool.map(hook.list_connections, workspaces), strict=True))

    def with_impact(action: Action) -> Action:
        key = id(action)
        if key not in changes:
            return action
        streams = (
            {a.actor_id: selected_streams(a.actor_id, connections[a.workspace_id]) for a in actors[key]}
            if key in scoped
            else {}
        )
        impact = predict(actors[key], streams, crossings[key], downgrade=key in downgrades)
        return replace(action, impact=impact)

    return replace(
        plan,
        updates=tuple(with_impact(a) for a in plan.updates),
        held=tuple(with_impact(a) for a in plan.held),
    )
