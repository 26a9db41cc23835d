"""Each definition × each environment, made from the plan document (pure: no Airflow, no HTTP)."""

from __future__ import annotations

import json
import subprocess
import sys

from airflow_airbyte_connectors.config.configs import parse_connectors
from airflow_airbyte_connectors.plan.environment_matrix import (
    EnvironmentMatrix,
    format_matrix,
    matrix_markdown,
    matrix_of,
)
from airflow_airbyte_connectors.plan.gate import GateVerdict
from airflow_airbyte_connectors.plan.plan_document import AirbyteInstance, EnvironmentInfo, PlanDocument
from airflow_airbyte_connectors.plan.planning import (
    Finding,
    Plan,
    make_plan,
    with_environment,
    with_gates,
    with_holds,
    with_image_checks,
    with_pending_creates,
    with_version_changes,
)
from tests.support import REPO_ROOT

IDS = {name: f"00000000-0000-4000-8000-{n:012d}" for n, name in enumerate(["GitHub", "PokeAPI", "copy", "Postgres"])}
WAITING = "waiting for staging: 1.9.2 there for 1d 4h of 3d; 1 of 2 syncs succeeded"
GATE_HELD = "held: staging sync of 'github → warehouse' failed at 2026-12-07T10:00+00:00 (job 7)"


def entry(name: str, repository: str, tag: str) -> dict[str, str]:
    return {"name": name, "dockerRepository": repository, "dockerImageTag": tag, "documentationUrl": "https://x.test"}


def current(kind: str, name: str, repository: str, tag: str, definition_id: str | None = None) -> dict[str, object]:
    return {
        f"{kind}DefinitionId": definition_id or IDS[name],
        "name": name,
        "dockerRepository": repository,
        "dockerImageTag": tag,
        "documentationUrl": "https://x.test",
        "custom": False,
    }


def plan(sources, current_sources, destinations=(), current_destinations=()) -> Plan:
    desired = parse_connectors({"source_definitions": list(sources), "destination_definitions": list(destinations)})
    made = make_plan(desired, {"source": list(current_sources), "destination": list(current_destinations)})
    return with_version_changes(made, None, registry="off")


POSTGRES = entry("Postgres", "airbyte/destination-postgres", "2.4.7")
POSTGRES_NOW = current("destination", "Postgres", "airbyte/destination-postgres", "2.4.7")


def staging() -> Plan:
    """GitHub to write, Postgres in step, Acme CRM pending, Sentry blocked, PokeAPI in conflict."""
    made = plan(
        [
            entry("GitHub", "airbyte/source-github", "1.9.2"),
            entry("Acme CRM", "ghcr.io/acme/source-acme-crm", "1.2.0"),
            entry("Sentry", "airbyte/source-sentry", "0.7.0"),
            entry("PokeAPI", "airbyte/source-pokeapi", "0.3.40"),
        ],
        [
            current("source", "GitHub", "airbyte/source-github", "1.9.0"),
            current("source", "Sentry", "airbyte/source-sentry", "0.6.0", IDS["copy"].replace("0000-4", "1111-4")),
            current("source", "PokeAPI", "airbyte/source-pokeapi", "0.3.40"),
            current("source", "PokeAPI copy", "airbyte/source-pokeapi", "0.3.38", IDS["copy"]),
        ],
        [POSTGRES],
        [POSTGRES_NOW],
    )
    made = with_pending_creates(made, {("source", "ghcr.io/acme/source-acme-crm"): "since 2026-12-07T10:00:00+00:00"})
    made = with_image_checks(made, {("airbyte/source-sentry", "0.7.0"): ("missing", "manifest unknown")})
    return with_environment(made, "staging")


