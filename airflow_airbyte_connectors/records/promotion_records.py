"""Since when each Airbyte runs each definition's tag: the ``since`` of the promotion gate, kept in Airflow Variables.

The gate (``plan/gate.py``) lets a tag into an environment once the environment it promotes from has run it long
enough, counted from when this project wrote the tag there or a run first saw the environment at it: a tag set by
hand in Airbyte is seen at the next run. One record per Airbyte instance (``AirbyteDefinitionsHook.instance_id``,
as for pending creates: one Airbyte whatever URL reaches it), kind and dockerRepository holds the tag, ``since``
(UTC, ISO seconds) and how it was learned: ``written`` by this project or ``seen`` by a run. Only the definitions
basic_config names are recorded: inside Airflow each record costs a task a round trip to Airflow's API per run.

A record that cannot be believed never stops a run: an unreadable one is taken as seen now, and a ``since`` more
than an hour ahead as now. A gate then waits longer, which is the safe side.

A Variable, not XCom: the gate of the next run, and a downstream environment's gate, read what earlier runs kept.
Outside a task (the command line), :func:`recorded_since` reads the records without writing any.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from airflow_airbyte_connectors.core.kinds import Kind
from airflow_airbyte_connectors.records.instance_records import definition_key, instance_prefix, recorded_time

log = logging.getLogger(__name__)

PREFIX = "airbyte_connectors_version_since:"
# Clocks of the machines that run tasks may differ by this much; a since further ahead is not believed.
_CLOCK_SKEW = timedelta(hours=1)

Learned = Literal["written", "seen"]
LEARNED: tuple[Learned, ...] = ("written", "seen")


@dataclass(frozen=True)
class VersionRecord:
    """An Airbyte runs ``tag`` of a definition since ``since``, as this project ``written`` it or a run ``seen`` it."""

    tag: str
    since: datetime
    learned: Learned

    def to_json(self) -> dict[str, str]:
        return {"dockerImageTag": self.tag, "since": self.since.isoformat(timespec="seconds"), "learned": self.learned}

    @classmethod
    def from_json(cls, data: Any) -> VersionRecord:
        """A record as written by :meth:`to_json`; anything else raises ValueError saying what is wrong."""
        if not isinstance(data, dict):
            raise ValueError(f"holds {type(data).__name__}, not a JSON object")
        for field in ("dockerImageTag", "since", "learned"):
            if not isinstance(data.get(field), str) or not data[field]:
                raise ValueError(f"has no text {field!r}")
        learned = data["learned"]
        if learned not in LEARNED:
            raise ValueError(f"has learned {learned[:20]!r}, not one of {', '.join(LEARNED)}")
        since = recorded_time("since", data["since"])
        return cls(data["dockerImageTag"], since.astimezone(UTC), learned)


@dataclass(frozen=True)
class VersionsSeen:
    """The tags one Airbyte runs and since when: ``instance`` names it (``AirbyteDefinitionsHook.instance_id``).

    Two Airbytes never share records; one Airbyte reached through two URLs or connections does.
    """

    instance: str

    @property
    def prefix(self) -> str:
        return instance_prefix(PREFIX, self.instance)

    def key(self, kind: Kind, repository: str) -> str:
        return definition_key(self.prefix, kind, repository)

    def observe(self, kind: Kind, repository: str, tag: str, now: datetime) -> datetime:
        """The ``since`` of ``tag``: the recorded one when the record holds ``tag``, else ``now`` (recorded as
        seen now: a tag changed by hand counts from the run that sees it)."""
        key = self.key(kind, repository)
        return self._observed(key, kind, repository, tag, self._read(key), _to_second(now))

    def observe_all(self, current: Iterable[tuple[Kind, str, str]], now: datetime) -> dict[tuple[Kind, str], datetime]:
        """:meth:`observe` for one run's listing of this Airbyte, ``(kind, dockerRepository, tag)`` of every
        definition it lists (both kinds): the ``since`` of each. One listing of this Airbyte's keys, each record read
        at most once and written only where it changes; the record of a definition not listed (deleted from Airbyte)
        is dropped.

        A repository listed at two different tags (two definitions) has no one tag: it gets no ``since`` and its
        record is dropped, so a gate reading it waits.
        """
        moment = _to_second(now)
        tags = _listed_tags(current)
        stored = set(_variables().keys(prefix=self.prefix))
        since: dict[tuple[Kind, str], datetime] = {}
        for (kind, repository), listed in tags.items():
            key = self.key(kind, repository)
            if len(listed) > 1:
                log.warning(
                    "Airbyte %s lists %s %s at %s: no one tag runs there, so a gate reading it waits",
                    self.instance,
                    kind,
                    repository,
                    " and ".join(sorted(listed)),
                )
                continue  # its record, if any, stays in stored and is dropped below
            record = self._read(key) if key in stored else None  # a definition never recorded costs no read
            stored.discard(key)
            (tag,) = listed
            since[(kind, repository)] = self._observed(key, kind, repository, tag, record, moment)
        for key in sorted(stored):
            log.info("Airbyte %s lists no one definition for record %s: dropped", self.instance, key)
            _variables().delete(key)
        return since

    def written(self, kind: Kind, repository: str, tag: str, at: datetime) -> None:
        """This project wrote ``tag`` at ``at``: ``since`` is ``at``. An earlier write of the same tag is kept (a
        retry does not restart the soak); a record of another tag, or of the same tag only seen, is replaced."""
        moment = _to_second(at)
        key = self.key(kind, repository)
        record = self._read(key)
        if record is not None and record.tag == tag and record.learned == "written" and not _ahead(key, record, moment):
            return
        self._write(key, kind, repository, VersionRecord(tag, moment, "written"))

    def since(self, kind: Kind, repository: str, tag: str, now: datetime) -> datetime | None:
        """When this Airbyte was written at ``tag`` or first seen there; None when no record holds ``tag`` (a run
        has not seen it yet). Read only: a downstream environment's gate reads its upstream's records."""
        key = self.key(kind, repository)
        record = self._read(key)
        if record is None or record.tag != tag:
            return None
        moment = _to_second(now)
        return moment if _ahead(key, record, moment) else record.since

    def _observed(
        self, key: str, kind: Kind, repository: str, tag: str, record: VersionRecord | None, now: datetime
    ) -> datetime:
        if record is not None and record.tag == tag and not _ahead(key, record, now):
            return record.since
        self._write(key, kind, repository, VersionRecord(tag, now, "seen"))
        return now

    def _read(self, key: str) -> VersionRecord | None:
        """The record under ``key``; None when there is none, or when it cannot be read (a warning names the
        Variable: its definition counts as first seen by this run, so a gate waits its soak again)."""
        return _record(key, _variables().get(key, default=None))

    def _write(self, key: str, kind: Kind, repository: str, record: VersionRecord) -> None:
        _variables().set(
            key,
            json.dumps({"kind": kind, "dockerRepository": repository, **record.to_json(), "instance": self.instance}),
            description=f"The tag Airbyte {self.instance} runs for this {kind} and since when, for the promotion "
            "gate (set by create_connectors; deleting it restarts the soak at the next run)",
        )


def recorded_since(
    instance: str,
    current: Iterable[tuple[Kind, str, str]],
    now: datetime,
    variables_under: Callable[[str], Mapping[str, str | None]],
) -> dict[tuple[Kind, str], datetime]:
    """Read only: since when the Airbyte ``instance`` runs each tag of ``current`` (its listing, ``(kind,
    dockerRepository, tag)``), as runs of create_connectors recorded it. A definition whose record is missing,
    unreadable or of another tag (not yet seen by a run), or that is listed at two tags, has none: a gate reading
    it waits. ``variables_under(prefix)``: the Variables whose key begins with ``prefix``, key → value, read once.
    Nothing is written: the next run records what this read does not find."""
    seen = VersionsSeen(instance)
    stored = variables_under(seen.prefix)
    moment = _to_second(now)
    since: dict[tuple[Kind, str], datetime] = {}
    for (kind, repository), listed in _listed_tags(current).items():
        key = seen.key(kind, repository)
        record = _record(key, stored.get(key))
        if len(listed) == 1 and record is not None and record.tag in listed:
            since[(kind, repository)] = moment if _ahead(key, record, moment) else record.since
    return since


def _listed_tags(current: Iterable[tuple[Kind, str, str]]) -> dict[tuple[Kind, str], set[str]]:
    """The tags an Airbyte lists for each ``(kind, dockerRepository)`` (two definitions may share one)."""
    tags: dict[tuple[Kind, str], set[str]] = {}
    for kind, repository, tag in current:
        tags.setdefault((kind, repository), set()).add(tag)
    return tags


def _record(key: str, raw: str | None) -> VersionRecord | None:
    """The record ``raw`` held under ``key``; None when there is none, or when it cannot be read (a warning names
    the Variable)."""
    if raw is None:
        return None
    try:
        return VersionRecord.from_json(json.loads(raw))
    except json.JSONDecodeError:
        problem = "is not JSON"
    except ValueError as error:
        problem = str(error)
    log.warning(
        "Airflow Variable %r %s: taken as seen now, so a promotion from this Airbyte waits its soak from now "
        "(the record is rewritten when a run sees the definition)",
        key,
        problem,
    )
    return None


def _ahead(key: str, record: VersionRecord, now: datetime) -> bool:
    """Whether the record's since is further in the future than clocks differ: then it is taken as now."""
    if record.since <= now + _CLOCK_SKEW:
        return False
    log.warning(
        "Airflow Variable %r has since %s, in the future: taken as %s",
        key,
        record.since.isoformat(timespec="seconds"),
        now.isoformat(timespec="seconds"),
    )
    return True


def _to_second(moment: datetime) -> datetime:
    """UTC to the second, as records keep it: what observe returns equals what a later read gives."""
    if moment.tzinfo is None:
        raise ValueError(f"{moment.isoformat()} has no UTC offset")
    return moment.astimezone(UTC).replace(microsecond=0)


def _variables() -> Any:
    # Imported here: the DAG file imports this package at parse time, and the task SDK is paid for only in tasks.
    from airflow.sdk import Variable

    return Variable
