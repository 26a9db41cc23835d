"""``find_outdated``: for each definition in basic_config, what is newer and what its policy proposes.

Shared by ``airbyte-connectors outdated``/``bump`` and the ``connector_upgrades`` DAG. Reads, never writes:
Airbyte's connector registry once (current versions, breaking changes), one tag list per definition whose
policy is not ``pin``, release dates only for the candidates a cooldown has to judge (newest first, until one
is old enough), and with a connection Airbyte's version, its definitions (one list per kind) and who uses each
proposed one. When Airbyte's version is known (the connection's, or one given), Airbyte's platform-compatibility
matrix is read once and no version that Airbyte would refuse on update is proposed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from airflow_airbyte_connectors import settings
from airflow_airbyte_connectors.config.configs import ConnectorsConfig, DesiredDefinition, get_configs
from airflow_airbyte_connectors.config.policies import DEFAULT_POLICY, Policy
from airflow_airbyte_connectors.core.compatibility import (
    CompatibilityMatrix,
    find_definition_id,
    refusal,
    unchecked_reason,
)
from airflow_airbyte_connectors.core.kinds import KINDS, Kind
from airflow_airbyte_connectors.core.releases import RegistryReleases
from airflow_airbyte_connectors.core.urls import without_userinfo
from airflow_airbyte_connectors.core.versions import VersionChange, classify, release_version
from airflow_airbyte_connectors.settings_options import OPTION
from airflow_airbyte_connectors.upgrades.proposals import Candidate, PlatformRefusal, Proposal, propose

if TYPE_CHECKING:
    from airflow_airbyte_connectors.clients.image_registry import ImageRegistry, ReleaseDate, TagList
    from airflow_airbyte_connectors.hooks.airbyte_definitions import AirbyteDefinitionsHook
    from airflow_airbyte_connectors.plan.planning import CurrentIndex

log = logging.getLogger(__name__)

# Tag lists and release dates read at the same time.
READS_AT_ONCE = 4


@dataclass(frozen=True)
class OutdatedRow:
    """One definition: its tags, what its policy proposes, and (with a connection) what Airbyte runs."""

    desired: DesiredDefinition
    proposal: Proposal
    # The connector registry's current version (None: not in the registry, or the registry was not read).
    registry_latest: str | None = None
    # With a connection: the tag Airbyte holds, and how many sources/destinations use the definition.
    airbyte_tag: str | None = None
    touches: int | None = None
    # Why the tags or a release date the cooldown needs could not be read: the proposal then rests on what was
    # read, or on nothing.
    problem: str | None = None
    # A release date was not read because the run's max_release_date_reads were spent.
    dates_capped: bool = False
    # The image registry the tags are read at (URL, no userinfo).
    registry: str | None = None
    # Each read that failed, as (what, why): said once per registry and reason in ``Outdated.unread``.
    unread_reads: tuple[tuple[str, str], ...] = ()
    # Tags read from the image registry (None: none asked for, as for a pinned definition).
    tags_read: int | None = None
    # The policy comes from basic_config (``connectors.policy`` or the entry); False: the default, ``pin``.
    policy_set: bool = True
    # With a connection whose tag differs from the config's: the proposed move as Airbyte will make it.
    airbyte_move: VersionChange | None = None

    @property
    def why(self) -> str:
        """One line on why this row proposes what it does, or nothing; every row has one."""
        if self.proposal.reason == "pinned":
            return f"{self.proposal.detail} ({'versionPolicy: pin' if self.policy_set else 'no policy set'})"
        return self.proposal.detail or self.proposal.reason or ""

    @property
    def airbyte_flag(self) -> str | None:
        """What the proposal means from the tag Airbyte runs, when that is worse than the config's tag says: a
        downgrade, or a breaking change crossed (``Airbyte runs 1.9.0: from there the move is major, crossing
        breaking change 2.0.0``)."""
        move = self.airbyte_move
        if move is None or not ("downgrade" in move.classes or move.crossed):
            return None
        what = "a downgrade" if "downgrade" in move.classes else ", ".join(c for c in move.classes if c != "breaking")
        crossed = ", ".join(change.version for change in move.crossed)
        across = f", crossing breaking change {crossed}" if crossed else ""
        return f"Airbyte runs {move.current}: from there the move is {what}{across}"

    @property
    def unread(self) -> bool:
        """Something this row's answer needed was not read: its proposal may not be the one a full read gives."""
        return self.problem is not None


