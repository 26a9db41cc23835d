"""Each definition of basic_config in each environment: the tag its Airbyte runs, the tag wanted there, and what
stands between them (``airbyte-connectors environments``). Made from the plan document by :func:`matrix_of`, and
rendered as text, Markdown or a small versioned JSON document (:class:`EnvironmentMatrix`).

Pure module: no Airflow, no HTTP.
"""

from __future__ import annotations

from collections import Counter
from typing import Literal

from airflow_airbyte_connectors.core.kinds import KINDS, Kind
from airflow_airbyte_connectors.plan.plan_document import (
    BLOCKING_CATEGORIES,
    AirbyteInstance,
    Document,
    Note,
    PlanDocument,
    PlannedChange,
)
from airflow_airbyte_connectors.plan.plan_output import escape_markdown, markdown_code, markdown_row

# Bumped when a field is removed or changes meaning; fields may be added within a version.
MATRIX_SCHEMA_VERSION: Literal[1] = 1

CellState = Literal[
    "in_step",
    "to_write",
    "waiting",
    "held",
    "blocked",
    "pending",
    "conflict",
    "not_in_environment",
    "environment_unreadable",
]
# How each state reads for people, in the order counts are given.
STATE_TEXT: dict[CellState, str] = {
    "in_step": "in step",
    "to_write": "to write",
    "waiting": "waiting",
    "held": "held",
    "blocked": "blocked",
    "pending": "pending",
    "conflict": "conflict",
    "not_in_environment": "not in this environment",
    "environment_unreadable": "environment unreadable",
}
# States that fail the command (exit 1): what the DAG's run fails on too.
ERROR_STATES: frozenset[CellState] = frozenset({"blocked", "conflict", "environment_unreadable"})
# States where Airbyte is not yet what basic_config wants (exit 2).
PENDING_STATES: frozenset[CellState] = frozenset({"to_write", "waiting", "held", "pending"})
_TAG_MOVE_STATES = PENDING_STATES | {"blocked"}


class MatrixEnvironment(Document):
    """One environment of ``connectors.environments``: its Airbyte, or why it could not be read."""

    name: str
    conn_id: str
    promote_from: str | None = None
    airbyte_url: str | None = None
    airbyte: AirbyteInstance | None = None
    error: str | None = None


class Cell(Document):
    """One definition in one environment."""

    environment: str
    state: CellState
    # The tag that environment's Airbyte runs (null: it has no such definition yet, or it is not known).
    tag_now: str | None = None
    # The tag basic_config wants there (null: the definition is not for this environment, or not known).
    tag_wanted: str | None = None
    # Why it is not in step: the version move, the gate's or the hold's reason, what blocks it.
    reason: str | None = None


class MatrixRow(Document):
    kind: Kind
    name: str
    # Null only for an entry no environment could plan (a conflict everywhere).
    docker_repository: str | None
    # One per environment, in the order of ``environments``.
    cells: list[Cell]


class MatrixCounts(Document):
    in_step: int = 0
    to_write: int = 0
    waiting: int = 0
    held: int = 0
    blocked: int = 0
    pending: int = 0
    conflict: int = 0
    not_in_environment: int = 0
    environment_unreadable: int = 0


class EnvironmentMatrix(Document):
    """Each definition × each environment (docs/cli.md, ``airbyte-connectors environments``)."""

    schema_version: Literal[1] = MATRIX_SCHEMA_VERSION
    # connectors.environments in promotion order.
    environments: list[MatrixEnvironment]
    definitions: list[MatrixRow]
    # Cells per state.
    counts: MatrixCounts
    # About the whole matrix (e.g. why since-when is not known).
    notes: list[str] = []

    @property
    def states(self) -> set[CellState]:
        return {cell.state for row in self.definitions for cell in row.cells}

    @property
    def errors(self) -> list[str]:
        """What fails the command: an environment not read, a conflict, a blocked write (one line each)."""
        errors = [f"environment {e.name} could not be read: {e.error}" for e in self.environments if e.error]
        errors += [
            f"{cell.environment}: {row.kind} {row.name}: {cell.reason or STATE_TEXT[cell.state]}"
            for row in self.definitions
            for cell in row.cells
            if cell.state in ERROR_STATES - {"environment_unreadable"}
        ]
        return errors

    @property
    def in_step(self) -> bool:
        return not self.states & (PENDING_STATES | ERROR_STATES)


