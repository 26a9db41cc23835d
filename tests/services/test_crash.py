"""Crashes while Airbyte applies a write, on real Airflow services driven through the REST API.

The emulator holds an update (PokeAPI 0.3.38 -> the registry's tag) and a create (a custom connector) open
until both are in flight; then whatever runs them dies by SIGKILL, task processes included, and Airbyte
applies both writes after their client is gone.

- LocalExecutor: the scheduler dies with its workers and is started again; it resets the orphaned tasks.
- CeleryExecutor (Postgres, Redis): the worker dies; the scheduler fails its tasks for lack of heartbeat
  and another worker runs the retries.

Either way the run ends `success`, each write reached Airbyte once (one definition per repository, the
update applied), the run's Asset event names both changes, a second run writes nothing, and no process
logged an error line other than what the crash itself explains (counted, see ``without_crash_lines``).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_airbyte_connectors.testing import AirbyteEmulator
from tests.services.airflow_services import (
    Airflow,
    finished,
    kill_service,
    logged_errors,
    running_airflow,
    start_again,
    wait_for,
)
from tests.services.production_stack import production_stack, require_stack, start_worker
from tests.support import CLIENT_ID, CLIENT_SECRET, REGISTRY, REPO_ROOT, registry_entry

pytestmark = pytest.mark.services

DAG_ID = "create_connectors"
SERVICE_LIFETIME = 600  # seconds: every service stops by itself even if this test is killed
RUN_TIMEOUT = 180  # seconds: a busy machine can take long to start services and tasks
POKEAPI = registry_entry("source", "PokeAPI")
OLD_TAG = "0.3.38"
CUSTOM = {
    "name": "Acme Crash",
    "dockerRepository": "ghcr.io/acme/source-crash",
    "dockerImageTag": "1.0.0",
    "documentationUrl": "https://acme.example/docs",
}
# Airflow notices a crash within seconds instead of minutes; the retries come at once.
CRASH_ENV = {
    "AIRFLOW__AIRBYTE_CONNECTORS__TASK_RETRIES": "2",
    "AIRFLOW__AIRBYTE_CONNECTORS__TASK_RETRY_DELAY": "1",
    "AIRFLOW__AIRBYTE_CONNECTORS__MAX_ACTIVE_WRITES": "3",  # both writes in flight at once
    # CeleryExecutor: a task whose worker died stops heartbeating; fail it (and retry) after this.
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "15",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
    # LocalExecutor: the restarted scheduler resets the tasks of a scheduler silent this long, looking often.
    "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD": "10",
    "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "3",
}


@dataclass
class Crash:
    """A deployment to crash: its REST client, the emulator, and how to kill and recover its executor."""

    airflow: Airflow
    airbyte: AirbyteEmulator
    home: Path
    kill: Callable[[], int]  # how many processes died
    recover: Callable[[], object]
    recovered_on: str | None = None  # the hostname the retried writes must report, when it tells
    killed: list[tuple[str, int]] = field(default_factory=list)  # (run id, map index) of each task killed
    figures: dict[str, float] = field(default_factory=dict)  # printed at the end


def explained_by_the_crash(crash: Crash) -> list[tuple[str, ...]]:
    """The error lines Airflow logs because of the crash, each as parts of one line: on Celery, the scheduler
    fails each killed task for lack of heartbeat, then hears the same from the executor. LocalExecutor: none,
    the restarted scheduler resets the orphaned tasks quietly."""
    if crash.recovered_on is None:
        return []
    lines = []
    for run_id, map_index in crash.killed:
        lines += [
            ("Detected a task instance without a heartbeat", f"'Run Id': '{run_id}', 'Map Index': {map_index},"),
            (
                f"reported that the task instance <TaskInstance: {DAG_ID}.apply {run_id} map_index={map_index} ",
                "finished with state failed, but",  # logged_errors keeps the first 300 characters
            ),
        ]
    return lines


def without_crash_lines(errors: list[str], explained: list[tuple[str, ...]]) -> tuple[list[str], list[tuple[str, ...]]]:
    """The logged error lines the crash does not explain, and the explained lines that were not logged (each
    explains one line, so a line logged twice is one too many)."""
    others, missing = [], list(explained)
    for line in errors:
        match = next((parts for parts in missing if all(part in line for part in parts)), None)
        if match is None:
            others.append(line)
        else:
            missing.remove(match)
    return others, missing


@contextmanager
def checked(crash: Crash) -> Iterator[Crash]:
    """Yield ``crash``; afterwards, before its services stop, no error line but what the crash explains."""
    started = time.monotonic()
    yield crash
    crash.figures["test_s"] = round(time.monotonic() - started, 1)
    print(f"\ncrash figures: {json.dumps(crash.figures)}")
    others, missing = without_crash_lines(logged_errors(crash.home), explained_by_the_crash(crash))
    assert others == []
    assert missing == []


def deployment_env(tmp_path: Path, airbyte: AirbyteEmulator) -> tuple[Path, dict[str, str]]:
    """The DAGs folder and the environment both executors share; basic_config asks for both writes."""
    dags = tmp_path / "dags"
    dags.mkdir()
    shutil.copy(REPO_ROOT / "dags" / "create_connectors.py", dags)
    basic_config = tmp_path / "configs" / "basic_config.yaml"
    basic_config.parent.mkdir()
    basic_config.write_text(
        yaml.safe_dump({"connectors": {"source_definitions": [POKEAPI, CUSTOM], "destination_definitions": []}})
    )
    airbyte.set_tag("source", POKEAPI["dockerRepository"], OLD_TAG)
    return dags, {
        **CRASH_ENV,
        "AIRFLOW__AIRBYTE_CONNECTORS__BASIC_CONFIG_PATH": str(basic_config),
        "AIRFLOW__AIRBYTE_CONNECTORS__CHECK_IMAGES": "False",  # no route to Docker Hub here
        "AIRFLOW__AIRBYTE_CONNECTORS__REGISTRY_URL": "",  # nor to Airbyte's connector registry
        "AIRFLOW_CONN_AIRBYTE_DEFAULT": json.dumps(
            {"conn_type": "airbyte", "host": airbyte.url, "login": CLIENT_ID, "password": CLIENT_SECRET}
        ),
    }


@pytest.fixture
def airbyte(emulator) -> AirbyteEmulator:
    return emulator(seed=REGISTRY, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)


@pytest.fixture
def local_crash(tmp_path: Path, airbyte: AirbyteEmulator) -> Iterator[Crash]:
    dags, env = deployment_env(tmp_path, airbyte)
    home = tmp_path / "airflow"
    with running_airflow(home, dags, env, lifetime=SERVICE_LIFETIME) as airflow:
        crash = Crash(
            airflow,
            airbyte,
            home,
            kill=lambda: kill_service(airflow, "scheduler"),
            recover=lambda: start_again(airflow, "scheduler", as_name="scheduler-restarted"),
        )
        with checked(crash):
            yield crash


@pytest.fixture
def celery_crash(tmp_path: Path, airbyte: AirbyteEmulator) -> Iterator[Crash]:
    require_stack("Celery crash test")
    dags, env = deployment_env(tmp_path, airbyte)
    home = tmp_path / "airflow"
    with production_stack(home, dags, env, lifetime=SERVICE_LIFETIME) as stack:
        crash = Crash(
            stack.airflow,
            airbyte,
            home,
            kill=lambda: kill_service(stack.airflow, stack.worker),
            recover=lambda: start_worker(stack, "worker2"),
            recovered_on="worker2",
        )
        crash.figures["startup_s"] = stack.timings["startup_s"]
        with checked(crash):
            yield crash


def run_to_end(airflow: Airflow, run_id: str) -> dict[str, Any]:
    return wait_for(f"{DAG_ID} {run_id}", lambda: finished(airflow, DAG_ID, run_id), timeout=RUN_TIMEOUT)


def announced(airflow: Airflow, run_id: str) -> list[tuple[str, str, str | None, str | None]]:
    """The changes the run's Asset events name: (action, name, tag before, tag after)."""
    events = airflow.api("GET", "assets/events", params={"source_dag_id": DAG_ID, "source_run_id": run_id})
    return sorted(
        (change["action"], change["name"], change["tagBefore"], change["tagAfter"])
        for event in events["asset_events"]
        for change in event["extra"]["changes"]
    )


