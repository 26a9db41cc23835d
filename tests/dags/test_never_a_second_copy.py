"""Never a second copy of a definition, and never a write the plan did not promise: the paths a hostile review
found to a duplicate create (a task ended while its create is on the wire, one Airbyte under two spellings, a
record outside this plan, a create answered 500 or without an ID), updates that would revert a person's
rename, unreadable records and settings that cannot hold a write — real Airflow (dag.test), real HTTP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_airbyte_connectors.records.pending_creates import PendingCreates
from airflow_airbyte_connectors.settings import definitions_asset_uri
from airflow_airbyte_connectors.testing import AirbyteEmulator
from airflow_airbyte_connectors.testing.errors import ApiError
from tests.dags.test_create_connectors import config, run_dag, task_states, xcom
from tests.dags.test_plan_promise import _GatewayGivesUp, creates, report_of, same_repository
from tests.dags.test_reconcile_and_chaining import definitions_events
from tests.operators.test_airbyte_definition import planned
from tests.support import CUSTOM_SOURCE, REGISTRY, add_custom_source, connection_uri, pending_records

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("airflow_db")]

LOCAL_BUNDLE = "airflow.dag_processing.bundles.local.LocalDagBundle"
REPOSITORY = CUSTOM_SOURCE["dockerRepository"]

# A team's own DAG: the operator with a task timeout shorter than Airbyte's spec job.
ONE_CREATE_DAG = """
from datetime import timedelta

from airflow.sdk import DAG

from airflow_airbyte_connectors.operators.airbyte_definition import AirbyteDefinitionOperator

with DAG("create_one_source", schedule=None):
    AirbyteDefinitionOperator(
        task_id="create",
        change=CHANGE,
        execution_timeout=timedelta(seconds=8),
        retries=0,
    )