def matrix_of(document: PlanDocument) -> EnvironmentMatrix:
    """The matrix of a plan document made with ``connectors.environments`` (every environment planned)."""
    environments = [
        MatrixEnvironment(
            name=e.name,
            conn_id=e.conn_id,
            promote_from=e.promote_from,
            airbyte_url=e.airbyte_url,
            airbyte=e.airbyte,
            error=e.error,
        )
        for e in document.environments
    ]
    cells: dict[tuple[Kind, str | None, str], dict[str, Cell]] = {}

    def put(kind: Kind, repository: str | None, name: str, cell: Cell) -> None:
        cells.setdefault((kind, repository, name), {})[cell.environment] = cell

    findings = _findings_by_definition(document.findings)
    for change in document.changes:
        put(*_row_key(change), _cell(change, "to_write", _move(change)))
    for change in document.held:
        put(*_row_key(change), _cell(change, "held", f"held for {', '.join(change.hold_reasons)} (hold_changes)"))
    for change in document.pending:
        why = _finding(findings, change, ("create_pending",))
        put(*_row_key(change), _cell(change, "pending", why or "an earlier create's outcome is not known yet"))
    for change in document.blocked:
        put(*_row_key(change), _cell(change, "blocked", _finding(findings, change, BLOCKING_CATEGORIES)))
    for change in document.waiting:
        state: CellState = "held" if change.gate is not None and change.gate.state == "held" else "waiting"
        put(*_row_key(change), _cell(change, state, change.gate.reason if change.gate else None))
    for same in document.unchanged:
        tag = same.docker_image_tag
        put(
            same.kind,
            same.docker_repository,
            same.name,
            Cell(environment=_env(same.environment), state="in_step", tag_now=tag, tag_wanted=tag),
        )
    for note in document.findings:
        if note.category != "ambiguous" or note.kind is None or note.environment is None:
            continue
        matching = [key for key in cells if key[0] == note.kind and key[2] == note.name] or [
            (note.kind, None, note.name)
        ]
        for kind, repository, name in matching:
            put(kind, repository, name, Cell(environment=note.environment, state="conflict", reason=note.message))

    rows = []
    for (kind, repository, name), by_environment in sorted(cells.items(), key=_row_order):
        row_cells = [
            by_environment.get(e.name)
            or (
                Cell(environment=e.name, state="environment_unreadable", reason=e.error)
                if e.error is not None
                else Cell(environment=e.name, state="not_in_environment")
            )
            for e in environments
        ]
        rows.append(MatrixRow(kind=kind, name=name, docker_repository=repository, cells=row_cells))
    counted = Counter[str](cell.state for row in rows for cell in row.cells)
    return EnvironmentMatrix(
        environments=environments,
        definitions=rows,
        counts=MatrixCounts(**counted),
        notes=[note.message for note in document.findings if note.environment is None],
    )


