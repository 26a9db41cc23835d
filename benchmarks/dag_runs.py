"""2. A no-op run of create_connectors beside a trivial DAG; 4. what one mapped planned update costs (dag.test)."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import time
from collections import Counter
from typing import Any

import yaml
from common import (
    CLIENT_ID,
    CLIENT_SECRET,
    DAGS,
    REGISTRY,
    REPO,
    WORK,
    install_dags,
    record,
    start_emulator,
    synthetic_definitions,
    use_airbyte,
)


def bench_dag_runs() -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils import db

    from airflow_airbyte_connectors.testing import AirbyteEmulator

    install_dags(DAGS, "trivial", "mapped")
    db.resetdb()
    config = WORK / "configs" / "basic_config.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "examples" / "basic_config.yaml", config)
    os.environ["AIRFLOW__AIRBYTE_CONNECTORS__BASIC_CONFIG_PATH"] = str(config)

    # An Airbyte where the example config is already applied: every run is a no-op.
    seed = WORK / "noop_seed.json"
    registry = json.loads(REGISTRY.read_text())
    # At the example's versions (it may name a later release than the registry snapshot).
    example = yaml.safe_load(config.read_text())["connectors"]
    for kind in ("source", "destination"):
        tags = {e["dockerRepository"]: e["dockerImageTag"] for e in example[f"{kind}_definitions"]}
        for entry in registry[f"{kind}s"]:
            entry["dockerImageTag"] = tags.get(entry["dockerRepository"], entry["dockerImageTag"])
    custom = {
        "sourceDefinitionId": "00000000-0000-4000-8000-000000000001",
        "name": "Acme CRM",
        "dockerRepository": "ghcr.io/acme/source-acme-crm",
        "dockerImageTag": "1.2.0",
        "documentationUrl": "https://acme.example.com/docs/airbyte/source-acme-crm",
        "custom": True,
    }
    mapped = synthetic_definitions(20, "Bench", "ghcr.io/bench/destination", "1.0.0")
    seed.write_text(
        json.dumps(
            {
                "sources": [*registry["sources"], custom],
                "destinations": [
                    *registry["destinations"],
                    *(
                        {**m, "destinationDefinitionId": f"00000000-0000-4000-9000-{n:012d}", "custom": True}
                        for n, m in enumerate(mapped)
                    ),
                ],
            }
        )
    )
    os.environ["BENCH_MAPPED_DEFINITIONS"] = json.dumps(mapped)

    def run(dag_id: str, conf: dict[str, Any] | None = None) -> tuple[float, float, str]:
        started, cpu = time.perf_counter(), time.process_time()
        dagrun = DagBag(dag_folder=str(DAGS)).get_dag(dag_id).test(run_conf=conf)
        return time.perf_counter() - started, time.process_time() - cpu, str(dagrun.state)

    # No-op run: the emulator in this process, so its request log can be read.
    with AirbyteEmulator(seed=seed, client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as emu:
        use_airbyte(emu.url)
        for dag_id in ("trivial", "create_connectors"):
            run(dag_id)  # warm-up: the first dag.test in a process pays one-off start-up
        emu.clear_requests()
        noop = [run("create_connectors") for _ in range(3)]
        operations = Counter(r.operation for r in emu.requests)
        writes = len(emu.write_requests())
        trivial = [run("trivial") for _ in range(3)]
        per_write = requests_per_update_write(emu, mapped[0], "00000000-0000-4000-9000-000000000000")
    assert {state for *_, state in noop + trivial} == {"success"}
    noop_wall = statistics.median(w for w, _, _ in noop)
    trivial_wall = statistics.median(w for w, _, _ in trivial)
    record(
        "2a no-op run wall (dag.test)",
        f"{noop_wall:.2f} s",
        f"trivial DAG {trivial_wall:.2f} s",
        noop_wall / trivial_wall,
        "< 1.5x",
        "4 tasks vs 1; dag.test idles 1 s before it marks an empty mapped task skipped",
    )
    record(
        "2b no-op run requests, per run",
        ", ".join(f"{count // 3} {op}" for op, count in sorted(operations.items())),
        "one list per kind, 0 writes",
        None,
        "0 writes",
        f"{writes} writes in 3 runs",
    )

    record(
        "4c requests per update write",
        f"{len(per_write)}: {', '.join(per_write)}",
        "before: the whole list of its kind, then the write",
        None,
        "1 read + 1 write",
        "a token once per process besides; a planned update reads only its own definition",
    )

    # Per mapped task: the emulator in its own process, so that its CPU is not counted.
    emulator, _ = start_emulator(seed)
    try:
        dag_ids = ("mapped_definitions", "mapped_noop", "mapped_noop_result")
        for dag_id in dag_ids:
            run(dag_id)
        # Interleaved, so that a slow stretch of the machine falls on all three alike.
        rounds = [[run(dag_id) for dag_id in dag_ids] for _ in range(5)]
        mapped_runs, noop_runs, result_runs = ([r[i] for r in rounds] for i in range(len(dag_ids)))
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)
    assert {state for *_, state in mapped_runs + noop_runs + result_runs} == {"success"}
    n = len(mapped)
    wall_op = statistics.median(w for w, _, _ in mapped_runs) / n
    wall_noop = statistics.median(w for w, _, _ in noop_runs) / n
    cpu_op = statistics.median(c for _, c, _ in mapped_runs) / n
    cpu_noop = statistics.median(c for _, c, _ in noop_runs) / n
    wall_result = statistics.median(w for w, _, _ in result_runs) / n
    record(
        "4a per mapped task, wall (dag.test)",
        f"{wall_op * 1000:.0f} ms",
        f"no-op {wall_noop * 1000:.0f} ms",
        wall_op / wall_noop,
        "< 1.2x",
        f"{n} mapped planned updates, each: get its one definition, compare -> already made",
    )
    record(
        "4a' per mapped task, wall (dag.test)",
        f"{wall_op * 1000:.0f} ms",
        f"no-op keeping a result of the same size {wall_result * 1000:.0f} ms",
        wall_op / wall_result,
        "< 1.2x",
        "the same, against a no-op whose result Airflow keeps in XCom",
    )
    record(
        "4b per mapped task, CPU (dag.test)",
        f"{cpu_op * 1000:.0f} ms",
        f"no-op {cpu_noop * 1000:.0f} ms",
        cpu_op / cpu_noop,
        "< 1.2x",
        "client side; emulator in its own process",
    )


def requests_per_update_write(emu: Any, definition: dict[str, Any], definition_id: str) -> list[str]:
    """The requests one planned update sends (the token is fetched before, as a mapped task's first call)."""
    from airflow_airbyte_connectors.hooks.airbyte_definitions import AirbyteDefinitionsHook
    from airflow_airbyte_connectors.operators.airbyte_definition import AirbyteDefinitionOperator

    AirbyteDefinitionsHook().get_workspace_id()  # token and workspace, as prepare does before the writes
    emu.set_tag("destination", definition["dockerRepository"], "0.9.0")
    emu.clear_requests()
    from airflow_airbyte_connectors.config.configs import DesiredDefinition
    from airflow_airbyte_connectors.plan.plan_document import PlannedChange
    from airflow_airbyte_connectors.plan.planning import Action, Change

    desired = DesiredDefinition(
        kind="destination",
        name=definition["name"],
        docker_repository=definition["dockerRepository"],
        docker_image_tag=definition["dockerImageTag"],
        documentation_url=definition["documentationUrl"],
    )
    moved = (Change("dockerImageTag", "0.9.0", desired.docker_image_tag),)
    action = Action("update", desired, definition_id, moved, tag_before="0.9.0")
    change = PlannedChange.of(action).model_copy(update={"workspace_id": emu.workspace_ids[0]})
    result = AirbyteDefinitionOperator(task_id="apply", change=change.to_json()).execute(context={})
    assert result["action"] == "updated", result
    return [r.operation for r in emu.requests]
