"""``find_outdated``: for each definition in basic_config, what is newer and what its policy proposes.

Shared by ``airbyte-connectors outdated``/``bump`` and the ``connector_upgrades`` DAG. Reads, never writes:
Airbyte's connector registry once (current versions, breaking changes), one tag list per definition whose
policy is not ``pin``, release dates only for the candidates a cooldown has to judge (newest first, until one
is old enough), and with a connection Airbyte's definitions (one list per kind) and who uses each proposed one.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_airbyte_connectors import settings
from airflow_airbyte_connectors.configs import ConnectorsConfig, DesiredDefinition, get_configs
from airflow_airbyte_connectors.kinds import KINDS
from airflow_airbyte_connectors.policies import Policy
from airflow_airbyte_connectors.releases import RegistryReleases
from airflow_airbyte_connectors.upgrades import Candidate, Proposal, propose, release_version
from airflow_airbyte_connectors.urls import without_userinfo

if TYPE_CHECKING:
    from airflow_airbyte_connectors.clients.image_tags import ImageTags, ReleaseDate, TagList
    from airflow_airbyte_connectors.hooks.airbyte_definitions import AirbyteDefinitionsHook

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

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.desired.kind,
            "name": self.desired.name,
            "dockerRepository": self.desired.docker_repository,
            "configTag": self.desired.docker_image_tag,
            "airbyteTag": self.airbyte_tag,
            "registryLatest": self.registry_latest,
            "touches": self.touches,
            "problem": self.problem,
            **{key: value for key, value in self.proposal.to_json().items() if key != "current"},
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

    @property
    def proposals(self) -> tuple[OutdatedRow, ...]:
        return tuple(row for row in self.rows if row.proposal.proposed is not None)

    @property
    def problems(self) -> tuple[str, ...]:
        """What makes the answer incomplete: unread tag lists, an unreadable registry."""
        rows = [f"{row.desired.docker_repository}: {row.problem}" for row in self.rows if row.problem]
        return (*self.findings, *rows)

    def to_json(self) -> dict[str, Any]:
        return {
            "today": self.today.isoformat(),
            "proposals": len(self.proposals),
            "rows": [row.to_json() for row in self.rows],
            "findings": list(self.problems),
            "notes": list(self.notes),
        }


def find_outdated(
    config_path: str | os.PathLike[str], *, today: date, hook: AirbyteDefinitionsHook | None = None
) -> Outdated:
    """What is newer for each definition of the basic_config at ``config_path``, as of ``today``.

    ``hook``: Airbyte, to show what it runs and whom a proposal touches; None works without Airbyte.
    A config error raises :class:`~airflow_airbyte_connectors.configs.ConfigError` before any request.
    """
    from airflow_airbyte_connectors.clients.image_tags import ImageTags

    config: ConnectorsConfig = get_configs("connectors", path=Path(config_path))
    entries = [*config.source_definitions, *config.destination_definitions]
    releases, findings, notes = _registry()
    with (
        ImageTags(
            docker_hub_url=settings.docker_hub_url(),
            token_hosts=settings.image_token_hosts(),
            timeout=settings.read_timeout(),
            max_dates=settings.max_release_date_reads(),
        ) as tags,
        ThreadPoolExecutor(max_workers=READS_AT_ONCE, thread_name_prefix="outdated") as pool,
    ):

        def row_of(desired: DesiredDefinition) -> OutdatedRow:
            return _row(desired, config.policy_of(desired), releases, tags, today)

        rows = list(pool.map(row_of, entries))
        requests = tuple(sorted(tags.requests_sent.items()))
    capped = sum(1 for row in rows if row.dates_capped)
    if capped:
        findings.append(
            f"release-date reads reached max_release_date_reads ({tags.max_dates}): {capped} definition"
            f"{'s' if capped != 1 else ''} left without the dates their cooldown needs, unread"
        )
    if hook is not None:
        rows = _with_airbyte(rows, hook, pool_size=READS_AT_ONCE)
    return Outdated(tuple(rows), today, tuple(findings), requests, tuple(notes))


def _registry() -> tuple[RegistryReleases | None, list[str], list[str]]:
    """The connector registry, the problems reading it, and notes."""
    location = settings.registry_url()
    if location is None:
        return None, [], ["registry_url is empty: breaking changes are not known (a major move counts as breaking)"]
    from airflow_airbyte_connectors.clients.connector_registry import read_connector_registry

    releases, problems = read_connector_registry(location, timeout=settings.read_timeout())
    if releases is None:
        problems = [
            *problems,
            f"connector registry {without_userinfo(location)} unread: a major move counts as breaking",
        ]
    return releases, problems, []


def _row(
    desired: DesiredDefinition, policy: Policy, releases: RegistryReleases | None, tags: ImageTags, today: date
) -> OutdatedRow:
    kind, repository, current = desired.kind, desired.docker_repository, desired.docker_image_tag
    breaking = releases.breaking_changes(kind, desired.definition_id, repository) if releases else None
    latest = releases.latest(kind, desired.definition_id, repository) if releases else None
    # Unread registry: a major move counts as breaking; read but without this connector: nothing to stop at.
    known = releases is None or breaking is not None

    def proposal_for(candidates: Sequence[Candidate], policy: Policy = policy) -> Proposal:
        return propose(current, candidates, policy=policy, breaking_changes=breaking, today=today, registry_known=known)

    row = OutdatedRow(desired, proposal_for(()), registry_latest=latest)
    if policy.version_policy == "pin":
        return row  # pinned: no tag list read
    listed = tags.list_tags(repository)
    candidates = [Candidate(tag, None) for tag in listed.tags]
    if policy.minimum_release_age is None:
        return _with_tag_list(row, proposal_for(candidates), listed)
    # Dates only for the candidates the cooldown judges: newest first, until one is old enough.
    without_cooldown = proposal_for(candidates, replace(policy, minimum_release_age=None))
    dated, unread = _dates(
        current, without_cooldown.proposed, listed.tags, policy, today, lambda t: tags.release_date(repository, t)
    )
    row = _with_tag_list(row, proposal_for([Candidate(t, dated.get(t)) for t in listed.tags]), listed)
    return row if unread is None else _with_unread_date(row, unread)


def _with_tag_list(row: OutdatedRow, proposal: Proposal, listed: TagList) -> OutdatedRow:
    """The row with its proposal; from an incomplete tag list, "nothing newer" is not known but unread."""
    if listed.complete:
        return replace(row, proposal=proposal)
    if proposal.reason == "newest":
        detail = (
            f"no newer release among the {len(listed.tags)} tags read; the rest unread: {listed.problem}"
            if listed.tags
            else f"versions unread: {listed.problem}"
        )
        proposal = replace(proposal, reason="unread", detail=detail)
    return replace(row, proposal=proposal, problem=listed.problem)


def _with_unread_date(row: OutdatedRow, unread: ReleaseDate) -> OutdatedRow:
    """The row when a date the cooldown needs was not read: unread, never "nothing to propose"."""
    problem = f"release date of {unread.tag} unread: {unread.problem}"
    proposal = row.proposal
    if proposal.proposed is None:
        proposal = replace(proposal, reason="unread", detail=problem)
    problem = f"{row.problem}; {problem}" if row.problem else problem
    return replace(row, proposal=proposal, problem=problem, dates_capped=unread.kind == "capped")


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


def _with_airbyte(rows: list[OutdatedRow], hook: AirbyteDefinitionsHook, *, pool_size: int) -> list[OutdatedRow]:
    """What Airbyte runs for each row (one list per kind), and how many use each proposed definition."""
    from airflow_airbyte_connectors.planning import CurrentDefinition, CurrentIndex

    # Identity decided as the planner decides it (definition ID, else the one definition of the image).
    current = {
        kind: CurrentIndex(CurrentDefinition.from_api(kind, read) for read in hook.list_definitions(kind))
        for kind in KINDS
    }

    def with_airbyte(row: OutdatedRow) -> OutdatedRow:
        definition, _ = current[row.desired.kind].find(row.desired)
        if definition is None:
            return row
        touches = None
        if row.proposal.proposed is not None:
            touches = len(hook.search_actors(row.desired.kind, definition.definition_id))
        return replace(row, airbyte_tag=definition.docker_image_tag, touches=touches)

    with ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="outdated-airbyte") as pool:
        return list(pool.map(with_airbyte, rows))
