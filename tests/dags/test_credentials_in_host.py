"""A connection host with ``user:password@``: the credentials authenticate (HTTP Basic) and reach nothing the
project prints or stores: task logs, XCom, the Asset event, error messages. Real Airflow (dag.test) against the
emulator over real HTTP."""

from __future__ import annotations

import json

import pytest

from airflow_airbyte_connectors import settings
from tests.dags.test_create_connectors import POKEAPI, config, older, run_dag, task_states, xcom
from tests.dags.test_reconcile_and_chaining import definitions_events
from tests.support import CUSTOM_SOURCE, REGISTRY

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("airflow_db")]

USER = "ops-user"
PASSWORD = "s3cret-in-host-7f2a"  # distinctive, so a scan can find it


def host_with_credentials(emu, user: str = USER, password: str = PASSWORD) -> str:
    return emu.url.replace("http://", f"http://{user}:{password}@")


def leaks(text: str) -> list[str]:
    return [fragment for fragment in (PASSWORD, f"{USER}:", f"{USER}@") if fragment in text]


@pytest.fixture
def airbyte(emulator, monkeypatch):
    # Airbyte of the docker-compose era: HTTP Basic with these credentials, no tokens.
    emu = emulator(seed=REGISTRY, profile="0.63", client_id=USER, client_secret=PASSWORD)
    monkeypatch.setenv(
        "AIRFLOW_CONN_AIRBYTE_DEFAULT", json.dumps({"conn_type": "airbyte", "host": host_with_credentials(emu)})
    )
    return emu


def test_dag_run_authenticates_with_them_and_shows_them_nowhere(airbyte, write_config, capfd, caplog):
    older(airbyte, "source", POKEAPI, "0.3.38")
    write_config(config([POKEAPI, CUSTOM_SOURCE]))

    dagrun = run_dag()
    assert dagrun.state == "success", task_states(dagrun)
    assert sorted(r.operation for r in airbyte.write_requests()) == [
        "source_definitions/create_custom",
        "source_definitions/update",
    ]
    assert all(r.headers["authorization"].startswith("Basic ") for r in airbyte.requests)

    (plan,) = xcom(dagrun, "prepare", "plan")
    assert plan["airbyteUrl"] == airbyte.url
    assert plan["definitionsAsset"] == settings.definitions_asset_uri(airbyte.url)
    (event,) = definitions_events(plan["definitionsAsset"])
    assert event["airbyte"] == airbyte.url and len(event["changes"]) == 2
    stored = json.dumps(
        [
            xcom(dagrun, task, key)
            for task, key in (
                ("prepare", "return_value"),
                ("prepare", "plan"),
                ("apply", "return_value"),
                ("report", "return_value"),
            )
        ]
        + [event]
    )
    printed = "".join(capfd.readouterr()) + caplog.text
    assert f"Plan against Airbyte at {airbyte.url}" in printed
    assert leaks(printed) == [] and leaks(stored) == []


def test_failed_write_names_the_url_without_them(emulator, monkeypatch, write_config, capfd, caplog):
    emu = emulator(seed=REGISTRY, profile="0.63", client_id=USER, client_secret=PASSWORD, unpullable_tags=("9.9.9-x",))
    monkeypatch.setenv(
        "AIRFLOW_CONN_AIRBYTE_DEFAULT", json.dumps({"conn_type": "airbyte", "host": host_with_credentials(emu)})
    )
    write_config(config([{**POKEAPI, "dockerImageTag": "9.9.9-x"}]))

    dagrun = run_dag()
    assert dagrun.state == "failed"
    printed = "".join(capfd.readouterr()) + caplog.text
    assert f"POST {emu.url}/api/v1/source_definitions/update failed: HTTP 500" in printed
    assert leaks(printed) == []
