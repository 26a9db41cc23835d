"""Creates whose outcome is unknown, remembered in Airflow Variables so that nobody sends them again blindly.

Airbyte's ``create_custom`` is not idempotent, and a proxy may answer 502/504 (or the connection may drop, or
Airflow may end the task while the request is on the wire) while Airbyte still commits the create. The write
task records its intent *before* sending; the record stays until the outcome is known. A retry or a later run
that finds the record does not send the create again until Airbyte shows the definition (then it was ours:
"created, confirmed after retry") or ``[airbyte_connectors] create_settle_window`` passes.

Records are kept per Airbyte *instance* (its deployment id, see ``AirbyteDefinitionsHook.instance_id``), not
per URL: ``http://Airbyte:8000`` and ``http://airbyte:8000/``, or an IP and a host name, reach one Airbyte
and share its records.

A Variable, not XCom: a retry starts with its XComs cleared, and the next run has its own.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Set
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow_airbyte_connectors.core.kinds import KINDS, Kind
from airflow_airbyte_connectors.records.instance_records import HASHED, definition_key, instance_prefix, recorded_time

log = logging.getLogger(__name__)

PREFIX = "airbyte_connectors_pending_create:"
# A record sent this far in the future is not believed: it would never settle.
_CLOCK_SKEW = timedelta(hours=1)


class UnreadablePendingRecordError(ValueError):
    """A record that cannot be read (edited by hand, or corrupt). Its create is treated as pending: whether
    it was sent and committed is unknown, so it is never sent again on a guess. The message says how to fix it."""


@dataclass(frozen=True)
class PendingCreate:
    kind: str
    docker_repository: str
    docker_image_tag: str
    name: str
    sent_at: datetime
    run_id: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "dockerRepository": self.docker_repository,
            "dockerImageTag": self.docker_image_tag,
            "name": self.name,
            "sentAt": self.sent_at.isoformat(timespec="seconds"),
            "runId": self.run_id,
        }

    @classmethod
    def from_json(cls, data: Any) -> PendingCreate:
        """A record as written by :meth:`to_json`; anything else raises ValueError saying what is wrong."""
        if not isinstance(data, dict):
            raise ValueError(f"holds {type(data).__name__}, not a JSON object")
        fields = {}
        for field in ("kind", "dockerRepository", "dockerImageTag", "name", "sentAt"):
            value = data.get(field)
            if not isinstance(value, str) or not value:
                raise ValueError(f"has no text {field!r}")
            fields[field] = value
        if fields["kind"] not in KINDS:
            raise ValueError(f"has kind {fields['kind'][:20]!r}, not one of {', '.join(KINDS)}")
        sent_at = recorded_time("sentAt", fields["sentAt"])
        run_id = data.get("runId")
        return cls(
            kind=fields["kind"],
            docker_repository=fields["dockerRepository"],
            docker_image_tag=fields["dockerImageTag"],
            name=fields["name"],
            sent_at=sent_at,
            run_id=run_id if isinstance(run_id, str) else None,
        )

    def settled(self, window_seconds: float, now: datetime | None = None) -> bool:
        """True once the window has passed: Airbyte would have shown a create it committed by then."""
        return (now or datetime.now(UTC)) - self.sent_at >= timedelta(seconds=window_seconds)

    @property
    def since(self) -> str:
        return self.sent_at.isoformat(timespec="seconds")


@dataclass(frozen=True)
class PendingCreates:
    """The pending creates of one Airbyte: ``instance`` names it (``AirbyteDefinitionsHook.instance_id``),
    ``shown_as`` is its URL for people (in the Variable's description; never with userinfo).

    Two deployments of the DAG writing to two Airbytes from one Airflow neither wait on nor forget each other's
    creates; one Airbyte reached through two URLs or connections shares them.
    """

    instance: str
    shown_as: str = ""

    @staticmethod
    def any_recorded() -> bool:
        """Whether any Airbyte has a pending create: when none has, nobody needs to ask Airbyte who it is."""
        from airflow.sdk import Variable

        return len(Variable.keys(prefix=PREFIX)) > 0

    @property
    def prefix(self) -> str:
        return instance_prefix(PREFIX, self.instance)

    def key(self, kind: str, docker_repository: str) -> str:
        return definition_key(self.prefix, kind, docker_repository)

    def record(self, kind: str, docker_repository: str, tag: str, name: str, run_id: str | None) -> PendingCreate:
        """Remember that a create is about to be sent (before sending: a crash right after must not lose it)."""
        from airflow.sdk import Variable

        intent = PendingCreate(kind, docker_repository, tag, name, datetime.now(UTC), run_id)
        Variable.set(
            self.key(kind, docker_repository),
            json.dumps({**intent.to_json(), "airbyte": self.shown_as, "instance": self.instance}),
            description=f"A create sent to Airbyte at {self.shown_as} ({self.instance}) whose outcome is not known "
            "yet (set by create_connectors)",
        )
        return intent

    def find(self, kind: str, docker_repository: str) -> PendingCreate | None:
        """The record of an earlier create of this definition; :class:`UnreadablePendingRecordError` when there
        is one that cannot be read."""
        from airflow.sdk import Variable

        key = self.key(kind, docker_repository)
        raw = Variable.get(key, default=None)
        return None if raw is None else _parse(key, raw, kind, docker_repository)

    def forget(self, kind: str, docker_repository: str) -> None:
        from airflow.sdk import Variable

        Variable.delete(self.key(kind, docker_repository))

    def unsettled(
        self, window_seconds: float, shown: Set[tuple[Kind, str]], wanted: Set[tuple[Kind, str]]
    ) -> dict[tuple[Kind, str], str]:
        """The creates ``(kind, dockerRepository)`` an earlier create may still be committing, each with why
        (``since T: ...``, or what is wrong with an unreadable record).

        ``shown``: what Airbyte lists now; ``wanted``: what this plan would create. A record is dropped only
        when Airbyte lists its definition, or (readable) once the window has passed; a record this plan does not
        need (a revert, another branch, another DAG's config) is kept until then.
        """
        from airflow.sdk import Variable

        known = {self.key(kind, repo): (kind, repo) for kind, repo in shown | wanted}
        found: dict[tuple[Kind, str], str] = {}
        for key in list(Variable.keys(prefix=self.prefix)):
            raw = Variable.get(key, default=None)
            if raw is None:
                continue
            try:
                intent: PendingCreate | None = _parse(key, raw, *known.get(key, ("?", "?")))
            except UnreadablePendingRecordError as error:
                intent, problem = None, str(error)
            identity = known.get(key) or _identity_in(key.removeprefix(self.prefix))
            if identity is None and intent is not None:
                identity = (intent.kind, intent.docker_repository)  # type: ignore[assignment]
            if identity is None:
                log.warning("%s (its key names no definition this run knows; kept)", problem)
            elif identity in shown:
                log.info(
                    "The earlier create of %s %s is confirmed: Airbyte shows it; record %s dropped", *identity, key
                )
                Variable.delete(key)
            elif intent is None:
                log.warning("%s", problem)
                found[identity] = f"on an unreadable record: {problem}"
            elif intent.settled(window_seconds):
                log.info(
                    "The create of %s %s sent at %s is past create_settle_window (%g s) and Airbyte never showed it: "
                    "record %s dropped, it may be planned again",
                    intent.kind,
                    intent.name,
                    intent.since,
                    window_seconds,
                    key,
                )
                Variable.delete(key)
            else:
                found[identity] = (
                    f"since {intent.since}: an earlier create's outcome is unknown and Airbyte does not show it "
                    "yet; not sent again until it does or create_settle_window passes"
                )
        return found


def _identity_in(rest: str) -> tuple[Kind, str] | None:
    """``(kind, dockerRepository)`` from a key's part after the prefix; None where it holds only a digest."""
    kind, _, repository = rest.partition(":")
    if kind not in KINDS or not repository or repository.startswith(HASHED):
        return None
    return kind, repository


def _parse(key: str, raw: Any, kind: str, docker_repository: str) -> PendingCreate:
    try:
        intent = PendingCreate.from_json(json.loads(raw))
    except json.JSONDecodeError:
        problem = "is not JSON"
    except ValueError as error:
        problem = str(error)
    else:
        if intent.sent_at <= datetime.now(UTC) + _CLOCK_SKEW:
            return intent
        problem = f"has sentAt {intent.since}, in the future"
    raise UnreadablePendingRecordError(
        f"Airflow Variable {key!r} {problem}. Whether the create of {kind} {docker_repository} it records reached "
        "Airbyte is unknown, so it is not sent again: check whether Airbyte holds that definition, then delete the "
        "Variable (Admin → Variables), or set its sentAt to when the create was sent (ISO 8601 with a UTC offset)"
    )
