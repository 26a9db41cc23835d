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
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence, Set
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from airflow_airbyte_connectors import settings
from airflow_airbyte_connectors.config.configs import (
    ConfigError,
    ConnectorsConfig,
    DesiredDefinition,
    get_configs,
    read_basic_config,
)
from airflow_airbyte_connectors.config.environments import Environment, same_airbyte, unknown_environment
from airflow_airbyte_connectors.core.kinds import KINDS, Kind, id_key
from airflow_airbyte_connectors.core.urls import without_userinfo
from airflow_airbyte_connectors.plan.gate import GateVerdict, Upstream, judge
from airflow_airbyte_connectors.plan.impact import Actor, Crossing, predict, selected_streams
from airflow_airbyte_connectors.plan.plan_document import AirbyteInstance, EnvironmentInfo, PlanDocument
from airflow_airbyte_connectors.plan.planning import (
    Action,
    Finding,
    Plan,
    make_plan,
    with_environment,
    with_gates,
    with_holds,
    with_image_checks,
    with_pending_creates,
    with_platform_compatibility,
    with_version_changes,
)
from airflow_airbyte_connectors.plan.upstream import READS_AT_ONCE, UpstreamDefinition, read_upstreams

if TYPE_CHECKING:
    from airflow_airbyte_connectors.core.releases import RegistryReleases
    from airflow_airbyte_connectors.hooks.airbyte_definitions import AirbyteDefinitionsHook, InstanceInfo

log = logging.getLogger(__name__)

# Environments read and planned at the same time.
ENVIRONMENTS_AT_ONCE = 8

# Which creates ``(kind, dockerRepository)`` an earlier create in this Airbyte may still be committing, each
# with why (pending_creates.PendingCreates.unsettled, bound to the settle window), given what Airbyte lists
# and what the plan would create.
PendingCreatesOf = Callable[
    ["AirbyteDefinitionsHook", Set[tuple[Kind, str]], Set[tuple[Kind, str]]], Mapping[tuple[Kind, str], str]
]
# Since when one Airbyte runs each definition's tag, ``(kind, dockerRepository) → since``, given every definition
# it lists that basic_config names ``(kind, dockerRepository, tag)`` and now (promotion_records.VersionsSeen.observe_all
# inside Airflow).
VersionsSinceOf = Callable[
    ["AirbyteDefinitionsHook", Sequence[tuple[Kind, str, str]], datetime], Mapping[tuple[Kind, str], datetime]
]
T = TypeVar("T")

# What an unread connector registry means, in the same words for the plan and ``outdated``.
REGISTRY_UNREAD = "without breaking-change data, a major or unknown version move counts as breaking"


@dataclass(frozen=True)
class BuiltPlan:
    plan: Plan
    hook: AirbyteDefinitionsHook
    config_path: Path
    # sha256 of the basic_config bytes planned from (the file is read once).
    config_digest: str
    # More writes than ``write_limit``: the image check and the impact reads were skipped.
    too_large: bool = False
    # The environment planned (connectors.environments); None without environments.
    environment: Environment | None = None

    @property
    def writes(self) -> int:
        """Creates, updates and held changes: a person may approve the held ones in the same run."""
        return len(self.plan.actions) + len(self.plan.held)


@dataclass(frozen=True)
class EnvironmentFailure:
    """An environment whose Airbyte could not be read or planned: nothing is written there this run."""

    environment: Environment
    error: str


@dataclass(frozen=True)
class BuiltPlans:
    """The plan of every environment basic_config names (one plan, environment None, without environments)."""

    built: tuple[BuiltPlan, ...]
    failed: tuple[EnvironmentFailure, ...]
    config_path: Path
    config_digest: str
    # connectors.environments in promotion order; () without the section.
    environments: tuple[Environment, ...] = ()

    @property
    def writes(self) -> int:
        return sum(built.writes for built in self.built)

    @property
    def too_large(self) -> bool:
        return any(built.too_large for built in self.built)


