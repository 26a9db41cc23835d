"""8. One create of a custom connector whose SPEC takes 60 s: inside ``create_custom`` (Airbyte 2.0), or as a
SPEC command before a ``create_custom`` that carries the spec (2.1 and later)."""

from __future__ import annotations

import os
import time

from common import CLIENT_ID, CLIENT_SECRET, record, use_airbyte

SPEC_SECONDS = 60.0
DEFINITION = {
    "name": "Bench CRM",
    "dockerRepository": "ghcr.io/bench/source-bench-crm",
    "dockerImageTag": "1.0.0",
    "documentationUrl": "https://bench.example/docs",
}


def _one_create(profile: str) -> tuple[float, float]:
    """The create task's wall time and the ``create_custom`` request's, against an emulator of ``profile``."""
    from airflow_airbyte_connectors.operators.airbyte_definition import AirbyteDefinitionOperator
    from airflow_airbyte_connectors.testing import AirbyteEmulator

    with AirbyteEmulator(
        profile=profile, write_delay=SPEC_SECONDS, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, max_lifetime=600
    ) as airbyte:
        use_airbyte(airbyte.url)
        operator = AirbyteDefinitionOperator(
            task_id=f"create_on_{profile.replace('.', '_')}", kind="source", definition=DEFINITION
        )
        started = time.perf_counter()
        result = operator.execute({"run_id": f"bench-{profile}"})
        task = time.perf_counter() - started
        assert result["action"] == "created", result
        (create,) = [r for r in airbyte.requests if r.operation == "source_definitions/create_custom"]
        return task, create.seconds


def bench_creates() -> None:
    os.environ["AIRFLOW__AIRBYTE_CONNECTORS__WRITE_TIMEOUT"] = "120"
    before_task, before_create = _one_create("2.0")
    after_task, after_create = _one_create("2.2")
    record(
        "8a create_custom request, SPEC 60 s",
        f"{after_create * 1000:.1f} ms (2.2: spec given)",
        f"{before_create:.1f} s (2.0: SPEC inside)",
        after_create / before_create,
        "seconds, not minutes",
        "how long a create's outcome can be unknown: a task ended or an answer lost in this window",
    )
    record(
        "8b create task wall, SPEC 60 s",
        f"{after_task:.1f} s (2.2: SPEC command, polled)",
        f"{before_task:.1f} s (2.0)",
        after_task / before_task,
        "~1.0x",
        "the SPEC still takes its minute; polls wait 0.25 s growing to 5 s, so the end is seen within 5 s",
    )
