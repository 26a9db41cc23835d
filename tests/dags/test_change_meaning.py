"""What each change means, end to end: version classes and breaking changes from the registry (the
emulator serves Airbyte's real release data), held changes, the sources a change touches, and what Airbyte
did after the write. Real Airflow (dag.test) against the emulator over real HTTP."""

from __future__ import annotations

import pytest

from tests.dags.test_create_connectors import config, run_dag, task_states, with_tag, xcom
from tests.support import REGISTRY, RELEASES, registry_entry

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("airflow_db")]

GITHUB = with_tag(registry_entry("source", "GitHub"), "2.1.14")
POKEAPI = registry_entry("source", "PokeAPI")
GITHUB_REPO = GITHUB["dockerRepository"]


@pytest.fixture
def airbyte(use_emulator, monkeypatch):
    """Airbyte 2.0 with GitHub at 1.8.0 (before its stream-scoped 2.0.0 breaking change), PokeAPI one patch
    behind, and four GitHub sources: one syncing `issues` (impacted), one syncing only `workflow_runs`, one
    without connections, one a person pinned."""
    emu = use_emulator(seed=REGISTRY, registry=RELEASES)
    monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__REGISTRY_URL", emu.registry_url)
    emu.set_tag("source", GITHUB_REPO, "1.8.0")
    emu.set_tag("source", POKEAPI["dockerRepository"], "0.3.38")
    lake = emu.add_destination("airbyte/destination-postgres", name="Lake")
    emu.sources = {
        name: emu.add_source(GITHUB_REPO, name=f"GitHub {name}") for name in ("issues", "runs", "idle", "pinned")
    }
    emu.add_connection(emu.sources["issues"], lake, {"issues": True, "commits": True})
    emu.add_connection(emu.sources["runs"], lake, {"issues": False, "workflow_runs": True})
    emu.pin_actor("source", emu.sources["pinned"], "1.8.0")
    return emu


def written(emu) -> list[tuple[str, str]]:
    return [(r.body.get("sourceDefinitionId", "?"), r.body["dockerImageTag"]) for r in emu.write_requests()]


class TestHeldChanges:
    def test_default_run_writes_the_safe_change_holds_the_breaking_one_and_apply_held_writes_it(
        self, airbyte, write_config, caplog
    ):
        write_config(config([GITHUB, POKEAPI]))

        first = run_dag()
        assert first.state == "success", task_states(first)
        assert written(airbyte) == [(POKEAPI["sourceDefinitionId"], POKEAPI["dockerImageTag"])]
        (plan,) = xcom(first, "prepare", "plan")
        (held,) = plan["held"]
        assert held["label"] == "update source GitHub 1.8.0→2.1.14 major, breaking"
        assert held["holdReasons"] == ["breaking"]
        (crossed,) = held["versionChange"]["crossed"]
        assert crossed["version"] == "2.0.0" and "issues" in crossed["impactedStreams"]
        assert crossed["migrationDocumentationUrl"].endswith("github-migrations#2.0.0")
        # Whom it touches: only the source selecting an impacted stream would stay behind.
        impact = held["impact"]
        assert impact["total"] == 4
        assert impact["outcomes"] == {"stays_behind": 1, "moves": 2, "user_pinned": 1}
        by_name = {a["name"]: a for a in impact["actors"]}
        assert by_name["GitHub issues"]["outcome"] == "stays_behind"
        assert by_name["GitHub issues"]["streams"] == ["issues"]
        assert "connectionConfiguration" not in str(plan) and "**********" not in str(plan)
        (report,) = xcom(first, "report")
        assert report["counts"]["held"] == 1 and report["counts"]["updated"] == 1
        assert "HELD update source GitHub 1.8.0→2.1.14 major, breaking (breaking)" in caplog.text
        assert "1 stay behind (Airbyte pins them to the old version): GitHub issues [2.0.0, selects issues]" in (
            caplog.text
        )

        airbyte.clear_requests()
        second = run_dag(apply_held=True)
        assert second.state == "success", task_states(second)
        assert written(airbyte) == [(GITHUB["sourceDefinitionId"], "2.1.14")]
        # Airbyte kept the impacted source (and the pinned one) behind; the others moved. The report says so.
        versions = {name: airbyte.actor_version("source", sid) for name, sid in airbyte.sources.items()}
        assert versions == {"issues": "1.8.0", "runs": "2.1.14", "idle": "2.1.14", "pinned": "1.8.0"}
        (report,) = xcom(second, "report")
        (after,) = report["afterUpdate"]
        assert sorted(a["name"] for a in after["stayed"]) == ["GitHub issues", "GitHub pinned"]
        assert sorted(a["name"] for a in after["moved"]) == ["GitHub idle", "GitHub runs"]
        # Named as planned: the report finds the change by its change_id.
        assert after["label"] == "update source GitHub 1.8.0→2.1.14 major, breaking"
        assert f"AFTER {after['label']} (breaking change 2.0.0): 2 moved, 2 stayed" in caplog.text

        airbyte.clear_requests()
        third = run_dag()
        assert third.state == "success" and airbyte.write_requests() == []

    def test_downgrade_across_a_breaking_change_is_held_and_releases_the_pins_when_applied(
        self, airbyte, write_config, caplog
    ):
        # Airbyte already moved to 2.1.14 and pinned the impacted source at 1.8.0; the config goes back.
        airbyte.set_tag("source", GITHUB_REPO, "2.1.14")
        airbyte.pin_actor(
            "source", airbyte.sources["issues"], "1.8.0", origin="breaking_change", breaking_change="2.0.0"
        )
        write_config(config([with_tag(GITHUB, "1.8.0")]))

        first = run_dag()
        assert first.state == "success" and airbyte.write_requests() == []
        (plan,) = xcom(first, "prepare", "plan")
        (held,) = plan["held"]
        assert held["holdReasons"] == ["downgrade", "breaking"]
        assert held["impact"]["outcomes"] == {"released": 1, "moves": 2, "user_pinned": 1}

        second = run_dag(apply_held=True)
        assert second.state == "success", task_states(second)
        assert airbyte.actor_pins("source") == {airbyte.sources["pinned"]: ("1.8.0", "user", None)}
        (report,) = xcom(second, "report")
        (after,) = report["afterUpdate"]
        assert len(after["moved"]) == 4 and after["stayed"] == []

    def test_dry_run_shows_held_changes_and_writes_nothing(self, airbyte, write_config):
        write_config(config([GITHUB, POKEAPI]))
        run = run_dag(dry_run=True)
        assert run.state == "success" and airbyte.write_requests() == []
        (plan,) = xcom(run, "prepare", "plan")
        assert [h["label"] for h in plan["held"]] == ["update source GitHub 1.8.0→2.1.14 major, breaking"]


