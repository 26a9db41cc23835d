"""Render :class:`~airflow_airbyte_connectors.upgrades.outdated.Outdated` for people: a text table (terminal, task log)
and Markdown ready as a pull-request body. Programs read the upgrades document (``upgrades_document``).

Pure module: no Airflow, no HTTP.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_airbyte_connectors.plan.plan_output import escape_markdown, markdown_code, markdown_row

if TYPE_CHECKING:
    from airflow_airbyte_connectors.upgrades.outdated import Outdated, OutdatedRow

# Skipped releases listed per definition; the JSON output has every one.
SKIPPED_SHOWN = 5

HEADER = (
    "KIND",
    "NAME",
    "CONFIG",
    "AIRBYTE",
    "IN POLICY",
    "NEWEST",
    "PROPOSED",
    "MOVE",
    "BREAKING",
    "AGE",
    "TOUCHES",
    "WHY",
)


def _cells(row: OutdatedRow) -> tuple[str, ...]:
    proposal = row.proposal
    return (
        row.desired.kind,
        row.desired.name,
        row.desired.docker_image_tag,
        row.airbyte_tag or "-",
        proposal.newest_in_policy or "-",
        proposal.newest or row.registry_latest or "-",
        proposal.proposed or "-",
        ", ".join(proposal.classes) or "-",
        _breaking(row),
        f"{proposal.age_days} d" if proposal.age_days is not None else "-",
        str(row.touches) if row.touches is not None else "-",
        why_short(row),
    )


def why_short(row: OutdatedRow) -> str:
    """The reason in a few words, for the table's WHY column; the row's line after the table says more when
    there is more (``why``)."""
    proposal = row.proposal
    if proposal.reason == "pinned":
        return "pinned" if row.policy_set else "pinned (no policy)"
    if proposal.cooldown_until is not None:
        return f"cooldown until {proposal.cooldown_until.isoformat()}"
    if proposal.stopped_at is not None:
        return f"stopped at {proposal.stopped_at.version}"
    short = {
        "unversioned": "not X.Y.Z",
        "newest": "newest in policy",
        "breaking": "stopped at next major",
        "refused": "Airbyte refuses newer",
        "cooldown": "cooldown (undated)",
        "unread": "unread",
    }
    if proposal.reason is not None:
        return short[proposal.reason]
    return "newer refused" if proposal.skipped else "newest in policy"


def _says_more(row: OutdatedRow) -> bool:
    """Whether the row's ``why`` says more than its WHY cell: not for a pin, the newest, or a plain proposal."""
    proposal = row.proposal
    if proposal.reason in ("pinned", "newest"):
        return False
    return not (proposal.proposed and proposal.nothing_held)


def _breaking(row: OutdatedRow) -> str:
    """The breaking changes the proposed move crosses, or the one ``breaking: stop`` stopped at; then, with a
    connection, those crossed from the tag Airbyte runs, or ``downgrade`` from it."""
    crossed = [change.version for change in row.proposal.crossed]
    cell = "-"
    if crossed:
        cell = "crosses " + ", ".join(crossed)
    elif row.proposal.stopped_at is not None:
        cell = f"stops below {row.proposal.stopped_at.version}"
    if row.airbyte_flag and row.airbyte_move is not None:
        move = row.airbyte_move
        beyond = [change.version for change in move.crossed if change.version not in crossed]
        found = ("downgrade, " if "downgrade" in move.classes else "") + (
            f"crosses {', '.join(beyond)}" if beyond else ""
        )
        cell = f"{'' if cell == '-' else cell + '; '}from {move.current}: {found.rstrip(', ')}"
    return cell


def skipped_notes(row: OutdatedRow) -> list[str]:
    """``skipped 1.9.2: <Airbyte's refusal>`` for each newer release the platform refuses, newest first."""
    skipped = row.proposal.skipped
    notes = [f"skipped {version.tag}: {version.reason}" for version in skipped[:SKIPPED_SHOWN]]
    more = len(skipped) - SKIPPED_SHOWN
    if more > 0:
        notes.append(f"{more} older release{'s' if more != 1 else ''} skipped as well (the JSON output lists each)")
    return notes


def nothing_to_propose(outdated: Outdated) -> str:
    """Why there is no proposal at all: the policies, or the policies and what this Airbyte accepts. Never that
    everything is as new as allowed when something was unread."""
    unread = len(outdated.unread_rows)
    if outdated.nothing_read:
        return f"nothing could be read ({unread} definition{'s' if unread != 1 else ''} unread, see the problems)"
    if unread:
        return f"{unread} definition{'s' if unread != 1 else ''} unread, the others as new as their policy allows"
    if outdated.problems:
        return "the answer is incomplete (see the problems)"
    if any(row.proposal.skipped for row in outdated.rows):
        return "every definition is as new as its policy and this Airbyte allow"
    return "every definition is as new as its policy allows"


