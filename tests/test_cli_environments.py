"""``airbyte-connectors plan`` and ``environments`` with connectors.environments: two emulators side by side as
``airbyte_staging`` and ``airbyte_prod``, the command run for real in a child process (tests/test_cli.py's ``cli``).
Since when staging runs each version comes from the records create_connectors keeps in Airflow's database, read
without writing; where that database cannot be read, the output says so once."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_airbyte_connectors.records.promotion_records import VersionRecord, VersionsSeen
from tests import support
from tests.support import CLIENT_ID, CLIENT_SECRET, CUSTOM_SOURCE, connection_uri, registry_entry, unused_port
from tests.support import definition_entry as entry
from tests.test_cli import assert_one_error_line, cli  # noqa: F401 - cli: the fixture behind run

GITHUB = registry_entry("source", "GitHub")  # 1.9.0, as Airbyte 2.0's registry ships it
POKEAPI = registry_entry("source", "PokeAPI")
POSTGRES = registry_entry("destination", "Postgres")
REPOSITORY = GITHUB["dockerRepository"]
SEED = {"sources": [GITHUB, POKEAPI], "destinations": [POSTGRES]}
WANTED = "1.9.2"
STAGING_ID = "6c1f6d3e-0000-4000-8000-00000000000a"
RECORDS_NOTE = (
    "since when each environment runs each version is recorded by create_connectors runs in Airflow's database, "
    "which this command could not read: "
)
WAITING = "WAITING prod: update source GitHub 1.9.0→1.9.2 patch — waiting for staging: "


def environments_config(*sources: dict[str, Any], soak: str = "3d", syncs: int = 2) -> dict[str, Any]:
    return support.environments_config(*sources, destinations=(POSTGRES,), soak=soak, syncs=syncs)


GITHUB_WANTED = entry({**GITHUB, "dockerImageTag": WANTED})


@pytest.fixture
def run(request: pytest.FixtureRequest):
    """tests/test_cli.py's ``cli``: the command in a child process with a fresh AIRFLOW_HOME."""
    return request.getfixturevalue("cli")