def format_matrix(matrix: EnvironmentMatrix) -> str:
    """A text table for a terminal: a row per definition, a column per environment, then the reasons."""
    lines = [_environment_line(e) for e in matrix.environments]
    header = ("DEFINITION", *(e.name for e in matrix.environments))
    table = [header] + [
        (f"{row.kind} {row.name}", *(_cell_text(cell) for cell in row.cells)) for row in matrix.definitions
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines += ["", *("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in table)]
    lines.append(_counts_sentence(matrix))
    lines += [f"{cell.environment} {row.kind} {row.name}: {cell.reason}" for row, cell in _explained(matrix)]
    lines += [f"NOTE {note}" for note in matrix.notes]
    return "\n".join(lines)


def matrix_markdown(matrix: EnvironmentMatrix) -> str:
    """The matrix as GitHub-flavoured Markdown (a pull-request comment)."""
    lines = [f"### Airbyte definitions by environment: {_counts_sentence(matrix)}", ""]
    lines += [f"- {escape_markdown(_environment_line(e))}" for e in matrix.environments]
    lines += [
        "",
        markdown_row("Definition", *(escape_markdown(e.name) for e in matrix.environments)),
        "|---" * (len(matrix.environments) + 1) + "|",
    ]
    for row in matrix.definitions:
        image = f" {markdown_code(row.docker_repository)}" if row.docker_repository else ""
        lines.append(
            markdown_row(
                f"{row.kind} {escape_markdown(row.name)}{image}",
                *(_cell_text(cell, markdown=True) for cell in row.cells),
            )
        )
    explained = _explained(matrix)
    if explained:
        lines += ["", "**Why**", ""]
        lines += [
            f"- **{escape_markdown(cell.environment)}** {row.kind} {escape_markdown(row.name)}: "
            f"{escape_markdown(cell.reason or '')}"
            for row, cell in explained
        ]
    if matrix.notes:
        lines += ["", "**Notes**", "", *(f"- {escape_markdown(note)}" for note in matrix.notes)]
    return "\n".join(lines) + "\n"


def _row_key(change: PlannedChange) -> tuple[Kind, str | None, str]:
    return change.kind, change.docker_repository, change.name


def _row_order(item: tuple[tuple[Kind, str | None, str], object]) -> tuple[int, str, str]:
    (kind, repository, name), _ = item
    return KINDS.index(kind), name.casefold(), repository or ""


def _env(environment: str | None) -> str:
    if environment is None:
        raise ValueError("the matrix is made from a plan document with connectors.environments")
    return environment


def _cell(change: PlannedChange, state: CellState, reason: str | None) -> Cell:
    return Cell(
        environment=_env(change.environment),
        state=state,
        tag_now=change.tag_before,
        tag_wanted=change.tag_after,
        reason=reason,
    )


def _move(change: PlannedChange) -> str | None:
    """``patch``, ``create``, ``name Old → New``: what writing it does."""
    if change.action == "create":
        return "create"
    parts = [", ".join(change.version_change.classes)] if change.version_change else []
    parts += [f"{c.field} {c.before} → {c.after}" for c in change.changes if c.field != "dockerImageTag"]
    return "; ".join(p for p in parts if p) or None


def _findings_by_definition(notes: list[Note]) -> dict[tuple[str | None, Kind | None, str], list[Note]]:
    found: dict[tuple[str | None, Kind | None, str], list[Note]] = {}
    for note in notes:
        found.setdefault((note.environment, note.kind, note.name), []).append(note)
    return found


def _finding(
    findings: dict[tuple[str | None, Kind | None, str], list[Note]], change: PlannedChange, categories: tuple[str, ...]
) -> str | None:
    messages = [
        n.message for n in findings.get((change.environment, change.kind, change.name), ()) if n.category in categories
    ]
    return "; ".join(messages) or None


def _cell_text(cell: Cell, *, markdown: bool = False) -> str:
    """``1.9.0 → 1.9.2 waiting``, ``1.9.2 in step``, ``not in this environment``."""
    state = f"**{STATE_TEXT[cell.state]}**" if markdown else STATE_TEXT[cell.state]
    now, wanted = cell.tag_now or "—", cell.tag_wanted or ""
    if markdown:
        now, wanted = escape_markdown(now), escape_markdown(wanted)
    if cell.state == "in_step":
        return f"{now} {state}"
    if cell.state in _TAG_MOVE_STATES:
        return f"{now} → {wanted} {state}"
    return state


def _explained(matrix: EnvironmentMatrix) -> list[tuple[MatrixRow, Cell]]:
    """The cells whose reason is worth a line: what waits, is held, blocked, pending or in conflict (an
    unreadable environment is said once, above the table)."""
    wanted = (PENDING_STATES | ERROR_STATES) - {"to_write", "environment_unreadable"}
    return [(row, cell) for row in matrix.definitions for cell in row.cells if cell.state in wanted and cell.reason]


def _environment_line(environment: MatrixEnvironment) -> str:
    if environment.error is not None:
        return f"{environment.name}: could not be read ({environment.conn_id}): {environment.error}"
    instance = environment.airbyte.describe() if environment.airbyte else "Airbyte (version unknown)"
    promotes = f"; takes the versions {environment.promote_from} has run" if environment.promote_from else ""
    return f"{environment.name}: Airbyte at {environment.airbyte_url} — {instance}{promotes}"


def _counts_sentence(matrix: EnvironmentMatrix) -> str:
    counts = matrix.counts.model_dump()
    said = [f"{counts[state]} {text}" for state, text in STATE_TEXT.items() if counts[state]]
    return ", ".join(said) or "no definitions"