class UpstreamReads:
    """The promotion gate's reads of each upstream Airbyte, once per plan: environments promoting from the same one
    (eu and us from prod) are judged by one search per definition there and one jobs read per connection."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._read: dict[tuple[str, UpstreamDefinition], Upstream] = {}

    def read(
        self, hook: AirbyteDefinitionsHook, environment: str, definitions: Sequence[UpstreamDefinition]
    ) -> dict[UpstreamDefinition, Upstream]:
        """:func:`upstream.read_upstreams`, reading only what an earlier call for ``environment`` did not."""
        with self._guard:
            lock = self._locks.setdefault(environment, threading.Lock())
        with lock:  # a second environment waits for the first's reads, then reads only what they left out
            missing = [d for d in definitions if (environment, d) not in self._read]
            if missing:
                for definition, upstream in read_upstreams(hook, environment, missing).items():
                    self._read[(environment, definition)] = upstream
            return {d: self._read[(environment, d)] for d in definitions}


class SharedReads:
    """What every environment's plan reads from outside Airbyte (the connector registry, the platform-compatibility
    matrix): read once per plan, however many environments ask, from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._read: dict[tuple[str, str], Any] = {}

    def once(self, what: str, location: str, read: Callable[[], T]) -> T:
        with self._lock:  # held while reading: the second environment waits for the first's answer
            if (what, location) not in self._read:
                self._read[(what, location)] = read()
            return cast(T, self._read[(what, location)])


def build_plan(
    *,
    conn_id: str | None = None,
    config_path: str | os.PathLike[str] | None = None,
    apply_held: bool = False,
    pending_creates: PendingCreatesOf | None = None,
    write_limit: int | None = None,
) -> BuiltPlan:
    """Plan basic_config (``config_path``, default ``[airbyte_connectors] basic_config_path``) against the
    Airbyte of ``conn_id``. A config error stops here, before any request to Airbyte. A config with
    environments is planned by :func:`build_plans`.

    ``apply_held``: held updates go into the writes (only where no person approves them).
    ``pending_creates``: leave out creates an earlier run may still be committing (inside Airflow).
    ``write_limit``: past this many writes, skip the image check and the impact reads (the run stops anyway).
    """
    from airflow_airbyte_connectors.hooks.airbyte_definitions import AirbyteDefinitionsHook

    path, raw, desired = load_config(config_path)
    if desired.environments:
        names = ", ".join(environment.name for environment in desired.environments)
        raise ConfigError(str(path), [f"connectors.environments: declares {names}: plan it with build_plans"])
    hook = AirbyteDefinitionsHook(conn_id)
    return _plan_one(
        desired,
        hook,
        read_current(hook),
        BuiltPlan(Plan(), hook, path, hashlib.sha256(raw).hexdigest()),
        apply_held=apply_held,
        pending_creates=pending_creates,
        write_limit=write_limit,
        shared=SharedReads(),
    )


