"""connector_upgrades in dag.test: the proposals of `airbyte-connectors outdated` as the run's Markdown report
and an Asset event listing them, on the real GitHub and HubSpot histories; nothing sent to Airbyte."""

from __future__ import annotations

import pytest

from tests.dags.test_create_connectors import task_states, xcom
from tests.dags.test_reconcile_and_chaining import definitions_events
from tests.support import DAGS_FOLDER
from tests.test_outdated import config_file, registries  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("airflow_db")]


def test_weekly_proposals_are_reported_and_announced(registries, config_file, monkeypatch):  # noqa: F811
    from airflow.dag_processing.dagbag import DagBag

    from airflow_airbyte_connectors.tasks.upgrades import UPGRADES_ASSET_URI

    monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__BASIC_CONFIG_PATH", str(config_file))
    monkeypatch.delenv("AIRFLOW_CONN_AIRBYTE_DEFAULT", raising=False)  # registries only: no Airbyte at all
    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    assert bag.import_errors == {}
    dag = bag.get_dag("connector_upgrades")
    assert dag.timetable.expression == "0 0 * * 0"  # @weekly
    before = len(definitions_events(f"{UPGRADES_ASSET_URI}/"))

    dagrun = dag.test()
    assert dagrun.state == "success", task_states(dagrun)
    (markdown,) = xcom(dagrun, "outdated", "report")
    assert markdown.startswith("### Airbyte connector upgrades: 2 proposals for 3 definitions")
    events = definitions_events(f"{UPGRADES_ASSET_URI}/")
    assert len(events) == before + 1
    proposals = {p["dockerRepository"]: p["proposed"] for p in events[-1]["proposals"]}
    assert proposals == {"airbyte/source-github": "1.9.2", "airbyte/source-hubspot": "4.12.2"}
