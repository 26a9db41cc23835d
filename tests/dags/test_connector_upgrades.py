"""connector_upgrades in dag.test: the proposals of `airbyte-connectors outdated` as the run's Markdown report
and an Asset event listing them, on the real GitHub and HubSpot histories; nothing sent to Airbyte. With a
connection, no version that Airbyte's version refuses (its platform-compatibility matrix) is proposed."""

from __future__ import annotations

import pytest

from airflow_airbyte_connectors.plan.plan_output import escape_markdown
from tests.dags.test_create_connectors import task_states, xcom
from tests.dags.test_platform_compatibility import compatibility_file  # noqa: F401 (fixture)
from tests.dags.test_reconcile_and_chaining import definitions_events
from tests.support import DAGS_FOLDER, REGISTRY
from tests.upgrades.test_outdated import NEEDS_2_3, config_file, needs_2_3, registries  # noqa: F401 (fixtures)

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
    assert (events[-1]["schemaVersion"], events[-1]["rowsIncluded"], events[-1]["proposals"]) == (1, "proposals", 2)
    proposals = {p["dockerRepository"]: p["proposed"] for p in events[-1]["rows"]}
    assert proposals == {"airbyte/source-github": "1.9.2", "airbyte/source-hubspot": "4.12.2"}


def test_with_a_connection_no_version_airbyte_refuses_is_proposed(
    registries,  # noqa: F811
    config_file,  # noqa: F811
    compatibility_file,  # noqa: F811
    use_emulator,
    monkeypatch,
):
    from airflow.dag_processing.dagbag import DagBag

    from airflow_airbyte_connectors.tasks.upgrades import UPGRADES_ASSET_URI

    monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__BASIC_CONFIG_PATH", str(config_file))
    emu = use_emulator(seed=REGISTRY, airbyte_version="2.0.0")
    compatibility_file(NEEDS_2_3)  # GitHub 1.9.2 needs Airbyte 2.3
    dag = DagBag(dag_folder=str(DAGS_FOLDER)).get_dag("connector_upgrades")

    dagrun = dag.test()
    assert dagrun.state == "success", task_states(dagrun)
    event = definitions_events(f"{UPGRADES_ASSET_URI}/")[-1]
    proposals = {p["dockerRepository"]: p for p in event["rows"]}
    assert {repository: p["proposed"] for repository, p in proposals.items()} == {
        "airbyte/source-github": "1.9.1",
        "airbyte/source-hubspot": "4.12.2",
    }
    assert proposals["airbyte/source-github"]["skipped"] == [{"version": "1.9.2", "reason": needs_2_3("1.9.2")}]
    assert event["platformCompatibility"] == {
        "airbyteVersion": "2.0.0",
        "edition": "community",
        "from": "connection",
        "checked": True,
    }
    (markdown,) = xcom(dagrun, "outdated", "report")
    assert f"- skipped 1.9.2: {escape_markdown(needs_2_3('1.9.2'))}" in markdown
    assert emu.write_requests() == []


class TestNothingRead:
    """Offline, nothing is known: the report says what was unread and the run fails without an event; a run that
    read some definitions succeeds and its report says which were unread."""

    def test_nothing_read_fails_the_run_and_announces_nothing(self, registries, config_file, monkeypatch):  # noqa: F811
        from airflow.dag_processing.dagbag import DagBag

        from airflow_airbyte_connectors.tasks.upgrades import UPGRADES_ASSET_URI

        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__BASIC_CONFIG_PATH", str(config_file))
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__DOCKER_HUB_URL", "http://127.0.0.1:9")
        monkeypatch.delenv("AIRFLOW_CONN_AIRBYTE_DEFAULT", raising=False)
        dag = DagBag(dag_folder=str(DAGS_FOLDER)).get_dag("connector_upgrades")
        before = len(definitions_events(f"{UPGRADES_ASSET_URI}/"))

        dagrun = dag.test()
        assert dagrun.state == "failed", task_states(dagrun)
        assert len(definitions_events(f"{UPGRADES_ASSET_URI}/")) == before
        (markdown,) = xcom(dagrun, "outdated", "report")
        assert markdown.startswith(
            "### Airbyte connector upgrades: nothing could be read, 0 proposals for 3 definitions (2 unread)"
        )
        assert "as new as its policy" not in markdown
        assert "Nothing proposed: nothing could be read (2 definitions unread, see the problems)." in markdown
        assert "**incomplete**: image registry http://127.0.0.1:9 unread (airbyte/source-github, " in markdown

    def test_some_unread_is_said_and_the_run_goes_on(self, registries, config_file, monkeypatch):  # noqa: F811
        from airflow.dag_processing.dagbag import DagBag

        from airflow_airbyte_connectors.tasks.upgrades import UPGRADES_ASSET_URI

        images, _ = registries
        images.rate_limited_reads = frozenset({"manifest"})  # HubSpot's cooldown date unread, GitHub's list read
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__BASIC_CONFIG_PATH", str(config_file))
        monkeypatch.delenv("AIRFLOW_CONN_AIRBYTE_DEFAULT", raising=False)
        dag = DagBag(dag_folder=str(DAGS_FOLDER)).get_dag("connector_upgrades")

        dagrun = dag.test()
        assert dagrun.state == "success", task_states(dagrun)
        (markdown,) = xcom(dagrun, "outdated", "report")
        assert markdown.startswith(
            "### Airbyte connector upgrades: incomplete, 1 proposal for 3 definitions (1 unread)"
        )
        event = definitions_events(f"{UPGRADES_ASSET_URI}/")[-1]
        assert [p["dockerRepository"] for p in event["rows"]] == ["airbyte/source-github"]
        assert event["problems"] and "release date of 4.12.2" in event["problems"][0]
