"""Render a :class:`~airflow_airbyte_connectors.plan.planning.Plan` for people: a text table (task log, terminal),
Markdown (a pull-request comment) and the approval a person answers. Programs read the plan document
(plan_document.py).

Pure module: no Airflow, no HTTP. The plan is one typed value; every surface renders it here, so the DAG's
log and the command line cannot drift apart.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import date

from airflow_airbyte_connectors.core.versions import BreakingChange
from airflow_airbyte_connectors.plan.impact import ActorImpact
from airflow_airbyte_connectors.plan.plan_document import ACTORS_SHOWN
from airflow_airbyte_connectors.plan.planning import Action, Plan

# Definitions in Airbyte that basic_config does not mention are named up to this many; the rest are counted.
UNMANAGED_SHOWN = 10
# How each predicted outcome reads in a plan.
OUTCOME_TEXT = {
    "stays_behind": "stay behind (Airbyte pins them to the old version)",
    "moves": "move to the new version",
    "user_pinned": "keep a version a person pinned",
    "already_pinned": "stay on the version an earlier breaking change pinned",
    "released": "lose their breaking-change pin and move to the new version",
}
# The labels of the changes the promotion gate keeps back (Plan.waiting), by the gate's state.
GATE_LABELS = ("waiting", "held-by-gate")
HOW_TO_RELEASE = (
    'not written: trigger create_connectors with "Also apply held changes" (apply_held), '
    "or change [airbyte_connectors] hold_changes"
)


def format_plan(plan: Plan) -> str:
    """A readable table of the plan, for the task log."""
    rows = [("ACTION", "KIND", "NAME", "IMAGE", "VERSION", "CHANGE", "ID")]
    for label, action in _rows(plan):
        rows.append(
            (
                label,
                action.kind,
                _display_name(action),
                action.desired.docker_repository,
                _version(action),
                _meaning(label, action),
                action.definition_id or "(new)",
            )
        )
    for desired in plan.unchanged:
        rows.append(
            ("unchanged", desired.kind, desired.name, desired.docker_repository, desired.docker_image_tag, "", "")
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.append(_counts_sentence(plan))
    lines += [_gate_line(label, action) for label, action in _rows(plan) if label in GATE_LABELS]
    for label, action in _rows(plan):
        details = _details(label, action)
        if details:
            lines.append(f"{label} {action.kind} {action.desired.name} {_version(action)}:")
            lines += [f"  {line}" for line in details]
    for finding in plan.findings:
        lines.append(f"NOTE [{finding.category}] {finding.message}")
    if plan.unmanaged:
        shown = ", ".join(f"{c.kind} {c.name}" for c in plan.unmanaged[:UNMANAGED_SHOWN])
        more = len(plan.unmanaged) - UNMANAGED_SHOWN
        lines.append(f"Not in basic_config: {shown}{f' and {more} more' if more > 0 else ''}")
    return "\n".join(lines)


def plan_markdown(plan: Plan, *, airbyte: str | None = None, environment: str | None = None) -> str:
    """The plan as GitHub-flavoured Markdown, sized for a pull-request comment: a heading with the counts,
    the creates and updates in a table, the notes, and the unchanged definitions folded away. ``airbyte``:
    which Airbyte it was planned against (``Airbyte 2.0.0 (community)``); ``environment``: whose plan it is
    (connectors.environments)."""
    conflicts = len(plan.conflicts)
    flag = f" — ⛔ {conflicts} conflict{'s' if conflicts != 1 else ''}" if conflicts else ""
    whose = f" for {escape_markdown(environment)}" if environment else ""
    lines = [f"### Airbyte connector plan{whose}: {_counts_sentence(plan)}{flag}", ""]
    if airbyte:
        lines += [f"Planned against {escape_markdown(airbyte)}.", ""]
    header = [
        "| Action | Kind | Name | Image | Version | Change | Definition ID |",
        "|---|---|---|---|---|---|---|",
    ]
    if plan.actions or plan.blocked or plan.held or plan.waiting:
        lines += header
        for label, action in _rows(plan):
            lines.append(
                markdown_row(
                    f"**{label}**",
                    action.kind,
                    escape_markdown(_display_name(action)),
                    markdown_code(action.desired.docker_repository),
                    escape_markdown(_version(action)),
                    escape_markdown(_meaning(label, action)),
                    markdown_code(action.definition_id) if action.definition_id else "(new)",
                )
            )
        gate_lines = [_gate_line(label, action, markdown=True) for label, action in _rows(plan) if label in GATE_LABELS]
        if gate_lines:
            lines += ["", "**Waiting for the promotion gate**", "", *gate_lines]
        for label, action in _rows(plan):
            details = _details(label, action)
            if details:
                lines += [
                    "",
                    f"**{label} {action.kind} {_bold_name(action)}**",
                    "",
                ]
                lines += [f"- {escape_markdown(line)}" for line in details]
    else:
        lines.append("No changes: Airbyte is in step with basic_config.")
    if plan.findings:
        lines += ["", "**Notes**", ""]
        for finding in plan.findings:
            # Conflicts stop writes for their entry, so they stand out from the other notes.
            marker = {
                "ambiguous": "⛔ conflict",
                "image_missing": "⛔ image missing",
                "platform_refused": "⛔ refused by Airbyte",
            }.get(finding.category, finding.category)
            lines.append(f"- **{marker}**: {escape_markdown(finding.message)}")
    if plan.unchanged:
        lines += ["", f"<details><summary>{len(plan.unchanged)} unchanged</summary>", "", *header]
        for desired in plan.unchanged:
            lines.append(
                markdown_row(
                    "unchanged",
                    desired.kind,
                    escape_markdown(desired.name),
                    markdown_code(desired.docker_repository),
                    escape_markdown(desired.docker_image_tag),
                    "",
                    markdown_code(desired.definition_id) if desired.definition_id else "",
                )
            )
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


def _rows(plan: Plan) -> list[tuple[str, Action]]:
    """The writes to make, then the held updates, then the blocked ones (image missing, version refused), then
    those the promotion gate keeps back (``waiting``, or ``held-by-gate`` after a failed sync upstream)."""
    return (
        [(a.action, a) for a in plan.actions]
        + [("held", a) for a in plan.held]
        + [("blocked", a) for a in plan.blocked]
        + [(_gate_label(a), a) for a in plan.waiting]
    )


def _gate_label(action: Action) -> str:
    return "held-by-gate" if action.gate is not None and action.gate.state == "held" else "waiting"


def _gate_line(label: str, action: Action, *, markdown: bool = False) -> str:
    """``WAITING prod: update source GitHub 1.9.0→1.9.2 patch — waiting for staging: 1.9.2 there for 1d 4h of 3d;
    3 of 2 syncs succeeded``: a change the promotion gate keeps back, and why."""
    reason = action.gate.reason if action.gate is not None else "the promotion gate has not judged it"
    if markdown:
        return f"- **{label}** {escape_markdown(action.label)} — {escape_markdown(reason)}"
    return f"{label.upper()} {action.label} — {reason}"


def _display_name(action: Action) -> str:
    """The name, with the changes other than the version beside it (e.g. a custom definition's new name)."""
    other = [str(c) for c in action.changes if c.field != "dockerImageTag"]
    return action.desired.name + (f" ({'; '.join(other)})" if other else "")


def _meaning(label: str, action: Action) -> str:
    """``major, breaking; held for breaking``: the version classes, and whether the change waits for a person."""
    meaning = action.version_meaning
    if label in GATE_LABELS:
        # Kept back by the gate first; hold_changes still has its say once the gate opens.
        held = [f"hold_changes: {', '.join(action.hold_reasons)}"] if action.hold_reasons else []
        return "; ".join(part for part in [meaning, label, *held] if part)
    if label == "held":
        meaning += f"; held for {', '.join(action.hold_reasons)}"
    elif action.hold_reasons:
        meaning += "; released by apply_held"
    return meaning


def _details(label: str, action: Action, today: date | None = None) -> list[str]:
    """Lines under the table for one change: why it is held, the breaking changes it crosses, notes on the
    versions, and which sources/destinations it touches."""
    lines: list[str] = [f"held ({', '.join(action.hold_reasons)}): {HOW_TO_RELEASE}"] if label == "held" else []
    if action.gate is not None and action.gate.open:
        lines.append(f"promotion gate open: {action.gate.reason}")
    change = action.version_change
    if change is not None:
        for crossed in change.crossed:
            lines.append(_breaking_change_line(crossed, today or date.today()))
        lines += list(change.notes)
    if action.impact is not None:
        lines.append(_impact_line(action))
    return lines


def _breaking_change_line(change: BreakingChange, today: date, *, with_guide: bool = True) -> str:
    deadline = "no deadline"
    if change.upgrade_deadline:
        passed = ", passed" if change.deadline_passed(today) else ""
        deadline = f"deadline {change.upgrade_deadline.isoformat()}{passed}"
    action = f", then {change.deadline_action}" if change.deadline_action else ""
    streams = (
        f"; only for connections selecting {', '.join(change.impacted_streams)}" if change.impacted_streams else ""
    )
    guide = f"; migration guide {change.migration_documentation_url}" if change.migration_documentation_url else ""
    guide = guide if with_guide else ""
    message = " ".join(change.message.split()).rstrip(".")
    return f"breaking change {change.version} ({deadline}{action}): {message}{streams}{guide}"


def _impact_line(action: Action) -> str:
    impact = action.impact or ()
    kind = f"{action.kind}{'' if len(impact) == 1 else 's'}"
    if not impact:
        return f"touches no {action.kind}s: nothing uses this definition"
    parts = []
    for outcome, text in OUTCOME_TEXT.items():
        matching = [i for i in impact if i.outcome == outcome]
        if not matching:
            continue
        names = ", ".join(_actor_name(i) for i in matching[:ACTORS_SHOWN])
        more = f" and {len(matching) - ACTORS_SHOWN} more" if len(matching) > ACTORS_SHOWN else ""
        parts.append(f"{len(matching)} {text}: {names}{more}")
    connections = sum(i.actor.num_connections or 0 for i in impact)
    plural = "" if connections == 1 else "s"
    return f"touches {len(impact)} {kind} ({connections} connection{plural}): " + "; ".join(parts)


def _actor_name(impact: ActorImpact) -> str:
    because = ""
    if impact.outcome == "stays_behind":
        streams = f", selects {', '.join(impact.streams)}" if impact.streams else ""
        because = f" [{impact.because_of}{streams}]"
    return f"{impact.actor.name}{because}"


def _version(action: Action) -> str:
    tag_change = action.tag_change
    return f"{tag_change.before} → {tag_change.after}" if tag_change else action.desired.docker_image_tag


def _counts_sentence(plan: Plan) -> str:
    counts = plan.summary()
    waiting = "".join(
        f", {counts[key]} {text}"
        for key, text in (("held", "held"), ("blocked", "blocked"), ("waiting", "waiting for the promotion gate"))
        if counts[key]
    )
    return (
        f"{counts['create']} to create, {counts['update']} to update{waiting}, {counts['unchanged']} unchanged, "
        f"{counts['unmanaged']} in Airbyte but not in basic_config (left alone)"
    )


# Names and messages come from the config under review: escape them so a name cannot break the table or
# inject HTML/links into the comment (CommonMark lets any ASCII punctuation be backslash-escaped).
_MARKDOWN_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]<>|~#!"} | {"\n": " ", "\r": " ", "&": "&amp;"})