def prod() -> Plan:
    """GitHub waiting for the gate, Sentry held by it, PokeAPI held for its downgrade, Postgres in step; Acme CRM
    and the rest are not for prod."""
    made = plan(
        [
            entry("GitHub", "airbyte/source-github", "1.9.2"),
            entry("Sentry", "airbyte/source-sentry", "0.7.0"),
            entry("PokeAPI", "airbyte/source-pokeapi", "0.3.40"),
        ],
        [
            current("source", "GitHub", "airbyte/source-github", "1.9.0"),
            current("source", "Sentry", "airbyte/source-sentry", "0.6.0", IDS["copy"]),
            current("source", "PokeAPI", "airbyte/source-pokeapi", "0.3.41"),
        ],
        [POSTGRES],
        [POSTGRES_NOW],
    )
    made = with_holds(made, frozenset({"downgrade"}))
    github, sentry = made.updates
    made = with_gates(made, {id(github): GateVerdict("waiting", WAITING), id(sentry): GateVerdict("held", GATE_HELD)})
    return with_environment(made, "prod")


def info(name: str, **fields) -> EnvironmentInfo:
    return EnvironmentInfo(name=name, conn_id=f"airbyte_{name}", **fields)


def document(*planned: tuple[str, Plan], failed: dict[str, str] | None = None, notes=()) -> PlanDocument:
    where = {"airbyte_url": "http://airbyte.test:8000", "airbyte": AirbyteInstance(version="2.0.0")}
    infos = [info(name, **where) for name, _ in planned] + [info(n, error=e) for n, e in (failed or {}).items()]
    return PlanDocument.of_environments(
        [(i, p) for i, (_, p) in zip(infos, planned, strict=False)], infos, notes=notes, dry_run=True
    )


def cells(matrix: EnvironmentMatrix) -> dict[tuple[str, str], tuple[str, str | None, str | None]]:
    return {
        (row.name, cell.environment): (cell.state, cell.tag_now, cell.tag_wanted)
        for row in matrix.definitions
        for cell in row.cells
    }


class TestStates:
    def test_every_state(self):
        matrix = matrix_of(document(("staging", staging()), ("prod", prod()), failed={"dr": "cannot reach Airbyte"}))
        assert [e.name for e in matrix.environments] == ["staging", "prod", "dr"]
        assert cells(matrix) == {
            ("Acme CRM", "staging"): ("pending", None, "1.2.0"),
            ("Acme CRM", "prod"): ("not_in_environment", None, None),
            ("Acme CRM", "dr"): ("environment_unreadable", None, None),
            ("GitHub", "staging"): ("to_write", "1.9.0", "1.9.2"),
            ("GitHub", "prod"): ("waiting", "1.9.0", "1.9.2"),
            ("GitHub", "dr"): ("environment_unreadable", None, None),
            ("PokeAPI", "staging"): ("conflict", None, None),
            ("PokeAPI", "prod"): ("held", "0.3.41", "0.3.40"),
            ("PokeAPI", "dr"): ("environment_unreadable", None, None),
            ("Sentry", "staging"): ("blocked", "0.6.0", "0.7.0"),
            ("Sentry", "prod"): ("held", "0.6.0", "0.7.0"),
            ("Sentry", "dr"): ("environment_unreadable", None, None),
            ("Postgres", "staging"): ("in_step", "2.4.7", "2.4.7"),
            ("Postgres", "prod"): ("in_step", "2.4.7", "2.4.7"),
            ("Postgres", "dr"): ("environment_unreadable", None, None),
        }
        reasons = {(row.name, c.environment): c.reason for row in matrix.definitions for c in row.cells}
        assert reasons[("GitHub", "staging")] == "patch"
        assert reasons[("GitHub", "prod")] == WAITING
        assert reasons[("Sentry", "prod")] == GATE_HELD
        assert reasons[("PokeAPI", "prod")] == "held for downgrade (hold_changes)"
        assert reasons[("Acme CRM", "staging")] == "create source Acme CRM pending since 2026-12-07T10:00:00+00:00"
        assert "image airbyte/source-sentry:0.7.0 does not exist" in str(reasons[("Sentry", "staging")])
        assert "2 definitions in Airbyte use airbyte/source-pokeapi" in str(reasons[("PokeAPI", "staging")])
        assert reasons[("GitHub", "dr")] == "cannot reach Airbyte"
        assert [row.kind for row in matrix.definitions] == ["source"] * 4 + ["destination"]
        assert matrix.counts.environment_unreadable == 5 and matrix.counts.held == 2 and matrix.counts.in_step == 2

    def test_errors_are_what_fails_a_run(self):
        matrix = matrix_of(document(("staging", staging()), ("prod", prod()), failed={"dr": "cannot reach Airbyte"}))
        assert not matrix.in_step
        errors = matrix.errors
        assert errors[0] == "environment dr could not be read: cannot reach Airbyte"
        assert [e.split(":")[0] for e in errors[1:]] == ["staging", "staging"]  # the conflict, the blocked write
        assert len(errors) == 3

    def test_waiting_and_held_are_not_errors(self):
        matrix = matrix_of(document(("prod", prod())))
        assert matrix.errors == [] and not matrix.in_step

    def test_in_step(self):
        in_step = with_environment(plan([], [], [POSTGRES], [POSTGRES_NOW]), "prod")
        matrix = matrix_of(
            document(
                ("staging", with_environment(plan([], [], [POSTGRES], [POSTGRES_NOW]), "staging")), ("prod", in_step)
            )
        )
        assert matrix.in_step and matrix.errors == []
        assert {c.state for row in matrix.definitions for c in row.cells} == {"in_step"}

    def test_a_note_on_the_whole_plan_is_kept(self):
        note = Finding("promotion_records", None, "", "since when ... could not read: no database")
        matrix = matrix_of(document(("prod", prod()), notes=[note]))
        assert matrix.notes == ["since when ... could not read: no database"]


