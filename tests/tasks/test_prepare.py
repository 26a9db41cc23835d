"""prepare: the plan, the run's limits, the writes now and after approval, and the requests it costs."""

from __future__ import annotations

from collections import Counter

import pytest

from airflow_airbyte_connectors.plan import plan_builder
from airflow_airbyte_connectors.tasks.prepare import prepare
from tests.support import CUSTOM_SOURCE, REGISTRY, RELEASES, add_custom_source, connection_uri, registry_entry

POKEAPI = registry_entry("source", "PokeAPI")


def config(*sources):
    return {"connectors": {"source_definitions": list(sources), "destination_definitions": []}}


class TestRequestsSent:
    """The least prepare can send: a token (auth on), the instance, one list per kind, the workspace when
    writing."""

    def test_with_writes_to_plan(self, use_emulator, write_config):
        emu = use_emulator(seed=REGISTRY)
        emu.set_tag("source", POKEAPI["dockerRepository"], "0.3.38")
        prepared = prepare(config_path=str(write_config(config(POKEAPI, CUSTOM_SOURCE))))
        assert len(prepared.actions) == 2
        # The minimum, plus one impact read for the one definition that changes version (registry off).
        assert [r.operation for r in emu.requests] == [
            "applications/token",
            "instance_configuration",
            "source_definitions/list",
            "destination_definitions/list",
            "sources/search",
            "workspaces/list_by_organization_id",
        ]
        assert {a["change"]["workspaceId"] for a in prepared.actions} == {emu.workspace_ids[0]}

    def test_when_nothing_differs(self, use_emulator, write_config):
        emu = use_emulator(seed=REGISTRY)
        prepared = prepare(config_path=str(write_config(config(POKEAPI))))
        assert prepared.actions == []
        assert [r.operation for r in emu.requests] == [
            "applications/token",
            "instance_configuration",
            "source_definitions/list",
            "destination_definitions/list",
        ]

    def test_with_a_configured_workspace_and_no_auth(self, use_emulator, write_config, monkeypatch):
        emu = use_emulator(seed=REGISTRY, auth="none")
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__WORKSPACE_ID", emu.workspace_ids[0])
        prepared = prepare(config_path=str(write_config(config(CUSTOM_SOURCE))))
        assert len(prepared.actions) == 1
        assert [r.operation for r in emu.requests] == [
            "instance_configuration",
            "source_definitions/list",
            "destination_definitions/list",
        ]


class TestOwnerWorkspace:
    """The workspace each write goes with: a custom definition's update with the workspace that owns it, read
    only when such an update is planned on an instance with several workspaces."""

    def add_custom(self, emu, workspace_id: str) -> str:
        return add_custom_source(emu, tag="1.1.0", workspace_id=workspace_id)["sourceDefinitionId"]

    def test_a_custom_update_goes_with_its_owner_a_built_in_with_the_run_workspace(
        self, use_emulator, write_config, monkeypatch
    ):
        emu = use_emulator(seed=REGISTRY, profile="2.4", workspaces=2)
        owner, configured = emu.workspace_ids
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__WORKSPACE_ID", configured)
        custom_id = self.add_custom(emu, owner)
        emu.set_tag("source", POKEAPI["dockerRepository"], "0.3.38")
        prepared = prepare(config_path=str(write_config(config(POKEAPI, CUSTOM_SOURCE))))
        workspaces = {a["change"]["definitionId"]: a["change"]["workspaceId"] for a in prepared.actions}
        assert workspaces == {custom_id: owner, POKEAPI["sourceDefinitionId"]: configured}
        lists = [r.body["workspaceId"] for r in emu.requests if r.operation.endswith("list_for_workspace")]
        assert lists == [configured, owner]

    def test_no_owner_read_for_built_in_updates(self, use_emulator, write_config, monkeypatch):
        emu = use_emulator(seed=REGISTRY, profile="2.4", workspaces=2)
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__WORKSPACE_ID", emu.workspace_ids[1])
        self.add_custom(emu, emu.workspace_ids[0])
        emu.set_tag("source", POKEAPI["dockerRepository"], "0.3.38")
        prepare(config_path=str(write_config(config(POKEAPI, {**CUSTOM_SOURCE, "dockerImageTag": "1.1.0"}))))
        assert not [r for r in emu.requests if r.operation.endswith("list_for_workspace")]

    def test_no_owner_read_with_one_workspace(self, use_emulator, write_config):
        emu = use_emulator(seed=REGISTRY, profile="2.4")
        self.add_custom(emu, emu.workspace_ids[0])
        prepared = prepare(config_path=str(write_config(config(CUSTOM_SOURCE))))
        assert [a["change"]["workspaceId"] for a in prepared.actions] == [emu.workspace_ids[0]]
        assert not [r for r in emu.requests if r.operation.endswith("list_for_workspace")]
        assert [r.operation for r in emu.requests].count("workspaces/list_by_organization_id") == 1


