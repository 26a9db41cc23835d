"""Creates whose outcome is unknown, remembered in Airflow Variables so that nobody sends them again blindly.

Airbyte's ``create_custom`` is not idempotent, and a proxy may answer 502/504 (or the connection may drop)
while Airbyte still commits the create. The write task records its intent *before* sending; the record stays
while the outcome is unknown. A retry or a later run that finds the record does not send the create again
until Airbyte shows the definition (then it was ours: "created, confirmed after retry") or
``[airbyte_connectors] create_settle_window`` passes.

A Variable, not XCom: a retry starts with its XComs cleared, and the next run has its own.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

log = logging.getLogger(__name__)

PREFIX = "airbyte_connectors_pending_create:"
# Airflow's Variable key column is 250 characters; long repositories are named by their digest.
_MAX_KEY = 250


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
    def from_json(cls, data: dict[str, Any]) -> PendingCreate:
        return cls(
            kind=data["kind"],
            docker_repository=data["dockerRepository"],
            docker_image_tag=data["dockerImageTag"],
            name=data["name"],
            sent_at=datetime.fromisoformat(data["sentAt"]),
            run_id=data.get("runId"),
        )

    def settled(self, window_seconds: float, now: datetime | None = None) -> bool:
        """True once the window has passed: Airbyte would have shown a create it committed by then."""
        return (now or datetime.now(UTC)) - self.sent_at >= timedelta(seconds=window_seconds)


@dataclass(frozen=True)
class PendingCreates:
    """The pending creates of one Airbyte (``airbyte``: its root URL, without userinfo).

    Records are kept per Airbyte: two deployments of the DAG writing to two Airbytes from one Airflow must
    neither wait on nor forget each other's creates. The same Airbyte reached through two connections
    shares them.
    """

    airbyte: str

    @property
    def prefix(self) -> str:
        return f"{PREFIX}{hashlib.sha256(self.airbyte.encode()).hexdigest()[:16]}:"

    def key(self, kind: str, docker_repository: str) -> str:
        name = f"{self.prefix}{kind}:{docker_repository}"
        if len(name) <= _MAX_KEY:
            return name
        return f"{self.prefix}{kind}:sha256:{hashlib.sha256(docker_repository.encode()).hexdigest()}"

    def record(self, kind: str, docker_repository: str, tag: str, name: str, run_id: str | None) -> PendingCreate:
        """Remember that a create is about to be sent (before sending: a crash right after must not lose it)."""
        from airflow.sdk import Variable

        intent = PendingCreate(kind, docker_repository, tag, name, datetime.now(UTC), run_id)
        Variable.set(
            self.key(kind, docker_repository),
            json.dumps({**intent.to_json(), "airbyte": self.airbyte}),
            description=f"A create sent to Airbyte at {self.airbyte} whose outcome is not known yet "
            "(set by create_connectors)",
        )
        return intent

    def find(self, kind: str, docker_repository: str) -> PendingCreate | None:
        from airflow.sdk import Variable

        return _parse(Variable.get(self.key(kind, docker_repository), default=None))

    def forget(self, kind: str, docker_repository: str) -> None:
        from airflow.sdk import Variable

        Variable.delete(self.key(kind, docker_repository))

    def unsettled(self, window_seconds: float, planned: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """Which of the ``planned`` creates ``(kind, dockerRepository)`` an earlier create may still be
        committing, as ``{(kind, dockerRepository): sent at}``. Records of creates the plan does not need
        (Airbyte shows the definition now) and records past the window are forgotten."""
        from airflow.sdk import Variable

        found: dict[tuple[str, str], str] = {}
        for name in list(Variable.keys(prefix=self.prefix)):
            intent = _parse(Variable.get(name, default=None))
            if intent is None:
                continue
            if (intent.kind, intent.docker_repository) not in planned:
                log.info("The earlier create of %s %s is confirmed: Airbyte shows it", intent.kind, intent.name)
                Variable.delete(name)
                continue
            if intent.settled(window_seconds):
                log.info(
                    "The create of %s %s sent at %s is past create_settle_window and Airbyte never showed it: "
                    "it may be planned again",
                    intent.kind,
                    intent.name,
                    intent.sent_at.isoformat(timespec="seconds"),
                )
                Variable.delete(name)
                continue
            found[(intent.kind, intent.docker_repository)] = intent.sent_at.isoformat(timespec="seconds")
        return found


def _parse(raw: Any) -> PendingCreate | None:
    if not raw:
        return None
    try:
        return PendingCreate.from_json(json.loads(raw))
    except (ValueError, KeyError, TypeError):
        log.warning("Ignoring an unreadable pending-create record: %.80r", raw)
        return None
