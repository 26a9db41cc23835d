"""Render a :class:`~airflow_airbyte_connectors.planning.Plan`: a text table (task log, terminal), Markdown
(a pull-request comment) and JSON-able data (other programs).

Pure module: no Airflow, no HTTP. The plan is one typed value; every surface renders it here, so the DAG's
log and the command line cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from airflow_airbyte_connectors.planning import Action, Plan

# Definitions in Airbyte that basic_config does not mention are named up to this many; the rest are counted.
UNMANAGED_SHOWN = 10
# Bumped only when a field is removed or changes meaning; new fields may appear within a version.
PLAN_JSON_VERSION = 1


def format_plan(plan: Plan) -> str:
    """A readable table of the plan, for the task log."""
    rows = [("ACTION", "KIND", "NAME", "IMAGE", "VERSION", "ID")]
    for label, action in _rows(plan):
        desired = action.desired
        other = [str(c) for c in action.changes if c.field != "dockerImageTag"]
        rows.append(
            (
                label,
                action.kind,
                desired.name + (f" ({'; '.join(other)})" if other else ""),
                desired.docker_repository,
                _version(action),
                action.definition_id or "(new)",
            )
        )
    for desired in plan.unchanged:
        rows.append(("unchanged", desired.kind, desired.name, desired.docker_repository, desired.docker_image_tag, ""))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.append(_counts_sentence(plan))
    for finding in plan.findings:
        lines.append(f"NOTE [{finding.category}] {finding.message}")
    if plan.unmanaged:
        shown = ", ".join(f"{c.kind} {c.name}" for c in plan.unmanaged[:UNMANAGED_SHOWN])
        more = len(plan.unmanaged) - UNMANAGED_SHOWN
        lines.append(f"Not in basic_config: {shown}{f' and {more} more' if more > 0 else ''}")
    return "\n".join(lines)


def plan_markdown(plan: Plan) -> str:
    """The plan as GitHub-flavoured Markdown, sized for a pull-request comment: a heading with the counts,
    the creates and updates in a table, the notes, and the unchanged definitions folded away."""
    conflicts = len(plan.conflicts)
    flag = f" — ⛔ {conflicts} conflict{'s' if conflicts != 1 else ''}" if conflicts else ""
    lines = [f"### Airbyte connector plan: {_counts_sentence(plan)}{flag}", ""]
    header = ["| Action | Kind | Name | Image | Version | Definition ID |", "|---|---|---|---|---|---|"]
    if plan.actions or plan.blocked:
        lines += header
        for label, action in _rows(plan):
            other = [str(c) for c in action.changes if c.field != "dockerImageTag"]
            name = action.desired.name + (f" ({'; '.join(other)})" if other else "")
            lines.append(
                _row(
                    f"**{label}**",
                    action.kind,
                    _escape(name),
                    _code(action.desired.docker_repository),
                    _escape(_version(action)),
                    _code(action.definition_id) if action.definition_id else "(new)",
                )
            )
    else:
        lines.append("No changes: Airbyte is in step with basic_config.")
    if plan.findings:
        lines += ["", "**Notes**", ""]
        for finding in plan.findings:
            # Conflicts stop writes for their entry, so they stand out from the other notes.
            marker = {"ambiguous": "⛔ conflict", "image_missing": "⛔ image missing"}.get(
                finding.category, finding.category
            )
            lines.append(f"- **{marker}**: {_escape(finding.message)}")
    if plan.unchanged:
        lines += ["", f"<details><summary>{len(plan.unchanged)} unchanged</summary>", "", *header]
        for desired in plan.unchanged:
            lines.append(
                _row(
                    "unchanged",
                    desired.kind,
                    _escape(desired.name),
                    _code(desired.docker_repository),
                    _escape(desired.docker_image_tag),
                    _code(desired.definition_id) if desired.definition_id else "",
                )
            )
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


def plan_json(plan: Plan) -> dict[str, Any]:
    """The plan as stable JSON-able data (format version :data:`PLAN_JSON_VERSION`, documented in the README)."""
    return {
        "version": PLAN_JSON_VERSION,
        "summary": plan.summary(),
        "changes": [_action_json(action) for action in plan.actions],
        # Writes not made because their image tag does not exist in its registry.
        "blocked": [_action_json(action) for action in plan.blocked],
        "unchanged": [
            {
                "kind": d.kind,
                "name": d.name,
                "dockerRepository": d.docker_repository,
                "dockerImageTag": d.docker_image_tag,
            }
            for d in plan.unchanged
        ],
        "findings": [
            {"category": f.category, "kind": f.kind, "name": f.name, "message": f.message} for f in plan.findings
        ],
        "unmanaged": len(plan.unmanaged),
    }


def _rows(plan: Plan) -> list[tuple[str, Action]]:
    """The writes to make, then those held back because their image does not exist."""
    return [(a.action, a) for a in plan.actions] + [("blocked", a) for a in plan.blocked]


def _action_json(action: Action) -> dict[str, Any]:
    tag_change = next((c for c in action.changes if c.field == "dockerImageTag"), None)
    if action.action == "create":
        tag_before = None
    elif tag_change:
        tag_before = tag_change.before
    else:  # an update of the name only: the version stays
        tag_before = action.desired.docker_image_tag
    return {
        "action": action.action,
        "kind": action.kind,
        "name": action.desired.name,
        "dockerRepository": action.desired.docker_repository,
        "tagBefore": tag_before,
        "tagAfter": action.desired.docker_image_tag,
        "definitionId": action.definition_id,
        "changes": [{"field": c.field, "before": c.before, "after": c.after} for c in action.changes],
    }


def _version(action: Action) -> str:
    tag_change = next((c for c in action.changes if c.field == "dockerImageTag"), None)
    return f"{tag_change.before} → {tag_change.after}" if tag_change else action.desired.docker_image_tag


def _counts_sentence(plan: Plan) -> str:
    counts = plan.summary()
    return (
        f"{counts['create']} to create, {counts['update']} to update, {counts['unchanged']} unchanged, "
        f"{counts['unmanaged']} in Airbyte but not in basic_config (left alone)"
    )


# Names and messages come from the config under review: escape them so a name cannot break the table or
# inject HTML/links into the comment (CommonMark lets any ASCII punctuation be backslash-escaped).
_MARKDOWN_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]<>|~#!"} | {"\n": " ", "\r": " ", "&": "&amp;"})


def _escape(text: str) -> str:
    return str(text).translate(_MARKDOWN_SPECIAL)


def _code(text: str) -> str:
    # Docker references and UUIDs are validated (no backticks or pipes); guard anyway.
    return f"`{str(text).replace('`', '').replace('|', '')}`"


def _row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"