class TestWrites:
    """The write tasks' kwargs are the plan document's changes, named by change_id."""

    def test_each_write_is_a_change_of_the_plan(self, use_emulator, write_config):
        emu = use_emulator(seed=REGISTRY)
        emu.set_tag("source", POKEAPI["dockerRepository"], "0.3.38")
        twin = {**CUSTOM_SOURCE, "dockerRepository": "ghcr.io/acme/source-acme-crm-two"}
        prepared = prepare(config_path=str(write_config(config(POKEAPI, CUSTOM_SOURCE, twin))))
        plan = prepared.document
        assert [w["change"] for w in prepared.actions] == [c.to_json() for c in plan.changes]
        assert all(set(w) == {"change", "airbyte_conn_id", "dry_run"} for w in prepared.actions)
        # Two creates labelled alike (one name for two images) are two changes.
        creates = [c for c in plan.changes if c.action == "create"]
        assert [c.label for c in creates] == ["create source Acme CRM 1.2.0"] * 2
        assert len({c.change_id for c in plan.changes}) == 3

    def test_with_approval_the_request_names_the_changes_that_wait(self, use_emulator, write_config, monkeypatch):
        use_emulator(seed=REGISTRY)
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__APPROVAL", "always")
        prepared = prepare(config_path=str(write_config(config(CUSTOM_SOURCE))))
        (change,) = prepared.document.changes
        assert prepared.actions == [] and prepared.document.approval.changes == [change.change_id]
        assert prepared.gated == prepared.document.writes([change.change_id])
        assert prepared.gated[0]["change"]["workspaceId"] is not None


class TestImpactReads:
    """prepare sends the impact reads a few at a time; the plan and the requests are those of one at a time."""

    BEHIND = {"GitHub": "1.8.0", "PokeAPI": "0.3.38", "Stripe": "5.0.0", "HubSpot": "4.0.0", "Jira": "2.0.0"}

    def test_reads_at_once_plan_exactly_as_one_at_a_time(self, use_emulator, write_config, monkeypatch):
        emu = use_emulator(seed=REGISTRY, registry=RELEASES, workspaces=2)
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__REGISTRY_URL", emu.registry_url)
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__WORKSPACE_ID", emu.workspace_ids[0])
        entries = [registry_entry("source", name) for name in self.BEHIND]
        lakes = [
            emu.add_destination("airbyte/destination-postgres", name=f"Lake {w}", workspace_id=w)
            for w in emu.workspace_ids
        ]
        for entry, (name, tag) in zip(entries, self.BEHIND.items(), strict=True):
            emu.set_tag("source", entry["dockerRepository"], tag)
            for workspace, lake in zip(emu.workspace_ids, lakes, strict=True):
                source = emu.add_source(
                    entry["dockerRepository"], name=f"{name} {workspace[:4]}", workspace_id=workspace
                )
                emu.add_connection(source, lake, {"issues": True, "commits": True})
        path = str(write_config(config(*entries)))

        def prepare_with(reads_at_once: int) -> tuple[dict, Counter]:
            monkeypatch.setattr(plan_builder, "READS_AT_ONCE", reads_at_once)
            emu.clear_requests()
            plan = prepare(config_path=path, max_writes=100).document.to_json()
            # The token is asked for once per process, by the first run.
            return plan, Counter(r.operation for r in emu.requests if r.operation != "applications/token")

        (one_plan, one_reads), (many_plan, many_reads) = prepare_with(1), prepare_with(4)
        assert many_plan == one_plan and many_reads == one_reads
        # One search per changed definition; connections once per workspace (GitHub's 2.0.0 is stream-scoped).
        assert many_reads["sources/search"] == len(entries) and many_reads["connections/list"] == 2
        changed = many_plan["changes"] + many_plan["held"]
        assert len(changed) == len(entries) and all(a["impact"]["total"] == 2 for a in changed)
        # Each change got its own definition's sources.
        assert all(actor["name"].startswith(a["name"]) for a in changed for actor in a["impact"]["actors"])


def test_invalid_settings_stop_prepare_before_any_request(use_emulator, write_config, monkeypatch):
    from airflow_airbyte_connectors.settings import SettingsError

    emu = use_emulator(seed=REGISTRY)
    monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__CHECK_IMAGES", "Ture")
    monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__MAX_WRITES", "lots")
    with pytest.raises(SettingsError) as invalid:
        prepare(config_path=str(write_config(config(CUSTOM_SOURCE))))
    assert "check_images = 'Ture' is not a boolean" in str(invalid.value)
    assert "max_writes = 'lots'" in str(invalid.value)
    assert emu.requests == []


class TestEnvironments:
    def test_the_default_connection_is_not_read_with_environments(self, use_emulator, write_config, monkeypatch):
        """Each environment is read through its own conn_id; the DAG's default connection is not one of them."""
        default = use_emulator(seed=REGISTRY)
        for name in ("STAGING", "PROD"):
            monkeypatch.setenv(f"AIRFLOW_CONN_AIRBYTE_{name}", connection_uri(use_emulator(seed=REGISTRY)))
        environments = {"staging": {"conn_id": "airbyte_staging"}, "prod": {"conn_id": "airbyte_prod"}}
        path = write_config({"connectors": {**config(CUSTOM_SOURCE)["connectors"], "environments": environments}})
        prepared = prepare(config_path=str(path))
        assert [k["airbyte_conn_id"] for k in prepared.actions] == ["airbyte_staging", "airbyte_prod"]
        assert default.requests == []
