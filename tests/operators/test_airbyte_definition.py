"""AirbyteDefinitionOperator on its own, against the emulator: it re-reads and acts only if still needed."""

from __future__ import annotations

import re
from typing import Any

import pytest

from airflow_airbyte_connectors.config.configs import ConfigError, DesiredDefinition
from airflow_airbyte_connectors.operators.airbyte_definition import (
    AirbyteDefinitionOperator,
    DuplicateDefinitionError,
    StalePlanError,
)
from airflow_airbyte_connectors.plan.plan_document import PlannedChange
from airflow_airbyte_connectors.plan.planning import Action, Change
from tests.support import CUSTOM_SOURCE, add_custom_source, add_source_definition, registry_entry

POKEAPI = registry_entry("source", "PokeAPI")


def planned(
    definition: dict[str, Any],
    *,
    kind: Any = "source",
    definition_id: str | None = None,
    tag_before: str | None = None,
    name_before: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A change of a plan as XCom holds it: a create, or with ``definition_id`` an update from ``tag_before``;
    ``fields``: any other field of the change (``workspace_id``, ``version_meaning``, ...)."""
    desired = DesiredDefinition(
        kind=kind,
        name=definition["name"],
        docker_repository=definition["dockerRepository"],
        docker_image_tag=definition["dockerImageTag"],
        documentation_url=definition["documentationUrl"],
    )
    if definition_id is None:
        action = Action("create", desired)
    else:
        tag_before = tag_before or desired.docker_image_tag
        moved = (Change("dockerImageTag", tag_before, desired.docker_image_tag),)
        action = Action(
            "update",
            desired,
            definition_id,
            moved if tag_before != desired.docker_image_tag else (),
            tag_before=tag_before,
            name_before=name_before,
        )
    return PlannedChange.of(action).model_copy(update=fields).to_json()


def run(definition, *, kind="source", **kwargs) -> dict:
    operator = AirbyteDefinitionOperator(task_id="apply", kind=kind, definition=definition, **kwargs)
    return operator.execute(context={})


def run_planned(change: dict[str, Any], **kwargs) -> dict:
    return AirbyteDefinitionOperator(task_id="apply", change=change, **kwargs).execute(context={})


class TestIdempotence:
    def test_creates_a_missing_definition_once(self, use_emulator):
        emu = use_emulator()
        first = run_planned(planned(CUSTOM_SOURCE))
        assert first["action"] == "created" and first["tagAfter"] == "1.2.0"
        second = run(CUSTOM_SOURCE)  # not from a plan: decides from what Airbyte holds
        assert second == {**first, "action": "unchanged", "tagBefore": "1.2.0", "changeId": None}
        assert [r.operation for r in emu.write_requests()] == ["source_definitions/create_custom"]

    def test_rerun_of_an_applied_update_changes_nothing(self, use_emulator):
        emu = use_emulator()
        existing = add_source_definition(emu, CUSTOM_SOURCE, tag="1.1.0")
        change = planned(CUSTOM_SOURCE, definition_id=existing["sourceDefinitionId"], tag_before="1.1.0")
        assert run_planned(change)["action"] == "updated"
        again = run_planned(change)
        assert again["action"] == "unchanged"
        assert len(emu.write_requests()) == 1

    def test_unplanned_use_updates_a_definition_that_appeared(self, use_emulator):
        emu = use_emulator()
        existing = add_source_definition(emu, CUSTOM_SOURCE, tag="1.0.0")
        result = run(CUSTOM_SOURCE)
        assert result["action"] == "updated" and result["definitionId"] == existing["sourceDefinitionId"]
        assert [r.operation for r in emu.write_requests()] == ["source_definitions/update"]

    def test_deleted_definition_counts_as_missing_although_get_still_answers(self, use_emulator):
        emu = use_emulator()
        gone = add_source_definition(emu, CUSTOM_SOURCE)
        emu.delete_definition("source", gone["sourceDefinitionId"])
        result = run({**CUSTOM_SOURCE, "sourceDefinitionId": gone["sourceDefinitionId"]})
        assert result["action"] == "created" and result["definitionId"] != gone["sourceDefinitionId"]
        assert [r.operation for r in emu.write_requests()] == ["source_definitions/create_custom"]

    def test_custom_definition_is_renamed_built_in_is_not(self, use_emulator):
        emu = use_emulator()
        custom = add_source_definition(emu, CUSTOM_SOURCE)
        assert run({**CUSTOM_SOURCE, "name": "Acme CRM v2"})["name"] == "Acme CRM v2"
        assert emu.write_requests()[0].body["name"] == "Acme CRM v2"
        assert custom["sourceDefinitionId"] in {d["sourceDefinitionId"] for d in emu.definitions("source")}

        emu.clear_requests()
        add_source_definition(emu, POKEAPI, custom=False)
        assert run({**POKEAPI, "name": "Pokemon"})["action"] == "unchanged"
        assert emu.write_requests() == []


class TestPlanIsAPromise:
    """A planned write is made only while Airbyte still holds what the plan saw."""

    def planned_update(self, emu, *, planned_from="1.1.0", airbyte_holds="1.1.0", **fields):
        existing = add_source_definition(emu, CUSTOM_SOURCE, tag=airbyte_holds)
        emu.clear_requests()
        return planned(
            CUSTOM_SOURCE,
            definition_id=existing["sourceDefinitionId"],
            tag_before=planned_from,
            version_meaning="minor",
            workspace_id=emu.workspace_ids[0],  # as prepare decides it
            **fields,
        )

    def test_update_reads_its_one_definition_and_writes(self, use_emulator):
        emu = use_emulator()
        change = self.planned_update(emu)
        result = run_planned(change)
        assert result["changeId"] == change["changeId"]
        assert (result["action"], result["tagBefore"], result["tagAfter"]) == ("updated", "1.1.0", "1.2.0")
        assert result["versionMeaning"] == "minor"
        # One small GET instead of the whole list, then the write.
        assert [r.operation for r in emu.requests if r.operation != "applications/token"] == [
            "source_definitions/get",
            "source_definitions/update",
        ]

    @pytest.mark.parametrize("airbyte_holds", ["0.4.0", "1.3.0", "1.0.0-rc.1"], ids=["older", "newer", "prerelease"])
    def test_stale_update_writes_nothing(self, use_emulator, airbyte_holds):
        emu = use_emulator()
        change = self.planned_update(emu, airbyte_holds=airbyte_holds)
        with pytest.raises(
            StalePlanError,
            match=rf"^stale plan: source Acme CRM is now {re.escape(airbyte_holds)} \(planned 1\.1\.0 → 1\.2\.0\); "
            "nothing written — the next run plans again$",
        ):
            run_planned(change)
        assert emu.write_requests() == []
        assert [d["dockerImageTag"] for d in emu.definitions("source")] == [airbyte_holds]

    def test_update_already_made_is_not_sent_again(self, use_emulator):
        emu = use_emulator()
        result = run_planned(self.planned_update(emu, airbyte_holds="1.2.0"))
        assert result["action"] == "unchanged" and result["confirmed"] is None
        assert emu.write_requests() == []

    def test_definition_gone_since_the_plan_is_stale(self, use_emulator):
        emu = use_emulator()
        change = {**self.planned_update(emu), "definitionId": "4f2c7a3e-0000-4000-8000-000000000000"}
        with pytest.raises(StalePlanError, match="is now gone"):
            run_planned(change)
        assert emu.write_requests() == []

    def test_create_that_finds_a_definition_is_stale(self, use_emulator):
        emu = use_emulator()
        existing = add_source_definition(emu, CUSTOM_SOURCE, tag="1.0.0")
        with pytest.raises(StalePlanError, match=r"is now 1\.0\.0 \(" + existing["sourceDefinitionId"]):
            run_planned(planned(CUSTOM_SOURCE))
        assert emu.write_requests() == []


class TestOwnerWorkspace:
    """A custom definition belongs to one workspace; Airbyte 2.4 (auth on) refuses its update with another."""

    @pytest.fixture
    def two_workspaces(self, use_emulator):
        emu = use_emulator(profile="2.4", workspaces=2)
        owner = emu.workspace_ids[0]
        custom = add_custom_source(emu, tag="1.1.0", workspace_id=owner)
        return emu, custom["sourceDefinitionId"]

    def test_unplanned_update_goes_with_the_definitions_workspace(self, two_workspaces):
        emu, custom_id = two_workspaces
        owner, other = emu.workspace_ids
        assert run(CUSTOM_SOURCE, workspace_id=other)["action"] == "updated"
        (update,) = emu.write_requests()
        assert update.status == 200 and update.body["workspaceId"] == owner

    def test_planned_update_goes_with_the_plans_workspace_only(self, two_workspaces):
        from airflow.sdk.exceptions import AirflowFailException

        emu, custom_id = two_workspaces
        other = emu.workspace_ids[1]
        change = planned(CUSTOM_SOURCE, definition_id=custom_id, tag_before="1.1.0", workspace_id=other)
        # The plan named this workspace: the operator sends it, and no other, even where Airbyte refuses it.
        with pytest.raises(AirflowFailException, match="HTTP 403"):
            run_planned(change)
        assert [r.body["workspaceId"] for r in emu.write_requests()] == [other]

    def test_no_owner_found_by_the_plan_fails_before_any_request(self, two_workspaces):
        from airflow.sdk.exceptions import AirflowFailException

        emu, custom_id = two_workspaces
        emu.clear_requests()
        change = planned(
            CUSTOM_SOURCE,
            definition_id=custom_id,
            tag_before="1.1.0",
            owner_not_found="update source Acme CRM: listed by none",
        )
        with pytest.raises(AirflowFailException, match="listed by none"):
            run_planned(change)
        assert emu.requests == []


class TestSafety:
    def test_dry_run_sends_no_write(self, use_emulator):
        emu = use_emulator()
        add_source_definition(emu, CUSTOM_SOURCE, tag="1.0.0")
        assert run(CUSTOM_SOURCE, dry_run=True)["action"] == "would_update"
        assert (
            run({**CUSTOM_SOURCE, "dockerRepository": "ghcr.io/acme/other"}, dry_run=True)["action"] == "would_create"
        )
        assert emu.write_requests() == []

    def test_lost_answer_to_a_create_is_confirmed_by_reading_not_by_creating_again(self, use_emulator, monkeypatch):
        emu = use_emulator(write_delay=1.5)
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__WRITE_TIMEOUT", "0.5")
        result = run_planned(planned(CUSTOM_SOURCE))
        assert result["action"] == "created"
        matches = [d for d in emu.definitions("source") if d["dockerRepository"] == CUSTOM_SOURCE["dockerRepository"]]
        assert [d["sourceDefinitionId"] for d in matches] == [result["definitionId"]]
        emu.wait_idle()
        assert len(emu.write_requests()) == 1

    def test_two_definitions_with_one_identity_are_reported_with_their_ids(self, use_emulator):
        emu = use_emulator()
        twins = [add_source_definition(emu, CUSTOM_SOURCE), add_source_definition(emu, CUSTOM_SOURCE, tag="1.0.0")]
        with pytest.raises(DuplicateDefinitionError) as caught:
            run(CUSTOM_SOURCE)
        assert all(t["sourceDefinitionId"] in str(caught.value) for t in twins)
        assert emu.write_requests() == []

    def test_a_change_not_shaped_as_the_plan_s_is_refused_before_any_request(self, use_emulator):
        emu = use_emulator()
        with pytest.raises(ValueError, match="plannedAction"):
            run_planned({**planned(CUSTOM_SOURCE), "plannedAction": "create"})  # a field the plan does not have
        without_id = {k: v for k, v in planned(CUSTOM_SOURCE).items() if k != "changeId"}
        with pytest.raises(ValueError, match="changeId"):
            run_planned(without_id)
        with pytest.raises(ValueError, match="either change"):
            AirbyteDefinitionOperator(task_id="apply", change=planned(CUSTOM_SOURCE), definition=CUSTOM_SOURCE)
        assert emu.requests == []

    def test_invalid_definition_is_rejected_before_any_request(self, use_emulator):
        emu = use_emulator()
        with pytest.raises(ConfigError, match=r"source_definitions\[0\]\.dockerImageTag"):
            run({**CUSTOM_SOURCE, "dockerImageTag": "latest please"})
        with pytest.raises(ValueError, match="kind must be one of"):
            run(CUSTOM_SOURCE, kind="sources")
        assert emu.requests == []

    @pytest.mark.parametrize(
        ("emulator_kwargs", "status", "permanent", "said"),
        [
            (
                {"blocked_tags": {"1.3.0"}},
                400,
                True,
                "Connector source-acme-crm with version 1.3.0 is temporarily blocked",
            ),
            ({"unpullable_tags": {"1.3.0"}}, 500, False, "errorId"),
        ],
        ids=["blocked-version-400", "unpullable-500"],
    )
    def test_rejected_write_says_what_failed_and_whether_a_retry_helps(
        self, use_emulator, emulator_kwargs, status, permanent, said
    ):
        from airflow.sdk.exceptions import AirflowFailException

        from airflow_airbyte_connectors.hooks.airbyte_definitions import AirbyteApiError

        emu = use_emulator(**emulator_kwargs)
        add_source_definition(emu, CUSTOM_SOURCE)
        # AirflowFailException: Airflow does not retry; AirbyteApiError: retried per the task's retries.
        expected = AirflowFailException if permanent else AirbyteApiError
        with pytest.raises(
            expected,
            match=rf"POST http://127\.0\.0\.1:\d+/api/v1/source_definitions/update "
            rf"failed: HTTP {status}: {said}",
        ) as caught:
            run({**CUSTOM_SOURCE, "dockerImageTag": "1.3.0"})
        assert isinstance(caught.value, AirflowFailException) is permanent
        assert len(emu.write_requests()) == 1
        assert [d["dockerImageTag"] for d in emu.definitions("source")] == ["1.2.0"]

    def test_a_definition_is_data_never_a_template(self):
        # Airflow's own renderer, as a task runs it: a name that looks like Jinja reaches Airbyte as written.
        from airflow.sdk.definitions._internal.templater import SandboxedEnvironment

        definition = {**CUSTOM_SOURCE, "name": "Acme {{ 7 * 7 }} {{ conn.airbyte_default.password }}"}
        operator = AirbyteDefinitionOperator(
            task_id="apply", kind="source", definition=definition, airbyte_conn_id="{{ 7 * 7 }}"
        )
        operator.render_template_fields(context={}, jinja_env=SandboxedEnvironment())
        assert operator.definition == definition and operator.airbyte_conn_id == "{{ 7 * 7 }}"
        assert operator.action_label == "apply source Acme {{ 7 * 7 }} {{ conn.airbyte_default.password }}"


def test_the_documented_result_fields_are_the_results():
    from airflow_airbyte_connectors.plan.plan_document import WriteResult
    from tests.support import REPO_ROOT

    text = (REPO_ROOT / "docs" / "operations.md").read_text()
    section = text.split("## `AirbyteDefinitionOperator` in your own DAGs", 1)[1].split("\n## ", 1)[0]
    table = section.split("| field | meaning |", 1)[1].split("\n\n", 1)[0]
    documented = [name for row in table.splitlines()[2:] for name in re.findall(r"`(\w+)`", row.split(" | ")[0])]
    assert documented == list(WriteResult.model_json_schema(by_alias=True)["properties"])