def _bold_name(action: Action) -> str:
    return f"{escape_markdown(action.desired.name)} {escape_markdown(_version(action))}"


def escape_markdown(text: str) -> str:
    return str(text).translate(_MARKDOWN_SPECIAL)


def markdown_code(text: str) -> str:
    # Docker references and UUIDs are validated (no backticks or pipes); guard anyway.
    return f"`{str(text).replace('`', '').replace('|', '')}`"


def markdown_row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


def approval_request(gated: Sequence[Action], *, held_only: bool) -> dict[str, str]:
    """The subject and Markdown body of the approval a person answers: what is asked, and for each change
    its version class, the breaking changes it crosses and the sources/destinations it touches."""
    noun = "held change" if held_only else "change"
    counts = Counter(reason for action in gated for reason in (action.hold_reasons or ()))
    if not held_only:
        counts.update(a.action for a in gated if not a.hold_reasons)
    why = ", ".join(f"{n} {reason}" for reason, n in counts.most_common())
    subject = f"Apply {len(gated)} {noun}{'s' if len(gated) != 1 else ''} to Airbyte{f' ({why})' if why else ''}?"
    lines = [
        "Approve writes exactly these changes (each task reads Airbyte again first); Reject, or no answer "
        "in time, writes none of them.",
        "",
        "| Change | Kind | Name | Version | Meaning | Touches |",
        "|---|---|---|---|---|---|",
    ]
    for action in gated:
        touches = ""
        if action.impact is not None:
            outcomes = Counter(i.outcome for i in action.impact)
            touches = f"{len(action.impact)} {action.kind}s" + (
                f", {outcomes['stays_behind']} stay behind" if outcomes["stays_behind"] else ""
            )
        lines.append(
            markdown_row(
                f"{escape_markdown(action.environment)}: **{action.action}**"
                if action.environment
                else f"**{action.action}**",
                action.kind,
                escape_markdown(action.desired.name),
                escape_markdown(_version(action)),
                escape_markdown(action.version_meaning),
                escape_markdown(touches),
            )
        )
    for action in gated:
        details = _details(action.action, action)
        if not details:
            continue
        lines += [
            "",
            f"**{action.kind} {_bold_name(action)}**",
            "",
        ]
        change = action.version_change
        for crossed in change.crossed if change else ():
            guide = crossed.migration_documentation_url
            lines.append(
                f"- {escape_markdown(_breaking_change_line(crossed, date.today(), with_guide=False))}"
                + (f" ([migration guide]({guide}))" if guide and guide.startswith("https://") else "")
            )
        lines += [f"- {escape_markdown(note)}" for note in (change.notes if change else ())]
        if action.impact is not None:
            lines.append(f"- {escape_markdown(_impact_line(action))}")
    return {"subject": subject, "body": "\n".join(lines) + "\n"}
