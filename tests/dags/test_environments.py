"""One create_connectors run keeps two Airbytes in step: staging takes the config's versions, prod takes them once
staging has run them for the soak with successful syncs. Real Airflow (dag.test), real HTTP to two emulators."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from airflow_airbyte_connectors.records import promotion_records
from airflow_airbyte_connectors.testing import AirbyteEmulator
from tests.dags.test_create_connectors import run_dag, task_states, xcom
from tests.dags.test_plan_promise import report_of, same_repository
from tests.dags.test_reconcile_and_chaining import definitions_events
from tests.support import (
    CLIENT_ID,
    CLIENT_SECRET,
    CUSTOM_SOURCE,
    REGISTRY,
    age_versions_seen,
    connection_uri,
    environments_config,
    registry_entry,
    unused_port,
    variables_under,
)

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("airflow_db")]

GITHUB = {**registry_entry("source", "GitHub"), "dockerImageTag": "1.9.2"}
REPOSITORY = GITHUB["dockerRepository"]
SHIPPED = "1.9.0"  # the tag Airbyte 2.0's registry ships GitHub at
POSTGRES = "airbyte/destination-postgres"


@pytest.fixture
def airbytes(emulator, monkeypatch) -> dict[str, AirbyteEmulator]:
    """Two Airbytes side by side, ``airbyte_staging`` and ``airbyte_prod``."""
    started = {}
    for name in ("staging", "prod"):
        emu = emulator(seed=REGISTRY, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
        monkeypatch.setenv(f"AIRFLOW_CONN_AIRBYTE_{name.upper()}", connection_uri(emu))
        started[name] = emu
    return started


def tag_in(emu: AirbyteEmulator, repository: str = REPOSITORY) -> str:
    (found,) = [d for d in emu.definitions("source") if d["dockerRepository"] == repository]
    return found["dockerImageTag"]


def plan_of(dagrun) -> dict[str, Any]:
    (plan,) = xcom(dagrun, "prepare", "plan")
    return plan


def gates(plan: dict[str, Any]) -> list[tuple[str, str]]:
    return [(w["label"], w["gate"]["reason"]) for w in plan["waiting"]]


def connect(emu: AirbyteEmulator, name: str = "github → warehouse") -> str:
    """A GitHub → Postgres connection in ``emu``; its id."""
    source = emu.add_source(REPOSITORY, name="GitHub")
    destination = emu.add_destination(POSTGRES, name="Warehouse")
    return emu.add_connection(source, destination, ["issues"], name=name)


def sync(emu: AirbyteEmulator, connection: str, status: str) -> int:
    """A sync job of ``connection`` that ended just now; its id."""
    moment = time.time()
    return emu.add_sync_job(connection, status, created_at=moment - 60, updated_at=moment)["id"]


class TestPromotion:
    def test_prod_waits_for_staging_then_follows_after_the_soak_and_a_successful_sync(self, airbytes, write_config):
        staging, prod = airbytes["staging"], airbytes["prod"]
        write_config(environments_config(GITHUB))

        first = run_dag()
        assert first.state == "success", task_states(first)
        assert (tag_in(staging), tag_in(prod)) == ("1.9.2", SHIPPED)
        plan = plan_of(first)
        assert plan["schemaVersion"] == 4
        assert [c["label"] for c in plan["changes"]] == ["staging: update source GitHub 1.9.0→1.9.2 patch"]
        assert gates(plan) == [
            (
                "prod: update source GitHub 1.9.0→1.9.2 patch",
                "waiting for staging: 1.9.2 is not there yet (it runs 1.9.0)",
            )
        ]

        second = run_dag()
        assert second.state == "success", task_states(second)
        assert tag_in(prod) == SHIPPED
        ((_, reason),) = gates(plan_of(second))
        assert reason.startswith("waiting for staging: 1.9.2 there for ") and reason.endswith(
            "of 1h; no syncs to judge by"
        )

        age_versions_seen(hours=2)
        sync(staging, connect(staging), "succeeded")
        third = run_dag()
        assert third.state == "success", task_states(third)
        assert tag_in(prod) == "1.9.2"
        (change,) = plan_of(third)["changes"]
        assert change["environment"] == "prod"
        assert change["gate"]["state"] == "open"
        assert change["gate"]["reason"].startswith("staging ran it: 1.9.2 there for 2h")
        assert change["gate"]["reason"].endswith("1 of 1 syncs succeeded")

    def test_a_failed_sync_in_staging_holds_prod_and_says_which(self, airbytes, write_config):
        staging, prod = airbytes["staging"], airbytes["prod"]
        write_config(environments_config(GITHUB))
        assert run_dag().state == "success"  # staging takes 1.9.2
        age_versions_seen(hours=2)
        connection = connect(staging)
        sync(staging, connection, "succeeded")
        failed = sync(staging, connection, "failed")

        dagrun = run_dag()
        assert dagrun.state == "success", task_states(dagrun)  # a held promotion is a decision, not a failure
        assert tag_in(prod) == SHIPPED
        (waiting,) = plan_of(dagrun)["waiting"]
        assert waiting["gate"]["state"] == "held"
        assert waiting["gate"]["reason"].startswith("held: staging sync of 'github → warehouse' failed at ")
        assert waiting["gate"]["reason"].endswith(f"(job {failed})")
        summary = report_of(dagrun)
        assert summary["counts"]["waiting"] == 1 and summary["waiting"][0]["label"] == waiting["label"]

    def test_each_airbyte_gets_its_own_asset_event_naming_the_environment(self, airbytes, write_config):
        write_config(environments_config(GITHUB, soak="1s", syncs=0))
        assert run_dag().state == "success"  # staging: GitHub 1.9.2
        age_versions_seen(hours=1)
        # The second run changes both Airbytes: prod follows staging, and staging gets a connector of its own.
        write_config(environments_config(GITHUB, {**CUSTOM_SOURCE, "environments": ["staging"]}, soak="1s", syncs=0))
        second = run_dag()
        assert second.state == "success", task_states(second)

        assets = {e["name"]: e["definitionsAsset"] for e in plan_of(second)["environments"]}
        assert len(set(assets.values())) == 2
        staging_events, prod_events = definitions_events(assets["staging"]), definitions_events(assets["prod"])
        assert [e["environment"] for e in staging_events] == ["staging", "staging"]
        assert [(c["name"], c["tagAfter"]) for c in staging_events[-1]["changes"]] == [("Acme CRM", "1.2.0")]
        (prod_event,) = prod_events
        assert prod_event["environment"] == "prod"
        assert [(c["name"], c["tagAfter"]) for c in prod_event["changes"]] == [("GitHub", "1.9.2")]

    def test_the_version_written_is_recorded_for_the_environment_promoting_from_it(self, airbytes, write_config):
        write_config(environments_config(GITHUB))
        assert run_dag().state == "success"

        records = [json.loads(raw) for raw in variables_under(promotion_records.PREFIX).values()]
        github = {(r["dockerImageTag"], r["learned"]) for r in records if r["dockerRepository"] == REPOSITORY}
        # staging was written at 1.9.2; prod was seen at 1.9.0 (two Airbytes, two records)
        assert github == {("1.9.2", "written"), (SHIPPED, "seen")}

    def test_only_the_definitions_basic_config_names_are_recorded(self, airbytes, write_config):
        # Each record is a round trip from the task to Airflow's API, every run: an Airbyte lists 600 definitions.
        write_config(environments_config(GITHUB))
        assert run_dag().state == "success"
        assert run_dag().state == "success"

        records = [json.loads(raw) for raw in variables_under(promotion_records.PREFIX).values()]
        assert len(records) == 2 and {r["dockerRepository"] for r in records} == {REPOSITORY}
        assert len({r["instance"] for r in records}) == 2


class TestRollbackAndExceptions:
    def test_a_move_down_is_not_gated(self, airbytes, write_config, monkeypatch):
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__HOLD_CHANGES", "")
        staging, prod = airbytes["staging"], airbytes["prod"]
        prod.set_tag("source", REPOSITORY, "1.9.5")
        write_config(environments_config(GITHUB, soak="3d"))

        dagrun = run_dag()
        assert dagrun.state == "success", task_states(dagrun)
        assert (tag_in(staging), tag_in(prod)) == ("1.9.2", "1.9.2")
        plan = plan_of(dagrun)
        rollback = next(c for c in plan["changes"] if c["environment"] == "prod")
        assert rollback["gate"] is None and plan["waiting"] == []

    def test_an_environment_tag_is_an_exception_shown_in_the_plan(self, airbytes, write_config):
        staging, prod = airbytes["staging"], airbytes["prod"]
        write_config(environments_config({**GITHUB, "environmentTags": {"prod": "1.9.1"}}))

        dagrun = run_dag()
        assert dagrun.state == "success", task_states(dagrun)
        assert (tag_in(staging), tag_in(prod)) == ("1.9.2", "1.9.1")  # the exception is not gated
        notes = [n for n in plan_of(dagrun)["findings"] if n["category"] == "environment_tag"]
        assert [(n["environment"], n["message"]) for n in notes] == [
            ("prod", "prod keeps source GitHub at 1.9.1 (environmentTags), not 1.9.2: an exception, not gated")
        ]

    def test_an_entry_narrowed_to_staging_is_created_there_only(self, airbytes, write_config):
        staging, prod = airbytes["staging"], airbytes["prod"]
        write_config(environments_config(GITHUB, {**CUSTOM_SOURCE, "environments": ["staging"]}))

        assert run_dag().state == "success"
        assert len(same_repository(staging, CUSTOM_SOURCE["dockerRepository"])) == 1
        assert same_repository(prod, CUSTOM_SOURCE["dockerRepository"]) == []

    def test_an_entry_the_upstream_does_not_have_is_not_gated(self, airbytes, write_config):
        prod = airbytes["prod"]
        write_config(environments_config(GITHUB, {**CUSTOM_SOURCE, "environments": ["prod"]}))

        dagrun = run_dag()
        assert dagrun.state == "success", task_states(dagrun)
        assert len(same_repository(prod, CUSTOM_SOURCE["dockerRepository"])) == 1
        notes = [n["message"] for n in plan_of(dagrun)["findings"] if n["category"] == "environment_tag"]
        assert notes == ["prod has source Acme CRM, staging does not (environments: prod): an exception, not gated"]


class TestOneEnvironmentFails:
    def test_the_other_environments_writes_happen_and_the_run_fails_naming_it(
        self, airbytes, write_config, monkeypatch
    ):
        staging = airbytes["staging"]
        closed = json.dumps({"conn_type": "airbyte", "host": f"http://127.0.0.1:{unused_port()}"})
        monkeypatch.setenv("AIRFLOW_CONN_AIRBYTE_PROD", closed)
        write_config(environments_config(GITHUB))

        dagrun = run_dag()
        assert dagrun.state == "failed"
        assert tag_in(staging) == "1.9.2"  # staging's write went ahead
        summary = report_of(dagrun)
        assert summary["counts"]["updated"] == 1 and summary["counts"]["environments_failed"] == 1
        (failed,) = summary["failedEnvironments"]
        assert failed["name"] == "prod" and "cannot reach Airbyte" in failed["error"]

    def test_with_staging_unreachable_prod_waits_saying_why(self, airbytes, write_config, monkeypatch):
        prod = airbytes["prod"]
        closed = json.dumps({"conn_type": "airbyte", "host": f"http://127.0.0.1:{unused_port()}"})
        monkeypatch.setenv("AIRFLOW_CONN_AIRBYTE_STAGING", closed)
        write_config(environments_config(GITHUB))

        dagrun = run_dag()
        assert dagrun.state == "failed"
        assert prod.write_requests() == [] and tag_in(prod) == SHIPPED
        ((label, reason),) = gates(plan_of(dagrun))
        assert label == "prod: update source GitHub 1.9.0→1.9.2 patch"
        assert reason.startswith("waiting for staging: it could not be read (cannot reach Airbyte")

    def test_an_airbyte_whose_workspace_is_unclear_fails_alone(self, airbytes, emulator, write_config, monkeypatch):
        staging = airbytes["staging"]
        two = emulator(seed=REGISTRY, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, workspaces=2)
        monkeypatch.setenv("AIRFLOW_CONN_AIRBYTE_PROD", connection_uri(two))
        write_config(environments_config(GITHUB, {**CUSTOM_SOURCE, "environments": ["prod"]}))

        dagrun = run_dag()
        assert dagrun.state == "failed"
        assert tag_in(staging) == "1.9.2" and two.write_requests() == []
        (failed,) = report_of(dagrun)["failedEnvironments"]
        assert failed["name"] == "prod" and "has 2 workspaces" in failed["error"]

    def test_the_one_workspace_setting_is_refused_with_environments(self, airbytes, write_config, monkeypatch):
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__WORKSPACE_ID", "4a8b1c2d-0000-4000-8000-000000000001")
        write_config(environments_config(GITHUB))

        dagrun = run_dag()
        assert dagrun.state == "failed" and task_states(dagrun)["prepare"] == ["failed"]
        assert all(emu.write_requests() == [] for emu in airbytes.values())

    def test_two_environments_that_are_one_airbyte_are_refused_before_any_write(
        self, airbytes, write_config, monkeypatch
    ):
        staging = airbytes["staging"]
        monkeypatch.setenv("AIRFLOW_CONN_AIRBYTE_PROD", connection_uri(staging, host_suffix="/"))
        write_config(environments_config(GITHUB))

        dagrun = run_dag()
        assert dagrun.state == "failed"
        assert task_states(dagrun)["prepare"] == ["failed"]
        assert staging.write_requests() == [] and tag_in(staging) == SHIPPED


class TestPromotionSchedule:
    def test_a_config_with_a_gate_also_runs_hourly(self, write_config):
        from tests.dags.test_reconcile_and_chaining import serialized_timetable

        write_config(environments_config(GITHUB))
        timetable = serialized_timetable()
        assert timetable["__type"] == "airflow.timetables.assets.AssetOrTimeSchedule"
        assert timetable["__var"]["timetable"]["__var"]["expression"] == "0 * * * *"

    def test_with_reconcile_schedule_both_crons_run(self, write_config, monkeypatch):
        from tests.dags.test_reconcile_and_chaining import serialized_timetable

        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__RECONCILE_SCHEDULE", "17 3 * * *")
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__PROMOTION_SCHEDULE", "*/15 * * * *")
        write_config(environments_config(GITHUB))
        inner = serialized_timetable()["__var"]["timetable"]
        assert inner["__type"] == "airflow.timetables.trigger.MultipleCronTriggerTimetable"
        assert inner["__var"]["expressions"] == ["17 3 * * *", "*/15 * * * *"]

    def test_without_a_gate_the_schedule_is_as_before(self, write_config):
        from tests.dags.test_reconcile_and_chaining import serialized_timetable

        config = environments_config(GITHUB)
        del config["connectors"]["environments"]["prod"]["promoteFrom"]
        for key in ("soak", "successfulSyncs"):
            del config["connectors"]["environments"]["prod"][key]
        write_config(config)
        assert serialized_timetable()["__type"] == "airflow.timetables.simple.AssetTriggeredTimetable"


class TestApprovalAcrossEnvironments:
    def test_the_writes_a_person_approves_name_their_environment_and_airbyte(self, airbytes, write_config, monkeypatch):
        from airflow_airbyte_connectors.tasks.prepare import prepare

        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__APPROVAL", "always")
        path = write_config(environments_config(GITHUB, {**CUSTOM_SOURCE, "environments": ["prod"]}))

        prepared = prepare(config_path=str(path))
        assert prepared.actions == []
        gated = [(k["change"]["environment"], k["airbyte_conn_id"], k["change"]["label"]) for k in prepared.gated]
        assert gated == [
            ("staging", "airbyte_staging", "staging: update source GitHub 1.9.0→1.9.2 patch"),
            ("prod", "airbyte_prod", "prod: create source Acme CRM 1.2.0"),
        ]
        request = prepared.document.approval
        assert request.changes == [k["change"]["changeId"] for k in prepared.gated]
        assert "| staging: **update** |" in request.body and "| prod: **create** |" in request.body
        # outside Airflow nothing is recorded: prod's gated GitHub update waits, not seen by a run
        ((_, reason),) = gates(prepared.document.to_json())
        assert reason == "waiting for staging: 1.9.2 is not there yet (it runs 1.9.0)"
        assert all(emu.write_requests() == [] for emu in airbytes.values())
