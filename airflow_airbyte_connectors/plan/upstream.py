"""What the promotion gate needs from the Airbyte an environment promotes from: the connections that use a
definition there, and their sync jobs since the version arrived. Read through the hook; the verdict is
``gate.judge``'s.

For many definitions at once: one search per definition, each workspace's connections listed once, and a few
reads at a time (as ``plan_builder``'s impact reads).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow_airbyte_connectors.core.kinds import Kind
from airflow_airbyte_connectors.core.sync_jobs import SyncJob
from airflow_airbyte_connectors.plan.gate import Upstream

if TYPE_CHECKING:
    from airflow_airbyte_connectors.hooks.airbyte_definitions import AirbyteDefinitionsHook

# Reads (sources/search, connections/list, jobs/list) sent to one Airbyte at the same time, by the promotion gate
# here and by the plan's impact step.
READS_AT_ONCE = 4


@dataclass(frozen=True)
class UpstreamDefinition:
    """A definition as the upstream Airbyte holds it, before its syncs are read.

    :param definition_id: its ID there (None: it has no such definition).
    :param tag: the tag it runs there (None: it has no such definition).
    :param since: when it was written at ``tag`` or first seen there (None: not recorded yet).
    """

    kind: Kind
    definition_id: str | None
    tag: str | None
    since: datetime | None


def read_upstream(
    hook: AirbyteDefinitionsHook,
    environment: str,
    kind: Kind,
    definition_id: str | None,
    tag: str | None,
    since: datetime | None,
    *,
    pool: Executor | None = None,
) -> Upstream:
    """What ``environment`` (the Airbyte of ``hook``) holds for one definition, for ``gate.judge``.

    ``syncs`` are the sync jobs since ``since`` of the connections using the definition, None when no connection
    uses it. Nothing is read when the definition is absent or ``since`` is None (the gate waits anyway).
    """
    definition = UpstreamDefinition(kind, definition_id, tag, since)
    return read_upstreams(hook, environment, [definition], pool=pool)[definition]


def read_upstreams(
    hook: AirbyteDefinitionsHook,
    environment: str,
    definitions: Sequence[UpstreamDefinition],
    *,
    pool: Executor | None = None,
) -> dict[UpstreamDefinition, Upstream]:
    """:func:`read_upstream` for many definitions of one environment: each workspace's connections are listed
    once, and a connection's jobs read once per ``since``.

    :param pool: runs the reads; default: a pool of ``READS_AT_ONCE`` threads for this call.
    """
    upstreams = {d: Upstream(environment, d.tag, d.since, None) for d in definitions}
    # The definitions whose verdict depends on syncs, each with its search. Without the definition, or without
    # since, the gate waits whatever the syncs say: nothing to read.
    search_of = {
        d: (d.kind, d.definition_id)
        for d in upstreams
        if d.definition_id is not None and d.tag is not None and d.since is not None
    }
    if not search_of:
        return upstreams
    searches = list(dict.fromkeys(search_of.values()))  # two changes of one definition: one search

    def actors_of(search: tuple[Kind, str]) -> list[dict[str, Any]]:
        return hook.search_actors(*search)

    def jobs_of(read: tuple[str, datetime | None]) -> list[SyncJob]:
        connection_id, since = read
        return hook.list_sync_jobs(connection_id, since=since)

    with _reads_at_once(pool) as executor:
        actors = dict(zip(searches, executor.map(actors_of, searches), strict=True))
        workspaces = sorted({actor["workspaceId"] for found in actors.values() for actor in found})
        listed = dict(zip(workspaces, executor.map(hook.list_connections, workspaces), strict=True))
        using = {d: _connections_using(d.kind, actors[search], listed) for d, search in search_of.items()}
        # A connection whose source and destination are both gated is read once (per since).
        job_reads = list(dict.fromkeys((c["connectionId"], d.since) for d, found in using.items() for c in found))
        jobs = dict(zip(job_reads, executor.map(jobs_of, job_reads), strict=True))

    for d in search_of:
        if not using[d]:
            continue  # no connection uses it: syncs stay None, the soak alone gates
        syncs = [job for c in using[d] for job in jobs[(c["connectionId"], d.since)]]
        names = {c["connectionId"]: c.get("name") or c["connectionId"] for c in using[d]}
        upstreams[d] = Upstream(environment, d.tag, d.since, syncs, names)
    return upstreams


def _connections_using(
    kind: Kind, actors: Sequence[Mapping[str, Any]], listed: Mapping[str, Sequence[Mapping[str, Any]]]
) -> list[Mapping[str, Any]]:
    """The connections, in the actors' workspaces, whose source (or destination) is one of ``actors``: other
    connections there use other definitions."""
    actor_ids = {actor[f"{kind}Id"] for actor in actors}
    workspaces = sorted({actor["workspaceId"] for actor in actors})
    return [c for workspace in workspaces for c in listed[workspace] if c[f"{kind}Id"] in actor_ids]


@contextmanager
def _reads_at_once(pool: Executor | None) -> Iterator[Executor]:
    """The caller's pool (it bounds the reads, and outlives this call), or one of our own for this call."""
    if pool is not None:
        yield pool
        return
    with ThreadPoolExecutor(max_workers=READS_AT_ONCE, thread_name_prefix="upstream") as own:
        yield own
