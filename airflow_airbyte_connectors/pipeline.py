"""What the ``prepare`` and ``report`` tasks of ``create_connectors`` do, kept out of the DAG file so
that parsing it stays cheap and the logic is testable on its own."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_airbyte_connectors import settings
from airflow_airbyte_connectors.configs import KINDS, get_configs
from airflow_airbyte_connectors.plan_output import format_plan
from airflow_airbyte_connectors.planning import Plan, make_plan

if TYPE_CHECKING:
    from airflow_airbyte_connectors.hooks.airbyte_definitions import AirbyteDefinitionsHook

log = logging.getLogger(__name__)


class PlanTooLargeError(RuntimeError):
    """The plan holds more writes than the run may make (``max_writes``)."""


class ApplyFailedError(RuntimeError):
    """Some planned writes did not succeed, or the plan holds conflicts a person must resolve."""


def prepare(
    *,
    dry_run: bool = False,
    max_writes: int | None = None,
    conn_id: str | None = None,
    config_path: str | None = None,
) -> dict[str, Any]:
    """Load basic_config, read Airbyte, plan. Returns the mapped tasks' kwargs and a plan summary.

    Nothing is written here, and a config error stops the run before any request to Airbyte.
    """
    hook, plan = load_and_plan(conn_id=conn_id, config_path=config_path)
    log.info(
        "Plan against Airbyte at %s%s:\n%s",
        hook.client_settings.root_url,
        " (dry run: nothing will be written)" if dry_run else "",
        format_plan(plan),
    )

    limit = settings.max_writes() if max_writes is None else max_writes
    if len(plan.actions) > limit and not dry_run:
        raise PlanTooLargeError(
            f"The plan holds {len(plan.actions)} writes ({len(plan.creates)} creates, {len(plan.updates)} updates), "
            f"more than max_writes={limit}. Nothing was written. If this is intended, trigger the run with a "
            "higher max_writes or raise [airbyte_connectors] max_writes; a dry run shows the whole plan."
        )

    # Resolve the workspace once here, so mapped tasks need not look it up each.
    workspace_id = hook.get_workspace_id() if plan.actions else None
    actions = [
        {**action.to_operator_kwargs(), "workspace_id": workspace_id, "dry_run": dry_run, "airbyte_conn_id": conn_id}
        for action in plan.actions
    ]
    return {"actions": actions, "plan": plan_summary(plan, dry_run=dry_run)}


def load_and_plan(*, conn_id: str | None = None, config_path: str | None = None) -> tuple[AirbyteDefinitionsHook, Plan]:
    """Load and validate basic_config, list Airbyte's definitions (one call per kind), plan. Writes nothing.

    Shared by ``prepare`` and the command line, so both plan the same way.
    """
    from airflow_airbyte_connectors.hooks.airbyte_definitions import AirbyteDefinitionsHook

    path = config_path or settings.basic_config_path()
    desired = get_configs("connectors", path=path)
    log.info(
        "basic_config %s: %d source and %d destination definitions",
        path,
        len(desired.source_definitions),
        len(desired.destination_definitions),
    )
    hook = AirbyteDefinitionsHook(conn_id)
    current = {kind: hook.list_definitions(kind) for kind in KINDS}
    return hook, make_plan(desired, current)


def plan_summary(plan: Plan, *, dry_run: bool) -> dict[str, Any]:
    """The plan as small, JSON-able data for XCom and the report."""
    return {
        "dryRun": dry_run,
        "counts": plan.summary(),
        "creates": [a.label for a in plan.creates],
        "updates": [a.label for a in plan.updates],
        "findings": [f.message for f in plan.findings],
        "conflicts": [f.message for f in plan.conflicts],
    }


def report(
    plan: Mapping[str, Any],
    results: Iterable[Mapping[str, Any] | None],
    duplicates: Iterable[Mapping[str, Any] | None] = (),
) -> dict[str, Any]:
    """Count what happened, log it, and fail when a planned write did not succeed or Airbyte now holds
    a definition twice."""
    duplicate_messages = [d["message"] for d in duplicates if d]
    done = [r for r in results if r]
    planned = len(plan["creates"]) + len(plan["updates"])
    counts = {
        "created": _count(done, "created"),
        "updated": _count(done, "updated"),
        "would_create": _count(done, "would_create"),
        "would_update": _count(done, "would_update"),
        "already_applied": _count(done, "unchanged"),
        "unchanged": plan["counts"]["unchanged"],
        "failed": planned - len(done),
        "reported": len(plan["findings"]),
        "duplicates": len(duplicate_messages),
    }
    lines = [
        f"{'Dry run' if plan['dryRun'] else 'Run'} report: "
        + ", ".join(f"{value} {key.replace('_', ' ')}" for key, value in counts.items())
    ]
    lines += [
        f"  {r['action']:<15} {r['kind']:<11} {r['name']} {r.get('tagBefore') or ''} → {r.get('tagAfter')} "
        f"({r.get('definitionId') or 'new'})"
        for r in done
    ]
    lines += [f"  NOTE {message}" for message in plan["findings"]]
    lines += [f"  DUPLICATE {message}" for message in duplicate_messages]
    log.info("\n".join(lines))

    problems: list[str] = []
    if counts["failed"]:
        problems.append(f"{counts['failed']} of {planned} planned writes failed (see the failed mapped tasks' logs)")
    problems += plan["conflicts"] + duplicate_messages
    if problems:
        raise ApplyFailedError("; ".join(problems))
    return {"counts": counts, "results": done}


def _count(results: Sequence[Mapping[str, Any]], action: str) -> int:
    return sum(1 for r in results if r.get("action") == action)
