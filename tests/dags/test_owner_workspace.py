"""A custom definition belongs to the workspace it was created in, and its update goes with that workspace:
Airbyte 2.4 (auth on) answers 403 to one naming another workspace. Built-ins keep the run's workspace. Real
Airflow (dag.test), real HTTP to the emulator."""

from __future__ import annotations

import uuid

import pytest

from tests.dags.test_create_connectors import POKEAPI, config, run_dag, task_states, with_tag, writes, xcom
from tests.support import CUSTOM_SOURCE, REGISTRY, add_custom_source

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("airflow_db")]


def add_custom(emu, workspace_id: str) -> str:
    """CUSTOM_SOURCE as created in ``workspace_id`` (its actor_definition_workspace_grant); its ID."""
    return add_custom_source(emu, workspace_id=workspace_id)["sourceDefinitionId"]


@pytest.fixture
def two_workspaces(use_emulator, monkeypatch):
    """An Airbyte with auth on (client id and secret) and two workspaces; the run is set to the second."""

    def start(profile: str):
        emu = use_emulator(seed=REGISTRY, profile=profile, workspaces=2)
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__WORKSPACE_ID", emu.workspace_ids[1])
        return emu

    return start


@pytest.mark.parametrize("profile", ["2.4", "2.0"])
def test_custom_definition_update_goes_with_its_own_workspace(two_workspaces, write_config, profile):
    emu = two_workspaces(profile)
    owner, configured = emu.workspace_ids
    custom_id = add_custom(emu, owner)
    emu.set_tag("source", POKEAPI["dockerRepository"], "0.3.38")
    write_config(config([with_tag(CUSTOM_SOURCE, "1.3.0"), POKEAPI]))

    first = run_dag()
    assert first.state == "success", task_states(first)
    assert not [r for r in emu.requests if r.status == 403]
    sent = {body["sourceDefinitionId"]: body["workspaceId"] for op, body in writes(emu)}
    pokeapi_id = next(d["sourceDefinitionId"] for d in emu.definitions("source") if d["name"] == POKEAPI["name"])
    # The custom one with the workspace that owns it; the built-in with the configured one, as before.
    assert sent == {custom_id: owner, pokeapi_id: configured}
    by_id = {d["sourceDefinitionId"]: d for d in emu.definitions("source")}
    assert by_id[custom_id]["dockerImageTag"] == "1.3.0" and by_id[pokeapi_id]["dockerImageTag"] == "0.3.40"
    (report,) = xcom(first, "report")
    assert report["counts"]["updated"] == 2 and report["counts"]["failed"] == 0

    emu.clear_requests()
    second = run_dag()
    assert second.state == "success" and writes(emu) == []


def test_a_custom_definition_no_workspace_lists_fails_its_write_only(two_workspaces, write_config, caplog, capfd):
    emu = two_workspaces("2.4")
    custom_id = add_custom(emu, str(uuid.uuid4()))  # granted to a workspace this instance does not list
    emu.set_tag("source", POKEAPI["dockerRepository"], "0.3.38")
    write_config(config([with_tag(CUSTOM_SOURCE, "1.3.0"), POKEAPI]))

    run = run_dag()
    assert run.state == "failed"
    assert sorted(task_states(run)["apply"]) == ["failed", "success"]
    # The built-in's write went ahead; nothing was sent for the custom definition.
    pokeapi_id = next(d["sourceDefinitionId"] for d in emu.definitions("source") if d["name"] == POKEAPI["name"])
    assert [body["sourceDefinitionId"] for _, body in writes(emu)] == [pokeapi_id]
    printed = "".join(capfd.readouterr()) + caplog.text
    assert f"custom source definition {custom_id} is listed by none of the workspaces tried" in printed
    assert all(workspace in printed for workspace in emu.workspace_ids)
