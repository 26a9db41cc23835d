"""What became of the changes that waited for a person."""

from __future__ import annotations

import pytest

from airflow_airbyte_connectors.plan.approvals import Decision, approval_outcome
from airflow_airbyte_connectors.plan.plan_document import ApprovalRequest

HELD = "update source GitHub 1.8.0→2.1.14 major, breaking"


@pytest.mark.parametrize(
    ("decision", "state", "outcome", "words"),
    [
        (None, None, "not_needed", "nothing waited"),
        (
            Decision(chosen=["Approve"], by={"id": "alice", "name": "Alice"}, at="T"),
            "success",
            "approved",
            "approved by Alice at T: 1 change written",
        ),
        (
            Decision(chosen=["Reject"], by={"id": "bob", "name": "Bob"}, at="T"),
            "success",
            "rejected",
            "rejected by Bob at T: 1 change not written",
        ),
        (Decision(chosen=["Reject"], by=None, at="T"), "success", "lapsed", "no answer within approval_timeout (60 s)"),
        (
            Decision(chosen=["Approve"], by={"id": "alice"}, at="T"),
            "failed",
            "failed",
            "Airflow failed the approval task (state failed, after alice chose ['Approve'])",
        ),
        (None, "upstream_failed", "failed", "none of the 1 change that waited"),
    ],
    ids=["none-waiting", "approved", "rejected", "lapsed", "failed-after-answer", "failed-before-answer"],
)
def test_outcomes(decision, state, outcome, words):
    waited = decision is not None or state is not None
    request = ApprovalRequest(mode="held", changes=[HELD] if waited else [])
    result = approval_outcome(request, decision, state, approval_timeout=60)
    assert result.outcome == outcome and words in result.summary
