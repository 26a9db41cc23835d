"""prepare and report, the bodies of the DAG's first and last tasks."""

from __future__ import annotations

from collections import Counter

import pytest

from airflow_airbyte_connectors import pipeline
from tests.support import CUSTOM_SOURCE, REGISTRY, RELEASES, registry_entry

POKEAPI = registry_entry("source", "PokeAPI")


def config(*sources):
    return {"connectors": {"source_definitions": list(sources), "destination_definitions": []}}


class TestRequestsSent:
    """The least prepare can send: a token (auth on), one list per kind, the workspace when writing."""

    def test_with_writes_to_plan(self, use_emulator, write_config):
        emu = use_emulator(seed=REGISTRY)
        emu.set_tag("source", POKEAPI["dockerRepository"], "0.3.38")
        prepared = pipeline.prepare(config_path=str(write_config(config(POKEAPI, CUSTOM_SOURCE))))
        assert len(prepared["actions"]) == 2
        # The minimum, plus one impact read for the one definition that changes version (registry off).
        assert [r.operation for r in emu.requests] == [
            "applications/token",
            "source_definitions/list",
            "destination_definitions/list",
            "sources/search",
            "workspaces/list_by_organization_id",
        ]
        assert {a["workspace_id"] for a in prepared["actions"]} == {emu.workspace_ids[0]}

    def test_when_nothing_differs(self, use_emulator, write_config):
        emu = use_emulator(seed=REGISTRY)
        prepared = pipeline.prepare(config_path=str(write_config(config(POKEAPI))))
        assert prepared["actions"] == []
        assert [r.operation for r in emu.requests] == [
            "applications/token",
            "source_definitions/list",
            "destination_definitions/list",
        ]

    def test_with_a_configured_workspace_and_no_auth(self, use_emulator, write_config, monkeypatch):
        emu = use_emulator(seed=REGISTRY, auth="none")
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__WORKSPACE_ID", emu.workspace_ids[0])
        prepared = pipeline.prepare(config_path=str(write_config(config(CUSTOM_SOURCE))))
        assert len(prepared["actions"]) == 1
        assert [r.operation for r in emu.requests] == ["source_definitions/list", "destination_definitions/list"]


class TestImpactReads:
    """prepare sends the impact reads a few at a time; the plan and the requests are those of one at a time."""

    BEHIND = {"GitHub": "1.8.0", "PokeAPI": "0.3.38", "Stripe": "5.0.0", "HubSpot": "4.0.0", "Jira": "2.0.0"}

    def test_reads_at_once_plan_exactly_as_one_at_a_time(self, use_emulator, write_config, monkeypatch):
        emu = use_emulator(seed=REGISTRY, registry=RELEASES, workspaces=2)
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__REGISTRY_URL", emu.registry_url)
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__WORKSPACE_ID", emu.workspace_ids[0])
        entries = [registry_entry("source", name) for name in self.BEHIND]
        lakes = [
            emu.add_destination("airbyte/destination-postgres", name=f"Lake {w}", workspace_id=w)
            for w in emu.workspace_ids
        ]
        for entry, (name, tag) in zip(entries, self.BEHIND.items(), strict=True):
            emu.set_tag("source", entry["dockerRepository"], tag)
            for workspace, lake in zip(emu.workspace_ids, lakes, strict=True):
                source = emu.add_source(
                    entry["dockerRepository"], name=f"{name} {workspace[:4]}", workspace_id=workspace
                )
                emu.add_connection(source, lake, {"issues": True, "commits": True})
        path = str(write_config(config(*entries)))

        def prepare_with(reads_at_once: int) -> tuple[dict, Counter]:
            monkeypatch.setattr(pipeline, "IMPACT_READS_AT_ONCE", reads_at_once)
            emu.clear_requests()
            plan = pipeline.prepare(config_path=path, max_writes=100)["plan"]
            # The token is asked for once per process, by the first run.
            return plan, Counter(r.operation for r in emu.requests if r.operation != "applications/token")

        (one_plan, one_reads), (many_plan, many_reads) = prepare_with(1), prepare_with(4)
        assert many_plan == one_plan and many_reads == one_reads
        # One search per changed definition; connections once per workspace (GitHub's 2.0.0 is stream-scoped).
        assert many_reads["sources/search"] == len(entries) and many_reads["connections/list"] == 2
        changed = many_plan["changes"] + many_plan["held"]
        assert len(changed) == len(entries) and all(a["impact"]["total"] == 2 for a in changed)
        # Each change got its own definition's sources.
        assert all(actor["name"].startswith(a["name"]) for a in changed for actor in a["impact"]["actors"])