class TestRequests:
    def test_no_update_means_no_registry_read_and_no_impact_read(self, airbyte, write_config):
        airbyte.set_tag("source", GITHUB_REPO, "2.1.14")
        airbyte.set_tag("source", POKEAPI["dockerRepository"], POKEAPI["dockerImageTag"])
        write_config(config([GITHUB, POKEAPI]))
        airbyte.clear_requests()
        assert run_dag().state == "success"
        operations = {r.operation for r in airbyte.requests}
        assert operations == {
            "applications/token",
            "instance_configuration",
            "source_definitions/list",
            "destination_definitions/list",
        }

    def test_an_update_adds_one_registry_read_and_the_impact_reads_of_that_definition(self, airbyte, write_config):
        write_config(config([GITHUB]))
        airbyte.clear_requests()
        assert run_dag(dry_run=True).state == "success"
        prepare = [r.operation for r in airbyte.requests]
        assert prepare.count("/registry/oss_registry.json") == 1
        assert prepare.count("sources/search") == 1 and prepare.count("connections/list") == 1

    def test_unreadable_registry_is_a_finding_and_a_major_counts_as_breaking(self, airbyte, write_config):
        # The emulated Airbyte cannot reach the registry either (air-gapped), so it would answer 500 to any
        # update; here the one update is held, so nothing is sent.
        airbyte.registry_unreachable = True
        write_config(config([GITHUB]))
        run = run_dag()
        assert run.state == "success" and airbyte.write_requests() == []
        (plan,) = xcom(run, "prepare", "plan")
        assert any("connector registry" in f["message"] and "503" in f["message"] for f in plan["findings"])
        (held,) = plan["held"]
        assert held["versionChange"]["classes"] == ["major", "breaking"] and held["versionChange"]["crossed"] == []


