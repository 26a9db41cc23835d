"""The DAG in a real Airflow 3.3 deployment: api-server, scheduler, dag-processor and triggerer with
LocalExecutor, driven only through Airflow's REST API, against the Airbyte emulator.

Covers: asset scheduling after template_configs, a dry run from the trigger form's conf, a normal run
with parallel mapped writes and their labels. Every service is started under `timeout` (so it stops by
itself) and stopped by process id when the test ends.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.support import CLIENT_ID, CLIENT_SECRET, REGISTRY, REPO_ROOT, registry_entry

pytestmark = pytest.mark.services

SERVICES = ("api-server", "scheduler", "dag-processor", "triggerer")
SERVICE_LIFETIME = 600  # seconds: the services stop by themselves even if this test is killed
WRITE_DELAY = 2.0  # seconds each Airbyte write takes: long enough to see mapped writes overlap
POKEAPI = registry_entry("source", "PokeAPI")
FAKER = registry_entry("source", "Sample Data")
CUSTOMS = [
    {
        "name": f"Acme {n}",
        "dockerRepository": f"ghcr.io/acme/source-{n}",
        "dockerImageTag": "1.0.0",
        "documentationUrl": "https://acme.example/docs",
    }
    for n in range(3)
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Airflow:
    """Airflow's REST API as the tests use it."""

    def __init__(self, url: str):
        self.url = url
        self.session = requests.Session()

    def login(self) -> None:
        token = self.session.get(f"{self.url}/auth/token", timeout=10).json()["access_token"]
        self.session.headers["Authorization"] = f"Bearer {token}"

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = self.session.request(method, f"{self.url}/api/v2/{path}", timeout=30, **kwargs)
        answer.raise_for_status()
        return answer.json() if answer.content else None

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        run = self.api("POST", f"dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf or {}})
        return run["dag_run_id"]

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        return self.api("GET", f"dags/{dag_id}/dagRuns")["dag_runs"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return self.api("GET", f"dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str) -> Any:
        entry = self.api("GET", f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}")
        return entry["value"]


def wait_for(what: str, check: Callable[[], Any], timeout: float = 120, every: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except (requests.RequestException, KeyError) as error:
            last_error = error
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what} (last error: {last_error})")


def finished(airflow: Airflow, dag_id: str, run_id: str) -> dict[str, Any] | None:
    run = airflow.api("GET", f"dags/{dag_id}/dagRuns/{run_id}")
    return run if run["state"] in ("success", "failed") else None


@pytest.fixture
def deployment(tmp_path: Path, emulator) -> Iterator[tuple[Airflow, Any, Path]]:
    home = tmp_path / "airflow"
    dags = tmp_path / "dags"
    dags.mkdir(parents=True)
    shutil.copy(REPO_ROOT / "dags" / "create_connectors.py", dags)
    shutil.copy(Path(__file__).parent / "dags" / "template_configs.py", dags)
    template_source = tmp_path / "template_source.yaml"
    airbyte = emulator(seed=REGISTRY, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, write_delay=WRITE_DELAY)
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "8",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__API_AUTH__JWT_SECRET": "test-only-jwt-secret",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "2",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW__AIRBYTE_CONNECTORS__BASIC_CONFIG_PATH": str(tmp_path / "configs" / "basic_config.yaml"),
        "AIRFLOW__AIRBYTE_CONNECTORS__MAX_ACTIVE_WRITES": "3",
        "AIRFLOW__AIRBYTE_CONNECTORS__TASK_RETRIES": "0",
        "AIRFLOW_CONN_AIRBYTE_DEFAULT": json.dumps(
            {"conn_type": "airbyte", "host": airbyte.url, "login": CLIENT_ID, "password": CLIENT_SECRET}
        ),
        "TEMPLATE_CONFIGS_SOURCE": str(template_source),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    airflow_cli = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow_cli, "db", "migrate"], env=env, check=True, capture_output=True, timeout=180)
    processes: list[subprocess.Popen[bytes]] = []
    logs = tmp_path / "service-logs"
    logs.mkdir()
    try:
        for service in SERVICES:
            out = (logs / f"{service}.log").open("wb")
            processes.append(
                subprocess.Popen(
                    ["timeout", "--signal=TERM", "--kill-after=10", str(SERVICE_LIFETIME), airflow_cli, service],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        airflow = Airflow(f"http://127.0.0.1:{port}")
        wait_for("the api-server", lambda: requests.get(f"{airflow.url}/api/v2/monitor/health", timeout=5).ok)
        airflow.login()
        yield airflow, airbyte, template_source
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def write_source(path: Path, sources: list[dict[str, Any]]) -> None:
    path.write_text(yaml.safe_dump({"connectors": {"source_definitions": sources, "destination_definitions": []}}))


def test_asset_schedule_dry_run_and_parallel_mapped_writes(deployment):
    airflow, airbyte, template_source = deployment
    airbyte.set_tag("source", POKEAPI["dockerRepository"], "0.3.38")
    write_source(template_source, [POKEAPI, FAKER])

    for dag_id in ("template_configs", "create_connectors"):
        wait_for(f"{dag_id} to be parsed", lambda dag_id=dag_id: airflow.api("GET", f"dags/{dag_id}"))
        airflow.api("PATCH", f"dags/{dag_id}", json={"is_paused": False})

    # 1. template_configs publishes basic_config; create_connectors starts by itself and converges.
    producer = airflow.trigger("template_configs")
    assert wait_for("template_configs", lambda: finished(airflow, "template_configs", producer))["state"] == "success"
    consumer = wait_for(
        "an asset-triggered create_connectors run",
        lambda: [r for r in airflow.runs("create_connectors") if r["run_type"] == "asset_triggered"],
    )
    run_id = consumer[0]["dag_run_id"]
    assert (
        wait_for("create_connectors", lambda: finished(airflow, "create_connectors", run_id), timeout=180)["state"]
        == "success"
    )
    assert [(r.operation, r.status) for r in airbyte.write_requests()] == [("source_definitions/update", 200)]

    # 2. After a config change, a dry run from the trigger form plans and writes nothing.
    write_source(template_source.parent / "configs" / "basic_config.yaml", [POKEAPI, FAKER, *CUSTOMS])
    airbyte.clear_requests()
    dry = airflow.trigger("create_connectors", {"dry_run": True})
    assert (
        wait_for("the dry run", lambda: finished(airflow, "create_connectors", dry), timeout=180)["state"] == "success"
    )
    plan = airflow.xcom("create_connectors", dry, "prepare", "plan")
    assert plan["dryRun"] is True and len(plan["creates"]) == 3
    assert airbyte.write_requests() == []

    # 3. A normal run makes exactly the planned writes, in parallel, each task labelled. A second run
    #    triggered by hand meanwhile waits for it (max_active_runs=1) and then finds nothing to do.
    airbyte.clear_requests()
    real = airflow.trigger("create_connectors")
    again = airflow.trigger("create_connectors")
    first = wait_for("the run", lambda: finished(airflow, "create_connectors", real), timeout=180)
    second = wait_for("the second run", lambda: finished(airflow, "create_connectors", again), timeout=180)
    assert first["state"] == second["state"] == "success"
    assert second["start_date"] >= first["end_date"], "the two runs overlapped"
    for n in range(3):
        assert len([d for d in airbyte.definitions("source") if d["name"] == f"Acme {n}"]) == 1
    assert sorted(r.body["sourceDefinition"]["name"] for r in airbyte.write_requests()) == [
        "Acme 0",
        "Acme 1",
        "Acme 2",
    ]
    mapped = [ti for ti in airflow.task_instances("create_connectors", real) if ti["task_id"] == "apply"]
    assert sorted(ti["rendered_map_index"] for ti in mapped) == [f"create source Acme {n} 1.0.0" for n in range(3)]
    spans = sorted((ti["start_date"], ti["end_date"]) for ti in mapped)
    assert any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:], strict=False)), (
        f"mapped writes never overlapped: {spans}"
    )