@dataclass(frozen=True)
class Unread:
    """One place that could not be read, said once: what and where (no userinfo), why, whom it leaves unread,
    and the setting that points it elsewhere (None: the image's own name says where)."""

    what: str
    url: str
    reason: str
    setting: str | None = None
    # What was left unread: ``airbyte/source-github`` (its tag list) or ``airbyte/source-x (release date of 1.2.3)``.
    unread: tuple[str, ...] = ()
    # What the answer does without it (``a major move counts as breaking``).
    meaning: str = ""

    def describe(self) -> str:
        """``image registry http://127.0.0.1:9 unread (airbyte/source-github, airbyte/source-hubspot): registry
        unreachable: connection refused; to read another, set docker_hub_url
        (AIRFLOW__AIRBYTE_CONNECTORS__DOCKER_HUB_URL)``."""
        text = f"{self.what} {self.url} unread"
        if self.unread:
            text += f" ({', '.join(self.unread)})"
        text += f": {self.reason}"
        if self.meaning:
            text += f"; {self.meaning}"
        if self.setting is not None:
            text += f"; to read another, set {self.setting} ({OPTION[self.setting].env_var})"
        return text


@dataclass(frozen=True)
class PlatformCheck:
    """The Airbyte whose platform-compatibility matrix the proposals were checked against, or would have been.

    ``origin``: where ``airbyte_version`` comes from, ``given`` by the caller (it wins over the connection's) or
    read from the ``connection``; ``connected_version``: what the connected Airbyte said it runs. ``checked``:
    the matrix was read and applied.
    """

    airbyte_version: str | None = None
    edition: str | None = None
    origin: Literal["given", "connection"] | None = None
    connected_version: str | None = None
    checked: bool = False

    def describe(self) -> str:
        """``Airbyte 2.0.0 (community, the connected one)``, ``Airbyte 2.3.0 (as given)``."""
        about = [self.edition] if self.edition else []
        if self.origin == "connection":
            about.append("the connected one")
        elif self.connected_version and self.connected_version != self.airbyte_version:
            about.append(f"as given; the connected one runs {self.connected_version}")
        else:
            about.append("as given")
        return f"Airbyte {self.airbyte_version} ({', '.join(about)})"

    def to_json(self) -> dict[str, Any]:
        return {
            "airbyteVersion": self.airbyte_version,
            "edition": self.edition,
            "from": self.origin,
            "checked": self.checked,
        }


@dataclass(frozen=True)
class Outdated:
    rows: tuple[OutdatedRow, ...]
    today: date
    # What makes the whole answer incomplete (the connector registry unreadable).
    findings: tuple[str, ...] = ()
    # Requests sent to image registries, by kind (tags, manifest, blob, token).
    requests: tuple[tuple[str, int], ...] = ()
    # Said, but complete all the same (breaking-change data turned off with an empty registry_url).
    notes: tuple[str, ...] = ()
    platform: PlatformCheck = PlatformCheck()
    # Each registry that could not be read (wholly or for some definitions), once.
    unread: tuple[Unread, ...] = ()

    @property
    def proposals(self) -> tuple[OutdatedRow, ...]:
        return tuple(row for row in self.rows if row.proposal.proposed is not None)

    @property
    def unread_rows(self) -> tuple[OutdatedRow, ...]:
        return tuple(row for row in self.rows if row.unread)

    @property
    def nothing_read(self) -> bool:
        """Versions were needed (a policy other than ``pin``) and no tag list gave a single tag: the answer
        knows nothing, which a scheduled run must not pass off as "nothing to propose"."""
        asked = [row for row in self.rows if row.tags_read is not None]
        return bool(asked) and all(row.tags_read == 0 and row.unread for row in asked)

    @property
    def problems(self) -> tuple[str, ...]:
        """What makes the answer incomplete, each said once: every registry unread, then the rest."""
        return (*(unread.describe() for unread in self.unread), *self.findings)