def _summary(outdated: Outdated) -> str:
    count = len(outdated.proposals)
    unread = len(outdated.unread_rows)
    incomplete = "nothing could be read, " if outdated.nothing_read else "incomplete, " if outdated.problems else ""
    return (
        f"{incomplete}{count} proposal{'s' if count != 1 else ''} for {len(outdated.rows)} definitions"
        f"{f' ({unread} unread)' if unread else ''} (as of {outdated.today.isoformat()})"
    )


def format_outdated(outdated: Outdated) -> str:
    rows = [HEADER, *(_cells(row) for row in outdated.rows)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.append(_summary(outdated))
    for row in outdated.rows:
        if _says_more(row):
            lines.append(f"{row.desired.kind} {row.desired.name}: {row.why}")
        if row.airbyte_flag:
            lines.append(f"{row.desired.kind} {row.desired.name}: {row.airbyte_flag}")
        if row.proposal.also_available_text:
            lines.append(f"{row.desired.kind} {row.desired.name}: {row.proposal.also_available_text}")
        lines += [f"{row.desired.kind} {row.desired.name}: {note}" for note in skipped_notes(row)]
    lines += [f"NOTE {note}" for note in outdated.notes]
    lines += [f"PROBLEM {problem}" for problem in outdated.problems]
    return "\n".join(lines)


def outdated_markdown(outdated: Outdated) -> str:
    """A pull-request body: what moves, what each move means and whom it touches; then the rest folded."""
    lines = [f"### Airbyte connector upgrades: {_summary(outdated)}", ""]
    header = [
        "| Kind | Name | Image | Version | Move | Breaking changes | Age | Touches |",
        "|---|---|---|---|---|---|---|---|",
    ]
    if outdated.proposals:
        lines += header
        for row in outdated.proposals:
            proposal = row.proposal
            lines.append(
                markdown_row(
                    row.desired.kind,
                    escape_markdown(row.desired.name),
                    markdown_code(row.desired.docker_repository),
                    escape_markdown(f"{row.desired.docker_image_tag} → {proposal.proposed}"),
                    escape_markdown(", ".join(proposal.classes)),
                    escape_markdown(_breaking(row)),
                    f"{proposal.age_days} days" if proposal.age_days is not None else "-",
                    str(row.touches) if row.touches is not None else "-",
                )
            )
        for row in outdated.proposals:
            notes = [row.why, *([f"⚠️ {row.airbyte_flag}"] if row.airbyte_flag else [])]
            crossed = {
                c.version: c
                for c in (
                    *row.proposal.crossed,
                    *(row.airbyte_move.crossed if row.airbyte_flag and row.airbyte_move else ()),
                )
            }
            notes += [f"breaking change {c.version}: {' '.join(c.message.split())}" for c in crossed.values()]
            if row.proposal.also_available_text:
                notes.append(row.proposal.also_available_text)
            notes += skipped_notes(row)
            if notes:
                lines += ["", f"**{row.desired.kind} {escape_markdown(row.desired.name)}**", ""]
                lines += [f"- {escape_markdown(note)}" for note in notes]
    else:
        lead = "Nothing proposed" if outdated.problems else "Nothing to propose"
        lines.append(f"{lead}: {nothing_to_propose(outdated)}.")
    rest = [row for row in outdated.rows if row.proposal.proposed is None]
    if rest:
        lines += ["", f"<details><summary>{len(rest)} without a proposal</summary>", ""]
        lines += ["| Kind | Name | Version | Why |", "|---|---|---|---|"]
        for row in rest:
            why = row.why
            lines.append(
                markdown_row(
                    row.desired.kind,
                    escape_markdown(row.desired.name),
                    escape_markdown(row.desired.docker_image_tag),
                    escape_markdown(why),
                )
            )
        for row in rest:
            if row.proposal.skipped:
                lines += ["", f"**{row.desired.kind} {escape_markdown(row.desired.name)}**", ""]
                lines += [f"- {escape_markdown(note)}" for note in skipped_notes(row)]
        lines += ["", "</details>"]
    if outdated.notes or outdated.problems:
        lines += ["", "**Notes**", ""] + [f"- {escape_markdown(note)}" for note in outdated.notes]
        lines += [f"- **incomplete**: {escape_markdown(problem)}" for problem in outdated.problems]
    return "\n".join(lines) + "\n"
