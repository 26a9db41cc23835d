"""No task of create_connectors can hold the DAG's only active run for ever: each has an execution_timeout."""

from __future__ import annotations

from datetime import timedelta

import pytest

from airflow_airbyte_connectors.testing import Faults
from tests.support import DAGS_FOLDER


def parse(monkeypatch, **settings: str):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__APPROVAL", "held")  # every task, the approval's too
    for key, value in settings.items():
        monkeypatch.setenv(f"AIRFLOW__AIRBYTE_CONNECTORS__{key.upper()}", value)
    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    assert bag.import_errors == {}
    return bag.dags["create_connectors"]


def timeouts(dag) -> dict[str, timedelta | None]:
    return {task.task_id: task.execution_timeout for task in dag.tasks}


class TestExecutionTimeouts:
    def test_every_task_has_one_from_the_settings(self, monkeypatch):
        found = timeouts(parse(monkeypatch))
        # The approval waits for a person until approval_timeout (its response_timeout) instead.
        assert found.pop("approve") is None
        assert found == {
            "prepare": timedelta(seconds=1800),
            "apply": timedelta(seconds=4272),  # a whole write and a minute (budgets.write_task_seconds)
            "apply_approved": timedelta(seconds=4272),
            "publish_changes": timedelta(seconds=600),
            "report": timedelta(seconds=600),
        }

    @pytest.mark.parametrize(
        ("settings", "task_id", "seconds"),
        [
            ({"prepare_timeout": "60"}, "prepare", 60),
            ({"write_timeout": "1000"}, "apply", 3672),
            ({"apply_timeout": "5000"}, "apply_approved", 5000),
            ({"report_timeout": "30"}, "report", 30),
        ],
        ids=["prepare", "apply-follows-write-timeout", "apply-set", "report"],
    )
    def test_settable(self, monkeypatch, settings, task_id, seconds):
        assert timeouts(parse(monkeypatch, **settings))[task_id] == timedelta(seconds=seconds)


@pytest.mark.e2e
@pytest.mark.usefixtures("airflow_db")
def test_a_task_stuck_past_its_timeout_fails_the_run_instead_of_holding_it(use_emulator, write_config, monkeypatch):
    from tests.dags.test_create_connectors import CUSTOM_SOURCE, config, run_dag, task_states

    # Airbyte answers every call after 20 s, within read_timeout: only prepare's execution_timeout ends it.
    airbyte = use_emulator(faults=Faults(slow_rate=1.0, slow_seconds=20))
    monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__READ_TIMEOUT", "60")
    monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__PREPARE_TIMEOUT", "2")
    write_config(config([CUSTOM_SOURCE]))
    dagrun = run_dag()
    assert dagrun.state == "failed"
    states = task_states(dagrun)
    assert states["prepare"] == ["failed"] and states["report"] == ["failed"]
    assert airbyte.write_requests() == []  # without the timeout prepare succeeds after the waits, and writes