def build_plans(
    *,
    conn_id: str | None = None,
    config_path: str | os.PathLike[str] | None = None,
    environment: str | None = None,
    apply_held: bool = False,
    pending_creates: PendingCreatesOf | None = None,
    write_limit: int | None = None,
    versions_since: VersionsSinceOf | None = None,
    now: datetime | None = None,
) -> BuiltPlans:
    """Plan basic_config against every Airbyte it names: without ``connectors.environments``, the one of
    ``conn_id`` (:func:`build_plan`); with it, each environment's (or only ``environment``), read and planned
    concurrently, each version move into an environment with ``promoteFrom`` judged by the promotion gate.

    An environment that cannot be read fails alone (:class:`EnvironmentFailure`): the others are planned. Two
    environments that are one Airbyte, or an unknown ``environment``, stop everything before any write.

    ``versions_since``: since when each Airbyte runs each tag of the definitions basic_config names (inside Airflow,
    recorded as it is seen); None: not known, so every gate waits ("not yet seen by a run").
    """
    from airflow_airbyte_connectors.hooks.airbyte_definitions import AirbyteDefinitionsHook

    path, raw, desired = load_config(config_path)
    digest = hashlib.sha256(raw).hexdigest()
    if not desired.environments:
        if environment is not None:
            raise ConfigError(str(path), [f"--environment {environment}: basic_config has no connectors.environments"])
        hook = AirbyteDefinitionsHook(conn_id)
        one = _plan_one(
            desired,
            hook,
            read_current(hook),
            BuiltPlan(Plan(), hook, path, digest),
            apply_held=apply_held,
            pending_creates=pending_creates,
            write_limit=write_limit,
            shared=SharedReads(),
        )
        return BuiltPlans((one,), (), path, digest)
    if conn_id is not None:
        raise ConfigError(
            str(path), [f"connectors.environments: each environment names its conn_id; {conn_id!r} is not used"]
        )
    if settings.workspace_id():
        raise ConfigError(
            str(path),
            [
                "connectors.environments: [airbyte_connectors] workspace_id names a workspace of one Airbyte; with "
                "environments, set each Airbyte's in the extra 'workspace_id' of its connection instead"
            ],
        )
    by_name = {e.name: e for e in desired.environments}
    if environment is not None and environment not in by_name:
        raise ConfigError(str(path), [f"--environment: {unknown_environment(environment, set(by_name))}"])
    planned = [e for e in desired.environments if environment in (None, e.name)]
    # An environment's gate reads the one it promotes from, also when only it is planned.
    read = [e for e in desired.environments if e in planned or any(p.promote_from == e.name for p in planned)]
    moment = now or _utc_now()
    with ThreadPoolExecutor(max_workers=min(ENVIRONMENTS_AT_ONCE, len(read)), thread_name_prefix="env") as pool:
        readings = dict(
            zip([e.name for e in read], pool.map(lambda e: _read_environment(e, desired), read), strict=True)
        )
        reached = {name: r for name, r in readings.items() if isinstance(r, _Reading)}
        problems = same_airbyte({name: reading.instance_id for name, reading in reached.items()})
        if problems:
            raise ConfigError(str(path), [f"connectors.environments: {problem}" for problem in problems])
        # Airflow's Variables (the records of versions seen and of pending creates) are read in this thread: a task
        # reaches them through its supervisor, which other threads cannot talk to. Only the definitions basic_config
        # names are recorded: a gate judges nothing else, and each record costs a round trip to Airflow's API per run
        # (an Airbyte lists 600 definitions and more).
        if versions_since is not None:
            named = {(kind, d.docker_repository) for kind in KINDS for d in desired.of_kind(kind)}
            readings.update(
                {
                    n: replace(r, since=versions_since(r.hook, [e for e in r.listing if e[:2] in named], moment))
                    for n, r in reached.items()
                }
            )
        pending = {
            env.name: _pending_of(pending_creates, reached[env.name])
            for env in planned
            if pending_creates is not None and env.name in reached
        }
        shared, upstream_reads = SharedReads(), UpstreamReads()

        def plan_environment(env: Environment) -> BuiltPlan | EnvironmentFailure:
            reading = readings[env.name]
            if isinstance(reading, EnvironmentFailure):
                return reading
            try:
                return _plan_environment(
                    desired,
                    env,
                    reading,
                    BuiltPlan(Plan(), reading.hook, path, digest, environment=env),
                    upstream=readings.get(env.promote_from) if env.promote_from else None,
                    apply_held=apply_held,
                    pending_creates=(lambda *_: pending[env.name]) if env.name in pending else None,
                    shared=shared,
                    upstream_reads=upstream_reads,
                    write_limit=write_limit,
                    now=moment,
                )
            except ConfigError:
                raise
            except Exception as exc:
                return EnvironmentFailure(env, describe_failure(env, exc))

        def with_workspace(built: BuiltPlan, plan: Plan) -> BuiltPlan | EnvironmentFailure:
            assert built.environment is not None
            try:
                if plan.actions or plan.held:
                    built.hook.get_workspace_id()  # the writes' workspace, resolved here: one Airbyte failing alone
                return replace(built, plan=plan)
            except Exception as exc:
                return EnvironmentFailure(built.environment, describe_failure(built.environment, exc))

        results = list(pool.map(plan_environment, planned))
        built = [r for r in results if isinstance(r, BuiltPlan)]
        if write_limit is not None and sum(b.writes for b in built) > write_limit:
            results = [replace(b, too_large=True) if isinstance(b, BuiltPlan) else b for b in results]
        else:
            # The image check for every environment at once: an image wanted in five is asked about once.
            checked = dict(zip(map(id, built), check_images_of([b.plan for b in built]), strict=True))
            results = list(
                pool.map(lambda r: with_workspace(r, checked[id(r)]) if isinstance(r, BuiltPlan) else r, results)
            )
    failed = tuple(r for r in results if isinstance(r, EnvironmentFailure))
    for failure in failed:
        log.error("environment %s: %s; nothing is written there this run", failure.environment.name, failure.error)
    built_plans = tuple(r for r in results if isinstance(r, BuiltPlan))
    return BuiltPlans(built_plans, failed, path, digest, desired.environments)