def find_outdated(
    config_path: str | os.PathLike[str],
    *,
    today: date,
    hook: AirbyteDefinitionsHook | None = None,
    airbyte_version: str | None = None,
) -> Outdated:
    """What is newer for each definition of the basic_config at ``config_path``, as of ``today``.

    ``hook``: Airbyte, to show what it runs and whom a proposal touches, and whose version the proposals must
    suit; None works without Airbyte. ``airbyte_version``: the Airbyte version the proposals must suit, over
    the connected one's (e.g. the version an upgrade of Airbyte will bring).
    A config error raises :class:`~airflow_airbyte_connectors.config.configs.ConfigError` before any request.
    """
    from airflow_airbyte_connectors.clients.image_registry import ImageRegistry

    config: ConnectorsConfig = get_configs("connectors", path=Path(config_path))
    entries = [*config.source_definitions, *config.destination_definitions]
    overrides = config.entry_policies
    airbyte = _airbyte_definitions(hook) if hook is not None else None
    platform, matrix, platform_notes = _platform(hook, airbyte_version)
    releases, registry_unread, notes = _registry()
    notes += platform_notes
    findings: list[str] = []
    docker_hub_url = settings.docker_hub_url()
    with (
        ImageRegistry(
            docker_hub_url=docker_hub_url,
            token_hosts=settings.image_token_hosts(),
            timeout=settings.read_timeout(),
            max_dates=settings.max_release_date_reads(),
        ) as tags,
        ThreadPoolExecutor(max_workers=READS_AT_ONCE, thread_name_prefix="outdated") as pool,
    ):

        def row_of(desired: DesiredDefinition) -> OutdatedRow:
            platform_refusal = _platform_refusal(desired, airbyte, matrix, platform)
            registry = _image_registry(desired.docker_repository, docker_hub_url)[0]
            row = _row(desired, config.policy_of(desired), releases, tags, today, registry, platform_refusal)
            policy_set = config.policy != DEFAULT_POLICY or (desired.kind, desired.docker_repository) in overrides
            return replace(row, policy_set=policy_set)

        rows = list(pool.map(row_of, entries))
        requests = tuple(sorted(tags.requests_sent.items()))
    capped = [row.desired.docker_repository for row in rows if row.dates_capped]
    if capped:
        findings.append(
            f"release-date reads reached max_release_date_reads ({tags.max_dates}): {len(capped)} definition"
            f"{'s' if len(capped) != 1 else ''} left without the dates their cooldown needs, unread "
            f"({', '.join(capped)}); raise max_release_date_reads "
            f"({OPTION['max_release_date_reads'].env_var}) to read more"
        )
    unset = sum(1 for row in rows if not row.policy_set)
    if unset:
        notes.append(
            f"no policy means pin: {unset} definition{'s' if unset != 1 else ''} without a versionPolicy "
            f"(connectors.policy or the entry's) get{'s' if unset == 1 else ''} no proposal"
        )
    if hook is not None and airbyte is not None:
        rows = _with_airbyte(rows, hook, airbyte, releases, pool_size=READS_AT_ONCE)
    unread = (*registry_unread, *_image_registries_unread(rows, docker_hub_url))
    return Outdated(tuple(rows), today, tuple(findings), requests, tuple(notes), platform, unread)