class TestRealReleaseData:
    """Several real connectors in one run: what the plan says each move means, and what Airbyte then does."""

    MOVES = {
        # name: (kind, Airbyte has, basic_config asks, expected classes, crossed breaking changes)
        "Shopify": ("source", "2.0.5", "2.1.3", ["minor", "breaking"], ["2.1.0"]),
        "HubSpot": ("source", "2.9.0", "6.3.1", ["major", "breaking"], ["3.0.0", "4.0.0", "5.0.0", "6.0.0"]),
        "Jira": ("source", "3.9.0", "4.0.0-rc.1", ["major", "prerelease", "breaking"], ["4.0.0"]),
        "DuckDB": ("destination", "0.2.0", "0.5.1", ["minor", "breaking"], ["0.3.0", "0.4.0", "0.5.0"]),
        "PokeAPI": ("source", "0.3.38", "dev", ["unknown"], []),
    }

    def test_plan_then_apply_held(self, airbyte, write_config):
        sources, destinations = [], []
        for name, (kind, now, wanted, _, _) in self.MOVES.items():
            entry = registry_entry(kind, name)
            airbyte.set_tag(kind, entry["dockerRepository"], now)
            (sources if kind == "source" else destinations).append(with_tag(entry, wanted))
        duck = airbyte.add_destination("airbyte/destination-duckdb", name="Local DuckDB")
        write_config(config(sources, destinations))

        dry = run_dag(dry_run=True)
        assert dry.state == "success" and airbyte.write_requests() == []
        (plan,) = xcom(dry, "prepare", "plan")
        meaning = {
            c["name"]: (c["versionChange"]["classes"], [b["version"] for b in c["versionChange"]["crossed"]])
            for c in plan["held"] + plan["changes"]
        }
        assert meaning == {name: (classes, crossed) for name, (_, _, _, classes, crossed) in self.MOVES.items()}
        # Held by default: every breaking one; the dev tag is unknown but Airbyte can read the registry, so it goes.
        assert sorted(h["name"] for h in plan["held"]) == ["DuckDB", "HubSpot", "Jira", "Shopify"]
        assert [c["name"] for c in plan["changes"]] == ["PokeAPI"]
        # DuckDB's breaking changes have no stream scope: every destination would stay behind.
        (duckdb,) = [h for h in plan["held"] if h["name"] == "DuckDB"]
        assert duckdb["impact"]["outcomes"] == {"stays_behind": 1}

        run = run_dag(apply_held=True)
        assert run.state == "success", task_states(run)
        assert len(airbyte.write_requests()) == 5
        assert airbyte.actor_version("destination", duck) == "0.2.0"  # Airbyte pinned it, as predicted
        (report,) = xcom(run, "report")
        (after,) = [a for a in report["afterUpdate"] if a["label"].startswith("update destination DuckDB")]
        assert [a["name"] for a in after["stayed"]] == ["Local DuckDB"] and after["stayed"][0]["runs"] == "0.2.0"


class TestNoWayAroundAPerson:
    """With approval on, apply_held never writes a held change unapproved; max_writes counts held changes
    and cannot be raised above max_writes_limit by whoever triggers."""

    @pytest.mark.parametrize("mode", ["held", "always"])
    def test_apply_held_puts_held_changes_in_front_of_the_approver(
        self, airbyte, write_config, monkeypatch, caplog, mode
    ):
        from airflow_airbyte_connectors.tasks.prepare import prepare

        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__APPROVAL", mode)
        path = write_config(config([GITHUB, POKEAPI]))
        prepared = prepare(config_path=str(path), apply_held=True)
        gated = [kwargs["change"]["label"] for kwargs in prepared.gated]
        now = [kwargs["change"]["label"] for kwargs in prepared.actions]
        assert "update source GitHub 1.8.0→2.1.14 major, breaking" in gated
        assert all("GitHub" not in label for label in now)
        assert now == ([] if mode == "always" else ["update source PokeAPI 0.3.38→0.3.40 patch"])
        assert f"apply_held is ignored with [airbyte_connectors] approval = {mode}" in caplog.text
        assert airbyte.write_requests() == []

    def test_without_approval_apply_held_is_the_trigger_s_decision(self, airbyte, write_config):
        from airflow_airbyte_connectors.tasks.prepare import prepare

        prepared = prepare(config_path=str(write_config(config([GITHUB, POKEAPI]))), apply_held=True)
        assert prepared.gated == [] and len(prepared.actions) == 2

    def test_held_changes_count_toward_max_writes(self, airbyte, write_config, capfd, caplog):
        write_config(config([GITHUB, POKEAPI]))
        dagrun = run_dag(max_writes=1)  # one safe write, one held: two
        assert dagrun.state == "failed" and task_states(dagrun)["prepare"] == ["failed"]
        assert airbyte.write_requests() == []
        logged = "".join(capfd.readouterr()) + caplog.text
        assert "The plan holds 2 writes (0 creates, 1 updates, 1 held), more than max_writes=1" in logged

    def test_max_writes_above_the_limit_is_refused_before_any_request(self, airbyte, write_config, monkeypatch):
        from airflow_airbyte_connectors.tasks.prepare import prepare

        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__MAX_WRITES_LIMIT", "10")
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__MAX_WRITES", "5")
        airbyte.clear_requests()
        path = str(write_config(config([GITHUB])))
        with pytest.raises(ValueError, match=r"max_writes=11 is above \[airbyte_connectors\] max_writes_limit=10"):
            prepare(config_path=path, max_writes=11)
        # A setting above the limit is named at run time too (the DAG still imports, capped).
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__MAX_WRITES", "50")
        with pytest.raises(ValueError, match=r"\[airbyte_connectors\] max_writes=50 is above max_writes_limit=10"):
            prepare(config_path=path)
        assert airbyte.requests == []

    def test_the_trigger_form_cannot_ask_for_more_than_the_limit(self, monkeypatch):
        from airflow.dag_processing.dagbag import DagBag

        from tests.support import DAGS_FOLDER

        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__MAX_WRITES_LIMIT", "10")
        dag = DagBag(dag_folder=str(DAGS_FOLDER)).get_dag("create_connectors")
        assert dag.params.get_param("max_writes").schema["maximum"] == 10
        param = dag.params.get_param("max_writes")
        assert param.resolve(10) == 10
        with pytest.raises(Exception, match="11 is greater than the maximum of 10"):
            param.resolve(11)