def plan_document(
    plans: BuiltPlans, *, dry_run: bool, definitions_assets: bool = True, notes: Sequence[Finding] = (), **context: Any
) -> PlanDocument:
    """The plan document of ``plans`` (the ``prepare`` task's XCom, ``airbyte-connectors plan --format json``):
    one plan's, or with environments one covering each, those that failed with their ``error``.

    ``definitions_assets``: name the Asset of each Airbyte's definitions (a run that may emit it); ``notes``:
    findings about the whole plan (environments only); ``context``: ``approval``, ``config_unchanged``.
    """
    context = {"dry_run": dry_run, "config_digest": plans.config_digest, **context}
    if not plans.environments:
        (built,) = plans.built
        return PlanDocument.of(built.plan, **context, **_where(built, definitions_assets))
    planned = {built.environment.name: built for built in plans.built if built.environment is not None}
    failed = {failure.environment.name: failure.error for failure in plans.failed}
    infos = [
        EnvironmentInfo(
            name=environment.name,
            conn_id=environment.conn_id,
            promote_from=environment.promote_from,
            soak_seconds=int(environment.soak.total_seconds()) if environment.soak is not None else None,
            successful_syncs=environment.successful_syncs if environment.promote_from else None,
            error=failed.get(environment.name),
            **(_where(planned[environment.name], definitions_assets) if environment.name in planned else {}),
        )
        for environment in plans.environments
        if environment.name in planned or environment.name in failed
    ]
    return PlanDocument.of_environments(
        [(info, planned[info.name].plan) for info in infos if info.name in planned], infos, notes=notes, **context
    )


def airbyte_instance(built: BuiltPlan) -> AirbyteInstance:
    """What the Airbyte a plan was made against told of itself: ``Airbyte 2.0.0 (community)``."""
    return AirbyteInstance(version=built.hook.instance.version, edition=built.hook.instance.edition)


def _where(built: BuiltPlan, definitions_asset: bool) -> dict[str, Any]:
    """Which Airbyte a plan is for: its API root (never with userinfo), its version, its Asset."""
    root = built.hook.client_settings.root_url
    where: dict[str, Any] = {"airbyte_url": root, "airbyte": airbyte_instance(built)}
    if definitions_asset:
        where["definitions_asset"] = settings.definitions_asset_uri(root)
    return where


def load_config(config_path: str | os.PathLike[str] | None) -> tuple[Path, bytes, ConnectorsConfig]:
    """basic_config's path, bytes and validated ``connectors`` section (read once)."""
    path = Path(config_path) if config_path else settings.basic_config_path()
    raw = read_basic_config(path)
    desired = get_configs("connectors", path=path, raw=raw)
    log.info(
        "basic_config %s: %d source and %d destination definitions",
        path,
        len(desired.source_definitions),
        len(desired.destination_definitions),
    )
    return path, raw, desired


def read_current(hook: AirbyteDefinitionsHook) -> dict[Kind, list[dict[str, Any]]]:
    """Every definition the Airbyte of ``hook`` lists, by kind, after what it says of itself (its version decides
    how later steps talk to it)."""
    hook.instance  # noqa: B018 - read first, once per hook
    return {kind: hook.list_definitions(kind) for kind in KINDS}


