"""The plan's renderers for people: text (task log), Markdown (pull-request comment)."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from airflow_airbyte_connectors.config.configs import parse_connectors
from airflow_airbyte_connectors.plan.gate import GateVerdict
from airflow_airbyte_connectors.plan.plan_document import PlanDocument
from airflow_airbyte_connectors.plan.plan_output import escape_markdown, format_plan, plan_markdown
from airflow_airbyte_connectors.plan.planning import (
    Finding,
    Plan,
    make_plan,
    with_environment,
    with_gates,
    with_version_changes,
)

POKEAPI_ID = "6371b14b-bc68-4236-bfbd-468e8df8e968"
CUSTOM_ID = "0a9d4f3e-2c55-4c1e-9a77-1f1b2a3c4d5e"
POSTGRES_ID = "25c5221d-dce2-4163-ade9-739ef790f503"


def entry(name, repository, tag, **extra):
    return {
        "name": name,
        "dockerRepository": repository,
        "dockerImageTag": tag,
        "documentationUrl": "https://docs.example.com/x",
        **extra,
    }


def current(kind, definition_id, name, repository, tag, custom=False):
    return {
        f"{kind}DefinitionId": definition_id,
        "name": name,
        "dockerRepository": repository,
        "dockerImageTag": tag,
        "documentationUrl": "https://docs.example.com/x",
        "custom": custom,
    }


def build_plan(sources, destinations=(), current_sources=(), current_destinations=()) -> Plan:
    desired = parse_connectors({"source_definitions": list(sources), "destination_definitions": list(destinations)})
    return make_plan(desired, {"source": list(current_sources), "destination": list(current_destinations)})


@pytest.fixture
def mixed_plan() -> Plan:
    """One create, a version update, a rename of a custom definition, one unchanged, one unmanaged."""
    return build_plan(
        sources=[
            entry("Acme CRM", "ghcr.io/acme/source-acme-crm", "1.2.0"),
            entry("PokeAPI", "airbyte/source-pokeapi", "0.3.40"),
            entry("Acme Billing", "ghcr.io/acme/source-billing", "2.0"),
        ],
        destinations=[entry("Postgres", "airbyte/destination-postgres", "2.4.7")],
        current_sources=[
            current("source", POKEAPI_ID, "PokeAPI", "airbyte/source-pokeapi", "0.3.38"),
            current("source", CUSTOM_ID, "Billing (old name)", "ghcr.io/acme/source-billing", "2.0", custom=True),
            current("source", "7b2c1f0e-1111-4222-8333-944455556666", "Faker", "airbyte/source-faker", "6.0.0"),
        ],
        current_destinations=[
            current("destination", POSTGRES_ID, "Postgres", "airbyte/destination-postgres", "2.4.7"),
        ],
    )


@pytest.fixture
def conflict_plan() -> Plan:
    return build_plan(
        sources=[entry("PokeAPI", "airbyte/source-pokeapi", "0.3.40")],
        current_sources=[
            current("source", POKEAPI_ID, "PokeAPI", "airbyte/source-pokeapi", "0.3.38"),
            current("source", CUSTOM_ID, "PokeAPI copy", "airbyte/source-pokeapi", "0.1.0", custom=True),
        ],
    )


def markdown_rows(markdown: str) -> list[list[str]]:
    return [
        [cell.strip() for cell in line.strip("|").split(" | ")]
        for line in markdown.splitlines()
        if line.startswith("| ") and not line.startswith("| Action")
    ]


class TestMarkdown:
    def test_heading_table_and_folded_unchanged(self, mixed_plan):
        markdown = plan_markdown(mixed_plan)
        assert markdown.startswith("### Airbyte connector plan: 1 to create, 2 to update, 1 unchanged, 1 in Airbyte")
        assert "| Action | Kind | Name | Image | Version | Change | Definition ID |" in markdown
        assert markdown_rows(markdown) == [
            ["**create**", "source", "Acme CRM", "`ghcr.io/acme/source-acme-crm`", "1.2.0", "", "(new)"],
            ["**update**", "source", "PokeAPI", "`airbyte/source-pokeapi`", "0.3.38 → 0.3.40", "", f"`{POKEAPI_ID}`"],
            [
                "**update**",
                "source",
                r"Acme Billing (name Billing (old name) → Acme Billing)",
                "`ghcr.io/acme/source-billing`",
                "2.0",
                "",
                f"`{CUSTOM_ID}`",
            ],
            ["unchanged", "destination", "Postgres", "`airbyte/destination-postgres`", "2.4.7", "", ""],
        ]
        details = markdown.index("<details><summary>1 unchanged</summary>")
        assert markdown.index("| **update**") < details < markdown.index("| unchanged")
        assert markdown.rstrip().endswith("</details>")

    def test_in_step(self):
        plan = build_plan(
            [entry("PokeAPI", "airbyte/source-pokeapi", "0.3.40")],
            current_sources=[current("source", POKEAPI_ID, "PokeAPI", "airbyte/source-pokeapi", "0.3.40")],
        )
        markdown = plan_markdown(plan)
        assert "No changes: Airbyte is in step with basic_config." in markdown
        assert "| **" not in markdown

    def test_notes(self, conflict_plan):
        markdown = plan_markdown(conflict_plan)
        assert markdown.splitlines()[0].endswith("(left alone) — ⛔ 1 conflict")
        notes = [line for line in markdown.splitlines() if line.startswith("- ")]
        assert len(notes) == 1 and notes[0].startswith("- **⛔ conflict**: ") and CUSTOM_ID in notes[0]

    @pytest.mark.parametrize(
        "name",
        ["Pipe | in name", "<img src=x onerror=alert(1)>", "[link](https://evil.example)", "`code` *bold*"],
        ids=["pipe", "html", "link", "emphasis"],
    )
    def test_names_cannot_break_the_table(self, name):
        markdown = plan_markdown(build_plan([entry(name, "ghcr.io/acme/source-x", "1.0")]))
        (row,) = [line for line in markdown.splitlines() if line.startswith("| **create**")]
        # Seven cells (no unescaped pipe), and no unescaped Markdown or HTML character in the name's cell.
        cells = re.split(r"(?<!\\)\|", row)[1:-1]
        assert len(cells) == 7
        assert re.search(r"(?<!\\)[<>\[\]`*_|]", cells[2]) is None, cells[2]


class TestText:
    def test_table(self, mixed_plan):
        lines = format_plan(mixed_plan).splitlines()
        assert lines[0].split() == ["ACTION", "KIND", "NAME", "IMAGE", "VERSION", "CHANGE", "ID"]
        assert lines[1].split() == ["create", "source", "Acme", "CRM", "ghcr.io/acme/source-acme-crm", "1.2.0", "(new)"]
        assert lines[2].split()[-4:] == ["0.3.38", "→", "0.3.40", POKEAPI_ID]
        assert lines[4].split()[:2] == ["unchanged", "destination"]
        assert lines[5] == "1 to create, 2 to update, 1 unchanged, 1 in Airbyte but not in basic_config (left alone)"
        assert lines[6] == "Not in basic_config: source Faker"

    def test_many_unmanaged_are_counted(self):
        others = [
            current("source", f"00000000-0000-4000-8000-{n:012d}", f"S{n}", f"airbyte/source-s{n}", "1.0")
            for n in range(13)
        ]
        text = format_plan(build_plan([], current_sources=others))
        assert text.splitlines()[-1] == "Not in basic_config: " + ", ".join(f"source S{n}" for n in range(10)) + (
            " and 3 more"
        )


@pytest.mark.parametrize("render", [format_plan, plan_markdown], ids=["text", "markdown"])
def test_every_surface_has_the_same_counts(mixed_plan, render):
    counts = PlanDocument.of(mixed_plan, dry_run=True).to_json()["counts"]
    assert f"{counts['create']} to create, {counts['update']} to update, {counts['unchanged']} unchanged" in render(
        mixed_plan
    )


GITHUB_ID = "ef69ef6e-aa7f-4af1-a01d-ef775033524e"


def gated_plan(state: str, reason: str) -> Plan:
    """prod's GitHub update 1.9.0 → 1.9.2 (patch) judged by the promotion gate, and an environmentTags note."""
    plan = build_plan(
        [entry("GitHub", "airbyte/source-github", "1.9.2")],
        current_sources=[current("source", GITHUB_ID, "GitHub", "airbyte/source-github", "1.9.0")],
    )
    plan = with_version_changes(plan, None, registry="off")
    plan = with_gates(plan, {id(plan.updates[0]): GateVerdict(state, reason)})  # type: ignore[arg-type]
    note = Finding(
        "environment_tag",
        "source",
        "Sentry",
        "prod keeps source Sentry at 0.6.0 (environmentTags), not 0.7.0: an exception, not gated",
    )
    return with_environment(replace(plan, findings=(*plan.findings, note)), "prod")


