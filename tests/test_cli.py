"""The ``airbyte-connectors`` command line, run for real in a child process against the emulator.

Each run gets a fresh AIRFLOW_HOME that was never migrated, and the run must leave no database behind:
the command needs only the Connection from the environment. ``plan`` must never write.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import (
    CLIENT_ID,
    CLIENT_SECRET,
    CUSTOM_SOURCE,
    REPO_ROOT,
    connection_uri,
    registry_entry,
    unused_port,
)

POKEAPI = registry_entry("source", "PokeAPI")
SENTRY = registry_entry("source", "Sentry")
POSTGRES = registry_entry("destination", "Postgres")
# Small on purpose: every test starts its own emulator, and a child process lists it.
SEED = {"sources": [POKEAPI, SENTRY], "destinations": [POSTGRES]}
VALID = REPO_ROOT / "tests" / "data" / "configs" / "valid.yaml"
BAD_CONFIGS = REPO_ROOT / "tests" / "data" / "bad_configs"
ERROR_PREFIX = "airbyte-connectors: error: "


def config(*sources, destinations=()):
    return {"connectors": {"source_definitions": list(sources), "destination_definitions": list(destinations)}}


@pytest.fixture
def cli(tmp_path: Path):
    """Run ``python -m airflow_airbyte_connectors ARGS`` with a clean environment and a fresh AIRFLOW_HOME."""
    home = tmp_path / "airflow-home-never-migrated"
    home.mkdir()

    def run(
        *args: str, conn: str | None = None, env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess:
        # Nothing Airflow-related leaks in from the test process (its AIRFLOW_HOME may hold a database).
        child_env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        child_env.update(
            PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
            AIRFLOW_HOME=str(home),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            # No route to Docker Hub here; TestImageCheck points the check at a local registry.
            AIRFLOW__AIRBYTE_CONNECTORS__CHECK_IMAGES="False",
            AIRFLOW__AIRBYTE_CONNECTORS__REGISTRY_URL="",
            AIRFLOW__AIRBYTE_CONNECTORS__PLATFORM_COMPATIBILITY_URL="",
        )
        if conn is not None:
            child_env["AIRFLOW_CONN_AIRBYTE_DEFAULT"] = conn
        child_env.update(env or {})
        result = subprocess.run(
            [sys.executable, "-m", "airflow_airbyte_connectors", *args],
            env=child_env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert "Traceback" not in result.stderr, result.stderr
        assert CLIENT_SECRET not in result.stdout + result.stderr
        assert not [p for p in home.rglob("*") if p.suffix == ".db"], "the command created an Airflow database"
        return result

    return run


def assert_one_error_line(result: subprocess.CompletedProcess, *fragments: str) -> str:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(ERROR_PREFIX)
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def table_rows(markdown: str) -> list[list[str]]:
    """The cells of every Markdown table row, header and separator rows left out."""
    rows = []
    for line in markdown.splitlines():
        if line.startswith("| ") and not line.startswith("| Action"):
            rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows


class TestPlan:
    def test_in_step_exits_0(self, cli, emulator, write_config):
        emu = emulator(seed=SEED, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
        result = cli("plan", str(write_config(config(POKEAPI, destinations=[POSTGRES]))), conn=connection_uri(emu))
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
        assert f"Plan against Airbyte at {emu.url} — Airbyte 2.0.0 (community) (nothing is written):" in result.stdout
        assert "0 to create, 0 to update, 2 unchanged, 1 in Airbyte but not in basic_config" in result.stdout
        assert [r.operation for r in emu.requests] == [
            "applications/token",
            "instance_configuration",
            "source_definitions/list",
            "destination_definitions/list",
        ]

    def test_changes_pending_exit_2_and_nothing_is_written(self, cli, emulator, write_config):
        emu = emulator(seed=SEED, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
        emu.set_tag("source", POKEAPI["dockerRepository"], "0.3.38")
        result = cli("plan", str(write_config(config(POKEAPI, CUSTOM_SOURCE))), conn=connection_uri(emu))
        assert result.returncode == 2, result.stderr
        assert result.stderr == ""
        assert emu.write_requests() == []
        # Not even the workspace look-up that prepare makes before writing.
        assert "workspaces/list_by_organization_id" not in [r.operation for r in emu.requests]
        lines = result.stdout.splitlines()
        assert any(line.split()[:3] == ["create", "source", "Acme"] and "(new)" in line for line in lines)
        assert any(
            line.startswith("update")
            and "0.3.38 → " + POKEAPI["dockerImageTag"] in line
            and POKEAPI["sourceDefinitionId"] in line
            for line in lines
        )

    @staticmethod
    def pending_plan(cli, emulator, write_config, output_format: str) -> subprocess.CompletedProcess:
        """``plan --format output_format`` with one create, one update and one unchanged: exit 2, no write."""
        emu = emulator(seed=SEED, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
        emu.set_tag("source", POKEAPI["dockerRepository"], "0.3.38")
        path = write_config(config(POKEAPI, CUSTOM_SOURCE, destinations=[POSTGRES]))
        result = cli("plan", str(path), "--format", output_format, conn=connection_uri(emu))
        assert result.returncode == 2, result.stderr
        assert emu.write_requests() == []
        return result

    def test_a_version_airbyte_would_refuse_exits_1_with_its_words(self, cli, emulator, write_config, tmp_path):
        emu = emulator(seed=SEED, airbyte_version="2.2.0")
        emu.set_tag("source", POKEAPI["dockerRepository"], "0.3.38")
        rule = {"connectorVersion": POKEAPI["dockerImageTag"], "airbyteVersion": ">=2.3.0"}
        entry = {"connectorName": "source-pokeapi", "connectorType": "source"}
        entry |= {"connectorDefinitionId": POKEAPI["sourceDefinitionId"], "compatibilityMatrix": [rule]}
        matrix = tmp_path / "platform-compatibility.json"
        matrix.write_text(json.dumps({"compatibleConnectors": [entry]}))
        env = {"AIRFLOW__AIRBYTE_CONNECTORS__PLATFORM_COMPATIBILITY_URL": str(matrix)}
        result = cli("plan", str(write_config(config(POKEAPI))), conn=connection_uri(emu, auth="none"), env=env)
        assert_one_error_line(
            result,
            f"Current Airbyte version 2.2.0 doesn't support connector version {POKEAPI['dockerImageTag']} "
            "for connector source-pokeapi. Compatible Airbyte Version(s): >=2.3.0",
        )
        assert "Airbyte 2.2.0 (community)" in result.stdout and emu.write_requests() == []

    def test_json(self, cli, emulator, write_config):
        plan = json.loads(self.pending_plan(cli, emulator, write_config, "json").stdout)
        assert plan["schemaVersion"] == 4 and plan["dryRun"] is True
        assert plan["environments"] == [] and plan["waiting"] == []  # no connectors.environments
        assert plan["airbyte"] == {"version": "2.0.0", "edition": "community"}
        assert plan["counts"] == {
            "create": 1,
            "update": 1,
            "blocked": 0,
            "held": 0,
            "pending": 0,
            "waiting": 0,
            "unchanged": 1,
            "unmanaged": 1,
            "findings": 1,  # registry_url is empty in these tests: the plan says breaking changes are not checked
            "conflicts": 0,
        }
        create, update = plan["changes"]
        create_id = create.pop("changeId")
        assert len(create_id) == 12 and update["changeId"] not in (create_id, None)
        assert create == {
            "environment": None,
            "label": "create source Acme CRM 1.2.0",
            "action": "create",
            "kind": "source",
            "name": "Acme CRM",
            "dockerRepository": CUSTOM_SOURCE["dockerRepository"],
            "tagBefore": None,
            "tagAfter": "1.2.0",
            "definitionId": None,
            "documentationUrl": CUSTOM_SOURCE["documentationUrl"],
            "nameBefore": None,
            "documentationUrlBefore": None,
            "changes": [],
            "versionChange": None,
            "versionMeaning": "",
            "holdReasons": [],
            "impact": None,
            "gate": None,
            "workspaceId": None,  # decided where a run writes, not by the command line
            "ownerNotFound": None,
        }
        assert update["action"] == "update" and update["definitionId"] == POKEAPI["sourceDefinitionId"]
        assert (update["tagBefore"], update["tagAfter"]) == ("0.3.38", POKEAPI["dockerImageTag"])
        assert update["changes"] == [
            {"field": "dockerImageTag", "before": "0.3.38", "after": POKEAPI["dockerImageTag"]}
        ]
        assert plan["unchanged"] == [
            {
                "environment": None,
                "kind": "destination",
                "name": "Postgres",
                "dockerRepository": POSTGRES["dockerRepository"],
                "dockerImageTag": POSTGRES["dockerImageTag"],
                "definitionId": POSTGRES["destinationDefinitionId"],
            }
        ]
        assert update["versionChange"]["classes"] == ["patch"] and update["impact"]["total"] == 0
        assert [f["category"] for f in plan["findings"]] == ["registry"] and plan["unmanaged"] == 1

    def test_markdown(self, cli, emulator, write_config):
        result = self.pending_plan(cli, emulator, write_config, "markdown")
        assert result.stdout.startswith("### Airbyte connector plan: 1 to create, 1 to update, 1 unchanged")
        assert "\nPlanned against Airbyte 2.0.0 (community).\n" in result.stdout
        assert table_rows(result.stdout) == [
            ["**create**", "source", "Acme CRM", f"`{CUSTOM_SOURCE['dockerRepository']}`", "1.2.0", "", "(new)"],
            [
                "**update**",
                "source",
                "PokeAPI",
                f"`{POKEAPI['dockerRepository']}`",
                f"0.3.38 → {POKEAPI['dockerImageTag']}",
                "patch",
                f"`{POKEAPI['sourceDefinitionId']}`",
            ],
            [
                "unchanged",
                "destination",
                "Postgres",
                f"`{POSTGRES['dockerRepository']}`",
                POSTGRES["dockerImageTag"],
                "",
                f"`{POSTGRES['destinationDefinitionId']}`",
            ],
        ]
        # The unchanged row is folded away, after the changes.
        assert result.stdout.index("<details>") < result.stdout.index("| unchanged")

    def test_conflict_prints_the_plan_and_exits_1(self, cli, emulator, write_config):
        emu = emulator(seed=SEED, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
        twin = emu.add_definition(
            "source",
            name="PokeAPI (copy)",
            docker_repository=POKEAPI["dockerRepository"],
            docker_image_tag="0.1.0",
            documentation_url=POKEAPI["documentationUrl"],
            custom=True,
        )
        entry = {k: v for k, v in POKEAPI.items() if k != "sourceDefinitionId"}
        result = cli("plan", str(write_config(config(entry))), "--format", "json", conn=connection_uri(emu))
        line = assert_one_error_line(result, "1 conflict", POKEAPI["sourceDefinitionId"], twin["sourceDefinitionId"])
        assert "sourceDefinitionId" in line
        assert emu.write_requests() == []
        plan = json.loads(result.stdout)  # the plan is still printed, so a PR comment can show it
        assert plan["counts"]["conflicts"] == 1
        assert [f["category"] for f in plan["findings"]] == ["ambiguous"]

    def test_no_log_noise_around_the_json(self, cli, emulator, write_config):
        # A password under 5 characters makes Airflow's secrets masker log a warning (to stdout).
        emu = emulator(seed=SEED, client_id="ci", client_secret="shh")
        conn = json.dumps({"conn_type": "airbyte", "host": emu.url, "login": "ci", "password": "shh"})
        result = cli("plan", str(write_config(config(POKEAPI))), "--format", "json", conn=conn)
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
        assert json.loads(result.stdout)["counts"]["unchanged"] == 1

    def test_other_connection_id(self, cli, emulator, write_config):
        emu = emulator(seed=SEED)
        env = {"AIRFLOW_CONN_MY_AIRBYTE": connection_uri(emu, auth="none")}
        result = cli("plan", str(write_config(config(POKEAPI))), "--conn-id", "my_airbyte", env=env)
        assert result.returncode == 0, result.stderr
        assert [r.operation for r in emu.requests] == [
            "instance_configuration",
            "source_definitions/list",
            "destination_definitions/list",
        ]


class TestValidate:
    def test_valid(self, cli):
        result = cli("validate", str(VALID))
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines() == [f"OK basic_config {VALID}: 2 source and 1 destination definitions"]
        assert result.stderr == ""

    @pytest.mark.parametrize(
        ("name", "expected"),
        [
            ("many_problems", "connectors.source_definitions[1].dockerImageTag: 'bad tag' is not a Docker tag"),
            ("duplicate_ids", "already used by"),
            ("yaml_unclosed_bracket", "line"),
            ("empty", "file is empty"),
        ],
        ids=["many_problems", "duplicate_ids", "yaml_unclosed_bracket", "empty"],
    )
    def test_invalid_lists_every_problem(self, cli, name, expected):
        path = BAD_CONFIGS / f"{name}.yaml"
        result = cli("validate", str(path))
        assert_one_error_line(result, "is invalid")
        assert result.stdout.startswith(f"Invalid basic_config {path} (")
        assert expected in result.stdout
        if name == "many_problems":
            assert result.stdout.count("\n  - ") == 9

    @pytest.mark.parametrize("command", ["validate", "plan"], ids=["validate", "plan"])
    def test_missing_file(self, cli, tmp_path, command):
        missing = tmp_path / "nope.yaml"
        result = cli(command, str(missing), conn='{"conn_type": "airbyte", "host": "http://127.0.0.1:1"}')
        assert_one_error_line(result, str(missing))
        assert "file not found" in result.stdout + result.stderr

    @pytest.mark.parametrize("command", ["validate", "plan", "outdated", "bump"])
    def test_fifo_is_refused_unopened(self, cli, tmp_path, command):
        # Opening a FIFO blocks until a writer comes; none comes. The timeout makes a hang a failure.
        pipe = tmp_path / "basic_config.yaml"
        os.mkfifo(pipe)
        conn = '{"conn_type": "airbyte", "host": "http://127.0.0.1:1"}'
        result = cli(command, str(pipe), conn=conn, timeout=20)
        assert_one_error_line(result, str(pipe))
        assert "is a FIFO (named pipe), expected a YAML file" in result.stdout + result.stderr

    def test_plan_with_an_invalid_config_sends_nothing(self, cli, emulator):
        emu = emulator(seed=SEED)
        result = cli("plan", str(BAD_CONFIGS / "many_problems.yaml"), conn=connection_uri(emu, auth="none"))
        assert_one_error_line(result, "9 problems", "connectors.destination_definitions: must be a list")
        assert result.stdout == ""
        assert emu.requests == []


class TestErrors:
    @pytest.mark.parametrize("command", ["outdated", "bump"])
    def test_airbyte_version_must_be_x_y_z(self, cli, command):
        result = cli(command, str(VALID), "--airbyte-version", "2.x")
        assert_one_error_line(result, "argument --airbyte-version: not an Airbyte version X.Y.Z: '2.x'")
        assert result.stdout == ""

    @pytest.mark.parametrize(
        ("conn", "expected"),
        [
            (None, "AIRFLOW_CONN_AIRBYTE_DEFAULT"),
            ('{"conn_type": "airbyte", "host": ', "AIRFLOW_CONN_AIRBYTE_DEFAULT"),
            ("garbage", "has no host"),
            ('{"conn_type": "airbyte"}', "has no host"),
        ],
        ids=["unset", "truncated_json", "not_a_connection", "no_host"],
    )
    def test_unusable_connection(self, cli, write_config, conn, expected):
        result = cli("plan", str(write_config(config(POKEAPI))), conn=conn)
        assert_one_error_line(result, expected)
        assert result.stdout == ""

    @pytest.mark.parametrize("command", ["plan", "outdated"])
    def test_a_bad_setting_is_named_as_the_setting_not_the_connection(self, cli, write_config, command):
        conn = json.dumps({"conn_type": "airbyte", "host": f"http://127.0.0.1:{unused_port()}"})
        env = {"AIRFLOW__AIRBYTE_CONNECTORS__READ_TIMEOUT": "abc"}
        result = cli(command, str(write_config(config(POKEAPI))), "--conn-id", "airbyte_default", conn=conn, env=env)
        line = assert_one_error_line(result)
        assert line == (
            f"{ERROR_PREFIX}setting [airbyte_connectors] read_timeout = 'abc' is not a number above 0 "
            "(airflow.cfg or AIRFLOW__AIRBYTE_CONNECTORS__READ_TIMEOUT)"
        )

    def test_wrong_client_secret(self, cli, emulator, write_config):
        emu = emulator(seed=SEED, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
        conn = json.dumps({"conn_type": "airbyte", "host": emu.url, "login": CLIENT_ID, "password": "wrong-secret-x"})
        result = cli("plan", str(write_config(config(POKEAPI))), conn=conn)
        line = assert_one_error_line(result, "HTTP 401", "client secret")
        assert "wrong-secret-x" not in line

    def test_airbyte_down(self, cli, write_config):
        conn = json.dumps({"conn_type": "airbyte", "host": f"http://127.0.0.1:{unused_port()}"})
        result = cli("plan", str(write_config(config(POKEAPI))), conn=conn)
        assert_one_error_line(result, "cannot reach Airbyte", "connection refused")
        assert result.stdout == ""

    def test_credentials_in_the_host_are_printed_nowhere(self, cli, emulator, write_config):
        path = str(write_config(config(POKEAPI)))
        port = unused_port()
        down = cli(
            "plan",
            path,
            conn=json.dumps({"conn_type": "airbyte", "host": f"http://ops:pw-in-host-9d@127.0.0.1:{port}"}),
        )
        assert_one_error_line(down, f"cannot reach Airbyte (http://127.0.0.1:{port}/api/v1/", "connection refused")
        emu = emulator(seed=SEED, profile="0.63", client_id="ops", client_secret="pw-in-host-9d")
        host = emu.url.replace("http://", "http://ops:pw-in-host-9d@")
        result = cli("plan", path, conn=json.dumps({"conn_type": "airbyte", "host": host}))
        assert result.returncode == 0, result.stderr
        assert f"Plan against Airbyte at {emu.url} " in result.stdout
        for printed in (down.stdout + down.stderr, result.stdout + result.stderr):
            assert "pw-in-host-9d" not in printed and "ops:" not in printed and "ops@" not in printed

    @pytest.mark.parametrize(
        "args",
        [
            [],
            ["--bogus"],
            ["frobnicate"],
            ["validate"],
            ["plan"],
            ["plan", "basic_config.yaml", "--format", "xml"],
            ["plan", "basic_config.yaml", "--dry-run"],
            ["validate", "a.yaml", "b.yaml"],
        ],
        ids=[
            "nothing",
            "unknown_flag",
            "unknown_command",
            "validate_no_path",
            "plan_no_path",
            "bad_format",
            "unknown_plan_flag",
            "extra_argument",
        ],
    )
    def test_bad_flags_exit_1_not_2(self, cli, args):
        assert_one_error_line(cli(*args), "--help")

    def test_help_exits_0(self, cli):
        result = cli("plan", "--help")
        assert result.returncode == 0
        assert "--format" in result.stdout


class TestImageCheck:
    def test_missing_tag_fails_the_plan_and_is_named(self, cli, emulator, write_config):
        from airflow_airbyte_connectors.testing import ImageRegistryEmulator

        emu = emulator(seed=SEED, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
        emu.set_tag("source", POKEAPI["dockerRepository"], "0.3.38")
        path = write_config(config({**POKEAPI, "dockerImageTag": "0.3.99"}))
        with ImageRegistryEmulator([(POKEAPI["dockerRepository"], "0.3.40")], max_lifetime=60) as images:
            env = {
                "AIRFLOW__AIRBYTE_CONNECTORS__CHECK_IMAGES": "True",
                "AIRFLOW__AIRBYTE_CONNECTORS__DOCKER_HUB_URL": images.url,
            }
            result = cli("plan", str(path), "--format", "json", conn=connection_uri(emu), env=env)
        assert result.returncode == 1
        assert "image airbyte/source-pokeapi:0.3.99 does not exist" in result.stderr
        plan = json.loads(result.stdout)
        assert plan["changes"] == [] and [b["tagAfter"] for b in plan["blocked"]] == ["0.3.99"]
        assert emu.write_requests() == []