def crash_mid_write(crash: Crash) -> None:
    airflow, airbyte = crash.airflow, crash.airbyte
    update = airbyte.write_holds.hold("source_definitions/update", sourceDefinitionId=POKEAPI["sourceDefinitionId"])
    create = airbyte.write_holds.hold("source_definitions/create_custom", dockerRepository=CUSTOM["dockerRepository"])
    wait_for(f"{DAG_ID} to be parsed", lambda: airflow.api("GET", f"dags/{DAG_ID}"))
    airflow.api("PATCH", f"dags/{DAG_ID}", json={"is_paused": False})
    run_id = airflow.trigger(DAG_ID)

    # Both writes are in flight: kill whatever runs them, then Airbyte finishes them for nobody.
    for held in (update, create):
        held.wait_in_flight(timeout=RUN_TIMEOUT)
    running = [ti for ti in airflow.task_instances(DAG_ID, run_id) if ti["task_id"] == "apply"]
    assert {ti["state"] for ti in running} == {"running"}, running
    crash.killed = [(run_id, ti["map_index"]) for ti in running]
    killed_at = time.monotonic()
    crash.figures["processes_killed"] = crash.kill()
    for held in (update, create):
        held.release()
        held.wait_finished(timeout=30)
    crash.recover()

    run = run_to_end(airflow, run_id)
    crash.figures["kill_to_run_end_s"] = round(time.monotonic() - killed_at, 1)
    assert run["state"] == "success", run
    # Each write reached Airbyte once and was applied: no second create, no repeated update.
    assert sorted((r.operation, r.status) for r in airbyte.write_requests()) == [
        ("source_definitions/create_custom", 200),
        ("source_definitions/update", 200),
    ]
    definitions = airbyte.definitions("source")
    assert [d["dockerImageTag"] for d in definitions if d["dockerRepository"] == CUSTOM["dockerRepository"]] == [
        CUSTOM["dockerImageTag"]
    ]
    tags = {d["sourceDefinitionId"]: d["dockerImageTag"] for d in definitions}
    assert tags[POKEAPI["sourceDefinitionId"]] == POKEAPI["dockerImageTag"]
    # The crash cost each write a try; the try after it finished the task.
    writes = [ti for ti in airflow.task_instances(DAG_ID, run_id) if ti["task_id"] == "apply"]
    assert sorted((ti["state"], ti["try_number"] > 1) for ti in writes) == [("success", True)] * 2, writes
    if crash.recovered_on:
        assert {ti["hostname"] for ti in writes} == {crash.recovered_on}
    # Each retry found its write made by the killed try, and says so.
    path = f"dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/apply/xcomEntries/return_value"
    results = [airflow.api("GET", path, params={"map_index": ti["map_index"]})["value"] for ti in writes]
    assert sorted((r["action"], r.get("confirmed")) for r in results) == [
        ("created", "after retry"),
        ("updated", "after retry"),
    ]
    # DAGs that come next hear of both changes, though the tries that made them died.
    assert announced(airflow, run_id) == [
        ("created", CUSTOM["name"], None, CUSTOM["dockerImageTag"]),
        ("updated", POKEAPI["name"], OLD_TAG, POKEAPI["dockerImageTag"]),
    ]

    # Converged: the next run writes and announces nothing.
    airbyte.clear_requests()
    again = airflow.trigger(DAG_ID)
    assert run_to_end(airflow, again)["state"] == "success"
    assert airbyte.write_requests() == []
    assert announced(airflow, again) == []


def test_scheduler_killed_mid_write_then_restarted(local_crash: Crash):
    crash_mid_write(local_crash)


@pytest.mark.celery
def test_celery_worker_killed_mid_write_then_another_started(celery_crash: Crash):
    crash_mid_write(celery_crash)
