"""report: what the run did against what it planned, and when it fails the run."""

from __future__ import annotations

import pytest

from airflow_airbyte_connectors.plan.approvals import Decision
from airflow_airbyte_connectors.plan.plan_document import ApprovalRequest, PlanDocument, WriteProblem, WriteResult
from airflow_airbyte_connectors.tasks.report import ApplyFailedError, report

HELD = "update source GitHub 1.8.0→2.1.14 major, breaking"


def change(label: str, action: str = "update", **fields) -> dict:
    """A planned change; its change_id is its label unless given (labels can repeat, ids cannot)."""
    return {
        "changeId": fields.pop("change_id", label),
        "label": label,
        "action": action,
        "kind": "source",
        "name": label.split()[2],
        "dockerRepository": "airbyte/x",
        "tagBefore": None if action == "create" else "1",
        "tagAfter": "2",
        "definitionId": None,
        "documentationUrl": "https://docs.example.com/x",
        "changes": [],
        "versionChange": None,
        "holdReasons": [],
        "impact": None,
        **fields,
    }


def plan_document(*, changes=(), held=(), findings=(), approval=None, unchanged=4) -> PlanDocument:
    counts = dict.fromkeys(("create", "update", "blocked", "held", "pending", "unmanaged", "findings", "conflicts"), 0)
    return PlanDocument.model_validate(
        {
            "dryRun": False,
            "counts": {**counts, "unchanged": unchanged},
            "changes": list(changes),
            "held": list(held),
            "blocked": [],
            "pending": [],
            "unchanged": [],
            "findings": list(findings),
            "unmanaged": 0,
            "approval": approval or {"mode": "never"},
        }
    )


def note(category: str, message: str) -> dict:
    return {"category": category, "kind": "source", "name": "X", "message": message}


def result(action: str, name: str, **fields) -> WriteResult:
    return WriteResult(
        kind="source", action=action, name=name, definition_id=fields.pop("definition_id", "x"), **fields
    )


A, B = "create source A 1", "update source B 1→2"


class TestReport:
    PLAN = plan_document(
        changes=[change(A, "create"), change(B)],
        findings=[note("name_taken", "source C: name taken")],
    )

    def test_counts_and_success(self, caplog):
        caplog.set_level("INFO")
        results = [
            result("created", "A", tag_after="1", change_id=A),
            result("unchanged", "B", tag_before="2", tag_after="2", change_id=B),
        ]
        counts = report(self.PLAN, results).counts
        assert counts["created"] == 1 and counts["already_applied"] == 1 and counts["failed"] == 0
        assert counts["unchanged"] == 4 and counts["notes"] == 1
        # The count says what it counts: the NOTE lines under it.
        assert ", 1 notes, " in caplog.text and "\n  NOTE source C: name taken" in caplog.text

    def test_a_version_the_promotion_gate_let_through_is_not_counted_as_put_back(self):
        gate = {"state": "open", "reason": "staging ran it: 2 there for 3d of 3d; 2 of 2 syncs succeeded"}
        plan = plan_document(
            changes=[
                change("prod: update source B 1→2", environment="prod", dockerRepository="airbyte/b", gate=gate),
                change("prod: update source C 1→2", environment="prod", dockerRepository="airbyte/c"),
            ]
        ).model_copy(update={"config_unchanged": True})
        written = [
            result(
                "updated",
                name,
                environment="prod",
                docker_repository=f"airbyte/{name.lower()}",
                tag_after="2",
                change_id=f"prod: update source {name} 1→2",
            )
            for name in ("B", "C")
        ]
        counts = report(plan, written).counts
        assert counts["updated"] == 2 and counts["put_back"] == 1  # C was changed behind the config's back; B waited

    def test_missing_results_are_failures(self):
        with pytest.raises(ApplyFailedError, match=f"1 of 2 planned writes failed: {B} "):
            report(self.PLAN, [result("created", "A", change_id=A)])

    def test_conflicts_and_duplicates_fail_the_run_with_their_ids(self):
        plan = plan_document(findings=[note("ambiguous", "source X: 2 definitions use x/y (a, b)")])
        duplicates = [WriteProblem(message="source Y: Airbyte now holds 2 definitions for y/z: c, d", ids=["c", "d"])]
        with pytest.raises(ApplyFailedError, match=r"\(a, b\).*c, d") as failed:
            report(plan, [], duplicates=duplicates)
        assert failed.value.report.counts["duplicates"] == 1

    def test_a_write_airbyte_refused_fails_the_run_in_airbytes_words_not_as_a_failure(self, caplog):
        caplog.set_level("INFO")
        refused = WriteProblem(
            change_id=A,
            label=A,
            message="the SPEC of acme/source-a:1 failed: Failed to pull container image (config_error, source)",
        )
        with pytest.raises(ApplyFailedError, match="Failed to pull container image") as failed:
            report(self.PLAN, [result("unchanged", "B", change_id=B)], refused=[refused])
        summary = failed.value.report
        assert summary.counts["refused"] == 1 and summary.counts["failed"] == 0
        assert summary.to_json()["refused"] == [refused.to_json()]
        assert "  REFUSED create source A 1: the SPEC of acme/source-a:1 failed" in caplog.text

    def test_the_report_is_json_with_the_documented_keys(self):
        results = [result("created", "A", change_id=A), result("unchanged", "B", change_id=B)]
        done = report(self.PLAN, results, triggered_by="bob").to_json()
        assert set(done) == {
            "counts",
            "results",
            "stale",
            "outcomeUnknown",
            "refused",
            "held",
            "waiting",
            "failedEnvironments",
            "afterUpdate",
            "approval",
            "triggeredBy",
        }
        assert done["results"][0]["definitionId"] == "x" and done["triggeredBy"] == "bob"