def _image_registry(repository: str, docker_hub_url: str) -> tuple[str, str | None]:
    """The URL (no userinfo) a repository's tags are read at, and the setting that moves it (None: its name)."""
    from airflow_airbyte_connectors.clients.image_registry import parse_reference, registry_base_url

    try:
        reference = parse_reference(repository)
    except ValueError:
        return repository, None
    url = without_userinfo(registry_base_url(reference, docker_hub_url, {}))
    return url, "docker_hub_url" if reference.is_docker_hub else None


def _image_registries_unread(rows: Sequence[OutdatedRow], docker_hub_url: str) -> list[Unread]:
    """One :class:`Unread` per image registry and reason, naming every definition it left unread. A run's spent
    release-date reads are said once on their own (``max_release_date_reads``), not per registry."""
    grouped: dict[tuple[str, str], list[str]] = {}
    settings_of: dict[str, str | None] = {}
    for row in rows:
        for what, reason in row.unread_reads:
            url, setting = _image_registry(row.desired.docker_repository, docker_hub_url)
            settings_of[url] = setting
            grouped.setdefault((url, reason), []).append(what)
    return [
        Unread("image registry", url, reason, settings_of[url], tuple(unread))
        for (url, reason), unread in grouped.items()
    ]


def _platform(
    hook: AirbyteDefinitionsHook | None, airbyte_version: str | None
) -> tuple[PlatformCheck, CompatibilityMatrix | None, list[str]]:
    """Which Airbyte the proposals must suit, its platform-compatibility matrix (None: not checked), and one
    note saying which, or why not. An unreadable matrix checks nothing, as Airbyte's own check fails open."""
    instance = hook.instance if hook is not None else None
    connected = instance.version if instance is not None else None
    version = airbyte_version or connected
    check = PlatformCheck(
        airbyte_version=version,
        edition=instance.edition if instance is not None else None,
        origin="given" if airbyte_version else "connection" if connected else None,
        connected_version=connected,
    )
    location = settings.platform_compatibility_url()
    if location is None:
        return check, None, ["platform_compatibility_url is empty: proposals are not checked against Airbyte's matrix"]
    if version is None:
        why = "Airbyte did not tell it" if instance is not None else "no Airbyte connection and no version given"
        return check, None, [f"platform compatibility not checked: Airbyte's version is unknown ({why})"]
    unchecked = unchecked_reason(version, check.edition)
    if unchecked is not None:
        return check, None, [f"platform compatibility not checked: {unchecked}"]
    from airflow_airbyte_connectors.clients.connector_registry import read_platform_compatibility

    matrix, problems = read_platform_compatibility(location, timeout=settings.read_timeout())
    if matrix is None:
        unchecked_note = (
            "proposals are not checked against it (Airbyte lets an update through when it cannot read it); to read "
            f"another, set platform_compatibility_url ({OPTION['platform_compatibility_url'].env_var})"
        )
        return check, None, [f"{problem}; {unchecked_note}" for problem in problems]
    check = replace(check, checked=True)
    return check, matrix, [f"proposals checked against the platform-compatibility matrix for {check.describe()}"]


def _platform_refusal(
    desired: DesiredDefinition,
    airbyte: dict[Kind, CurrentIndex] | None,
    matrix: CompatibilityMatrix | None,
    platform: PlatformCheck,
) -> PlatformRefusal | None:
    """What the platform says of a tag for this definition; None when nothing is checked.

    Airbyte looks the matrix up by the definition's ID. With a connection that is the ID of Airbyte's
    definition for the entry (an entry Airbyte lacks is created, and a create is never checked); without one,
    the config's definition ID, else the matrix entry named after the image (``find_definition_id``).
    """
    if matrix is None or platform.airbyte_version is None:
        return None
    if airbyte is not None:
        found, _ = airbyte[desired.kind].find(desired)
        definition_id = found.definition_id if found is not None else None
    else:
        definition_id = desired.definition_id or find_definition_id(matrix, desired.kind, desired.docker_repository)
    if definition_id is None:
        return None
    version, edition = platform.airbyte_version, platform.edition
    return lambda tag: refusal(matrix, definition_id, tag, version, edition)


