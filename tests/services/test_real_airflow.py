"""The DAG in a real Airflow 3.3 deployment: api-server, scheduler, dag-processor and triggerer with
LocalExecutor, driven only through Airflow's REST API, against the Airbyte emulator.

Covers: asset scheduling after template_configs, a dry run from the trigger form's conf, a normal run
with parallel mapped writes and their labels, a downstream DAG started by the Asset event of the runs that
changed something (and only those), and task logs without error lines. Every service is started under
`timeout` (so it stops by itself) and stopped by process id when the test ends.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_airbyte_connectors import settings
from airflow_airbyte_connectors.testing import ImageRegistryEmulator
from tests.services.airflow_services import Airflow, finished, logged_errors, running_airflow, wait_for
from tests.support import CLIENT_ID, CLIENT_SECRET, REGISTRY, REPO_ROOT, registry_entry
from tests.upgrades.test_outdated import history

pytestmark = pytest.mark.services

SERVICE_LIFETIME = 600  # seconds: the services stop by themselves even if this test is killed
WRITE_DELAY = 2.0  # seconds each Airbyte write takes: long enough to see mapped writes overlap
POKEAPI = registry_entry("source", "PokeAPI")
FAKER = registry_entry("source", "Sample Data")
# Behind their newest versions, with policies (connector-version-history.json has every published version).
GITHUB = {**registry_entry("source", "GitHub"), "dockerImageTag": "1.8.0"}
HUBSPOT = {**registry_entry("source", "HubSpot"), "dockerImageTag": "4.2.0"}
CUSTOMS = [
    {
        "name": f"Acme {n}",
        "dockerRepository": f"ghcr.io/acme/source-{n}",
        "dockerImageTag": "1.0.0",
        "documentationUrl": "https://acme.example/docs",
    }
    for n in range(3)
]


@pytest.fixture
def deployment(tmp_path: Path, emulator) -> Iterator[tuple[Airflow, Any, Path]]:
    dags = tmp_path / "dags"
    dags.mkdir(parents=True)
    shutil.copy(REPO_ROOT / "dags" / "create_connectors.py", dags)
    shutil.copy(REPO_ROOT / "dags" / "connector_upgrades.py", dags)
    for stand_in in ("template_configs.py", "after_connectors.py"):
        shutil.copy(Path(__file__).parent / "dags" / stand_in, dags)
    template_source = tmp_path / "template_source.yaml"
    airbyte = emulator(seed=REGISTRY, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, write_delay=WRITE_DELAY)
    env = {
        "AIRFLOW__AIRBYTE_CONNECTORS__BASIC_CONFIG_PATH": str(tmp_path / "configs" / "basic_config.yaml"),
        "AIRFLOW__AIRBYTE_CONNECTORS__MAX_ACTIVE_WRITES": "3",
        "AIRFLOW__AIRBYTE_CONNECTORS__TASK_RETRIES": "0",
        "AIRFLOW__AIRBYTE_CONNECTORS__CHECK_IMAGES": "False",  # no route to Docker Hub here
        "AIRFLOW__AIRBYTE_CONNECTORS__REGISTRY_URL": "",  # nor to Airbyte's connector registry
        "AIRFLOW_CONN_AIRBYTE_DEFAULT": json.dumps(
            {"conn_type": "airbyte", "host": airbyte.url, "login": CLIENT_ID, "password": CLIENT_SECRET}
        ),
        "TEMPLATE_CONFIGS_SOURCE": str(template_source),
        "AIRBYTE_DEFINITIONS_ASSET": settings.definitions_asset_uri(airbyte.url),
    }
    # connector_upgrades reads every published tag and its date here (the real GitHub and HubSpot histories).
    with ImageRegistryEmulator(require_token=True, page_cap=100, max_lifetime=SERVICE_LIFETIME) as images:
        images.seed_history(history(), [GITHUB["dockerRepository"], HUBSPOT["dockerRepository"]])
        env["AIRFLOW__AIRBYTE_CONNECTORS__DOCKER_HUB_URL"] = images.url
        env["AIRFLOW__AIRBYTE_CONNECTORS__IMAGE_TOKEN_HOSTS"] = ""
        with running_airflow(tmp_path / "airflow", dags, env, lifetime=SERVICE_LIFETIME) as airflow:
            yield airflow, airbyte, template_source
            # A run that went well logs no error line (Airflow's own included).
            assert logged_errors(tmp_path / "airflow") == []


def write_source(path: Path, sources: list[dict[str, Any]]) -> None:
    path.write_text(yaml.safe_dump({"connectors": {"source_definitions": sources, "destination_definitions": []}}))


def test_asset_schedule_dry_run_and_parallel_mapped_writes(deployment):
    airflow, airbyte, template_source = deployment
    airbyte.set_tag("source", POKEAPI["dockerRepository"], "0.3.38")
    write_source(template_source, [POKEAPI, FAKER])

    for dag_id in ("template_configs", "create_connectors", "after_connectors"):
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
    # The DAG that comes next starts on create_connectors' Asset event and reads the change from it.
    (downstream,) = wait_for("after_connectors to start", lambda: airflow.runs("after_connectors"))
    downstream_id = downstream["dag_run_id"]
    assert wait_for("after_connectors", lambda: finished(airflow, "after_connectors", downstream_id))["state"] == (
        "success"
    )
    (change,) = airflow.xcom("after_connectors", downstream_id, "read_changes", "return_value")
    assert (change["action"], change["name"], change["tagBefore"], change["tagAfter"]) == (
        "updated",
        "PokeAPI",
        "0.3.38",
        POKEAPI["dockerImageTag"],
    )

    # 2. After a config change, a dry run from the trigger form plans and writes nothing.
    write_source(template_source.parent / "configs" / "basic_config.yaml", [POKEAPI, FAKER, *CUSTOMS])
    airbyte.clear_requests()
    dry = airflow.trigger("create_connectors", {"dry_run": True})
    assert (
        wait_for("the dry run", lambda: finished(airflow, "create_connectors", dry), timeout=180)["state"] == "success"
    )
    plan = airflow.xcom("create_connectors", dry, "prepare", "plan")
    assert plan["dryRun"] is True and [c["action"] for c in plan["changes"]] == ["create"] * 3
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
    # One more downstream run, for the run that created three; none for the dry run or the no-op run.
    wait_for("a second after_connectors run", lambda: len(airflow.runs("after_connectors")) == 2)
    latest = max(airflow.runs("after_connectors"), key=lambda r: r["run_after"])["dag_run_id"]
    wait_for("after_connectors", lambda: finished(airflow, "after_connectors", latest))
    changes = airflow.xcom("after_connectors", latest, "read_changes", "return_value")
    assert sorted((c["action"], c["name"]) for c in changes) == [("created", f"Acme {n}") for n in range(3)]
    mapped = [ti for ti in airflow.task_instances("create_connectors", real) if ti["task_id"] == "apply"]
    assert sorted(ti["rendered_map_index"] for ti in mapped) == [f"create source Acme {n} 1.0.0" for n in range(3)]
    spans = sorted((ti["start_date"], ti["end_date"]) for ti in mapped)
    assert any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:], strict=False)), (
        f"mapped writes never overlapped: {spans}"
    )
    airflow.api("PATCH", "dags/after_connectors", json={"is_paused": True})  # nothing more may start it
    assert len(airflow.runs("after_connectors")) == 2

    # 4. connector_upgrades, by hand: proposals from the image registry, announced on its Asset; no write.
    config = template_source.parent / "configs" / "basic_config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "connectors": {
                    "policy": {"versionPolicy": "minor", "breaking": "stop"},
                    "source_definitions": [GITHUB, {**HUBSPOT, "versionPolicy": "major", "minimumReleaseAge": "30d"}],
                    "destination_definitions": [],
                }
            }
        )
    )
    airbyte.clear_requests()
    wait_for("connector_upgrades to be parsed", lambda: airflow.api("GET", "dags/connector_upgrades"))
    airflow.api("PATCH", "dags/connector_upgrades", json={"is_paused": False})
    upgrades = airflow.trigger("connector_upgrades")
    assert wait_for("connector_upgrades", lambda: finished(airflow, "connector_upgrades", upgrades))["state"] == (
        "success"
    )
    events = airflow.api("GET", "assets/events", params={"source_dag_id": "connector_upgrades"})["asset_events"]
    (event,) = [e for e in events if e["source_run_id"] == upgrades]
    proposed = {p["dockerRepository"]: p["proposed"] for p in event["extra"]["rows"]}
    assert proposed == {GITHUB["dockerRepository"]: "1.9.2", HUBSPOT["dockerRepository"]: "4.12.2"}
    assert airbyte.write_requests() == []
