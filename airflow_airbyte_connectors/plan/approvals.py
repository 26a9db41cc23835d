"""Which writes wait for a person, and what became of them once the run asked.

Pure module: no Airflow, no HTTP. The approval task itself is operators/approval.py.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, Literal

from airflow_airbyte_connectors.plan.plan_document import ApprovalRequest, Document
from airflow_airbyte_connectors.plan.planning import Action, Plan
from airflow_airbyte_connectors.settings_options import ApprovalMode

Outcome = Literal["not_needed", "approved", "rejected", "lapsed", "failed"]


def split_for_approval(
    plan: Plan, *, mode: ApprovalMode, dry_run: bool
) -> tuple[tuple[Action, ...], tuple[Action, ...]]:
    """(writes to make now, writes that wait for a person) under ``mode`` (``[airbyte_connectors] approval``).

    Dry runs never wait. With ``approval = held`` the held changes wait (the safe ones go now); with
    ``always`` every write waits; with ``never`` nothing does (held changes stay held, unless ``apply_held``
    moved them into the plan's writes: with approval off, whoever triggers decides).
    """
    if dry_run or mode == "never":
        return plan.actions, ()
    if mode == "always":
        return (), plan.actions + plan.held
    return plan.actions, plan.held


class Decision(Document):
    """The answer the approval task received (its XCom): the options chosen, by whom, when."""

    chosen: list[str]
    by: dict[str, Any] | None = None
    at: str | None = None
    error: str | None = None

    @property
    def who(self) -> str | None:
        by = self.by or {}
        return by.get("name") or by.get("id")


class ApprovalOutcome(Document):
    """What became of the changes that waited: ``not_needed``, ``approved``, ``rejected``, ``lapsed`` (no
    answer in time: counted as Reject) or ``failed`` (Airflow failed the approval task). ``changes`` (by label):
    those that waited; ``stale``: approved changes not written because Airbyte moved after the plan."""

    outcome: Outcome
    summary: str
    by: str | None = None
    at: str | None = None
    changes: list[str] = []
    stale: list[str] = []


def approval_outcome(
    request: ApprovalRequest,
    decision: Decision | None,
    state: str | None,
    *,
    labels: Mapping[str, str] | None = None,
    stale_ids: Collection[str] = (),
    approval_timeout: float,
) -> ApprovalOutcome:
    """The outcome of ``request`` given the approval task's ``decision`` and final ``state``. ``request``
    names its changes by change_id, as do ``stale_ids`` (approved, not written: Airbyte moved); the outcome
    names them by their ``labels``."""
    if not request.changes:
        return ApprovalOutcome(outcome="not_needed", summary="nothing waited for approval")
    labels = labels or {}
    changes = [labels.get(change_id, change_id) for change_id in request.changes]
    stale = [labels.get(change_id, change_id) for change_id in request.changes if change_id in stale_ids]
    who = decision.who if decision else None
    at = decision.at if decision else None
    base: dict[str, Any] = {"by": who, "at": at, "changes": changes, "stale": stale}
    count = f"{len(changes)} change{'s' if len(changes) != 1 else ''}"
    chosen = decision.chosen if decision else None
    if chosen == ["Approve"] and state == "success":
        written = f"{count} written"
        if stale:
            written = (
                f"{len(changes) - len(stale)} of {count} written; not written, Airbyte moved after the plan: "
                + "; ".join(stale)
            )
        return ApprovalOutcome(outcome="approved", summary=f"approved by {who} at {at}: {written}", **base)
    if chosen == ["Reject"] and state == "success":
        if who is None:  # the timeout wrote the default answer
            summary = (
                f"no answer within approval_timeout ({approval_timeout:g} s), counted as Reject: {count} not written"
            )
            return ApprovalOutcome(outcome="lapsed", summary=summary, **base)
        return ApprovalOutcome(outcome="rejected", summary=f"rejected by {who} at {at}: {count} not written", **base)
    summary = (
        f"Airflow failed the approval task (state {state}"
        + (f", after {who} chose {chosen}" if who else "")
        + f"): none of the {count} that waited for approval was written; trigger a new run to ask again"
    )
    return ApprovalOutcome(outcome="failed", summary=summary, **base)
