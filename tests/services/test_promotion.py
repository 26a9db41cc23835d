"""A promotion across two Airbytes (``connectors.environments``: staging, and prod with ``promoteFrom: staging``) on
real Airflow services driven only through Airflow's REST API: LocalExecutor, and the production topology
(Postgres, Redis, CeleryExecutor with one worker).

Run 1 updates staging to the config's tag while prod waits for staging (the plan and the report say so). Staging
then runs a successful sync and the short soak passes, both waited for as conditions (the soak from the record the
write task kept in an Airflow Variable). Run 2 updates prod. Each Airbyte got one Asset event, naming its
environment; the mapped writes are labelled by environment; no task or service logged an error line.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_airbyte_connectors.records.promotion_records import PREFIX as VERSION_SINCE_PREFIX
from airflow_airbyte_connectors.testing import AirbyteEmulator
from tests.dags.test_environments import GITHUB, REPOSITORY, SHIPPED, connect, tag_in
from tests.services.airflow_services import Airflow, finished, logged_errors, running_airflow, wait_for
from tests.services.production_stack import production_stack, require_stack
from tests.support import CLIENT_ID, CLIENT_SECRET, REGISTRY, REPO_ROOT, connection_uri, environments_config

pytestmark = pytest.mark.services

DAG_ID = "create_connectors"
SERVICE_LIFETIME = 600  # seconds: every service stops by itself even if this test is killed
RUN_TIMEOUT = 180  # seconds: a busy machine can take long to start services and tasks
SOAK = timedelta(seconds=2)
TARGET = GITHUB["dockerImageTag"]
UPDATE = f"update source GitHub {SHIPPED}→{TARGET} patch"


@dataclass
class Promotion:
    """A deployment with two Airbytes: its REST client, the emulators by environment, its AIRFLOW_HOME."""

    airflow: Airflow
    airbytes: dict[str, AirbyteEmulator]
    home: Path
    figures: dict[str, float] = field(default_factory=dict)  # printed at the end


@pytest.fixture
def airbytes(emulator) -> dict[str, AirbyteEmulator]:
    return {
        name: emulator(seed=REGISTRY, client_id=CLIENT_ID, client_secret=CLIENT_SECRET) for name in ("staging", "prod")
    }


def deployment_env(tmp_path: Path, airbytes: dict[str, AirbyteEmulator]) -> tuple[Path, dict[str, str]]:
    """The DAGs folder and the environment both executors share: basic_config names staging and prod (soak 2 s,
    one successful sync). Their Connections are made over REST (:func:`add_connections`)."""
    dags = tmp_path / "dags"
    dags.mkdir()
    shutil.copy(REPO_ROOT / "dags" / "create_connectors.py", dags)
    basic_config = tmp_path / "configs" / "basic_config.yaml"
    basic_config.parent.mkdir()
    basic_config.write_text(yaml.safe_dump(environments_config(GITHUB, soak="2s", syncs=1), allow_unicode=True))
    return dags, {
        "AIRFLOW__AIRBYTE_CONNECTORS__BASIC_CONFIG_PATH": str(basic_config),
        "AIRFLOW__AIRBYTE_CONNECTORS__TASK_RETRIES": "0",
        "AIRFLOW__AIRBYTE_CONNECTORS__CHECK_IMAGES": "False",  # no route to Docker Hub here
        "AIRFLOW__AIRBYTE_CONNECTORS__REGISTRY_URL": "",  # nor to Airbyte's connector registry
        "AIRFLOW__AIRBYTE_CONNECTORS__PLATFORM_COMPATIBILITY_URL": "",
        # Only the runs this test triggers: no hourly promotion run may start in between.
        "AIRFLOW__AIRBYTE_CONNECTORS__PROMOTION_SCHEDULE": "",
    }


@pytest.fixture
def local_promotion(tmp_path: Path, airbytes: dict[str, AirbyteEmulator]) -> Iterator[Promotion]:
    dags, env = deployment_env(tmp_path, airbytes)
    home = tmp_path / "airflow"
    started = time.monotonic()
    with running_airflow(home, dags, env, lifetime=SERVICE_LIFETIME) as airflow:
        promotion = Promotion(airflow, airbytes, home)
        promotion.figures["startup_s"] = round(time.monotonic() - started, 1)
        with checked(promotion):
            yield promotion


@pytest.fixture
def celery_promotion(tmp_path: Path, airbytes: dict[str, AirbyteEmulator]) -> Iterator[Promotion]:
    require_stack("Celery promotion test")
    dags, env = deployment_env(tmp_path, airbytes)
    home = tmp_path / "airflow"
    with production_stack(home, dags, env, lifetime=SERVICE_LIFETIME) as stack:
        promotion = Promotion(stack.airflow, airbytes, home)
        promotion.figures["startup_s"] = stack.timings["startup_s"]
        with checked(promotion):
            yield promotion


@contextmanager
def checked(promotion: Promotion) -> Iterator[Promotion]:
    """Yield ``promotion``; afterwards its figures printed and, before the services stop, no error line logged."""
    started = time.monotonic()
    yield promotion
    promotion.figures["test_s"] = round(time.monotonic() - started, 1)
    print(f"\npromotion figures: {json.dumps(promotion.figures)}")
    assert logged_errors(promotion.home) == []


def run_to_end(promotion: Promotion, run_id: str, name: str) -> dict[str, Any]:
    airflow = promotion.airflow
    run = wait_for(f"{DAG_ID} {run_id}", lambda: finished(airflow, DAG_ID, run_id), timeout=RUN_TIMEOUT)
    started, ended = (datetime.fromisoformat(run[key].replace("Z", "+00:00")) for key in ("start_date", "end_date"))
    promotion.figures[f"{name}_s"] = round((ended - started).total_seconds(), 1)
    return run


def labels(airflow: Airflow, run_id: str) -> list[str]:
    """The labels of the run's mapped writes."""
    return sorted(ti["rendered_map_index"] for ti in airflow.task_instances(DAG_ID, run_id) if ti["task_id"] == "apply")


