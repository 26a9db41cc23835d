"""Reliability of the whole DAG: no duplicates, bounded blast radius, no secret anywhere."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from airflow_airbyte_connectors.operators.airbyte_definition import AirbyteDefinitionOperator, DuplicateDefinitionError
from airflow_airbyte_connectors.testing import AirbyteEmulator, Faults
from tests.dags.test_create_connectors import CUSTOM_DESTINATION, CUSTOM_SOURCE, POKEAPI, config, run_dag, task_states
from tests.support import CLIENT_SECRET, REGISTRY

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("airflow_db")]


def same_repository(emu, kind: str, repository: str) -> list[dict]:
    return [d for d in emu.definitions(kind) if d["dockerRepository"] == repository]


class TestNoDuplicates:
    def test_create_whose_answer_is_lost_then_retried_exists_once(self, use_emulator, write_config, monkeypatch):
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__TASK_RETRIES", "2")
        airbyte = use_emulator(faults=Faults(lost_write_rate=1.0))  # every write applied, no answer
        write_config(config([CUSTOM_SOURCE], [CUSTOM_DESTINATION]))
        dagrun = run_dag()
        assert dagrun.state == "success"
        assert len(same_repository(airbyte, "source", CUSTOM_SOURCE["dockerRepository"])) == 1
        assert len(same_repository(airbyte, "destination", CUSTOM_DESTINATION["dockerRepository"])) == 1
        assert [r.fault for r in airbyte.write_requests()] == ["lost_write", "lost_write"]

    def test_two_operators_racing_on_one_new_definition_are_caught_with_both_ids(self, use_emulator):
        # Both read "missing" before either create lands (Airbyte has no create-if-absent): the check
        # after the create must see the twin and fail loudly with both IDs, never pass silently.
        airbyte = use_emulator(write_delay=1.0)
        outcomes: list[object] = []

        def apply() -> None:
            operator = AirbyteDefinitionOperator(task_id="apply", kind="source", definition=CUSTOM_SOURCE)
            try:
                outcomes.append(operator.execute(context={}))
            except DuplicateDefinitionError as error:
                outcomes.append(error)

        threads = [threading.Thread(target=apply) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

        twins = same_repository(airbyte, "source", CUSTOM_SOURCE["dockerRepository"])
        errors = [o for o in outcomes if isinstance(o, DuplicateDefinitionError)]
        assert len(twins) == 2 and len(errors) == 2
        for error in errors:
            assert all(t["sourceDefinitionId"] in str(error) for t in twins)

        # The next run reports the duplicate and refuses to pick one; it writes nothing.
        airbyte.clear_requests()
        with pytest.raises(DuplicateDefinitionError, match="set sourceDefinitionId in basic_config"):
            AirbyteDefinitionOperator(task_id="apply", kind="source", definition=CUSTOM_SOURCE).execute(context={})
        assert airbyte.write_requests() == []

    def test_duplicate_made_during_a_run_is_reported_with_its_ids(self, use_emulator, write_config, capfd, caplog):
        airbyte = use_emulator(emulator_class=_EmulatorWithAConcurrentCreator)
        write_config(config([CUSTOM_SOURCE]))
        dagrun = run_dag()
        assert dagrun.state == "failed"
        assert task_states(dagrun)["apply"] == ["failed"] and task_states(dagrun)["report"] == ["failed"]
        twins = same_repository(airbyte, "source", CUSTOM_SOURCE["dockerRepository"])
        assert len(twins) == 2
        logged = "".join(capfd.readouterr()) + caplog.text
        report_lines = [line for line in logged.splitlines() if "DUPLICATE" in line or "ApplyFailedError" in line]
        assert report_lines and all(t["sourceDefinitionId"] in "\n".join(report_lines) for t in twins)
        assert len(airbyte.write_requests()) == 1  # detected, not retried

    def test_only_one_run_at_a_time(self):
        """A hand-triggered run waits while a scheduled one is running (and vice versa)."""
        from airflow.dag_processing.dagbag import DagBag

        from tests.support import DAGS_FOLDER

        assert DagBag(dag_folder=str(DAGS_FOLDER)).get_dag("create_connectors").max_active_runs == 1


class _EmulatorWithAConcurrentCreator(AirbyteEmulator):
    """Someone else creates the same custom definition at the moment this project does."""

    def _definition_create_custom(self, kind, body):
        super()._definition_create_custom(kind, body)
        return super()._definition_create_custom(kind, body)


class TestBlastRadius:
    def test_plan_larger_than_max_writes_stops_before_any_write(self, use_emulator, write_config, capfd, caplog):
        airbyte = use_emulator(seed=REGISTRY)
        airbyte.set_tag("source", POKEAPI["dockerRepository"], "0.3.38")
        write_config(config([POKEAPI, CUSTOM_SOURCE], [CUSTOM_DESTINATION]))

        dagrun = run_dag(max_writes=2)
        assert dagrun.state == "failed" and task_states(dagrun)["prepare"] == ["failed"]
        assert airbyte.write_requests() == []
        logged = "".join(capfd.readouterr()) + caplog.text
        assert "The plan holds 3 writes (2 creates, 1 updates, 0 held), more than max_writes=2" in logged

        assert run_dag(max_writes=2, dry_run=True).state == "success"  # a dry run shows the whole plan
        assert airbyte.write_requests() == []
        assert run_dag(max_writes=3).state == "success"
        assert len(airbyte.write_requests()) == 3


class TestSecrets:
    def test_no_secret_or_token_in_logs_files_or_xcom(self, use_emulator, write_config, airflow_home, capfd, caplog):
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session
        from sqlalchemy import select

        airbyte = use_emulator(seed=REGISTRY, token_lifetime=1.0, write_delay=1.2)  # several tokens per run
        airbyte.set_tag("source", POKEAPI["dockerRepository"], "0.3.38")
        write_config(
            config(
                [
                    POKEAPI,
                    CUSTOM_SOURCE,
                    {**CUSTOM_SOURCE, "name": "Bad", "dockerRepository": "acme/bad", "dockerImageTag": "9.9.9"},
                ]
            )
        )
        airbyte.blocked_tags = frozenset({"9.9.9"})  # one failure, so error messages are written too
        dagrun = run_dag()
        assert dagrun.state == "failed"
        secrets = [CLIENT_SECRET, *airbyte.tokens_issued]
        assert len(secrets) >= 3

        # dag.test prints task logs instead of writing log files: scan what it printed too.
        printed = "".join(capfd.readouterr()) + caplog.text
        assert "Plan against Airbyte" in printed
        leaks = [f"task log: {s[:4]}..." for s in secrets if s in printed]
        for path in Path(airflow_home).rglob("*"):
            if path.is_file():
                content = path.read_bytes()
                leaks += [f"{path}: {s[:4]}..." for s in secrets if s.encode() in content]
        with create_session() as session:
            values = [repr(row.value) for row in session.scalars(select(XComModel))]
        leaks += [f"xcom: {s[:4]}..." for s in secrets for value in values if s in value]
        assert values and leaks == []