class TestRendering:
    def test_text(self):
        matrix = matrix_of(document(("staging", staging()), ("prod", prod()), failed={"dr": "cannot reach Airbyte"}))
        lines = format_matrix(matrix).splitlines()
        assert lines[:3] == [
            "staging: Airbyte at http://airbyte.test:8000 — Airbyte 2.0.0",
            "prod: Airbyte at http://airbyte.test:8000 — Airbyte 2.0.0",
            "dr: could not be read (airbyte_dr): cannot reach Airbyte",
        ]
        rows = [line.split("  ") for line in lines]
        table = {row[0]: [cell.strip() for cell in row[1:] if cell.strip()] for row in rows if row and row[0]}
        assert table["source GitHub"] == ["1.9.0 → 1.9.2 to write", "1.9.0 → 1.9.2 waiting", "environment unreadable"]
        assert table["source Acme CRM"][:2] == ["— → 1.2.0 pending", "not in this environment"]
        assert table["destination Postgres"][:2] == ["2.4.7 in step", "2.4.7 in step"]
        assert f"prod source GitHub: {WAITING}" in lines
        assert f"prod source Sentry: {GATE_HELD}" in lines
        assert (
            "2 in step, 1 to write, 1 waiting, 2 held, 1 blocked, 1 pending, 1 conflict, 1 not in this environment, "
            "5 environment unreadable"
        ) in lines

    def test_markdown(self):
        markdown = matrix_markdown(matrix_of(document(("staging", staging()), ("prod", prod()))))
        assert markdown.startswith("### Airbyte definitions by environment: 2 in step, 1 to write, 1 waiting")
        assert "| Definition | staging | prod |\n|---|---|---|\n" in markdown
        assert "| source GitHub `airbyte/source-github` | 1.9.0 → 1.9.2 **to write** | 1.9.0 → 1.9.2 **waiting** |" in (
            markdown
        )
        assert "- **prod** source Sentry: held: staging sync of 'github → warehouse' failed at " in markdown

    def test_json_is_versioned_and_reads_back(self):
        matrix = matrix_of(document(("staging", staging()), ("prod", prod())))
        data = json.loads(json.dumps(matrix.to_json()))
        assert data["schemaVersion"] == 1
        assert set(data["counts"]) >= {"inStep", "toWrite", "waiting", "held", "notInEnvironment"}
        assert data["definitions"][0]["cells"][0].keys() == {"environment", "state", "tagNow", "tagWanted", "reason"}
        assert EnvironmentMatrix.model_validate(data) == matrix


def test_the_module_imports_neither_airflow_nor_http():
    code = (
        "import sys, airflow_airbyte_connectors.plan.environment_matrix; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'airflow', 'requests', 'urllib3', 'sqlalchemy'}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=60)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr
