"""The create_connectors DAG end to end: real Airflow (dag.test) against the emulator over real HTTP."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support import CLIENT_SECRET, CUSTOM_SOURCE, DAGS_FOLDER, registry_entry

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("airflow_db")]

POKEAPI = registry_entry("source", "PokeAPI")
FAKER = registry_entry("source", "Sample Data")
DEV_NULL = registry_entry("destination", "End-to-End Testing (/dev/null)")
CUSTOM_DESTINATION = {
    "name": "Acme Lake",
    "dockerRepository": "ghcr.io/acme/destination-acme-lake",
    "dockerImageTag": "0.9.1",
    "documentationUrl": "https://acme.example.com/docs/lake",
}


def config(sources: list[dict[str, Any]], destinations: list[dict[str, Any]] = ()) -> dict[str, Any]:
    return {"connectors": {"source_definitions": list(sources), "destination_definitions": list(destinations)}}


def with_tag(entry: dict[str, Any], tag: str) -> dict[str, Any]:
    return {**entry, "dockerImageTag": tag}


def run_dag(**conf: Any):
    """Parse dags/ as the dag-processor would and run create_connectors once; return the DagRun."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    assert bag.import_errors == {}
    return bag.get_dag("create_connectors").test(run_conf=conf or None)


def task_states(dagrun) -> dict[str, list[str]]:
    states: dict[str, list[str]] = {}
    for ti in sorted(dagrun.get_task_instances(), key=lambda t: (t.task_id, t.map_index)):
        states.setdefault(ti.task_id, []).append(str(ti.state))
    return states


def xcom(dagrun, task_id: str, key: str = "return_value") -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        query = XComModel.get_many(run_id=dagrun.run_id, dag_ids=dagrun.dag_id, task_ids=task_id, key=key)
        return [XComModel.deserialize_value(row) for row in session.scalars(query)]


def writes(emu) -> list[tuple[str, Any]]:
    return [(r.operation, r.body) for r in emu.write_requests()]


def older(emu, kind: str, entry: dict[str, Any], tag: str) -> None:
    """Make Airbyte hold an older default version of a built-in definition."""
    emu.set_tag(kind, entry["dockerRepository"], tag)


@pytest.fixture
def airbyte(use_emulator):
    from tests.support import REGISTRY

    return use_emulator(seed=REGISTRY)


class TestConvergence:
    def test_first_run_applies_exactly_the_difference_and_second_run_writes_nothing(
        self, airbyte, write_config, capfd, caplog
    ):
        older(airbyte, "source", POKEAPI, "0.3.38")
        write_config(config([POKEAPI, FAKER, CUSTOM_SOURCE], [DEV_NULL, CUSTOM_DESTINATION]))

        first = run_dag()
        assert first.state == "success", task_states(first)
        operations = sorted(op for op, _ in writes(airbyte))
        assert operations == [
            "destination_definitions/create_custom",
            "source_definitions/create_custom",
            "source_definitions/update",
        ]
        (update,) = [body for op, body in writes(airbyte) if op.endswith("update")]
        assert update["dockerImageTag"] == "0.3.40" and update["workspaceId"] == airbyte.workspace_ids[0]

        states = task_states(first)
        assert states["apply"] == ["success"] * 3 and states["report"] == ["success"]
        (report,) = xcom(first, "report")
        assert report["counts"]["created"] == 2 and report["counts"]["updated"] == 1
        assert report["counts"]["unchanged"] == 2 and report["counts"]["failed"] == 0

        by_repo = {d["dockerRepository"]: d for d in airbyte.definitions("source")}
        assert by_repo["airbyte/source-pokeapi"]["dockerImageTag"] == "0.3.40"
        assert by_repo["ghcr.io/acme/source-acme-crm"]["custom"] is True

        airbyte.clear_requests()
        second = run_dag()
        assert second.state == "success"
        assert writes(airbyte) == []
        states = task_states(second)
        assert states["apply"] == ["skipped"]
        # Nothing to write: the finishing tasks still run and report it.
        assert states["publish_changes"] == ["success"] and states["report"] == ["success"]
        (report,) = xcom(second, "report")
        assert report["counts"]["unchanged"] == 5 and report["counts"]["failed"] == 0

        # Neither the client secret nor a token shows in what the runs logged or stored in XCom.
        printed = "".join(capfd.readouterr()) + caplog.text
        assert "Plan against Airbyte" in printed
        stored = json.dumps(
            [
                xcom(run, task, key)
                for run in (first, second)
                for task, key in (
                    ("prepare", "return_value"),
                    ("prepare", "plan"),
                    ("apply", "return_value"),
                    ("report", "return_value"),
                )
            ]
        )
        assert airbyte.tokens_issued
        for secret in (CLIENT_SECRET, *airbyte.tokens_issued):
            assert secret not in printed and secret not in stored
        # prepare reads the instance and each kind once and nothing else when there is nothing to write
        # (the token from the first run is still valid in this process).
        assert sorted(r.operation for r in airbyte.requests) == [
            "destination_definitions/list",
            "instance_configuration",
            "source_definitions/list",
        ]

    def test_version_bump_causes_exactly_one_update(self, airbyte, write_config):
        write_config(config([POKEAPI, CUSTOM_SOURCE]))
        assert run_dag().state == "success"
        airbyte.clear_requests()

        write_config(config([POKEAPI, with_tag(CUSTOM_SOURCE, "1.3.0")]))
        dagrun = run_dag()
        assert dagrun.state == "success"
        ((operation, body),) = writes(airbyte)
        assert operation == "source_definitions/update" and body["dockerImageTag"] == "1.3.0"
        labels = [ti.rendered_map_index for ti in dagrun.get_task_instances() if ti.task_id == "apply"]
        assert labels == ["update source Acme CRM 1.2.0→1.3.0 minor"]

    def test_created_definition_is_found_again_not_created_twice(self, airbyte, write_config):
        write_config(config([CUSTOM_SOURCE]))
        for _ in range(3):
            assert run_dag().state == "success"
        matches = [
            d for d in airbyte.definitions("source") if d["dockerRepository"] == CUSTOM_SOURCE["dockerRepository"]
        ]
        assert len(matches) == 1
        assert [op for op, _ in writes(airbyte)] == ["source_definitions/create_custom"]