def _pending_of(pending_creates: PendingCreatesOf | None, reading: _Reading) -> Mapping[tuple[Kind, str], str]:
    """The creates an earlier run may still be committing in one environment's Airbyte."""
    assert pending_creates is not None
    shown = {(kind, repository) for kind, repository, _ in reading.listing}
    wanted = {(a.kind, a.desired.docker_repository) for a in reading.compared.creates}
    return pending_creates(reading.hook, shown, wanted)


def describe_failure(environment: Environment, exc: BaseException) -> str:
    from airflow_airbyte_connectors.hooks.airbyte_errors import describe_read_failure

    return describe_read_failure(exc, environment.conn_id)


@dataclass(frozen=True)
class _Reading:
    """One environment's Airbyte as read at the start of a run: who it is and what it lists."""

    hook: AirbyteDefinitionsHook
    instance_id: str
    current: dict[Kind, list[dict[str, Any]]]
    # Its config compared with ``current`` (planning.make_plan), in its reading thread: the pending creates are
    # looked up from it in the run's own thread, and its plan starts from it.
    compared: Plan
    # Since when it runs each definition's tag (recorded inside Airflow; empty: not known).
    since: Mapping[tuple[Kind, str], datetime] = field(default_factory=dict)

    @property
    def listing(self) -> list[tuple[Kind, str, str]]:
        current = self.current
        return [(kind, read["dockerRepository"], read["dockerImageTag"]) for kind in current for read in current[kind]]


def _read_environment(environment: Environment, desired: ConnectorsConfig) -> _Reading | EnvironmentFailure:
    from airflow_airbyte_connectors.hooks.airbyte_definitions import AirbyteDefinitionsHook

    try:
        hook = AirbyteDefinitionsHook(environment.conn_id)
        current = read_current(hook)
        compared = make_plan(desired.for_environment(environment.name), current)
        return _Reading(hook, hook.instance_id, current, compared)
    except Exception as exc:  # one environment unreachable: its part fails, the others go on
        return EnvironmentFailure(environment, describe_failure(environment, exc))


def _plan_environment(
    desired: ConnectorsConfig,
    environment: Environment,
    reading: _Reading,
    start: BuiltPlan,
    *,
    upstream: _Reading | EnvironmentFailure | None,
    apply_held: bool,
    pending_creates: PendingCreatesOf | None,
    shared: SharedReads,
    upstream_reads: UpstreamReads,
    write_limit: int | None,
    now: datetime,
) -> BuiltPlan:
    """One environment's plan up to the image check: its own config, the promotion gate, the impact, its labels.

    The gate reads the upstream Airbyte and the impact this environment's: both at the same time, so a gated
    environment takes about as long as one without a gate. The impact is read for every version move, also those
    the gate keeps waiting (what moves when it opens), as one Airbyte alone reads it; not past ``write_limit``."""
    name = environment.name
    upstream_name = environment.promote_from
    entries = [d for kind in KINDS for d in desired.of_kind(kind) if d.applies_in(name)]
    # Exceptions the gate does not judge: another tag here (environmentTags), or an entry the environment
    # promoted from does not have (narrowed by environments): there is nothing there to wait for.
    tagged = [d for d in entries if name in d.environment_tags]
    alone = [d for d in entries if upstream_name is not None and not d.applies_in(upstream_name)]
    exceptions = {(d.kind, d.docker_repository) for d in tagged + alone}
    notes = _exception_notes(name, tagged) + [
        Finding(
            "environment_tag",
            d.kind,
            d.name,
            f"{name} has {d.kind} {d.name}, {upstream_name} does not (environments: "
            f"{', '.join(sorted(d.environments or ()))}): an exception, not gated",
        )
        for d in alone
    ]

    def gate(plan: Plan) -> Plan:
        plan = replace(plan, findings=plan.findings + tuple(notes))
        judged = [
            a
            for a in plan.actions + plan.held
            if a.gated_tag_move and (a.kind, a.desired.docker_repository) not in exceptions
        ]
        too_large = write_limit is not None and len(plan.actions) + len(plan.held) > write_limit  # the run stops
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="impact") as side:
            impact = None if too_large else side.submit(assess_impact, reading.hook, plan)
            verdicts = (
                _verdicts(environment, judged, upstream, upstream_reads, now=now)
                if environment.promote_from is not None and upstream is not None
                else {}
            )
            assessed = impact.result() if impact is not None else plan
        # assess_impact gives each update a new Action, in the same order: the verdicts follow them.
        before, after = plan.actions + plan.held, assessed.actions + assessed.held
        return with_gates(
            assessed, {id(a): verdicts[id(b)] for b, a in zip(before, after, strict=True) if id(b) in verdicts}
        )

    built = _plan_one(
        desired.for_environment(name),
        reading.hook,
        reading.current,
        start,
        apply_held=apply_held,
        pending_creates=pending_creates,
        write_limit=None,
        shared=shared,
        gate=gate,
        checks=False,
        compared=reading.compared,
    )
    return replace(built, plan=with_environment(built.plan, name))