"""


def one_create_dag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from airflow.dag_processing.dagbag import DagBag

    folder = tmp_path / "team-dags"
    folder.mkdir()
    change = planned(CUSTOM_SOURCE)  # a create, as a plan document holds it
    (folder / "create_one_source.py").write_text(f"CHANGE = {change!r}\n{ONE_CREATE_DAG}")
    bundle = {"name": "team-dags", "classpath": LOCAL_BUNDLE, "kwargs": {"path": str(folder)}}
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps([bundle]))
    bag = DagBag(dag_folder=str(folder))
    assert bag.import_errors == {}
    return bag.get_dag("create_one_source")


def findings(dagrun) -> list[str]:
    (plan,) = xcom(dagrun, "prepare", key="plan")
    return [f["message"] for f in plan["findings"]]


class TestTheCreateOnTheWire:
    def test_a_task_ended_while_its_create_is_on_the_wire_never_sends_it_again(
        self, use_emulator, tmp_path, monkeypatch
    ):
        airbyte = use_emulator(seed=REGISTRY)
        # Airbyte's spec job outlasts the task's execution_timeout: Airflow ends the task mid-request.
        held = airbyte.write_holds.hold("source_definitions/create_custom", dockerRepository=REPOSITORY)
        dag = one_create_dag(tmp_path, monkeypatch)

        first = dag.test()
        assert first.state == "failed"
        held.wait_in_flight(1)
        assert len(pending_records()) == 1  # the intent outlives the task

        second = dag.test()  # a rerun while Airbyte still works on the first create
        assert second.state == "failed"
        assert [r.operation for r in airbyte.requests if r.operation.endswith("create_custom")] == []

        held.release()
        held.wait_finished(10)
        third = dag.test()
        assert third.state == "success", task_states(third)
        (result,) = xcom(third, "create")
        assert (result["action"], result["confirmed"]) == ("created", "after retry")
        assert len(same_repository(airbyte, REPOSITORY)) == 1 and len(creates(airbyte)) == 1
        assert not pending_records()


class TestOneAirbyteOneSetOfRecords:
    def test_one_airbyte_under_two_spellings_shares_its_records(self, use_emulator, write_config, monkeypatch):
        """An IP address and a host name of one server: its deployment id says it is one Airbyte."""
        airbyte = use_emulator(seed=REGISTRY, emulator_class=_GatewayGivesUp)
        write_config(config([CUSTOM_SOURCE]))
        assert run_dag().state == "failed" and len(creates(airbyte)) == 1  # 504: outcome unknown

        monkeypatch.setenv("AIRFLOW_CONN_AIRBYTE_DEFAULT", connection_uri(airbyte).replace("127.0.0.1", "localhost"))
        again = run_dag()
        assert again.state == "success", task_states(again)
        assert len(creates(airbyte)) == 1  # pending: not sent again through the other name
        assert any(m.startswith("create source Acme CRM pending since ") for m in findings(again))

        airbyte.commit()
        assert run_dag().state == "success"
        assert len(same_repository(airbyte, REPOSITORY)) == 1 and not pending_records()

    def test_without_a_deployment_id_one_airbyte_is_named_by_its_normalised_url(
        self, use_emulator, write_config, monkeypatch
    ):
        airbyte = use_emulator(seed=REGISTRY, emulator_class=_GatewayGivesUp)
        airbyte.deployment_id = None  # deployment/metadata answers 404
        write_config(config([CUSTOM_SOURCE]))
        monkeypatch.setenv("AIRFLOW_CONN_AIRBYTE_DEFAULT", connection_uri(airbyte).replace("127.0.0.1", "LocalHost"))
        assert run_dag().state == "failed" and len(creates(airbyte)) == 1
        (key,) = pending_records()
        assert key.startswith(PendingCreates(airbyte.url.replace("127.0.0.1", "localhost")).prefix)

        monkeypatch.setenv(
            "AIRFLOW_CONN_AIRBYTE_DEFAULT", connection_uri(airbyte, host_suffix="/").replace("127.0.0.1", "localhost")
        )
        assert run_dag().state == "success" and len(creates(airbyte)) == 1

    def test_a_record_outside_this_plan_is_kept_until_airbyte_shows_it(self, use_emulator, write_config, caplog):
        """A revert, a branch switch, a copy of the DAG with another config: the record is not this plan's, and
        Airbyte does not show its definition, so it stays."""
        airbyte = use_emulator(seed=REGISTRY, emulator_class=_GatewayGivesUp)
        write_config(config([CUSTOM_SOURCE]))
        assert run_dag().state == "failed" and len(creates(airbyte)) == 1

        write_config(config([]))  # reverted
        assert run_dag().state == "success"
        assert len(pending_records()) == 1
        assert "is confirmed: Airbyte shows it" not in caplog.text

        write_config(config([CUSTOM_SOURCE]))  # and back again
        back = run_dag()
        assert back.state == "success" and len(creates(airbyte)) == 1
        airbyte.commit()
        assert run_dag().state == "success"
        assert len(same_repository(airbyte, REPOSITORY)) == 1 and not pending_records()
        assert "The earlier create of source ghcr.io/acme/source-acme-crm is confirmed: Airbyte shows it" in caplog.text


class _CommitsThenFails(AirbyteEmulator):
    """Airbyte commits the create, then fails before it answers (500), as after a lost database connection."""

    def _definition_create_custom(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        super()._definition_create_custom(kind, body)
        raise ApiError(500, "connection to the database lost after commit")


class _AnswersWithoutAnId(AirbyteEmulator):
    def _definition_create_custom(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = super()._definition_create_custom(kind, body)
        return {key: value for key, value in answer.items() if key != f"{kind}DefinitionId"}


class TestUnclearCreateAnswers:
    @pytest.mark.parametrize(
        "emulator_class",
        [
            _CommitsThenFails,
            pytest.param(_AnswersWithoutAnId, marks=pytest.mark.allow_contract_violations),
        ],
        ids=["500-after-commit", "200-without-id"],
    )
    def test_a_committed_create_is_reported_created_and_announced(self, use_emulator, write_config, emulator_class):
        airbyte = use_emulator(seed=REGISTRY, emulator_class=emulator_class)
        write_config(config([CUSTOM_SOURCE]))

        dagrun = run_dag()
        assert dagrun.state == "success", task_states(dagrun)
        (created,) = same_repository(airbyte, REPOSITORY)
        assert len(creates(airbyte)) == 1
        (result,) = xcom(dagrun, "apply")
        assert (result["action"], result["definitionId"]) == ("created", created["sourceDefinitionId"])
        summary = report_of(dagrun)
        assert summary["counts"]["created"] == 1 and summary["counts"]["stale"] == 0
        (event,) = definitions_events(definitions_asset_uri(airbyte.url))[-1:]
        assert [(c["action"], c["definitionId"]) for c in event["changes"]] == [
            ("created", created["sourceDefinitionId"])
        ]
        assert not pending_records()

    def test_a_create_refused_with_500_and_not_committed_may_be_sent_again(
        self, use_emulator, write_config, monkeypatch
    ):
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__TASK_RETRIES", "1")
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__CHECK_IMAGES", "false")
        airbyte = use_emulator(seed=REGISTRY, unpullable_tags=[CUSTOM_SOURCE["dockerImageTag"]])
        write_config(config([CUSTOM_SOURCE]))

        dagrun = run_dag()
        assert dagrun.state == "failed"
        assert len(creates(airbyte)) == 2  # looked after each 500: nothing there, so the retry sent it again
        assert report_of(dagrun)["counts"]["outcome_unknown"] == 0 and not pending_records()


class _SomeoneRenamesIt(AirbyteEmulator):
    """Between the plan and the write, a person renames the custom definition (or points its documentation
    elsewhere) in Airbyte's UI."""

    change: dict[str, str] = {}

    def _definition_get(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            definition = self._definitions.find(kind, body)
            definition.read.update(self.change)
        return super()._definition_get(kind, body)


class TestUpdatesKeepWhatAPersonChanged:
    @pytest.mark.parametrize(
        ("change", "now"),
        [
            ({"name": "Acme CRM (EU)"}, "named 'Acme CRM (EU)'"),
            (
                {"documentationUrl": "https://acme.example.com/eu"},
                "documented at 'https://acme.example.com/eu' (was 'https://acme.example.com/docs/airbyte')",
            ),
        ],
        ids=["renamed", "documentation-moved"],
    )
    def test_an_update_is_stale_when_airbyte_changed_more_than_its_tag(self, use_emulator, write_config, change, now):
        airbyte = use_emulator(seed=REGISTRY, emulator_class=_SomeoneRenamesIt)
        airbyte.change = change
        add_custom_source(airbyte, tag="1.1.0")
        write_config(config([CUSTOM_SOURCE]))

        dagrun = run_dag()
        assert dagrun.state == "failed" and airbyte.write_requests() == []
        (stale,) = xcom(dagrun, "apply", key="stale")
        assert stale["message"] == (
            f"stale plan: source Acme CRM is now {now} (planned 1.1.0 → 1.2.0, as 'Acme CRM'); "
            "nothing written — the next run plans again"
        )
        (definition,) = same_repository(airbyte, REPOSITORY)
        assert {key: definition[key] for key in change} == change


class TestUnreadableRecords:
    @pytest.mark.parametrize(
        ("raw", "problem"),
        [
            ("{not json", "is not JSON"),
            (
                json.dumps({**CUSTOM_SOURCE, "kind": "source", "sentAt": "2026-12-01T10:00:00"}),
                "has sentAt '2026-12-01T10:00:00' without a UTC offset",
            ),
            (json.dumps(["source"]), "holds list, not a JSON object"),
        ],
        ids=["not-json", "naive-time", "a-list"],
    )
    def test_an_unreadable_record_keeps_its_create_pending_and_says_how_to_fix_it(
        self, use_emulator, write_config, raw, problem
    ):
        from airflow.models.variable import Variable

        airbyte = use_emulator(seed=REGISTRY)
        key = PendingCreates(f"deployment {airbyte.deployment_id}").key("source", REPOSITORY)
        Variable.set(key, raw)
        write_config(config([CUSTOM_SOURCE]))

        dagrun = run_dag()
        assert dagrun.state == "success", task_states(dagrun)
        assert creates(airbyte) == []
        (message,) = [m for m in findings(dagrun) if "pending" in m]
        assert message.startswith(
            f"create source Acme CRM pending on an unreadable record: Airflow Variable '{key}' {problem}. "
        )
        assert "check whether Airbyte holds that definition, then delete the Variable" in message
        assert list(pending_records()) == [key]


def test_a_settle_window_shorter_than_a_create_stops_the_run_before_any_write(use_emulator, write_config, monkeypatch):
    monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__CREATE_SETTLE_WINDOW", "600")
    airbyte = use_emulator(seed=REGISTRY)
    write_config(config([CUSTOM_SOURCE]))

    dagrun = run_dag()
    assert dagrun.state == "failed" and task_states(dagrun)["prepare"] == ["failed"]
    assert airbyte.requests == [] and airbyte.write_requests() == []
