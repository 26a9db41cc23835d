"""Deterministic fault injection for the emulator: what flaky networks and a loaded Airbyte do."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

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


class HeldWrite:
    """One write held open: :meth:`wait_in_flight` returns once the client is waiting for its answer,
    :meth:`wait_finished` once Airbyte has handled it (applied, unless it failed), whatever became of
    the client."""

    def __init__(self, operation: str, fields: dict[str, Any], seconds: float):
        self.operation = operation
        self.fields = fields
        self.seconds = seconds
        self.in_flight = threading.Event()
        self.finished = threading.Event()
        self._released = threading.Event()

    def matches(self, operation: str, body: Any) -> bool:
        if operation != self.operation or self.in_flight.is_set() or not isinstance(body, dict):
            return False
        # Top-level fields and those one level down (create_custom nests the definition).
        flat = {**body, **{k: v for nested in body.values() if isinstance(nested, dict) for k, v in nested.items()}}
        return all(flat.get(name) == value for name, value in self.fields.items())

    def release(self) -> None:
        """Let the write go on now instead of after ``seconds``."""
        self._released.set()

    def wait_in_flight(self, timeout: float) -> None:
        if not self.in_flight.wait(timeout):
            raise TimeoutError(f"no {self.operation} {self.fields} arrived within {timeout}s")

    def wait_finished(self, timeout: float) -> None:
        if not self.finished.wait(timeout):
            raise TimeoutError(f"the held {self.operation} {self.fields} did not finish within {timeout}s")


class WriteHolds:
    """Writes the emulator holds open, as a slow spec job does: the first request matching each hold waits until
    the hold is released or its ``seconds`` pass, then is applied and answered, even if the client is gone by
    then (killed, timed out). Deterministic and targeted, unlike :class:`Faults`."""

    def __init__(self) -> None:
        self._holds: list[HeldWrite] = []
        self._lock = threading.Lock()

    def hold(self, operation: str, seconds: float = 60.0, **fields: Any) -> HeldWrite:
        """Hold the next ``operation`` (e.g. ``source_definitions/update``) whose body has ``fields``
        (e.g. ``sourceDefinitionId=...``, or ``dockerRepository=...`` for a create)."""
        held = HeldWrite(operation, fields, seconds)
        with self._lock:
            self._holds.append(held)
        return held

    @contextmanager
    def around(self, operation: str, body: Any) -> Iterator[None]:
        """Wrap the handling of one request: hold it first if a hold matches it."""
        with self._lock:
            held = next((h for h in self._holds if h.matches(operation, body)), None)
            if held is not None:
                held.in_flight.set()
        if held is None:
            yield
            return
        held._released.wait(held.seconds)
        try:
            yield
        finally:
            held.finished.set()


@dataclass(frozen=True)
class DrawnFault:
    """The fault drawn for one request, and the injector it was drawn from (which draws an error's status)."""

    name: str
    injector: FaultInjector
