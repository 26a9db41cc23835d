"""The DAG on docker-compose's production topology, run natively: Postgres metadata DB, Redis broker,
CeleryExecutor with one `airflow celery worker`, driven only through Airflow's REST API against the Airbyte
emulator.

Covers: template_configs publishes basic_config, create_connectors starts on that Asset and converges with
exactly the planned writes, the mapped writes ran on the Celery worker (their task instances carry the
worker's name and the worker logged receiving them), a second run writes nothing, a held change (GitHub
across its breaking change 2.0.0, `approval = held`) is approved over REST and written on the worker, another
is rejected and not written, and no service or task logged an error. Prints the stack's start-up time, each
run's duration and the peak PSS of all its processes (also written to celery-stack.json in the tmp dir).

Skipped where Postgres or Redis is not installed, except in CI (env CI set), where that is a failure.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_airbyte_connectors import settings
from airflow_airbyte_connectors.testing import AirbyteEmulator
from tests.services import approvals
from tests.services.airflow_services import finished, logged_errors, wait_for
from tests.services.approvals import answer, waiting_approval, without_approval_race
from tests.services.production_stack import ProductionStack, production_stack, require_stack
from tests.support import CLIENT_ID, CLIENT_SECRET, REGISTRY, RELEASES, REPO_ROOT, registry_entry

pytestmark = [pytest.mark.services, pytest.mark.celery]

SERVICE_LIFETIME = 600  # seconds: every server stops by itself even if this test is killed
WRITE_DELAY = 1.0  # seconds each Airbyte write takes
RUN_TIMEOUT = 180  # seconds: the api-server alone can take 15-18 s to come up on a busy machine
POKEAPI = registry_entry("source", "PokeAPI")
POSTGRES = registry_entry("destination", "Postgres")
GITHUB = {**registry_entry("source", "GitHub"), "dockerImageTag": "2.1.14"}  # from 1.8.0: major, breaking
CUSTOM = {
    "name": "Acme Celery",
    "dockerRepository": "ghcr.io/acme/source-celery",
    "dockerImageTag": "1.0.0",
    "documentationUrl": "https://acme.example/docs",
}


@dataclass
class CeleryDeployment:
    """What a test on the production stack works with."""

    stack: ProductionStack  # .airflow (REST client), .home, .logs, .worker, .worker_log, .timings, .memory
    airbyte: AirbyteEmulator
    dags: Path
    template_source: Path  # what template_configs copies to basic_config
    figures: dict[str, Any]  # measurements, printed and written to <tmp>/celery-stack.json at the end


@pytest.fixture
def celery_deployment(tmp_path: Path, emulator) -> Iterator[CeleryDeployment]:
    require_stack("Celery stack test")
    dags = tmp_path / "dags"
    dags.mkdir()
    shutil.copy(REPO_ROOT / "dags" / "create_connectors.py", dags)
    shutil.copy(Path(__file__).parent / "dags" / "template_configs.py", dags)
    template_source = tmp_path / "template_source.yaml"
    airbyte = emulator(
        seed=REGISTRY, registry=RELEASES, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, write_delay=WRITE_DELAY
    )
    env = {
        "AIRFLOW__AIRBYTE_CONNECTORS__BASIC_CONFIG_PATH": str(tmp_path / "configs" / "basic_config.yaml"),
        "AIRFLOW__AIRBYTE_CONNECTORS__TASK_RETRIES": "0",
        "AIRFLOW__AIRBYTE_CONNECTORS__CHECK_IMAGES": "False",  # no route to Docker Hub here
        "AIRFLOW__AIRBYTE_CONNECTORS__REGISTRY_URL": airbyte.registry_url,  # the emulator serves the registry
        "AIRFLOW__AIRBYTE_CONNECTORS__APPROVAL": "held",
        # The test answers: the request must not lapse before, however loaded the machine.
        "AIRFLOW__AIRBYTE_CONNECTORS__APPROVAL_TIMEOUT": str(approvals.ANSWERING_APPROVAL_TIMEOUT),
        "AIRFLOW_CONN_AIRBYTE_DEFAULT": json.dumps(
            {"conn_type": "airbyte", "host": airbyte.url, "login": CLIENT_ID, "password": CLIENT_SECRET}
        ),
        "TEMPLATE_CONFIGS_SOURCE": str(template_source),
        "AIRBYTE_DEFINITIONS_ASSET": settings.definitions_asset_uri(airbyte.url),
    }
    approvals.RACED.clear()
    approvals.RETRIED.clear()
    figures: dict[str, Any] = {}
    stopping = None
    try:
        with production_stack(tmp_path / "airflow", dags, env, lifetime=SERVICE_LIFETIME) as stack:
            deployment = CeleryDeployment(stack, airbyte, dags, template_source, figures)
            figures.update(stack.timings)
            yield deployment
            # A run that went well logs no error line: not in the tasks, the services or the worker.
            errors, races = without_approval_race(logged_errors(stack.home))
            figures.update(stack.memory.report())
            stopping = time.monotonic()
        figures["stop_s"] = round(time.monotonic() - stopping, 1)
    finally:
        if figures:
            (tmp_path / "celery-stack.json").write_text(json.dumps(figures, indent=2))
            print(f"\ncelery stack figures: {json.dumps(figures)}")
    assert errors == []
    assert races == len(approvals.RACED), approvals.RACED  # Airflow's approval race, waited out by a retry


def write_template(path: Path, *extra: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sources = [POKEAPI, CUSTOM, *extra]
    path.write_text(
        yaml.safe_dump({"connectors": {"source_definitions": sources, "destination_definitions": [POSTGRES]}})
    )


def run_to_end(deployment: CeleryDeployment, dag_id: str, run_id: str, name: str) -> dict[str, Any]:
    """Wait for a run to finish and note how long it took (from its start to its end, by Airflow's clock)."""
    airflow = deployment.stack.airflow
    run = wait_for(f"{dag_id} {run_id}", lambda: finished(airflow, dag_id, run_id), timeout=RUN_TIMEOUT)
    started, ended = (_seconds(run[key]) for key in ("start_date", "end_date"))
    deployment.figures[f"{name}_s"] = round(ended - started, 1)
    return run


def _seconds(timestamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def test_celery_worker_runs_the_mapped_writes(celery_deployment: CeleryDeployment):
    deployment, airbyte = celery_deployment, celery_deployment.airbyte
    stack, airflow = deployment.stack, deployment.stack.airflow
    airbyte.set_tag("source", POKEAPI["dockerRepository"], "0.3.38")
    airbyte.set_tag("destination", POSTGRES["dockerRepository"], "2.4.1")
    write_template(deployment.template_source)
    for dag_id in ("template_configs", "create_connectors"):
        wait_for(f"{dag_id} to be parsed", lambda dag_id=dag_id: airflow.api("GET", f"dags/{dag_id}"))
        airflow.api("PATCH", f"dags/{dag_id}", json={"is_paused": False})

    # 1. template_configs publishes basic_config; create_connectors starts on its Asset and converges.
    producer = airflow.trigger("template_configs")
    assert run_to_end(deployment, "template_configs", producer, "template_configs_run")["state"] == "success"
    (consumer,) = wait_for(
        "an asset-triggered create_connectors run",
        lambda: [r for r in airflow.runs("create_connectors") if r["run_type"] == "asset_triggered"],
    )
    first = consumer["dag_run_id"]
    assert run_to_end(deployment, "create_connectors", first, "run1")["state"] == "success"
    assert sorted((r.operation, r.status) for r in airbyte.write_requests()) == [
        ("destination_definitions/update", 200),
        ("source_definitions/create_custom", 200),
        ("source_definitions/update", 200),
    ]
    tags = {d["dockerRepository"]: d["dockerImageTag"] for d in airbyte.definitions("source")}
    assert tags[POKEAPI["dockerRepository"]] == POKEAPI["dockerImageTag"]
    assert tags[CUSTOM["dockerRepository"]] == CUSTOM["dockerImageTag"]

    # The mapped writes ran on the Celery worker: their task instances carry its name (its own
    # hostname_callable; the scheduler's machine name would be the same for LocalExecutor) ...
    instances = airflow.task_instances("create_connectors", first)
    mapped = [ti for ti in instances if ti["task_id"] == "apply"]
    assert len(mapped) == 3
    assert {(ti["state"], ti["hostname"]) for ti in mapped} == {("success", stack.worker)}
    # ... and the worker logged receiving each workload, the mapped ones by map index.
    worker_log = stack.worker_log.read_text(errors="replace")
    received = re.findall(r"Task execute_workload\[[^\]]+\] received", worker_log)
    ran = [ti for ti in instances if ti["state"] == "success"]
    assert len(received) >= len(ran) + 1, worker_log  # + template_configs' task
    for ti in mapped:
        assert re.search(rf"task_id='apply'.*map_index={ti['map_index']}\b", worker_log), ti

    # 2. A second run finds nothing to do and writes nothing.
    airbyte.clear_requests()
    second = airflow.trigger("create_connectors")
    assert run_to_end(deployment, "create_connectors", second, "run2")["state"] == "success"
    assert airbyte.write_requests() == []

    # 3. A held change waits for a person (approval = held); approved over REST, it is written, on the worker.
    basic_config = deployment.template_source.parent / "configs" / "basic_config.yaml"
    github_write = ("source_definitions/update", GITHUB["sourceDefinitionId"], "2.1.14")
    for option, writes, outcome in (("Approve", [github_write], "approved"), ("Reject", [], "rejected")):
        airbyte.set_tag("source", GITHUB["dockerRepository"], "1.8.0")
        write_template(basic_config, GITHUB)
        airbyte.clear_requests()
        run = airflow.trigger("create_connectors")
        request = waiting_approval(airflow, run, timeout=RUN_TIMEOUT)
        assert request["subject"] == "Apply 1 held change to Airbyte (1 breaking)?"
        answer(airflow, run, option, timeout=RUN_TIMEOUT)
        assert run_to_end(deployment, "create_connectors", run, f"held_{outcome}")["state"] == "success"
        sent = [(r.operation, r.body["sourceDefinitionId"], r.body["dockerImageTag"]) for r in airbyte.write_requests()]
        assert sent == writes, option
        report = airflow.xcom("create_connectors", run, "report", "return_value")
        assert report["approval"]["outcome"] == outcome
        approved = [ti for ti in airflow.task_instances("create_connectors", run) if ti["task_id"] == "apply_approved"]
        if option == "Approve":
            assert {(ti["state"], ti["hostname"]) for ti in approved} == {("success", stack.worker)}
