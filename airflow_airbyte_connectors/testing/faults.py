"""Deterministic fault injection for the emulator: what flaky networks and a loaded Airbyte do."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

WRITE_ACTIONS = ("create_custom", "update", "delete")


@dataclass(frozen=True)
class Faults:
    """Rates (0..1) of each fault per request, drawn from a generator seeded with ``seed``.

    :param error_rate: answer 500, 502 or 503 without doing anything.
    :param rate_limit_rate: answer 429 with ``Retry-After: retry_after`` without doing anything.
    :param drop_rate: close the connection without an answer, without doing anything.
    :param slow_rate: wait ``slow_seconds`` before handling the request (past a short client timeout,
        a write is then applied after the client gave up).
    :param lost_write_rate: writes only: apply the write, then close the connection without an answer.
    """

    seed: int = 0
    error_rate: float = 0.0
    rate_limit_rate: float = 0.0
    retry_after: int = 1
    drop_rate: float = 0.0
    slow_rate: float = 0.0
    slow_seconds: float = 2.0
    lost_write_rate: float = 0.0


class FaultInjector:
    """Draws one fault (or none) per request, in arrival order."""

    def __init__(self, faults: Faults):
        self.faults = faults
        self._rng = random.Random(faults.seed)
        self._lock = threading.Lock()

    def draw(self, operation: str) -> str | None:
        is_write = operation.rsplit("/", 1)[-1] in WRITE_ACTIONS
        f = self.faults
        choices = [
            ("error", f.error_rate),
            ("rate_limited", f.rate_limit_rate),
            ("dropped", f.drop_rate),
            ("slow", f.slow_rate),
            ("lost_write", f.lost_write_rate if is_write else 0.0),
        ]
        with self._lock:
            roll = self._rng.random()
            for fault, rate in choices:
                if roll < rate:
                    return fault
                roll -= rate
        return None

    def error_status(self) -> int:
        with self._lock:
            return self._rng.choice((500, 502, 503))