WAITING_REASON = "waiting for staging: 1.9.2 there for 1d 4h of 3d; 3 of 2 syncs succeeded"
HELD_REASON = "held: staging sync of 'github → warehouse' failed at 2026-12-07T10:00+00:00 (job 7)"


class TestWaitingForTheGate:
    def test_text_names_each_waiting_change_and_why(self):
        lines = format_plan(gated_plan("waiting", WAITING_REASON)).splitlines()
        assert lines[1].split() == [
            "waiting",
            "source",
            "GitHub",
            "airbyte/source-github",
            "1.9.0",
            "→",
            "1.9.2",
            "patch;",
            "waiting",
            GITHUB_ID,
        ]
        assert lines[2] == (
            "0 to create, 0 to update, 1 waiting for the promotion gate, 0 unchanged, 0 in Airbyte but not in "
            "basic_config (left alone)"
        )
        assert lines[3] == f"WAITING prod: update source GitHub 1.9.0→1.9.2 patch — {WAITING_REASON}"
        assert (
            "NOTE [environment_tag] prod keeps source Sentry at 0.6.0 (environmentTags), not 0.7.0: an exception, "
            "not gated"
        ) in lines

    def test_a_failed_sync_upstream_reads_held_by_gate(self):
        lines = format_plan(gated_plan("held", HELD_REASON)).splitlines()
        assert lines[1].split()[:2] == ["held-by-gate", "source"] and "patch; held-by-gate" in lines[1]
        assert f"HELD-BY-GATE prod: update source GitHub 1.9.0→1.9.2 patch — {HELD_REASON}" in lines
        assert not any(line.startswith("WAITING") for line in lines)

    def test_an_open_gate_says_why_under_the_change(self):
        reason = "staging ran it: 1.9.2 there for 4d of 3d; 3 of 2 syncs succeeded"
        text = format_plan(gated_plan("open", reason))
        assert text.splitlines()[1].split()[0] == "update"
        assert f"  promotion gate open: {reason}" in text.splitlines()
        assert "WAITING" not in text

    def test_markdown(self):
        markdown = plan_markdown(gated_plan("waiting", WAITING_REASON), environment="prod")
        assert markdown.startswith("### Airbyte connector plan for prod: 0 to create, 0 to update, 1 waiting for")
        assert markdown_rows(markdown)[0] == [
            "**waiting**",
            "source",
            "GitHub",
            "`airbyte/source-github`",
            "1.9.0 → 1.9.2",
            "patch; waiting",
            f"`{GITHUB_ID}`",
        ]
        assert f"- **waiting** prod: update source GitHub 1.9.0→1.9.2 patch — {escape_markdown(WAITING_REASON)}" in (
            markdown.splitlines()
        )
        assert "No changes" not in markdown
        assert "- **environment_tag**: prod keeps source Sentry at 0.6.0" in markdown
