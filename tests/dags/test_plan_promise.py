"""A plan is a promise: the DAG writes exactly what prepare planned, or nothing. Airbyte moving between the
plan and the write (stale plans), creates whose outcome is unknown (a gateway gave up while Airbyte went on),
and a write task that died after Airbyte committed its write — real Airflow (dag.test), real HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_airbyte_connectors.settings import definitions_asset_uri
from airflow_airbyte_connectors.testing import AirbyteEmulator
from airflow_airbyte_connectors.testing.errors import ApiError
from tests.dags.test_create_connectors import POKEAPI, config, run_dag, task_states, xcom
from tests.dags.test_reconcile_and_chaining import definitions_events
from tests.support import (
    CUSTOM_SOURCE,
    REGISTRY,
    add_custom_source,
    age_pending_creates,
    connection_uri,
    pending_records,
)

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("airflow_db")]


def creates(emu) -> list[Any]:
    return [r for r in emu.write_requests() if r.operation.endswith("create_custom")]


def same_repository(emu, repository: str) -> list[dict[str, Any]]:
    return [d for d in emu.definitions("source") if d["dockerRepository"] == repository]


class _SomeoneMovesIt(AirbyteEmulator):
    """Between the plan and the write, someone (a person, Airbyte's daily registry update, another deployment)
    moves the definition to ``moved_to``: just before the write task's read of it."""

    moved_to = "0.4.0"

    def _definition_get(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        if not getattr(self, "moved", False):
            self.moved = True
            read = next(d for d in self.definitions(kind) if d[f"{kind}DefinitionId"] == body[f"{kind}DefinitionId"])
            self.set_tag(kind, read["dockerRepository"], self.moved_to)
        return super()._definition_get(kind, body)


class _SomeoneCreatesItToo(AirbyteEmulator):
    """Between the plan and the write, someone creates the definition the plan would create."""

    def _definition_list(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        self.lists = getattr(self, "lists", 0) + 1
        if kind == "source" and self.lists == 3:  # prepare lists sources and destinations; then the write task
            add_custom_source(self, tag="1.1.0")
        return super()._definition_list(kind, body)


class _GatewayGivesUp(AirbyteEmulator):
    """A proxy in front of Airbyte answers 504 to a create while Airbyte's spec job still runs; Airbyte
    commits the create later: when the write task has listed ``commit_after_lists`` more times, or when the
    test calls :meth:`commit` (``None``: only then)."""

    commit_after_lists: int | None = None

    def _definition_create_custom(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        self.held_back = (kind, body)
        self.lists_since = 0
        raise ApiError(504, "Gateway Timeout")

    def _definition_list(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        if getattr(self, "held_back", None) and self.held_back[0] == kind:
            self.lists_since += 1
            if self.lists_since == self.commit_after_lists:
                self.commit()
        return super()._definition_list(kind, body)

    def commit(self) -> None:
        kind, body = self.held_back
        self.held_back = None
        super()._definition_create_custom(kind, body)


def report_of(dagrun) -> dict[str, Any]:
    """The report task's summary: its return value, or (when it failed) the XCom it kept."""
    (summary,) = xcom(dagrun, "report") or xcom(dagrun, "report", key="report")
    return summary


class TestStalePlans:
    def test_update_is_not_written_when_airbyte_moved_after_the_plan(self, use_emulator, write_config):
        airbyte = use_emulator(seed=REGISTRY, emulator_class=_SomeoneMovesIt)
        airbyte.set_tag("source", POKEAPI["dockerRepository"], "0.3.38")
        write_config(config([POKEAPI]))

        dagrun = run_dag()
        assert dagrun.state == "failed"
        assert task_states(dagrun)["apply"] == ["failed"]
        assert airbyte.write_requests() == []
        assert [d["dockerImageTag"] for d in same_repository(airbyte, POKEAPI["dockerRepository"])] == ["0.4.0"]
        message = (
            "stale plan: source PokeAPI is now 0.4.0 (planned 0.3.38 → 0.3.40); "
            "nothing written — the next run plans again"
        )
        ((planned,),) = [p["changes"] for p in xcom(dagrun, "prepare", key="plan")]
        assert xcom(dagrun, "apply", key="stale") == [
            {
                "changeId": planned["changeId"],
                "label": "update source PokeAPI 0.3.38→0.3.40 patch",
                "message": message,
                "environment": None,
                "ids": [],
            }
        ]
        summary = report_of(dagrun)
        assert summary["counts"]["stale"] == 1 and summary["counts"]["failed"] == 0
        assert summary["stale"][0]["message"] == message

        # The next run plans again from what Airbyte holds: 0.4.0 → 0.3.40 is a downgrade, held for a person.
        airbyte.clear_requests()
        again = run_dag()
        assert again.state == "success" and airbyte.write_requests() == []
        assert [h["label"] for h in report_of(again)["held"]] == ["update source PokeAPI 0.4.0→0.3.40 downgrade"]

    def test_create_is_not_sent_when_the_definition_appeared_after_the_plan(self, use_emulator, write_config):
        airbyte = use_emulator(seed=REGISTRY, emulator_class=_SomeoneCreatesItToo)
        write_config(config([CUSTOM_SOURCE]))

        dagrun = run_dag()
        assert dagrun.state == "failed" and task_states(dagrun)["apply"] == ["failed"]
        assert creates(airbyte) == [] and airbyte.write_requests() == []
        (theirs,) = same_repository(airbyte, CUSTOM_SOURCE["dockerRepository"])
        (stale,) = xcom(dagrun, "apply", key="stale")
        assert stale["message"] == (
            f"stale plan: source Acme CRM is now 1.1.0 ({theirs['sourceDefinitionId']}) (planned create → 1.2.0); "
            "nothing written — the next run plans again"
        )
        assert report_of(dagrun)["counts"]["stale"] == 1


class TestUnknownOutcomes:
    """A create answered 504 may still be committed: never sent again blindly, and reported once it shows."""

    def test_504_then_commit_is_confirmed_by_the_retry_not_created_twice(self, use_emulator, write_config, monkeypatch):
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__TASK_RETRIES", "2")
        airbyte = use_emulator(seed=REGISTRY, emulator_class=_GatewayGivesUp)
        # The first try looks four times after the 504 (lost-answer checks); the retry's first look sees it.
        airbyte.commit_after_lists = 5
        write_config(config([CUSTOM_SOURCE]))

        dagrun = run_dag()
        assert dagrun.state == "success", task_states(dagrun)
        assert len(creates(airbyte)) == 1
        (created,) = same_repository(airbyte, CUSTOM_SOURCE["dockerRepository"])
        (result,) = xcom(dagrun, "apply")
        assert result["action"] == "created" and result["confirmed"] == "after retry"
        assert result["definitionId"] == created["sourceDefinitionId"]
        assert report_of(dagrun)["counts"]["created"] == 1
        # The DAGs that come next hear of it.
        (event,) = definitions_events(definitions_asset_uri(airbyte.url))[-1:]
        assert [(c["action"], c["definitionId"]) for c in event["changes"]] == [
            ("created", created["sourceDefinitionId"])
        ]
        assert not pending_records()

    def test_504_is_not_sent_again_by_the_next_run_until_airbyte_shows_it(
        self, use_emulator, write_config, monkeypatch
    ):
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__TASK_RETRIES", "1")
        airbyte = use_emulator(seed=REGISTRY, emulator_class=_GatewayGivesUp)
        write_config(config([CUSTOM_SOURCE]))

        first = run_dag()
        assert first.state == "failed"
        assert len(creates(airbyte)) == 1  # the retry looked, and did not send it again
        summary = report_of(first)
        assert summary["counts"]["outcome_unknown"] == 1 and summary["counts"]["failed"] == 0
        assert "pending since" in summary["outcomeUnknown"][0]["message"]

        second = run_dag()
        assert second.state == "success", task_states(second)
        assert len(creates(airbyte)) == 1
        (plan,) = xcom(second, "prepare", key="plan")
        assert [c["label"] for c in plan["pending"]] == ["create source Acme CRM 1.2.0"] and plan["changes"] == []
        assert any(f["message"].startswith("create source Acme CRM pending since ") for f in plan["findings"])
        assert report_of(second)["counts"]["pending"] == 1

        airbyte.commit()  # Airbyte's spec job finally finishes
        third = run_dag()
        assert third.state == "success" and len(creates(airbyte)) == 1
        assert len(same_repository(airbyte, CUSTOM_SOURCE["dockerRepository"])) == 1
        assert not pending_records()  # Airbyte shows it: nothing pending any more

    def test_after_the_settle_window_the_create_is_planned_again(self, use_emulator, write_config, monkeypatch):
        airbyte = use_emulator(seed=REGISTRY, emulator_class=_GatewayGivesUp)
        write_config(config([CUSTOM_SOURCE]))
        assert run_dag().state == "failed" and len(creates(airbyte)) == 1
        assert len(pending_records()) == 1

        age_pending_creates()  # the window passes
        airbyte.held_back = None  # this time Airbyte never committed it
        airbyte.commit_after_lists = 1
        assert run_dag().state == "success"
        assert len(creates(airbyte)) == 2
        assert len(same_repository(airbyte, CUSTOM_SOURCE["dockerRepository"])) == 1

    def test_records_are_kept_per_airbyte(self, use_emulator, write_config, monkeypatch):
        """Two copies of the DAG, one Airflow, two Airbytes: neither waits on nor forgets the other's creates."""
        first = use_emulator(seed=REGISTRY, emulator_class=_GatewayGivesUp)
        write_config(config([CUSTOM_SOURCE]))
        assert run_dag().state == "failed" and len(creates(first)) == 1  # 504: outcome unknown

        second = use_emulator(seed=REGISTRY)
        assert run_dag().state == "success"  # created there at once: the other Airbyte's record is not its own
        assert run_dag().state == "success"  # Airbyte shows it here: this Airbyte's records only are settled
        assert len(creates(second)) == 1 and len(pending_records()) == 1

        monkeypatch.setenv("AIRFLOW_CONN_AIRBYTE_DEFAULT", connection_uri(first))
        assert run_dag().state == "success" and len(creates(first)) == 1  # still pending: not sent again
        first.commit()
        assert run_dag().state == "success"
        assert len(creates(first)) == 1 and len(same_repository(first, CUSTOM_SOURCE["dockerRepository"])) == 1
        assert not pending_records()


class _FailsAfterCommit(AirbyteEmulator):
    """Airbyte commits the first update, then the try fails before it hears so (an error after the commit;
    the services tests kill real schedulers and workers mid-write)."""

    def _definition_update(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = super()._definition_update(kind, body)
        if not getattr(self, "failed_once", False):
            self.failed_once = True
            raise ApiError(500, "connection to the database lost after commit")
        return answer


class TestCommittedWriteAcrossARetry:
    def test_retry_that_finds_the_update_made_reports_and_announces_it(self, use_emulator, write_config, monkeypatch):
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__TASK_RETRIES", "1")
        airbyte = use_emulator(seed=REGISTRY, emulator_class=_FailsAfterCommit)
        airbyte.set_tag("source", POKEAPI["dockerRepository"], "0.3.38")
        write_config(config([POKEAPI]))

        dagrun = run_dag()
        assert dagrun.state == "success", task_states(dagrun)
        assert len(airbyte.write_requests()) == 1  # the retry read it back; it did not write again
        (result,) = xcom(dagrun, "apply")
        assert (result["action"], result["tagBefore"], result["tagAfter"]) == ("updated", "0.3.38", "0.3.40")
        assert result["confirmed"] == "after retry"
        assert report_of(dagrun)["counts"]["updated"] == 1
        (event,) = definitions_events(definitions_asset_uri(airbyte.url))[-1:]
        assert [(c["action"], c["tagBefore"], c["tagAfter"]) for c in event["changes"]] == [
            ("updated", "0.3.38", "0.3.40")
        ]


class _RefusesOneImage(AirbyteEmulator):
    """Answers 400 to the create of one image (as Airbyte does to a version it blocks)."""

    refused = "ghcr.io/acme/source-acme-crm-two"

    def _definition_create_custom(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        if body[f"{kind}Definition"]["dockerRepository"] == self.refused:
            raise ApiError(400, "Connector source-acme-crm-two with version 1.2.0 is temporarily blocked")
        return super()._definition_create_custom(kind, body)


class TestChangesMatchedByChangeId:
    def test_two_writes_labelled_alike_are_told_apart_to_the_report(self, use_emulator, write_config):
        # One name for two images (basic_config allows it, as Airbyte's registry does): two creates, one label.
        airbyte = use_emulator(seed=REGISTRY, emulator_class=_RefusesOneImage)
        twin = {**CUSTOM_SOURCE, "dockerRepository": _RefusesOneImage.refused}
        write_config(config([CUSTOM_SOURCE, twin]))

        dagrun = run_dag()
        assert dagrun.state == "failed"
        (plan,) = xcom(dagrun, "prepare", key="plan")
        ids = {c["dockerRepository"]: c["changeId"] for c in plan["changes"]}
        assert [c["label"] for c in plan["changes"]] == ["create source Acme CRM 1.2.0"] * 2 and len(
            set(ids.values())
        ) == 2
        summary = report_of(dagrun)
        assert [r["changeId"] for r in summary["results"]] == [ids[CUSTOM_SOURCE["dockerRepository"]]]
        assert [r["changeId"] for r in summary["refused"]] == [ids[_RefusesOneImage.refused]]
        assert summary["counts"]["created"] == 1 and summary["counts"]["refused"] == 1
        assert summary["counts"]["failed"] == 0
        assert [d["dockerRepository"] for d in airbyte.definitions("source") if d["name"] == "Acme CRM"] == [
            CUSTOM_SOURCE["dockerRepository"]
        ]
