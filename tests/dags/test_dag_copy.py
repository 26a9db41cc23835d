"""A team's copy of the DAG file, under another dag_id with its writes in a TaskGroup, plans, writes,
announces and reports like the original: the tasks find each other through the ids the DAG file hands
them (tasks/names.TaskLayout), never through literals. With approval: tests/services/test_approval.py."""

from __future__ import annotations

import json

import pytest

from tests.dags.test_create_connectors import POKEAPI, config, older, task_states, xcom
from tests.support import COPY_DAG_ID, COPY_GROUP, CUSTOM_SOURCE, DAGS_FOLDER, REGISTRY, renamed_copy

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("airflow_db")]

LOCAL_BUNDLE = "airflow.dag_processing.bundles.local.LocalDagBundle"


def test_a_renamed_copy_with_its_writes_in_a_task_group(use_emulator, write_config, tmp_path, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    emu = use_emulator(seed=REGISTRY)
    older(emu, "source", POKEAPI, "0.3.38")
    write_config(config([POKEAPI, CUSTOM_SOURCE]))
    (tmp_path / f"{COPY_DAG_ID}.py").write_text(renamed_copy((DAGS_FOLDER / "create_connectors.py").read_text()))
    # dag.test() runs what the configured DAG bundle holds: the copy's folder, as in a team's deployment.
    bundle = {"name": "team-dags", "classpath": LOCAL_BUNDLE, "kwargs": {"path": str(tmp_path)}}
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps([bundle]))
    bag = DagBag(dag_folder=str(tmp_path))
    assert bag.import_errors == {}
    copy = bag.get_dag(COPY_DAG_ID)
    assert f"{COPY_GROUP}.apply" in copy.task_dict and "apply" not in copy.task_dict

    dagrun = copy.test()
    states = task_states(dagrun)
    assert dagrun.state == "success", states
    assert states[f"{COPY_GROUP}.apply"] == ["success"] * 2 and states["report"] == ["success"]
    (report,) = xcom(dagrun, "report")
    assert report["counts"]["created"] == 1 and report["counts"]["updated"] == 1 and report["counts"]["failed"] == 0
    assert sorted(r["name"] for r in report["results"]) == ["Acme CRM", "PokeAPI"]
    assert {(r.operation, r.body.get("dockerImageTag")) for r in emu.write_requests()} >= {
        ("source_definitions/update", "0.3.40")
    }