@pytest.fixture
def airbytes(emulator) -> dict[str, Any]:
    """Two Airbytes (GitHub at 1.9.0 in both) and the environment naming them as the two connections."""
    staging = emulator(seed=SEED, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, deployment_id=STAGING_ID)
    prod = emulator(seed=SEED, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    env = {"AIRFLOW_CONN_AIRBYTE_STAGING": connection_uri(staging), "AIRFLOW_CONN_AIRBYTE_PROD": connection_uri(prod)}
    return {"staging": staging, "prod": prod, "env": env}


def nothing_written(airbytes: dict[str, Any]) -> None:
    assert airbytes["staging"].write_requests() == [] and airbytes["prod"].write_requests() == []


def closed_port() -> str:
    return json.dumps({"conn_type": "airbyte", "host": f"http://127.0.0.1:{unused_port()}"})


def staging_ran(airbytes: dict[str, Any], *statuses: str) -> None:
    """Staging runs 1.9.2 with a GitHub → Postgres connection whose syncs ended in ``statuses`` a minute ago."""
    staging = airbytes["staging"]
    staging.set_tag("source", REPOSITORY, WANTED)
    source = staging.add_source(REPOSITORY, name="GitHub")
    destination = staging.add_destination(POSTGRES["dockerRepository"], name="Warehouse")
    connection = staging.add_connection(source, destination, ["issues"], name="github → warehouse")
    for status in statuses:
        moment = time.time()
        staging.add_sync_job(connection, status, created_at=moment - 60, updated_at=moment)


def record_since(ago: timedelta, tag: str = WANTED) -> None:
    """What a create_connectors run records: staging was seen at ``tag`` ``ago``."""
    from airflow.models.variable import Variable

    seen = VersionsSeen(f"deployment {STAGING_ID}")
    since = datetime.now(UTC).replace(microsecond=0) - ago
    record = VersionRecord(tag, since, "seen").to_json()
    Variable.set(
        seen.key("source", REPOSITORY), json.dumps({"kind": "source", "dockerRepository": REPOSITORY, **record})
    )


@pytest.fixture
def airflow_database(airflow_db, airflow_home: Path) -> dict[str, str]:
    """The child's settings to reach this test's Airflow database, as a command run beside the DAG has them."""
    from airflow.configuration import conf

    return {
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": conf.get("database", "sql_alchemy_conn"),
        "AIRFLOW__CORE__FERNET_KEY": conf.get("core", "fernet_key", fallback=""),
    }


def database_file(settings: dict[str, str]) -> Path:
    return Path(settings["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].removeprefix("sqlite:///"))


class TestPlan:
    def test_text_has_a_section_per_environment_and_the_gate(self, run, airbytes, write_config):
        result = run("plan", str(write_config(environments_config(GITHUB_WANTED))), env=airbytes["env"])
        assert result.returncode == 2, result.stderr  # prod's waiting change counts as pending
        assert result.stderr == ""
        out = result.stdout
        staging, prod = airbytes["staging"].url, airbytes["prod"].url
        assert f"Plan for staging against Airbyte at {staging} — Airbyte 2.0.0 (community) (nothing is written):" in out
        assert f"Plan for prod against Airbyte at {prod} — Airbyte 2.0.0 (community) (nothing is written):" in out
        staging_part, prod_part = out.split("Plan for prod ")
        assert "0 to create, 1 to update, 1 unchanged" in staging_part and "WAITING" not in staging_part
        assert "0 to create, 0 to update, 1 waiting for the promotion gate, 1 unchanged" in prod_part
        assert f"{WAITING}1.9.2 is not there yet (it runs 1.9.0)" in prod_part.splitlines()
        # This command's fresh AIRFLOW_HOME has no database: said once, and none is created (the fixture checks).
        assert out.count(RECORDS_NOTE) == 1
        assert f"NOTE [promotion_records] {RECORDS_NOTE}there is no Airflow database at " in out
        nothing_written(airbytes)

    def test_markdown(self, run, airbytes, write_config):
        path = write_config(environments_config(GITHUB_WANTED))
        result = run("plan", str(path), "--format", "markdown", env=airbytes["env"])
        assert result.returncode == 2, result.stderr
        out = result.stdout
        assert out.startswith("### Airbyte connector plan for staging: 0 to create, 1 to update, 1 unchanged")
        assert (
            "\n### Airbyte connector plan for prod: 0 to create, 0 to update, 1 waiting for the promotion gate, "
            "1 unchanged" in out
        )
        assert "| **waiting** | source | GitHub | `airbyte/source-github` | 1.9.0 → 1.9.2 | patch; waiting |" in out
        assert (
            "- **waiting** prod: update source GitHub 1.9.0→1.9.2 patch — waiting for staging: 1.9.2 is not there "
            "yet (it runs 1.9.0)"
        ) in out
        assert out.count("**Note**: since when each environment runs each version") == 1

    def test_json_is_the_one_plan_document(self, run, airbytes, write_config):
        path = write_config(environments_config(GITHUB_WANTED))
        result = run("plan", str(path), "--format", "json", env=airbytes["env"])
        assert result.returncode == 2, result.stderr
        plan = json.loads(result.stdout)
        assert plan["schemaVersion"] == 4 and plan["dryRun"] is True
        assert [(e["name"], e["airbyteUrl"], e["error"]) for e in plan["environments"]] == [
            ("staging", airbytes["staging"].url, None),
            ("prod", airbytes["prod"].url, None),
        ]
        assert {e["definitionsAsset"] for e in plan["environments"]} == {None}  # nothing is written: no Asset
        assert [(c["environment"], c["label"]) for c in plan["changes"]] == [
            ("staging", "staging: update source GitHub 1.9.0→1.9.2 patch")
        ]
        (waiting,) = plan["waiting"]
        assert waiting["environment"] == "prod"
        assert waiting["gate"] == {
            "state": "waiting",
            "reason": "waiting for staging: 1.9.2 is not there yet (it runs 1.9.0)",
        }
        assert plan["counts"]["waiting"] == 1 and plan["counts"]["update"] == 1
        (note,) = [f for f in plan["findings"] if f["category"] == "promotion_records"]
        assert note["environment"] is None and note["message"].startswith(RECORDS_NOTE)

    def test_one_environment(self, run, airbytes, write_config):
        path = write_config(environments_config(GITHUB_WANTED))
        result = run("plan", str(path), "--environment", "prod", env=airbytes["env"])
        assert result.returncode == 2, result.stderr
        assert "Plan for staging" not in result.stdout and "Plan for prod against" in result.stdout
        assert f"{WAITING}1.9.2 is not there yet (it runs 1.9.0)" in result.stdout.splitlines()
        # staging is read all the same: prod's gate judges by what it runs
        assert "source_definitions/list" in [r.operation for r in airbytes["staging"].requests]
        as_json = json.loads(
            run("plan", str(path), "--environment", "prod", "--format", "json", env=airbytes["env"]).stdout
        )
        assert [e["name"] for e in as_json["environments"]] == ["prod"]
        assert {c["environment"] for c in as_json["unchanged"]} == {"prod"}

    def test_an_unknown_environment_is_refused_before_any_request(self, run, airbytes, write_config):
        path = write_config(environments_config(GITHUB_WANTED))
        result = run("plan", str(path), "--environment", "production", env=airbytes["env"])
        assert_one_error_line(result, "--environment: 'production' is not an environment (environments: prod, staging)")
        assert airbytes["staging"].requests == [] and airbytes["prod"].requests == []

    def test_conn_id_is_refused_with_environments(self, run, airbytes, write_config):
        path = write_config(environments_config(GITHUB_WANTED))
        result = run("plan", str(path), "--conn-id", "airbyte_staging", env=airbytes["env"])
        assert_one_error_line(
            result,
            "--conn-id: basic_config",
            "has connectors.environments, each naming its connection (staging: airbyte_staging, prod: airbyte_prod)",
        )
        assert result.stdout == ""
        assert airbytes["staging"].requests == [] and airbytes["prod"].requests == []

    @pytest.mark.parametrize("output", ["text", "markdown", "json"])
    def test_an_unreachable_environment_exits_1_after_the_others_are_printed(self, run, airbytes, write_config, output):
        path = write_config(environments_config(GITHUB_WANTED))
        env = {**airbytes["env"], "AIRFLOW_CONN_AIRBYTE_PROD": closed_port()}
        result = run("plan", str(path), "--format", output, env=env)
        line = assert_one_error_line(result, "environment prod could not be planned: cannot reach Airbyte")
        assert "staging" not in line
        out = result.stdout
        if output == "json":
            plan = json.loads(out)
            assert [(e["name"], e["error"] is None) for e in plan["environments"]] == [
                ("staging", True),
                ("prod", False),
            ]
            assert [c["label"] for c in plan["changes"]] == ["staging: update source GitHub 1.9.0→1.9.2 patch"]
        elif output == "markdown":
            assert out.startswith("### Airbyte connector plan for staging: 0 to create, 1 to update")
            assert "\n### Airbyte connector plan for prod: ⛔ not planned\n" in out
        else:
            assert f"Plan for staging against Airbyte at {airbytes['staging'].url}" in out
            assert (
                "Plan for prod: not planned, its Airbyte (connection airbyte_prod) could not be read: cannot reach"
                in out
            )
        nothing_written(airbytes)


class TestRecordsInAirflowsDatabase:
    """Where the command runs beside the DAG (same AIRFLOW_HOME), the gate counts the soak from the records."""

    def test_the_gate_says_how_long_staging_ran_it(self, run, airbytes, write_config, airflow_database):
        staging_ran(airbytes, "succeeded", "succeeded", "succeeded")
        record_since(timedelta(days=1, hours=4))
        database = database_file(airflow_database)
        before = hashlib.sha256(database.read_bytes()).hexdigest()

        path = write_config(environments_config(GITHUB_WANTED))
        result = run("plan", str(path), env={**airbytes["env"], **airflow_database})
        assert result.returncode == 2, result.stderr
        lines = result.stdout.splitlines()
        assert f"{WAITING}1.9.2 there for 1d 4h of 3d; 3 of 2 syncs succeeded" in lines
        assert RECORDS_NOTE not in result.stdout
        assert hashlib.sha256(database.read_bytes()).hexdigest() == before  # read, never written
        nothing_written(airbytes)

    def test_an_open_gate_lets_the_change_through_and_says_why(self, run, airbytes, write_config, airflow_database):
        staging_ran(airbytes, "succeeded", "succeeded")
        record_since(timedelta(days=1, hours=4))
        path = write_config(environments_config(GITHUB_WANTED, soak="1d"))
        result = run("plan", str(path), "--format", "json", env={**airbytes["env"], **airflow_database})
        assert result.returncode == 2, result.stderr
        plan = json.loads(result.stdout)
        assert plan["waiting"] == []
        (change,) = [c for c in plan["changes"] if c["environment"] == "prod"]
        assert change["gate"] == {
            "state": "open",
            "reason": "staging ran it: 1.9.2 there for 1d 4h of 1d; 2 of 2 syncs succeeded",
        }

    def test_a_record_of_another_tag_is_not_yet_seen(self, run, airbytes, write_config, airflow_database):
        staging_ran(airbytes, "succeeded", "succeeded")
        record_since(timedelta(days=9), tag="1.9.0")  # the run that recorded it saw 1.9.0; 1.9.2 came since
        path = write_config(environments_config(GITHUB_WANTED))
        result = run("plan", str(path), env={**airbytes["env"], **airflow_database})
        assert f"{WAITING}1.9.2 there, not yet seen by a run" in result.stdout.splitlines()

    def test_a_database_without_the_variable_table_is_said_once(self, run, airbytes, write_config, tmp_path):
        empty = tmp_path / "elsewhere" / "airflow.db"
        empty.parent.mkdir()
        empty.touch()
        env = {**airbytes["env"], "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{empty}"}
        staging_ran(airbytes, "succeeded")
        result = run("plan", str(write_config(environments_config(GITHUB_WANTED))), env=env)
        assert result.returncode == 2, result.stderr
        assert result.stdout.count(RECORDS_NOTE) == 1
        assert f"{RECORDS_NOTE}Airflow's database (sqlite:///{empty}): OperationalError: no such table: variable" in (
            result.stdout
        )
        assert f"{WAITING}1.9.2 there, not yet seen by a run" in result.stdout.splitlines()
        assert empty.stat().st_size == 0


class TestMatrix:
    def test_all_in_step_exits_0(self, run, airbytes, write_config):
        path = write_config(environments_config(entry(GITHUB)))
        result = run("environments", str(path), env=airbytes["env"])
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
        rows = [line.split() for line in result.stdout.splitlines()]
        assert ["DEFINITION", "staging", "prod"] in rows
        assert ["source", "GitHub", "1.9.0", "in", "step", "1.9.0", "in", "step"] in rows
        assert ["destination", "Postgres", *[POSTGRES["dockerImageTag"], "in", "step"] * 2] in rows
        assert "4 in step" in result.stdout
        nothing_written(airbytes)

    def test_each_state_and_exit_2(self, run, airbytes, write_config, airflow_database, monkeypatch):
        staging_ran(airbytes, "succeeded")
        airbytes["prod"].set_tag("source", POKEAPI["dockerRepository"], "0.3.41")  # prod is ahead: a downgrade
        record_since(timedelta(hours=2))
        config = environments_config(
            GITHUB_WANTED,
            entry(POKEAPI),
            {**CUSTOM_SOURCE, "environments": ["staging"]},
            soak="1d",
            syncs=1,
        )
        path = write_config(config)
        result = run("environments", str(path), "--format", "json", env={**airbytes["env"], **airflow_database})
        assert result.returncode == 2, result.stderr
        matrix = json.loads(result.stdout)
        assert matrix["schemaVersion"] == 1
        assert [e["name"] for e in matrix["environments"]] == ["staging", "prod"]
        cells = {
            (row["name"], cell["environment"]): (cell["state"], cell["tagNow"], cell["tagWanted"])
            for row in matrix["definitions"]
            for cell in row["cells"]
        }
        poke = POKEAPI["dockerImageTag"]
        assert cells == {
            ("Acme CRM", "staging"): ("to_write", None, CUSTOM_SOURCE["dockerImageTag"]),
            ("Acme CRM", "prod"): ("not_in_environment", None, None),
            ("GitHub", "staging"): ("in_step", WANTED, WANTED),
            ("GitHub", "prod"): ("waiting", "1.9.0", WANTED),
            ("PokeAPI", "staging"): ("in_step", poke, poke),
            ("PokeAPI", "prod"): ("held", "0.3.41", poke),
            ("Postgres", "staging"): ("in_step", POSTGRES["dockerImageTag"], POSTGRES["dockerImageTag"]),
            ("Postgres", "prod"): ("in_step", POSTGRES["dockerImageTag"], POSTGRES["dockerImageTag"]),
        }
        reasons = {(row["name"], c["environment"]): c["reason"] for row in matrix["definitions"] for c in row["cells"]}
        assert reasons[("GitHub", "prod")] == "waiting for staging: 1.9.2 there for 2h of 1d; 1 of 1 syncs succeeded"
        assert reasons[("PokeAPI", "prod")] == "held for downgrade (hold_changes)"
        assert matrix["counts"]["inStep"] == 4 and matrix["counts"]["notInEnvironment"] == 1

        text = run("environments", str(path), env={**airbytes["env"], **airflow_database})
        assert text.returncode == 2
        rows = [line.split() for line in text.stdout.splitlines()]
        assert ["source", "GitHub", "1.9.2", "in", "step", "1.9.0", "→", "1.9.2", "waiting"] in rows
        assert "prod source GitHub: waiting for staging: 1.9.2 there for 2h of 1d; 1 of 1 syncs succeeded" in (
            text.stdout.splitlines()
        )
        markdown = run("environments", str(path), "--format", "markdown", env={**airbytes["env"], **airflow_database})
        assert markdown.returncode == 2
        assert "| source GitHub `airbyte/source-github` | 1.9.2 **in step** | 1.9.0 → 1.9.2 **waiting** |" in (
            markdown.stdout
        )

    def test_a_failed_sync_upstream_holds_prod(self, run, airbytes, write_config, airflow_database):
        staging_ran(airbytes, "succeeded", "failed")
        record_since(timedelta(days=5))
        path = write_config(environments_config(GITHUB_WANTED, soak="1d", syncs=1))
        result = run("environments", str(path), env={**airbytes["env"], **airflow_database})
        assert result.returncode == 2, result.stderr
        rows = [line.split() for line in result.stdout.splitlines()]
        assert ["source", "GitHub", "1.9.2", "in", "step", "1.9.0", "→", "1.9.2", "held"] in rows
        (why,) = [line for line in result.stdout.splitlines() if line.startswith("prod source GitHub: ")]
        assert why.startswith("prod source GitHub: held: staging sync of 'github → warehouse' failed at ")

    def test_an_unreadable_environment_exits_1(self, run, airbytes, write_config):
        path = write_config(environments_config(GITHUB_WANTED))
        env = {**airbytes["env"], "AIRFLOW_CONN_AIRBYTE_PROD": closed_port()}
        result = run("environments", str(path), "--format", "json", env=env)
        assert_one_error_line(result, "environment prod could not be read: cannot reach Airbyte")
        matrix = json.loads(result.stdout)
        states = {(row["name"], c["environment"]): c["state"] for row in matrix["definitions"] for c in row["cells"]}
        assert states[("GitHub", "staging")] == "to_write"
        assert states[("GitHub", "prod")] == states[("Postgres", "prod")] == "environment_unreadable"

    def test_a_config_without_environments_is_refused(self, run, airbytes, write_config):
        path = write_config({"connectors": {"source_definitions": [entry(GITHUB)], "destination_definitions": []}})
        result = run("environments", str(path), env=airbytes["env"])
        assert_one_error_line(result, "has no connectors.environments", "plan")
        assert airbytes["staging"].requests == []