def _registry() -> tuple[RegistryReleases | None, list[Unread], list[str]]:
    """The connector registry, why it could not be read (once), and notes."""
    location = settings.registry_url()
    if location is None:
        return None, [], ["registry_url is empty: breaking changes are not known (a major move counts as breaking)"]
    from airflow_airbyte_connectors.plan.plan_builder import REGISTRY_UNREAD, read_registry

    releases, problems = read_registry(location)
    if releases is not None:
        return releases, [], []
    url = without_userinfo(location)
    # Each line reads "connector registry <url>: <reason>": the URL is said once, by Unread, and the last line,
    # what an unread registry means, is its meaning.
    reasons = [problem.removeprefix(f"connector registry {url}: ") for problem in problems]
    reasons = [reason for reason in reasons if reason != REGISTRY_UNREAD]
    return None, [Unread("connector registry", url, "; ".join(reasons), "registry_url", meaning=REGISTRY_UNREAD)], []


def _row(
    desired: DesiredDefinition,
    policy: Policy,
    releases: RegistryReleases | None,
    tags: ImageRegistry,
    today: date,
    registry: str,
    platform_refusal: PlatformRefusal | None = None,
) -> OutdatedRow:
    kind, repository, current = desired.kind, desired.docker_repository, desired.docker_image_tag
    breaking = releases.breaking_changes(kind, desired.definition_id, repository) if releases else None
    latest = releases.latest(kind, desired.definition_id, repository) if releases else None
    # Unread registry: a major move counts as breaking; read but without this connector: nothing to stop at.
    known = releases is None or breaking is not None

    def proposal_for(candidates: Sequence[Candidate], policy: Policy = policy) -> Proposal:
        return propose(
            current,
            candidates,
            policy=policy,
            breaking_changes=breaking,
            today=today,
            registry_known=known,
            platform_refusal=platform_refusal,
        )

    row = OutdatedRow(desired, proposal_for(()), registry_latest=latest, registry=registry)
    if policy.version_policy == "pin":
        return row  # pinned: no tag list read
    listed = tags.list_tags(repository)
    candidates = [Candidate(tag, None) for tag in listed.tags]
    if policy.minimum_release_age is None:
        return _with_tag_list(row, proposal_for(candidates), listed)
    # Dates only for the candidates the cooldown judges: newest first, until one is old enough. A tag the
    # platform refuses is never proposed, so its date does not matter (and it must not end the reads).
    without_cooldown = proposal_for(candidates, replace(policy, minimum_release_age=None))
    judged = [t for t in listed.tags if platform_refusal is None or platform_refusal(t) is None]
    dated, unread = _dates(
        current, without_cooldown.proposed, judged, policy, today, lambda t: tags.release_date(repository, t)
    )
    row = _with_tag_list(row, proposal_for([Candidate(t, dated.get(t)) for t in listed.tags]), listed)
    return row if unread is None else _with_unread_date(row, unread)


def _with_tag_list(row: OutdatedRow, proposal: Proposal, listed: TagList) -> OutdatedRow:
    """The row with its proposal; from an incomplete tag list, "nothing newer" is not known but unread."""
    row = replace(row, tags_read=len(listed.tags))
    if listed.complete or listed.problem is None:
        return replace(row, proposal=proposal)
    if proposal.reason == "newest":
        # Why is said once for the registry (Outdated.unread); the row says what it lacks and where.
        detail = (
            f"no newer release among the {len(listed.tags)} tags read; the rest unread (image registry {row.registry})"
            if listed.tags
            else f"versions unread (image registry {row.registry})"
        )
        proposal = replace(proposal, reason="unread", detail=detail)
    unread = ((row.desired.docker_repository, listed.problem),)
    return replace(row, proposal=proposal, problem=listed.problem, unread_reads=unread)