def events(airflow: Airflow, run_id: str) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """The run's Asset events: (asset URI, environment, [(name, tag after)])."""
    found = airflow.api("GET", "assets/events", params={"source_dag_id": DAG_ID, "source_run_id": run_id})
    return sorted(
        (
            event["uri"],
            event["extra"]["environment"],
            [(change["name"], change["tagAfter"]) for change in event["extra"]["changes"]],
        )
        for event in found["asset_events"]
    )


def versions_since(airflow: Airflow, kind: str, repository: str) -> list[dict[str, Any]]:
    """The promotion gate's records (Airflow Variables) of one definition in every Airbyte, as the REST API shows
    them (a key ends in ``<kind>:<dockerRepository>``)."""
    answer = airflow.api("GET", "variables", params={"variable_key_pattern": f"{kind}:{repository}", "limit": 100})
    return [
        json.loads(v["value"])
        for v in answer["variables"]
        if v["key"].startswith(VERSION_SINCE_PREFIX) and v["key"].endswith(f":{kind}:{repository}")
    ]


def add_connections(promotion: Promotion) -> None:
    """Each Airbyte's Connection in Airflow's metadata database, as made in the UI: the tasks look them up through
    Airflow's API (prepare reads the environments in threads of its own), not in their environment."""
    for name, emu in promotion.airbytes.items():
        connection = json.loads(connection_uri(emu))
        promotion.airflow.api("POST", "connections", json={"connection_id": f"airbyte_{name}", **connection})


def promote(promotion: Promotion) -> None:
    airflow, staging, prod = promotion.airflow, promotion.airbytes["staging"], promotion.airbytes["prod"]
    add_connections(promotion)
    wait_for(f"{DAG_ID} to be parsed", lambda: airflow.api("GET", f"dags/{DAG_ID}"))
    airflow.api("PATCH", f"dags/{DAG_ID}", json={"is_paused": False})

    # 1. Staging takes the config's tag; prod waits for staging.
    first = airflow.trigger(DAG_ID)
    assert run_to_end(promotion, first, "run1")["state"] == "success"
    assert (tag_in(staging), tag_in(prod)) == (TARGET, SHIPPED)
    assert [(r.operation, r.status) for r in staging.write_requests()] == [("source_definitions/update", 200)]
    assert prod.write_requests() == []
    assert labels(airflow, first) == [f"staging: {UPDATE}"]
    plan = airflow.xcom(DAG_ID, first, "prepare", "plan")
    assert [(c["environment"], c["label"]) for c in plan["changes"]] == [("staging", f"staging: {UPDATE}")]
    assert [(w["label"], w["gate"]["state"], w["gate"]["reason"]) for w in plan["waiting"]] == [
        (f"prod: {UPDATE}", "waiting", f"waiting for staging: {TARGET} is not there yet (it runs {SHIPPED})")
    ]
    report = airflow.xcom(DAG_ID, first, "report", "return_value")
    assert (report["counts"]["updated"], report["counts"]["waiting"]) == (1, 1)
    assert [w["label"] for w in report["waiting"]] == [f"prod: {UPDATE}"]
    assets = {e["name"]: e["definitionsAsset"] for e in plan["environments"]}
    assert len(set(assets.values())) == 2
    assert events(airflow, first) == [(assets["staging"], "staging", [("GitHub", TARGET)])]

    # 2. The write task recorded since when staging runs the tag; a sync succeeds there, and the soak passes.
    records = versions_since(airflow, "source", REPOSITORY)
    # staging written at the config's tag, prod seen at the one it runs: two Airbytes, two records
    assert sorted((r["dockerImageTag"], r["learned"]) for r in records) == [(SHIPPED, "seen"), (TARGET, "written")]
    (written,) = [r for r in records if r["learned"] == "written"]
    soaked = datetime.fromisoformat(written["since"]) + SOAK
    staging.add_sync_job(connect(staging), "succeeded")  # created now: after the version was written
    wait_for("the soak in staging", lambda: datetime.now(UTC) >= soaked, timeout=60, every=0.1)

    # 3. Prod follows, its gate open; each Airbyte got its own event, naming its environment.
    staging.clear_requests()
    second = airflow.trigger(DAG_ID)
    assert run_to_end(promotion, second, "run2")["state"] == "success"
    assert (tag_in(staging), tag_in(prod)) == (TARGET, TARGET)
    assert staging.write_requests() == []
    assert [(r.operation, r.status) for r in prod.write_requests()] == [("source_definitions/update", 200)]
    assert labels(airflow, second) == [f"prod: {UPDATE}"]
    plan = airflow.xcom(DAG_ID, second, "prepare", "plan")
    ((environment, gate),) = [(c["environment"], c["gate"]) for c in plan["changes"]]
    assert (environment, gate["state"], plan["waiting"]) == ("prod", "open", [])
    assert gate["reason"].startswith(f"staging ran it: {TARGET} there for ")
    assert gate["reason"].endswith("1 of 1 syncs succeeded")
    report = airflow.xcom(DAG_ID, second, "report", "return_value")
    assert (report["counts"]["updated"], report["counts"]["waiting"]) == (1, 0)
    assert events(airflow, second) == [(assets["prod"], "prod", [("GitHub", TARGET)])]


def test_promotion_on_local_executor(local_promotion: Promotion):
    promote(local_promotion)


@pytest.mark.celery
def test_promotion_on_celery(celery_promotion: Promotion):
    promote(celery_promotion)
