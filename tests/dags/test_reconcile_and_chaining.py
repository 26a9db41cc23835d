"""Periodic reconcile (asset-or-cron schedule, put-back count) and chaining onward (the Asset event naming
the Airbyte instance, with the changes). Real Airflow (dag.test) against the emulator."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_airbyte_connectors import settings
from tests.dags.test_create_connectors import CUSTOM_DESTINATION, config, run_dag, task_states, xcom
from tests.support import CUSTOM_SOURCE, DAGS_FOLDER, REGISTRY, registry_entry

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("airflow_db")]

POKEAPI = registry_entry("source", "PokeAPI")


def serialized_timetable() -> dict[str, Any]:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    assert bag.import_errors == {}
    return DagSerialization.to_dict(bag.get_dag("create_connectors"))["dag"]["timetable"]


def definitions_events(uri: str) -> list[dict[str, Any]]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        query = select(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id).where(AssetModel.uri == uri)
        return [event.extra for event in session.scalars(query.order_by(AssetEvent.id))]


@pytest.fixture
def no_previous_run():
    """The config digest of earlier tests' runs is not this test's previous run."""
    from airflow.models.variable import Variable

    from airflow_airbyte_connectors.tasks.prepare import CONFIG_DIGEST_VARIABLE

    Variable.delete(CONFIG_DIGEST_VARIABLE)


class TestSchedule:
    def test_default_is_the_basic_config_asset_only(self):
        timetable = serialized_timetable()
        assert timetable["__type"] == "airflow.timetables.simple.AssetTriggeredTimetable"
        assert settings.basic_config_asset_uri() in str(timetable["__var"])

    def test_reconcile_schedule_adds_a_cron_beside_the_asset(self, monkeypatch):
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__RECONCILE_SCHEDULE", "17 * * * *")
        timetable = serialized_timetable()
        assert timetable["__type"] == "airflow.timetables.assets.AssetOrTimeSchedule"
        variables = timetable["__var"]
        assert variables["timetable"]["__var"]["expression"] == "17 * * * *"
        assert settings.basic_config_asset_uri() in str(variables["asset_condition"])


@pytest.mark.usefixtures("no_previous_run")
class TestPutBack:
    def test_a_revert_in_airbyte_is_counted_as_put_back(self, use_emulator, write_config):
        airbyte = use_emulator(seed=REGISTRY)
        airbyte.set_tag("source", POKEAPI["dockerRepository"], "0.3.38")
        write_config(config([POKEAPI, CUSTOM_SOURCE]))

        first = run_dag()
        (report,) = xcom(first, "report")
        assert report["counts"]["updated"] == 1 and report["counts"]["put_back"] == 0

        # Someone moves PokeAPI back in Airbyte; basic_config stays as it was.
        airbyte.set_tag("source", POKEAPI["dockerRepository"], "0.3.38")
        airbyte.clear_requests()
        second = run_dag()
        assert second.state == "success", task_states(second)
        (report,) = xcom(second, "report")
        assert report["counts"]["updated"] == 1 and report["counts"]["put_back"] == 1
        assert [r.operation for r in airbyte.write_requests()] == ["source_definitions/update"]

        # A new basic_config that writes is a change of config, not a put-back.
        write_config(config([POKEAPI, CUSTOM_SOURCE], [CUSTOM_DESTINATION]))
        third = run_dag()
        (report,) = xcom(third, "report")
        assert report["counts"]["created"] == 1 and report["counts"]["put_back"] == 0

    def test_dry_runs_neither_count_nor_record(self, use_emulator, write_config):
        airbyte = use_emulator(seed=REGISTRY)
        airbyte.set_tag("source", POKEAPI["dockerRepository"], "0.3.38")
        write_config(config([POKEAPI]))
        (plan,) = xcom(run_dag(dry_run=True), "prepare", "plan")
        assert plan["configUnchanged"] is None
        (report,) = xcom(run_dag(), "report")
        assert report["counts"]["put_back"] == 0  # the dry run before it was not a previous run


class TestChainingOnward:
    def test_a_run_that_writes_emits_the_changes_and_one_that_does_not_emits_nothing(self, use_emulator, write_config):
        airbyte = use_emulator(seed=REGISTRY)
        airbyte.set_tag("source", POKEAPI["dockerRepository"], "0.3.38")
        write_config(config([POKEAPI, CUSTOM_SOURCE]))
        uri = settings.definitions_asset_uri(airbyte.url)
        assert uri.startswith("airbyte://127.0.0.1:") and uri.endswith("/connector-definitions")

        run_dag()
        (event,) = definitions_events(uri)
        assert event["airbyte"] == airbyte.url
        by_name = {change["name"]: change for change in event["changes"]}
        assert set(by_name) == {"PokeAPI", "Acme CRM"}
        assert by_name["PokeAPI"] == {
            "action": "updated",
            "kind": "source",
            "name": "PokeAPI",
            "definitionId": POKEAPI["sourceDefinitionId"],
            "dockerRepository": POKEAPI["dockerRepository"],
            "tagBefore": "0.3.38",
            "tagAfter": POKEAPI["dockerImageTag"],
        }
        created_id = next(d["sourceDefinitionId"] for d in airbyte.definitions("source") if d["name"] == "Acme CRM")
        assert by_name["Acme CRM"]["action"] == "created" and by_name["Acme CRM"]["definitionId"] == created_id

        second = run_dag()
        assert second.state == "success" and task_states(second)["publish_changes"] == ["success"]
        assert len(definitions_events(uri)) == 1, "a run that changed nothing emitted an event"
        run_dag(dry_run=True)
        assert len(definitions_events(uri)) == 1, "a dry run emitted an event"


@pytest.mark.parametrize(
    ("root", "uri"),
    [
        ("http://localhost:8000", "airbyte://localhost:8000/connector-definitions"),
        ("https://airbyte.example.com", "airbyte://airbyte.example.com:443/connector-definitions"),
        ("http://airbyte.internal/airbyte", "airbyte://airbyte.internal:80/airbyte/connector-definitions"),
    ],
    ids=["port", "https-default", "path-prefix"],
)
def test_definitions_asset_uri(root, uri):
    assert settings.definitions_asset_uri(root) == uri
