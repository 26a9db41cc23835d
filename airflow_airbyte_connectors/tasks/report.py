"""The ``report`` task: count what the run did against what it planned, log it, and fail the run when a
planned write did not happen as planned."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from airflow_airbyte_connectors.plan.approvals import ApprovalOutcome, Decision, approval_outcome
from airflow_airbyte_connectors.plan.plan_document import (
    AfterUpdate,
    Document,
    EnvironmentInfo,
    PlanDocument,
    PlannedChange,
    WriteProblem,
    WriteResult,
)
from airflow_airbyte_connectors.plan.plan_output import HOW_TO_RELEASE
from airflow_airbyte_connectors.tasks import xcom
from airflow_airbyte_connectors.tasks.names import TaskLayout, XComKey

log = logging.getLogger(__name__)


class AfterUpdateOf(AfterUpdate):
    """:class:`AfterUpdate` with the write it followed."""

    label: str


class RunReport(Document):
    """What the run did (the report task's return value, or XCom ``report`` when the run failed)."""

    counts: dict[str, int]
    results: list[WriteResult]
    stale: list[WriteProblem]
    outcome_unknown: list[WriteProblem]
    # Writes Airbyte refused (a 4xx answer, a failed SPEC): nothing was written.
    refused: list[WriteProblem] = []
    # Held changes not written in this run.
    held: list[PlannedChange]
    # Version moves the promotion gate kept back (each with its gate: waiting or held, and why).
    waiting: list[PlannedChange] = []
    # Environments not read or planned: nothing was written there (the run fails).
    failed_environments: list[EnvironmentInfo] = []
    after_update: list[AfterUpdateOf]
    approval: ApprovalOutcome
    triggered_by: str | None = None


class ApplyFailedError(RuntimeError):
    """Some planned writes did not succeed, or the plan holds conflicts a person must resolve. ``report``:
    what the run did all the same (the report task keeps it in XCom ``report``)."""

    def __init__(self, message: str, report: RunReport):
        super().__init__(message)
        self.report = report


def run(ti: Any, layout: TaskLayout, triggered_by: str | None) -> dict[str, Any]:
    """The task: read the plan, the write tasks' results and the approval where ``layout`` says, and report.
    A failed run keeps its report in XCom ``report``."""
    from airflow_airbyte_connectors import settings

    plan = xcom.plan_of(ti, layout)
    if plan is None:
        raise RuntimeError("prepare did not finish: nothing was planned or written (see its log)")
    decision, state = xcom.approval_answer(ti, layout)
    try:
        return report(
            plan,
            xcom.mapped_results(ti, layout, "return_value", WriteResult),
            duplicates=xcom.mapped_results(ti, layout, XComKey.DUPLICATES, WriteProblem),
            stale=xcom.mapped_results(ti, layout, XComKey.STALE, WriteProblem),
            unknown=xcom.mapped_results(ti, layout, XComKey.UNKNOWN, WriteProblem),
            refused=xcom.mapped_results(ti, layout, XComKey.REFUSED, WriteProblem),
            decision=decision,
            approval_state=state,
            approval_timeout=settings.approval_timeout(),
            triggered_by=triggered_by,
        ).to_json()
    except ApplyFailedError as failed:
        ti.xcom_push(key=XComKey.REPORT, value=failed.report.to_json())  # what happened, also on failure
        raise


def report(
    plan: PlanDocument,
    results: Sequence[WriteResult],
    *,
    duplicates: Sequence[WriteProblem] = (),
    stale: Sequence[WriteProblem] = (),
    unknown: Sequence[WriteProblem] = (),
    refused: Sequence[WriteProblem] = (),
    decision: Decision | None = None,
    approval_state: str | None = None,
    approval_timeout: float = 0,
    triggered_by: str | None = None,
) -> RunReport:
    """Count what happened, log it, and raise :class:`ApplyFailedError` when a planned write did not
    succeed, was not written because Airbyte moved since the plan (stale) or refused it, has an unknown
    outcome, Airbyte now holds a definition twice, or Airflow failed the approval task.

    ``decision`` / ``approval_state``: the approval task's answer and final state, when the run asked a person.
    """
    asked = approval_outcome(
        plan.approval,
        decision,
        approval_state,
        labels={c.change_id: c.label for c in plan.changes + plan.held},
        stale_ids={s.change_id for s in stale if s.change_id},
        approval_timeout=approval_timeout,
    )
    # Matched by change_id: two changes may share a label (one name in two environments, or for two images).
    gated = set(plan.approval.changes)
    approved = asked.outcome == "approved"
    planned = [c for c in plan.changes if c.change_id not in gated]
    if approved:
        planned += [c for c in plan.changes + plan.held if c.change_id in gated]
    told = {r.change_id for r in results} | {p.change_id for p in [*stale, *unknown, *refused]}
    failed = [c for c in planned if c.change_id not in told]
    still_held = [h for h in plan.held if not approved or h.change_id not in gated]
    counts = {
        "created": _count(results, "created"),
        "updated": _count(results, "updated"),
        "would_create": _count(results, "would_create"),
        "would_update": _count(results, "would_update"),
        "already_applied": _count(results, "unchanged"),
        "unchanged": plan.counts.unchanged,
        "confirmed_after_retry": sum(1 for r in results if r.confirmed),
        "stale": len(stale),
        "outcome_unknown": len(unknown),
        "refused": len(refused),
        "pending": len(plan.pending),
        "failed": len(failed),
        "notes": len(plan.notes),  # the NOTE lines below the counts
        "duplicates": len(duplicates),
        "image_missing": len(plan.image_missing),
        "platform_refused": len(plan.platform_refused),
        "held": len(still_held),
        "awaited_approval": len(gated),
    }
    if plan.environments:
        counts.update(waiting=len(plan.waiting), environments_failed=len(plan.failed_environments))
    # The same basic_config as last time, yet writes were needed: someone changed Airbyte in between. A version the
    # promotion gate let through had been waiting for the environment it promotes from: not a put-back.
    promoted = {c.change_id for c in plan.changes + plan.held if c.gate}
    counts["put_back"] = (
        sum(1 for r in results if r.changed_airbyte and r.change_id not in promoted) if plan.config_unchanged else 0
    )
    after_update = [
        AfterUpdateOf(label=_label(plan, r), **r.after_update.model_dump())
        for r in results
        if r.after_update is not None
    ]
    summary = RunReport(
        counts=counts,
        results=list(results),
        stale=list(stale),
        outcome_unknown=list(unknown),
        refused=list(refused),
        held=still_held,
        waiting=list(plan.waiting),
        failed_environments=plan.failed_environments,
        after_update=after_update,
        approval=asked,
        triggered_by=triggered_by,
    )
    log.info("\n".join(_lines(plan, summary, duplicates)))

    problems: list[str] = []
    if counts["failed"]:
        problems.append(
            f"{len(failed)} of {len(planned)} planned writes failed: {'; '.join(c.label for c in failed)} "
            "(see the failed mapped tasks' logs)"
        )
    problems += [entry.message for entry in [*stale, *unknown, *refused]]
    problems += [n.message for n in plan.conflicts + plan.image_missing + plan.platform_refused]
    problems += [d.message for d in duplicates]
    problems += [f"environment {e.name}: {e.error}; nothing was written there" for e in plan.failed_environments]
    if asked.outcome == "failed":
        problems.append(asked.summary)
    if counts["held"] and not problems:
        log.warning(
            "%d held change(s) were not written (see HELD above); the run succeeds all the same", counts["held"]
        )
    if problems:
        raise ApplyFailedError("; ".join(problems), summary)
    return summary


def _lines(plan: PlanDocument, summary: RunReport, duplicates: Sequence[WriteProblem]) -> list[str]:
    counts = summary.counts
    lines = [
        f"{'Dry run' if plan.dry_run else 'Run'} report: "
        + ", ".join(f"{value} {key.replace('_', ' ')}" for key, value in counts.items())
    ]
    if plan.airbyte is not None:
        lines.append(f"  Against {plan.airbyte.describe()} at {plan.airbyte_url}")
    for environment in plan.environments:
        if environment.error is not None:
            lines.append(f"  ENVIRONMENT {environment.name} FAILED: {environment.error}; nothing was written there")
        elif environment.airbyte is not None:
            lines.append(f"  {environment.name}: {environment.airbyte.describe()} at {environment.airbyte_url}")
    if summary.triggered_by:
        lines.append(f"  Triggered by {summary.triggered_by}")
    lines += [
        f"  {r.action:<15} {f'{r.environment}: ' if r.environment else ''}{r.kind:<11} {r.name} {r.tag_before or ''} "
        f"→ {r.tag_after} ({r.definition_id or 'new'})" + (f" confirmed {r.confirmed}" if r.confirmed else "")
        for r in summary.results
    ]
    lines += [f"  STALE {entry.message}" for entry in summary.stale]
    lines += [f"  OUTCOME UNKNOWN {entry.message}" for entry in summary.outcome_unknown]
    lines += [f"  REFUSED {entry.label}: {entry.message}" for entry in summary.refused]
    if counts["put_back"]:
        lines.append(
            f"  {counts['put_back']} definitions put back: basic_config has not changed since the previous run, "
            "so they were changed in Airbyte (by hand, or by Airbyte's daily registry update) in between"
        )
    lines += [f"  NOTE {note.message}" for note in plan.notes]
    if summary.approval.outcome != "not_needed":
        lines.append(f"  APPROVAL {summary.approval.outcome.upper()}: {summary.approval.summary}")
    lines += [f"  HELD {h.label} ({', '.join(h.hold_reasons)}): {HOW_TO_RELEASE}" for h in summary.held]
    lines += [f"  {_gate_word(w)} {w.label} — {w.gate.reason}" for w in summary.waiting if w.gate is not None]
    lines += _after_update_lines(summary.after_update)
    lines += [f"  IMAGE MISSING {note.message}" for note in plan.image_missing]
    lines += [f"  REFUSED BY AIRBYTE {note.message}" for note in plan.platform_refused]
    lines += [f"  DUPLICATE {entry.message}" for entry in duplicates]
    return lines


def _after_update_lines(after_update: Sequence[AfterUpdateOf]) -> list[str]:
    """The report's section on what Airbyte did after updates across breaking changes."""
    lines = []
    for entry in after_update:
        versions = ", ".join(c.version for c in entry.breaking_changes)
        lines.append(
            f"  AFTER {entry.label} (breaking change {versions}): {len(entry.moved)} moved, "
            f"{len(entry.stayed)} stayed on the old version"
        )
        for actor in entry.stayed:
            lines.append(f"    stays on {actor.runs}: {actor.name} (workspace {actor.workspace_id})")
        for change in entry.breaking_changes if entry.stayed else ():
            lines.append(
                f"    {change.version}: deadline {change.upgrade_deadline or 'none'}; migration guide "
                f"{change.migration_documentation_url or '-'}"
            )
        if entry.not_read:
            lines.append(f"    {entry.not_read} more not read")
    return lines


def _label(plan: PlanDocument, result: WriteResult) -> str:
    """The planned change's label, else the result's own."""
    change = plan.change(result.change_id)
    return change.label if change is not None else result.label


def _gate_word(change: PlannedChange) -> str:
    """As the plan prints it: ``WAITING``, or ``HELD-BY-GATE`` (not the HELD of hold_changes)."""
    return "HELD-BY-GATE" if change.gate is not None and change.gate.state == "held" else "WAITING"


def _count(results: Sequence[WriteResult], action: str) -> int:
    return sum(1 for r in results if r.action == action)