class TestWithApproval:
    def held_plan(self) -> PlanDocument:
        """A run whose one held change waited for approval."""
        return plan_document(
            held=[change(HELD, holdReasons=["breaking"])],
            approval=ApprovalRequest(mode="held", changes=[HELD]).to_json(),
            unchanged=0,
        )

    def test_a_failed_approval_fails_the_report_and_keeps_the_change_held(self):
        plan = self.held_plan()
        with pytest.raises(ApplyFailedError, match="Airflow failed the approval task"):
            report(plan, [], approval_state="failed")
        done = report(plan, [], decision=Decision(chosen=["Reject"], by={"id": "b"}), approval_state="success")
        assert done.counts["held"] == 1 and done.approval.outcome == "rejected"

    def test_an_approved_change_is_counted_and_no_longer_held(self):
        done = report(
            self.held_plan(),
            [result("updated", "GitHub", tag_before="1.8.0", tag_after="2.1.14", change_id=HELD)],
            decision=Decision(chosen=["Approve"], by={"id": "alice"}, at="T"),
            approval_state="success",
        )
        assert done.counts["updated"] == 1 and done.counts["held"] == 0 and done.counts["failed"] == 0

    def test_an_approved_change_found_stale_is_named_not_counted_as_written(self):
        stale = WriteProblem(
            change_id=HELD, label=HELD, message="stale plan: source GitHub is now 2.2.0 (planned 1.8.0 → 2.1.14); ..."
        )
        with pytest.raises(ApplyFailedError, match="stale plan: source GitHub is now 2.2.0") as failed:
            report(
                self.held_plan(),
                [],
                decision=Decision(chosen=["Approve"], by={"id": "alice"}, at="T"),
                approval_state="success",
                stale=[stale],
                triggered_by="bob",
            )
        summary = failed.value.report
        assert summary.approval.stale == [HELD]
        assert summary.approval.summary == (
            f"approved by alice at T: 0 of 1 change written; not written, Airbyte moved after the plan: {HELD}"
        )
        assert summary.counts["stale"] == 1 and summary.counts["failed"] == 0
        assert summary.to_json()["triggeredBy"] == "bob"