def _with_unread_date(row: OutdatedRow, unread: ReleaseDate) -> OutdatedRow:
    """The row when a date the cooldown needs was not read: unread, never "nothing to propose"."""
    what = f"release date of {unread.tag} unread"
    problem = f"{what}: {unread.problem}"
    proposal = row.proposal
    if proposal.proposed is None:
        proposal = replace(proposal, reason="unread", detail=what)
    problem = f"{row.problem}; {problem}" if row.problem else problem
    capped = unread.kind == "capped"
    # Spent reads are said once for the run, not per registry.
    reads = (
        () if capped else ((f"{row.desired.docker_repository} (release date of {unread.tag})", unread.problem or ""),)
    )
    return replace(
        row, proposal=proposal, problem=problem, dates_capped=capped, unread_reads=(*row.unread_reads, *reads)
    )


def _dates(
    current: str,
    newest_allowed: str | None,
    listed: Sequence[str],
    policy: Policy,
    today: date,
    release_date: Callable[[str], ReleaseDate],
) -> tuple[dict[str, date | None], ReleaseDate | None]:
    """Release dates of the releases above ``current`` up to ``newest_allowed``, newest first, read until one is
    at least ``minimumReleaseAge`` days old: a newer one that is old enough is the proposal, older ones do not
    matter. Versions order the reads, not dates (changelog dates are not always in order).

    A date that could not be read stops the reads and comes back second: whether that release is old enough is
    not known. A date read but implausible (kind ``undated``) is unknown and never old enough."""
    low, high = release_version(current), release_version(newest_allowed or "")
    if high is None or policy.minimum_release_age is None:
        return {}, None
    between = sorted(
        (version, tag)
        for tag in listed
        if (version := release_version(tag)) is not None and (low is None or version > low) and version <= high
    )
    dated: dict[str, date | None] = {}
    for _, tag in reversed(between):
        answer = release_date(tag)
        if answer.released is None and answer.kind != "undated":
            return dated, answer
        dated[tag] = answer.released
        if answer.released is not None and (today - answer.released).days >= policy.minimum_release_age:
            break
    return dated, None


def _airbyte_definitions(hook: AirbyteDefinitionsHook) -> dict[Kind, CurrentIndex]:
    """Airbyte's definitions, one list per kind, indexed as the planner indexes them."""
    from airflow_airbyte_connectors.plan.planning import CurrentDefinition, CurrentIndex

    return {
        kind: CurrentIndex(CurrentDefinition.from_api(kind, read) for read in hook.list_definitions(kind))
        for kind in KINDS
    }


def _with_airbyte(
    rows: list[OutdatedRow],
    hook: AirbyteDefinitionsHook,
    current: dict[Kind, CurrentIndex],
    releases: RegistryReleases | None,
    *,
    pool_size: int,
) -> list[OutdatedRow]:
    """What Airbyte runs for each row, how many use each proposed definition, and the proposed move as Airbyte
    will make it (from its tag, not the config's)."""

    def with_airbyte(row: OutdatedRow) -> OutdatedRow:
        # Identity decided as the planner decides it (definition ID, else the one definition of the image).
        definition, _ = current[row.desired.kind].find(row.desired)
        if definition is None:
            return row
        touches, move = None, None
        proposed, running = row.proposal.proposed, definition.docker_image_tag
        if proposed is not None:
            touches = len(hook.search_actors(row.desired.kind, definition.definition_id))
            if running != row.desired.docker_image_tag:
                desired = row.desired
                breaking = (
                    releases.breaking_changes(desired.kind, desired.definition_id, desired.docker_repository)
                    if releases
                    else None
                )
                known = releases is None or breaking is not None
                move = classify(running, proposed, breaking, registry_known=known)
        return replace(row, airbyte_tag=running, touches=touches, airbyte_move=move)

    with ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="outdated-airbyte") as pool:
        return list(pool.map(with_airbyte, rows))
