"""Creates on Airbyte 2.1 and later: the image's SPEC runs first as a command whose id the run chooses, then
``create_custom`` carries the spec and is a quick write. Real Airflow (dag.test), real HTTP to the emulator."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_airbyte_connectors.testing import AirbyteEmulator
from tests.dags.test_create_connectors import config, run_dag, task_states
from tests.dags.test_plan_promise import creates, report_of, same_repository
from tests.support import CUSTOM_SOURCE, REGISTRY, add_custom_source, pending_records

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("airflow_db")]

REPOSITORY, TAG = CUSTOM_SOURCE["dockerRepository"], CUSTOM_SOURCE["dockerImageTag"]


def spec_requests(airbyte) -> list[Any]:
    return [r for r in airbyte.requests if r.operation.startswith("commands/")]


class TestFastCreates:
    @pytest.mark.parametrize("profile", ["2.2", "2.4"])
    def test_the_create_carries_the_spec_its_command_read(self, use_emulator, write_config, monkeypatch, profile):
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__CHECK_IMAGES", "false")
        airbyte = use_emulator(seed=REGISTRY, profile=profile, write_delay=0.5)
        write_config(config([CUSTOM_SOURCE]))

        dagrun = run_dag()
        assert dagrun.state == "success", task_states(dagrun)
        (create,) = creates(airbyte)
        assert create.status == 200
        assert create.body["sourceDefinition"]["connectorSpecification"]["connectionSpecification"]["type"] == "object"
        assert [r.operation for r in spec_requests(airbyte)][0] == "commands/run/spec"
        assert len(airbyte.spec_commands) == 1 and len(same_repository(airbyte, REPOSITORY)) == 1

    @pytest.mark.parametrize("profile", ["0.63", "1.6", "2.0"])
    def test_older_airbyte_runs_the_spec_inside_the_create(self, use_emulator, write_config, monkeypatch, profile):
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__CHECK_IMAGES", "false")
        airbyte = use_emulator(seed=REGISTRY, profile=profile)
        write_config(config([CUSTOM_SOURCE]))

        assert run_dag().state == "success"
        (create,) = creates(airbyte)
        assert "connectorSpecification" not in create.body["sourceDefinition"]
        assert spec_requests(airbyte) == []

    def test_a_create_slower_than_write_timeout_is_no_longer_unknown(self, use_emulator, write_config, monkeypatch):
        """The SPEC takes longer than write_timeout: inside the create (2.0) the create's answer is lost and
        its outcome unknown; as a command (2.2) the first try stops waiting for it, the retry waits for the same
        command, and the create is then a quick write whose answer comes."""
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__CHECK_IMAGES", "false")
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__WRITE_TIMEOUT", "1")
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__CREATE_SETTLE_WINDOW", "1")
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__TASK_RETRIES", "3")
        airbyte = use_emulator(seed=REGISTRY, profile="2.2", write_delay=2.5)
        write_config(config([CUSTOM_SOURCE]))

        dagrun = run_dag()
        assert dagrun.state == "success", task_states(dagrun)
        summary = report_of(dagrun)
        assert (summary["counts"]["created"], summary["counts"]["outcome_unknown"]) == (1, 0)
        assert len(airbyte.spec_commands) == 1  # every try waited for the one SPEC the first try started
        assert len([r for r in spec_requests(airbyte) if r.operation == "commands/run/spec"]) >= 2
        assert [r.status for r in creates(airbyte)] == [200]
        assert len(same_repository(airbyte, REPOSITORY)) == 1 and not pending_records()

    def test_a_failed_spec_is_reported_with_airbytes_reason_and_creates_nothing(
        self, use_emulator, write_config, monkeypatch
    ):
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__CHECK_IMAGES", "false")
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__TASK_RETRIES", "2")
        airbyte = use_emulator(seed=REGISTRY, profile="2.4", unpullable_tags=[TAG])
        write_config(config([CUSTOM_SOURCE]))

        dagrun = run_dag()
        assert dagrun.state == "failed"
        assert creates(airbyte) == [] and same_repository(airbyte, REPOSITORY) == []
        summary = report_of(dagrun)
        assert summary["counts"]["refused"] == 1 and summary["counts"]["failed"] == 0
        (refused,) = summary["refused"]
        assert refused["label"] == f"create source {CUSTOM_SOURCE['name']} {TAG}"
        assert (
            f"Failed to pull container image {REPOSITORY}:{TAG} (config_error, airbyte_platform)"
            in (refused["message"])
        )
        # Not retried: the retry would read the same command's failure.
        assert len([r for r in spec_requests(airbyte) if r.operation == "commands/run/spec"]) == 1
        assert not pending_records()

    def test_a_definition_created_while_the_spec_ran_is_not_created_again(
        self, use_emulator, write_config, monkeypatch
    ):
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__CHECK_IMAGES", "false")
        airbyte = use_emulator(seed=REGISTRY, profile="2.2", emulator_class=_SomeoneCreatesItDuringTheSpec)
        write_config(config([CUSTOM_SOURCE]))

        dagrun = run_dag()
        assert dagrun.state == "failed"
        assert creates(airbyte) == [] and len(same_repository(airbyte, REPOSITORY)) == 1
        (stale,) = report_of(dagrun)["stale"]
        assert stale["message"].startswith(f"stale plan: source {CUSTOM_SOURCE['name']} is now {TAG} (")
        assert "nothing written" in stale["message"]


class _SomeoneCreatesItDuringTheSpec(AirbyteEmulator):
    """While the run's SPEC command runs, someone else (a person, another deployment) creates the definition."""

    def _command_output_spec(self, body: dict[str, Any]) -> dict[str, Any]:
        if not same_repository(self, REPOSITORY):
            add_custom_source(self, workspace_id=self.workspace_ids[0])
        return super()._command_output_spec(body)
