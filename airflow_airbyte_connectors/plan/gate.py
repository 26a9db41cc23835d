"""The promotion gate: whether an environment may take a version the environment it promotes from runs, and
the words for it. No Airflow, no HTTP: the caller reads what the upstream holds and its sync jobs.

An environment with ``promoteFrom: E`` gets a create or update to tag T only when, in E:

1. E runs T, and has for at least ``soak`` (counted from ``since``: when T was written to E or E was first
   seen at T);
2. at least ``successful_syncs`` sync jobs succeeded since then among E's connections that use the definition;
3. no such connection's latest finished sync since then has failed.

With no connection using the definition in E, the soak alone gates. A move down (a rollback) is not gated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from airflow_airbyte_connectors.core.sync_jobs import SyncJob
from airflow_airbyte_connectors.core.versions import UncomparableVersion, airbyte_compare

GateState = Literal["open", "waiting", "held"]
# A sync in one of these states is over; its outcome counts.
_FINISHED = frozenset({"succeeded", "failed", "cancelled"})


@dataclass(frozen=True)
class Upstream:
    """What the environment promoted from holds for one definition.

    :param tag: the tag it runs now (None: it has no such definition).
    :param since: when it was written at ``tag`` or first seen there (None: not recorded yet).
    :param syncs: the sync jobs of its connections that use the definition (any age: those before ``since``
        are not counted); None when no connection uses it.
    :param connection_names: connection id → name, for the words.
    """

    environment: str
    tag: str | None
    since: datetime | None
    syncs: Sequence[SyncJob] | None
    connection_names: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GateVerdict:
    state: GateState
    reason: str

    @property
    def open(self) -> bool:
        return self.state == "open"


def gated(current: str | None, target: str) -> bool:
    """Whether a move from ``current`` to ``target`` waits for the gate: a create, or any move that is not
    down. A move down (a rollback) is not gated; tags Airbyte cannot order are gated (the safe side)."""
    if current is None:
        return True
    try:
        return airbyte_compare(target, current) >= 0
    except UncomparableVersion:
        return True


def judge(target: str, upstream: Upstream, *, soak: timedelta, successful_syncs: int, now: datetime) -> GateVerdict:
    """Whether ``target`` may go ahead, and why (or why not) in words a person acts on."""
    where = upstream.environment
    if upstream.tag != target:
        runs = f"it runs {upstream.tag}" if upstream.tag is not None else "it does not have it"
        return GateVerdict("waiting", f"waiting for {where}: {target} is not there yet ({runs})")
    if upstream.since is None:
        return GateVerdict("waiting", f"waiting for {where}: {target} there, not yet seen by a run")
    there = now - upstream.since
    soaked = there >= soak
    soak_text = f"{target} there for {duration(there)} of {duration(soak)}"
    if upstream.syncs is None:
        state: GateState = "open" if soaked else "waiting"
        return GateVerdict(state, _words(state, where, f"{soak_text}; no syncs to judge by"))
    since_then = [job for job in upstream.syncs if job.created_at >= upstream.since]
    failed = _latest_failed(since_then)
    if failed is not None:
        name = upstream.connection_names.get(failed.connection_id, failed.connection_id)
        at = failed.updated_at.isoformat(timespec="minutes")
        return GateVerdict("held", f"held: {where} sync of {name!r} failed at {at} (job {failed.job_id})")
    succeeded = sum(1 for job in since_then if job.status == "succeeded")
    state = "open" if soaked and succeeded >= successful_syncs else "waiting"
    return GateVerdict(state, _words(state, where, f"{soak_text}; {succeeded} of {successful_syncs} syncs succeeded"))


def duration(span: timedelta) -> str:
    """``3d``, ``1d 4h``, ``5h 30m``, ``45m``, ``20s``: the two largest units, for people."""
    seconds = max(0, int(span.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")]
    first = next((i for i, (value, _) in enumerate(parts) if value), len(parts) - 1)
    shown = [f"{value}{unit}" for value, unit in parts[first : first + 2] if value]
    return " ".join(shown) or "0s"


def _latest_failed(jobs: Sequence[SyncJob]) -> SyncJob | None:
    """The failed job among the connections' latest finished syncs (the most recent such failure)."""
    latest: dict[str, SyncJob] = {}
    for job in jobs:
        if job.status not in _FINISHED:
            continue  # a sync still running (or an attempt to be retried) has no outcome yet
        known = latest.get(job.connection_id)
        if known is None or (job.created_at, job.job_id) > (known.created_at, known.job_id):
            latest[job.connection_id] = job
    failures = [job for job in latest.values() if job.status == "failed"]
    return max(failures, key=lambda job: (job.updated_at, job.job_id)) if failures else None


def _words(state: GateState, where: str, facts: str) -> str:
    return f"{where} ran it: {facts}" if state == "open" else f"waiting for {where}: {facts}"