def _exception_notes(environment: str, entries: Sequence[DesiredDefinition]) -> list[Finding]:
    return [
        Finding(
            "environment_tag",
            d.kind,
            d.name,
            f"{environment} keeps {d.kind} {d.name} at {d.environment_tags[environment]} (environmentTags), not "
            f"{d.docker_image_tag}: an exception, not gated",
        )
        for d in entries
    ]


def _verdicts(
    environment: Environment,
    actions: Sequence[Action],
    upstream: _Reading | EnvironmentFailure,
    upstream_reads: UpstreamReads,
    *,
    now: datetime,
) -> dict[int, GateVerdict]:
    """The gate's verdict on each of ``actions`` (writes into ``environment``), judged by what the environment it
    promotes from runs and its connections' syncs there."""
    where = str(environment.promote_from)
    if not actions:
        return {}
    if isinstance(upstream, EnvironmentFailure):
        verdict = GateVerdict("waiting", f"waiting for {where}: it could not be read ({upstream.error})")
        return {id(action): verdict for action in actions}
    listed: dict[tuple[Kind, str], list[dict[str, Any]]] = {}
    for kind, reads in upstream.current.items():
        for read in reads:
            listed.setdefault((kind, read["dockerRepository"]), []).append(read)
    wanted: dict[int, UpstreamDefinition] = {}
    for action in actions:
        definition = (action.kind, action.desired.docker_repository)
        found = listed.get(definition, [])
        tags = {read["dockerImageTag"] for read in found}
        tag = next(iter(tags)) if len(tags) == 1 else None
        definition_id = found[0][id_key(action.kind)] if tag is not None else None
        # Syncs are read only where the upstream runs the tag wanted: other verdicts do not depend on them.
        since = upstream.since.get(definition) if tag == action.desired.docker_image_tag else None
        wanted[id(action)] = UpstreamDefinition(action.kind, definition_id, tag, since)
    upstreams = upstream_reads.read(upstream.hook, where, list(dict.fromkeys(wanted.values())))
    soak = environment.soak or timedelta(0)
    return {
        key: judge(
            action.desired.docker_image_tag,
            upstreams[wanted[key]],
            soak=soak,
            successful_syncs=environment.successful_syncs,
            now=now,
        )
        for action in actions
        if (key := id(action)) in wanted
    }