class TestAirbyteVersions:
    @pytest.mark.parametrize(
        ("profile", "token_lifetime"),
        [("0.63", None), ("1.6", 1.0), ("2.0", 1.0), ("2.2", 1.0), ("2.4", 1.0)],
        ids=[
            "0.63-basic-auth",
            "1.6-token-expires-mid-run",
            "2.0-token-expires-mid-run",
            "2.2-token-expires-mid-run",
            "2.4-token-expires-mid-run",
        ],
    )
    def test_converges_unchanged_hook_on_each_profile(self, use_emulator, write_config, profile, token_lifetime):
        from tests.support import REGISTRY

        # Each write takes longer than a token lives, so later calls meet an expired token.
        airbyte = use_emulator(seed=REGISTRY, profile=profile, token_lifetime=token_lifetime, write_delay=1.2)
        older(airbyte, "source", POKEAPI, "0.3.38")
        write_config(config([POKEAPI, CUSTOM_SOURCE], [CUSTOM_DESTINATION]))

        assert run_dag().state == "success"
        # Applied writes; one may also have been answered 401 first (its token expired) and sent again.
        assert sorted(r.operation for r in airbyte.write_requests() if r.status == 200) == [
            "destination_definitions/create_custom",
            "source_definitions/create_custom",
            "source_definitions/update",
        ]
        statuses = [(r.operation, r.status) for r in airbyte.requests]
        if token_lifetime:
            assert any(status == 401 for _, status in statuses), "the token never expired during the run"
            # On 2.1 and later the creates' SPEC commands take the time, and their polls meet it instead.
            assert [op for op, status in statuses if status == 401 and ("_definitions/" in op or "commands/" in op)]
        else:
            assert all(r.headers["authorization"].startswith("Basic ") for r in airbyte.requests)

        airbyte.clear_requests()
        assert run_dag().state == "success"
        assert writes(airbyte) == []


class TestDryRun:
    def test_dry_run_plans_and_sends_no_write(self, airbyte, write_config):
        older(airbyte, "source", POKEAPI, "0.3.38")
        write_config(config([POKEAPI, CUSTOM_SOURCE]))
        dagrun = run_dag(dry_run=True)
        assert dagrun.state == "success"
        assert writes(airbyte) == []
        results = sorted(r["action"] for r in xcom(dagrun, "apply"))
        assert results == ["would_create", "would_update"]
        (plan,) = xcom(dagrun, "prepare", key="plan")
        assert plan["dryRun"] is True and [c["label"] for c in plan["changes"]] == [
            "create source Acme CRM 1.2.0",
            "update source PokeAPI 0.3.38→0.3.40 patch",
        ]