class TestReport:
    PLAN = {
        "dryRun": False,
        "counts": {"unchanged": 4},
        "creates": ["create source A 1"],
        "updates": ["update source B 1→2"],
        "findings": ["source C: name taken"],
        "conflicts": [],
    }

    def test_counts_and_success(self):
        results = [
            {"kind": "source", "action": "created", "name": "A", "tagAfter": "1", "definitionId": "x"},
            {"kind": "source", "action": "unchanged", "name": "B", "tagBefore": "2", "tagAfter": "2"},
        ]
        counts = pipeline.report(self.PLAN, results)["counts"]
        assert counts["created"] == 1 and counts["already_applied"] == 1 and counts["failed"] == 0
        assert counts["unchanged"] == 4 and counts["reported"] == 1

    def test_missing_results_are_failures(self):
        with pytest.raises(pipeline.ApplyFailedError, match="1 of 2 planned writes failed"):
            pipeline.report(self.PLAN, [{"kind": "source", "action": "created", "name": "A"}, None])

    def test_conflicts_and_duplicates_fail_the_run_with_their_ids(self):
        plan = {**self.PLAN, "creates": [], "updates": [], "conflicts": ["source X: 2 definitions use x/y (a, b)"]}
        duplicates = [{"message": "source Y: Airbyte now holds 2 definitions for y/z: c, d", "ids": ["c", "d"]}]
        with pytest.raises(pipeline.ApplyFailedError, match=r"\(a, b\).*c, d"):
            pipeline.report(plan, [], duplicates)


class TestApprovalOutcome:
    PLAN = {"approval": {"mode": "held", "changes": ["update source GitHub 1.8.0→2.1.14 major, breaking"]}}

    @pytest.mark.parametrize(
        ("answer", "outcome", "words"),
        [
            (None, "not_needed", "nothing waited"),
            (
                {
                    "decision": {"chosen": ["Approve"], "by": {"id": "alice", "name": "Alice"}, "at": "T"},
                    "state": "success",
                },
                "approved",
                "approved by Alice at T: 1 change written",
            ),
            (
                {"decision": {"chosen": ["Reject"], "by": {"id": "bob", "name": "Bob"}, "at": "T"}, "state": "success"},
                "rejected",
                "rejected by Bob at T: 1 change not written",
            ),
            (
                {"decision": {"chosen": ["Reject"], "by": None, "at": "T"}, "state": "success"},
                "lapsed",
                "no answer within approval_timeout",
            ),
            (
                {"decision": {"chosen": ["Approve"], "by": {"id": "alice"}, "at": "T"}, "state": "failed"},
                "failed",
                "Airflow failed the approval task (state failed, after alice chose ['Approve'])",
            ),
            ({"decision": None, "state": "upstream_failed"}, "failed", "none of the 1 change that waited"),
        ],
        ids=["none-waiting", "approved", "rejected", "lapsed", "failed-after-answer", "failed-before-answer"],
    )
    def test_outcomes(self, answer, outcome, words):
        plan = self.PLAN if answer else {"approval": {"changes": []}}
        result = pipeline.approval_outcome(plan, answer)
        assert result["outcome"] == outcome and words in result["summary"]

    def held_plan(self) -> dict:
        """The plan summary of a run whose one held change waited for approval."""
        return {
            "dryRun": False,
            "counts": {"unchanged": 0},
            "creates": [],
            "updates": [],
            "findings": [],
            "conflicts": [],
            "held": [{"label": self.PLAN["approval"]["changes"][0], "reasons": ["breaking"], "release": "..."}],
            **self.PLAN,
        }

    def test_a_failed_approval_fails_the_report_and_keeps_the_change_held(self):
        plan = self.held_plan()
        with pytest.raises(pipeline.ApplyFailedError, match="Airflow failed the approval task"):
            pipeline.report(plan, [], approval={"decision": None, "state": "failed"})
        done = pipeline.report(
            plan, [], approval={"decision": {"chosen": ["Reject"], "by": {"id": "b"}}, "state": "success"}
        )
        assert done["counts"]["held"] == 1 and done["approval"]["outcome"] == "rejected"

    def test_an_approved_change_found_stale_is_named_not_counted_as_written(self):
        label = self.PLAN["approval"]["changes"][0]
        plan = self.held_plan()
        stale = {"label": label, "message": "stale plan: source GitHub is now 2.2.0 (planned 1.8.0 → 2.1.14); ..."}
        approved = {"decision": {"chosen": ["Approve"], "by": {"id": "alice"}, "at": "T"}, "state": "success"}
        with pytest.raises(pipeline.ApplyFailedError, match="stale plan: source GitHub is now 2.2.0") as failed:
            pipeline.report(plan, [], approval=approved, stale=[stale], triggered_by="bob")
        summary = failed.value.report
        assert summary["approval"]["stale"] == [label]
        assert summary["approval"]["summary"] == (
            f"approved by alice at T: 0 of 1 change written; not written, Airbyte moved after the plan: {label}"
        )
        assert summary["counts"]["stale"] == 1 and summary["counts"]["failed"] == 0
        assert summary["triggeredBy"] == "bob"