class TestEnvironments:
    GATE = {"state": "waiting", "reason": "waiting for staging: 1.9.2 there for 5h of 3d; no syncs to judge by"}

    def plan(self, *, failed: bool = False) -> PlanDocument:
        plan = plan_document(changes=[change("staging: update source GitHub 1.9.0→1.9.2", environment="staging")])
        environments = [
            {"name": "staging", "connId": "airbyte_staging"},
            {"name": "prod", "connId": "airbyte_prod", "promoteFrom": "staging"},
            {"name": "eu", "connId": "airbyte_eu", "error": "cannot reach Airbyte (http://eu:8000/api/v1)"},
        ]
        waiting = change("prod: update source GitHub 1.9.0→1.9.2", environment="prod", gate=self.GATE)
        return plan.model_copy(
            update={
                "waiting": [type(plan.changes[0]).model_validate(waiting)],
                "environments": [
                    type(plan).model_fields["environments"].annotation.__args__[0].model_validate(e)
                    for e in (environments if failed else environments[:2])
                ],
            }
        )

    @staticmethod
    def staging_update() -> list[WriteResult]:
        """What staging's write reported: its GitHub update to 1.9.2 (prod's waits at the gate)."""
        return [
            result(
                "updated",
                "GitHub",
                environment="staging",
                tag_before="1.9.0",
                tag_after="1.9.2",
                change_id="staging: update source GitHub 1.9.0→1.9.2",
            )
        ]

    def test_waiting_changes_are_counted_and_listed_and_the_run_succeeds(self, caplog):
        caplog.set_level("INFO")
        results = self.staging_update()
        summary = report(self.plan(), results)
        assert summary.counts["waiting"] == 1 and summary.counts["failed"] == 0
        assert [w.label for w in summary.waiting] == ["prod: update source GitHub 1.9.0→1.9.2"]
        assert f"WAITING prod: update source GitHub 1.9.0→1.9.2 — {self.GATE['reason']}" in caplog.text
        assert "updated         staging: source" in caplog.text

    def test_an_environment_that_failed_fails_the_run_naming_it_and_keeps_the_others_results(self):
        results = self.staging_update()
        with pytest.raises(ApplyFailedError, match=r"environment eu: cannot reach Airbyte .*nothing was written there"):
            report(self.plan(failed=True), results)
        try:
            report(self.plan(failed=True), results)
        except ApplyFailedError as failed:
            assert failed.report.counts["updated"] == 1 and failed.report.counts["environments_failed"] == 1
            assert [e.name for e in failed.report.failed_environments] == ["eu"]


class TestEqualLabels:
    """Two changes can share a label (one name used for two images, as Airbyte's registry does): the approval
    and the report tell them apart by change_id."""

    SAME = "update source Acme 1→2 major"

    def twins(self, mode: str = "held") -> PlanDocument:
        return plan_document(
            held=[
                change(self.SAME, change_id="a1", dockerRepository="acme/one", holdReasons=["major"]),
                change(self.SAME, change_id="b2", dockerRepository="acme/two", holdReasons=["major"]),
            ],
            approval=ApprovalRequest(mode=mode, changes=["a1", "b2"]).to_json(),
            unchanged=0,
        )

    def test_one_of_two_approved_changes_found_stale_is_the_only_one_named_stale(self):
        stale = WriteProblem(change_id="b2", label=self.SAME, message="stale plan: source Acme is now 3 (planned 1→2)")
        written = [result("updated", "Acme", docker_repository="acme/one", tag_after="2", change_id="a1")]
        with pytest.raises(ApplyFailedError, match="stale plan") as failed:
            report(
                self.twins(),
                written,
                decision=Decision(chosen=["Approve"], by={"id": "alice"}, at="T"),
                approval_state="success",
                stale=[stale],
            )
        summary = failed.value.report
        assert summary.approval.changes == [self.SAME, self.SAME] and summary.approval.stale == [self.SAME]
        assert summary.approval.summary.startswith("approved by alice at T: 1 of 2 changes written;")
        assert summary.counts["updated"] == 1 and summary.counts["stale"] == 1 and summary.counts["failed"] == 0

    def test_a_missing_result_is_the_change_that_has_none(self):
        plan = plan_document(
            changes=[
                change(self.SAME, change_id="a1", dockerRepository="acme/one"),
                change(self.SAME, change_id="b2", dockerRepository="acme/two"),
            ]
        )
        written = [result("updated", "Acme", docker_repository="acme/two", tag_after="2", change_id="b2")]
        with pytest.raises(ApplyFailedError, match=f"1 of 2 planned writes failed: {self.SAME} ") as failed:
            report(plan, written)
        assert failed.value.report.counts["failed"] == 1
        # The same write result twice (one change's) is not the other change's.
        with pytest.raises(ApplyFailedError, match="1 of 2 planned writes failed"):
            report(plan, written + written)