class TestFailures:
    def test_invalid_config_fails_prepare_naming_every_problem_and_sends_nothing(
        self, airbyte, write_config, capfd, caplog
    ):
        write_config(
            config(
                [with_tag(POKEAPI, "0.3 .40"), {**CUSTOM_SOURCE, "documentationUrl": "file:///etc"}],
                [{**DEV_NULL, "dockerRepository": "Airbyte/Destination-Dev-Null"}],
            )
        )
        dagrun = run_dag()
        assert dagrun.state == "failed"
        states = task_states(dagrun)
        assert states["prepare"] == ["failed"]
        assert airbyte.requests == []
        log_text = "".join(capfd.readouterr()) + caplog.text
        for expected in (
            "connectors.source_definitions[0].dockerImageTag: '0.3 .40' is not a Docker tag",
            "connectors.source_definitions[1].documentationUrl: 'file:///etc' is not an http(s) URL",
            "connectors.destination_definitions[0].dockerRepository: 'Airbyte/Destination-Dev-Null'",
        ):
            assert expected in log_text

    def test_one_failing_definition_does_not_stop_the_others(self, use_emulator, write_config, capfd, caplog):
        from tests.support import REGISTRY

        airbyte = use_emulator(seed=REGISTRY, unpullable_tags=("9.9.9-missing",))
        write_config(config([with_tag(POKEAPI, "9.9.9-missing"), CUSTOM_SOURCE], [CUSTOM_DESTINATION]))
        dagrun = run_dag()
        assert dagrun.state == "failed"
        states = task_states(dagrun)
        assert sorted(states["apply"]) == ["failed", "success", "success"]
        assert states["report"] == ["failed"]
        created = {
            d["dockerRepository"] for k in ("source", "destination") for d in airbyte.definitions(k) if d.get("custom")
        }
        assert created == {CUSTOM_SOURCE["dockerRepository"], CUSTOM_DESTINATION["dockerRepository"]}
        pokeapi = [d for d in airbyte.definitions("source") if d["dockerRepository"] == POKEAPI["dockerRepository"]]
        assert [d["dockerImageTag"] for d in pokeapi] == [POKEAPI["dockerImageTag"]]
        printed = "".join(capfd.readouterr()) + caplog.text
        assert "1 of 3 planned writes failed" in printed
        assert "source_definitions/update failed: HTTP 500" in printed


