"""5. The apply phase of a fan-out of updates under the real scheduler, beside Airflow's own floor."""

from __future__ import annotations

import json
import os
from datetime import datetime
from typing import Any

import yaml
from common import WORK, install_dags, record, start_emulator, synthetic_definitions


def bench_fan_out(n: int = 40, latency: float = 1.0) -> None:
    """The apply phase of n updates of latency L under LocalExecutor and CeleryExecutor, each beside a mapped
    fan-out of n tasks that only sleep L on the same executor (Airflow's own floor)."""
    from airflow_airbyte_connectors import settings
    from tests.services.airflow_services import running_airflow
    from tests.services.production_stack import missing_requirements, production_stack

    concurrency = settings.max_active_writes()
    definitions = synthetic_definitions(n, "Fan", "ghcr.io/bench/source-fan", "1.0.0")
    seed = WORK / "fan_seed.json"
    seed.write_text(
        json.dumps(
            {
                "sources": [
                    {
                        **d,
                        "dockerImageTag": "0.9.0",
                        "custom": True,
                        "sourceDefinitionId": f"00000000-0000-4000-a000-{i:012d}",
                    }
                    for i, d in enumerate(definitions)
                ],
                "destinations": [],
            }
        )
    )
    config = WORK / "fan" / "basic_config.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(yaml.safe_dump({"connectors": {"source_definitions": definitions}}))
    dags = install_dags(WORK / "fan_dags", "fan_noop")
    ideal = n * latency / concurrency
    stacks = {"LocalExecutor": lambda home, env: running_airflow(home, dags, env, lifetime=900)}
    if missing_requirements() is None:
        stacks["CeleryExecutor"] = lambda home, env: production_stack(home, dags, env, lifetime=900)
    for executor, stack in stacks.items():
        emulator, _ = start_emulator(seed, "--write-delay", str(latency))
        try:
            env = {
                "AIRFLOW__AIRBYTE_CONNECTORS__BASIC_CONFIG_PATH": str(config),
                "AIRFLOW__AIRBYTE_CONNECTORS__MAX_WRITES": "1000",
                "AIRFLOW__AIRBYTE_CONNECTORS__TASK_RETRIES": "0",
                "AIRFLOW__AIRBYTE_CONNECTORS__CHECK_IMAGES": "False",
                "AIRFLOW__AIRBYTE_CONNECTORS__REGISTRY_URL": "",
                "AIRFLOW__API__MAXIMUM_PAGE_LIMIT": "1000",
                "AIRFLOW_CONN_AIRBYTE_DEFAULT": os.environ["AIRFLOW_CONN_AIRBYTE_DEFAULT"],
                "BENCH_FAN_N": str(n),
                "BENCH_FAN_L": str(latency),
                "BENCH_FAN_C": str(concurrency),
            }
            with stack(WORK / f"fan_{executor}", env) as running:
                airflow = getattr(running, "airflow", running)
                ours = _mapped_phase(airflow, "create_connectors", "apply", n)
                floor = _mapped_phase(airflow, "fan_noop", "work", n)
        finally:
            emulator.terminate()
            emulator.wait(timeout=10)
        record(
            f"5 fan-out {n} updates, L={latency:g}s, C={concurrency}, {executor}",
            f"{ours:.0f} s (apply phase)",
            f"no-op fan-out {floor:.0f} s; ideal {ideal:.0f} s",
            ours / floor,
            "< 1.5x",
            f"{ours / ideal:.2f}x ideal N*L/C",
        )


def _mapped_phase(airflow: Any, dag_id: str, task_id: str, n: int) -> float:
    """Trigger ``dag_id`` and return the seconds from the first of its n mapped tasks' start to the last end."""
    from tests.services.airflow_services import finished, wait_for

    wait_for(f"{dag_id} to be parsed", lambda: airflow.api("GET", f"dags/{dag_id}"))
    airflow.api("PATCH", f"dags/{dag_id}", json={"is_paused": False})
    run_id = airflow.trigger(dag_id)
    run = wait_for(f"the {dag_id} run", lambda: finished(airflow, dag_id, run_id), timeout=900, every=2)
    tis = [ti for ti in airflow.task_instances(dag_id, run_id, limit=1000) if ti["task_id"] == task_id]
    assert run["state"] == "success" and len(tis) == n, (dag_id, run["state"], len(tis))
    starts = [datetime.fromisoformat(ti["start_date"]) for ti in tis]
    ends = [datetime.fromisoformat(ti["end_date"]) for ti in tis]
    return (max(ends) - min(starts)).total_seconds()