def _plan_one(
    desired: ConnectorsConfig,
    hook: AirbyteDefinitionsHook,
    current: dict[Kind, list[dict[str, Any]]],
    start: BuiltPlan,
    *,
    apply_held: bool,
    pending_creates: PendingCreatesOf | None,
    write_limit: int | None,
    shared: SharedReads,
    gate: Callable[[Plan], Plan] | None = None,
    checks: bool = True,
    compared: Plan | None = None,
) -> BuiltPlan:
    """The plan steps for one Airbyte, from its listing ``current``. ``gate``: the promotion gate and the impact
    (environments); ``checks``: also check images and read the impact (a caller planning several Airbytes checks the
    images of all at once); ``compared``: ``make_plan(desired, current)``, when already made."""
    plan = make_plan(desired, current) if compared is None else compared
    if pending_creates is not None:
        shown = {(kind, read["dockerRepository"]) for kind, reads in current.items() for read in reads}
        wanted = {(a.kind, a.desired.docker_repository) for a in plan.creates}
        plan = with_pending_creates(plan, pending_creates(hook, shown, wanted))
    plan = assess_versions(plan, apply_held=apply_held, shared=shared)
    plan = check_platform_compatibility(plan, hook.instance, shared=shared)
    if gate is not None:
        plan = gate(plan)
    built = replace(start, plan=plan)
    if write_limit is not None and built.writes > write_limit:
        return replace(built, too_large=True)
    if not checks:
        return built
    return replace(built, plan=assess_impact(hook, check_plan_images(plan)))


def _utc_now() -> datetime:
    from datetime import UTC

    return datetime.now(UTC)


def assess_versions(plan: Plan, *, apply_held: bool = False, shared: SharedReads | None = None) -> Plan:
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
        releases, problems = read_registry(location, shared=shared)
        plan = with_version_changes(plan, releases, registry="read" if releases is not None else "failed")
        findings = tuple(Finding("registry", None, "", p) for p in problems)
        plan = replace(plan, findings=plan.findings + findings)
    return with_holds(plan, settings.hold_changes(), apply_held=apply_held)


def read_registry(location: str, *, shared: SharedReads | None = None) -> tuple[RegistryReleases | None, list[str]]:
    """Airbyte's connector registry at ``location`` (read once per ``shared``), and the problems reading it: the
    plan's registry read and ``outdated``'s. Unread: ``None``, the reader's finding and what that means."""
    from airflow_airbyte_connectors.clients.connector_registry import read_connector_registry

    timeout = settings.read_timeout()
    releases, problems = (shared or SharedReads()).once(
        "connector registry", location, lambda: read_connector_registry(location, timeout=timeout)
    )
    if releases is None:
        # The reader's finding names the registry (without userinfo) already; so does this note.
        problems = [*problems, f"connector registry {without_userinfo(location)}: {REGISTRY_UNREAD}"]
    return releases, problems


def check_platform_compatibility(plan: Plan, instance: InstanceInfo, *, shared: SharedReads | None = None) -> Plan:
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

    timeout = settings.read_timeout()
    matrix, problems = (shared or SharedReads()).once(
        "platform compatibility", location, lambda: read_platform_compatibility(location, timeout=timeout)
    )
    if matrix is None:
        problems = [f"{p}; updates go ahead unchecked (Airbyte's own check lets them through too)" for p in problems]
        findings = tuple(Finding("platform_compatibility", None, "", p) for p in problems)
        return replace(plan, findings=plan.findings + findings)
    return with_platform_compatibility(plan, matrix, instance.version, instance.edition)


def check_plan_images(plan: Plan) -> Plan:
    """Ask the image registries whether each image to create or update exists (``check_images``); writes
    whose image does not exist leave the plan, so Airbyte never pulls for them."""
    return check_images_of([plan])[0]


def check_images_of(plans: Sequence[Plan]) -> list[Plan]:
    """:func:`check_plan_images` for several plans (environments): each image asked about once."""
    # Held changes too: a person may approve them in this run.
    images = list(
        dict.fromkeys(
            (a.desired.docker_repository, a.desired.docker_image_tag) for p in plans for a in p.actions + p.held
        )
    )
    if not images or not settings.check_images():
        return list(plans)
    from airflow_airbyte_connectors.clients.image_registry import check_images

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
    statuses = {image: (c.status, c.reason) for image, c in checked.items()}
    return [with_image_checks(plan, statuses) for plan in plans]


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

    with ThreadPoolExecutor(max_workers=min(READS_AT_ONCE, len(changes)), thread_name_prefix="impact") as pool:
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