class TestParseTime:
    def test_dag_file_imports_without_network_connection_variable_or_db(self, tmp_path):
        """Parse dags/ in a fresh interpreter with tripwires on sockets, Connections, Variables and the DB."""
        import subprocess
        import sys

        script = tmp_path / "parse.py"
        script.write_text(PARSE_SCRIPT)
        env = {
            "AIRFLOW_HOME": str(tmp_path),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path}/no-such-dir/airflow.db",
            "PATH": "/usr/bin:/bin",
        }
        done = subprocess.run(
            [sys.executable, str(script), str(DAGS_FOLDER)], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stdout + done.stderr
        result = json.loads(done.stdout.strip().splitlines()[-1])
        costs = {key: result.pop(key) for key in ("package_modules", "costly_classes", "settings_read")}
        assert result == {"dags": ["connector_upgrades", "create_connectors"], "import_errors": {}, "tripped": []}
        # What the dag-processor pays on every parse, in counts (the time is in BENCHMARKS.md, figure 3): only
        # these modules, no dataclass or NamedTuple defined (a TypedDict costs a fifth of a NamedTuple, which
        # costs a sixth of a frozen dataclass), each setting a DAG uses read once.
        assert costs["package_modules"] == [
            f"airflow_airbyte_connectors.{name}"
            for name in (
                "budgets",
                "operators",
                "operators.airbyte_definition",
                "settings",
                "tasks",
                "tasks.names",
                "tasks.upgrades",
            )
        ]
        assert costs["costly_classes"] == []
        create_connectors_reads = [
            "apply_timeout", "approval", "approval_timeout", "approval_users", "basic_config_path",
            "max_active_writes", "max_writes", "max_writes_limit", "prepare_timeout", "read_timeout",
            "reconcile_schedule", "report_timeout", "task_retries", "task_retry_delay", "write_timeout",
        ]  # fmt: skip
        connector_upgrades_reads = ["prepare_timeout", "upgrades_schedule"]
        assert costs["settings_read"] == sorted(create_connectors_reads + connector_upgrades_reads)


class TestShape:
    @pytest.mark.parametrize("approval", ["never", "held", "always"])
    def test_the_approval_is_asked_after_the_safe_writes(self, monkeypatch, approval):
        from airflow.dag_processing.dagbag import DagBag

        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__APPROVAL", approval)
        dag = DagBag(dag_folder=str(DAGS_FOLDER)).get_dag("create_connectors")
        upstream = {task.task_id: sorted(task.upstream_task_ids) for task in dag.tasks}
        writes = ["apply"] if approval == "never" else ["apply", "apply_approved"]
        assert upstream["publish_changes"] == writes and upstream["report"] == ["publish_changes"]
        if approval != "never":
            # approved writes never run beside the safe ones: max_active_writes holds for the whole run
            assert upstream["approve"] == ["apply", "prepare"] and upstream["apply_approved"] == ["approve"]
            assert dag.get_task("approve").trigger_rule == "all_done"


PARSE_SCRIPT = r"""
import json, socket, sys
tripped = []

def tripwire(name):
    def fail(*args, **kwargs):
        tripped.append(name)
        raise RuntimeError(f"{name} at parse time")
    return fail

import airflow.sdk
socket.socket.connect = tripwire("socket.connect")
airflow.sdk.BaseHook.get_connection = classmethod(tripwire("BaseHook.get_connection"))
airflow.sdk.Connection.get = classmethod(tripwire("Connection.get"))
airflow.sdk.Variable.get = staticmethod(tripwire("Variable.get"))
import sqlalchemy.engine
sqlalchemy.engine.Engine.connect = tripwire("database")

# What a parse costs, in counts: the package's modules loaded, its dataclasses and NamedTuples defined (the
# costly kinds of class), its settings read.
import dataclasses, inspect
from airflow.configuration import conf
settings_read = []
conf_get = conf.get
def get(section, key, *args, **kwargs):
    if section == "airbyte_connectors":
        settings_read.append(key)
    return conf_get(section, key, *args, **kwargs)
conf.get = get
before = set(sys.modules)

from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
loaded = sorted(m for m in set(sys.modules) - before if m.startswith("airflow_airbyte_connectors"))
defined = sorted(f"{m}.{name}" for m in loaded for name, value in vars(sys.modules[m]).items()
                 if inspect.isclass(value) and value.__module__ == m
                 and ("__dataclass_fields__" in vars(value) or "_fields" in vars(value)))
print(json.dumps({"dags": sorted(bag.dag_ids), "import_errors": {k: str(v) for k, v in bag.import_errors.items()},
                  "tripped": tripped, "package_modules": loaded, "costly_classes": defined,
                  "settings_read": sorted(settings_read)}))
"""


class TestRealInputs:
    def test_whole_airbyte_registry_as_basic_config_converges_in_one_run(self, use_emulator, write_config, caplog):
        from tests.support import REGISTRY, registry

        # An Airbyte where some built-ins are older and some missing; the config is the registry itself
        # (633 definitions, three source names used twice with different images).
        airbyte = use_emulator(seed=REGISTRY, older_fraction=0.08, missing_fraction=0.04, rng_seed=9)
        data = registry()
        write_config(config(data["sources"], data["destinations"]))
        before = {kind: len(airbyte.definitions(kind)) for kind in ("source", "destination")}

        first = run_dag(max_writes=1000)
        assert first.state == "success", task_states(first)
        (report,) = xcom(first, "report")
        counts = report["counts"]
        assert counts["failed"] == 0 and counts["duplicates"] == 0
        assert counts["created"] + counts["updated"] == len(airbyte.write_requests()) > 40
        assert counts["created"] + counts["updated"] + counts["unchanged"] == 633
        (plan,) = xcom(first, "prepare", "plan")
        repeated = [f["message"] for f in plan["findings"] if "entries use this name" in f["message"]]
        assert len(repeated) == 3, repeated

        # Every configured image is now in Airbyte exactly once, at the configured tag.
        for kind in ("source", "destination"):
            held = {}
            for d in airbyte.definitions(kind):
                assert d["dockerRepository"] not in held, d["dockerRepository"]
                held[d["dockerRepository"]] = d["dockerImageTag"]
            assert all(held[e["dockerRepository"]] == e["dockerImageTag"] for e in data[f"{kind}s"])
            assert len(held) == before[kind] + sum(
                1 for r in report["results"] if r["action"] == "created" and r["kind"] == kind
            )

        airbyte.clear_requests()
        second = run_dag()
        assert second.state == "success"
        assert writes(airbyte) == []
