"""Airbyte's platform-compatibility matrix in the DAG: an update Airbyte would refuse is blocked in the plan and
never sent, the others go ahead; an unreadable matrix is a note and the writes go ahead. Real Airflow (dag.test)
and the Airbyte emulator, which enforces the matrix itself."""

from __future__ import annotations

import json

import pytest
import requests

from tests.dags.test_create_connectors import config, run_dag, task_states, with_tag, xcom
from tests.support import REGISTRY, registry_entry

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("airflow_db")]

POKEAPI = registry_entry("source", "PokeAPI")
FAKER = registry_entry("source", "Sample Data")
REFUSAL = (
    "Current Airbyte version 2.0.0 doesn't support connector version 6.2.0 for connector source-faker. "
    "Compatible Airbyte Version(s): >=2.3.0"
)


def matrix(*rules: dict[str, object], definition_id: str = FAKER["sourceDefinitionId"]) -> dict[str, object]:
    return {
        "compatibleConnectors": [
            {
                "connectorName": "source-faker",
                "connectorType": "source",
                "connectorDefinitionId": definition_id,
                "compatibilityMatrix": list(rules),
            }
        ]
    }


NEEDS_2_3 = matrix({"connectorVersion": ">=6.1.0 <6.3.0", "airbyteVersion": ">=2.3.0"})


@pytest.fixture
def compatibility_file(tmp_path, monkeypatch):
    def write(document: object) -> str:
        path = tmp_path / "platform-compatibility.json"
        path.write_text(json.dumps(document) if not isinstance(document, str) else document)
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__PLATFORM_COMPATIBILITY_URL", path.as_uri())
        return path.as_uri()

    return write


class TestPlatformCompatibility:
    def test_refused_update_is_blocked_and_never_sent_the_other_goes_ahead(
        self, use_emulator, write_config, compatibility_file, caplog
    ):
        airbyte = use_emulator(seed=REGISTRY, compatibility_matrix=NEEDS_2_3)
        airbyte.set_tag("source", POKEAPI["dockerRepository"], "0.3.38")
        airbyte.set_tag("source", FAKER["dockerRepository"], "6.0.0")
        compatibility_file(NEEDS_2_3)
        write_config(config([POKEAPI, with_tag(FAKER, "6.2.0")]))

        run = run_dag()

        # The update Airbyte supports went ahead; the refused version never reached Airbyte.
        assert [(r.operation, r.body["dockerImageTag"]) for r in airbyte.write_requests()] == [
            ("source_definitions/update", POKEAPI["dockerImageTag"])
        ]
        assert not any("6.2.0" in str(r.body) for r in airbyte.requests)
        # One instance read for the run, in prepare.
        assert [r.operation for r in airbyte.requests].count("instance_configuration") == 1
        assert run.state == "failed"
        assert task_states(run)["apply"] == ["success"] and task_states(run)["report"] == ["failed"]
        (plan,) = xcom(run, "prepare", "plan")
        assert plan["airbyte"] == {"version": "2.0.0", "edition": "community"}
        (blocked,) = plan["blocked"]
        assert (blocked["name"], blocked["tagAfter"]) == (FAKER["name"], "6.2.0")
        (refused,) = [f["message"] for f in plan["findings"] if f["category"] == "platform_refused"]
        assert REFUSAL in refused
        assert plan["counts"]["blocked"] == 1
        assert "REFUSED BY AIRBYTE" in caplog.text and "Airbyte 2.0.0 (community)" in caplog.text
        (report,) = xcom(run, "report", "report")
        assert report["counts"]["platform_refused"] == 1

    def test_unreadable_matrix_is_a_note_and_the_write_goes_ahead(self, use_emulator, write_config, compatibility_file):
        airbyte = use_emulator(seed=REGISTRY)
        airbyte.set_tag("source", FAKER["dockerRepository"], "6.0.0")
        location = compatibility_file("<html>not the matrix</html>")
        write_config(config([with_tag(FAKER, "6.2.0")]))

        run = run_dag()

        assert run.state == "success", task_states(run)
        assert [r.body["dockerImageTag"] for r in airbyte.write_requests()] == ["6.2.0"]
        (plan,) = xcom(run, "prepare", "plan")
        (note,) = [f["message"] for f in plan["findings"] if f["category"] == "platform_compatibility"]
        assert note.startswith(f"platform compatibility {location}: not JSON") and "go ahead unchecked" in note
        assert plan["blocked"] == []


class TestEmulatorEnforcesTheMatrix:
    """The emulator answers as Airbyte's validateVersionSupport: 400, the problem body, its wording."""

    def update(self, emu, tag: str) -> requests.Response:
        (faker,) = [d for d in emu.definitions("source") if d["dockerRepository"] == FAKER["dockerRepository"]]
        body = {
            "sourceDefinitionId": faker["sourceDefinitionId"],
            "dockerImageTag": tag,
            "workspaceId": emu.workspace_ids[0],
        }
        return requests.post(f"{emu.url}/api/v1/source_definitions/update", json=body, timeout=10)

    def test_refused_version_gets_airbyte_s_400(self, emulator):
        emu = emulator(seed=REGISTRY, compatibility_matrix=NEEDS_2_3)
        answer = self.update(emu, "6.2.0")
        assert answer.status_code == 400
        assert answer.json() == {
            "status": 400,
            "type": "https://reference.airbyte.com/reference/errors#bad-request",
            "title": "bad-request",
            "detail": REFUSAL,
            "data": {"message": REFUSAL},
        }
        assert self.update(emu, "6.3.0").status_code == 200  # no rule matches: allowed

    def test_blocked_version_and_a_newer_airbyte(self, emulator):
        blocked = matrix({"connectorVersion": "6.2.0", "airbyteVersion": "*", "blocked": True})
        emu = emulator(seed=REGISTRY, compatibility_matrix=blocked)
        answer = self.update(emu, "6.2.0")
        assert answer.status_code == 400
        assert (
            answer.json()["detail"] == "Connector source-faker with version 6.2.0 is temporarily blocked from upgrade."
        )
        emu.compatibility_matrix = NEEDS_2_3
        emu.airbyte_version = "2.3.0"
        assert self.update(emu, "6.2.0").status_code == 200

    def test_instance_configuration_answers_per_the_spec(self, emulator):
        emu = emulator(seed=REGISTRY, profile="1.6", organization_id="5d4a0b6e-3f60-4e43-9f62-1b3cc0e6b5a1")
        answer = requests.get(f"{emu.url}/api/v1/instance_configuration", timeout=10).json()
        assert (answer["version"], answer["edition"]) == ("1.6.0", "community")
        assert answer["defaultOrganizationId"] == "5d4a0b6e-3f60-4e43-9f62-1b3cc0e6b5a1"
        assert answer["defaultWorkspaceId"] == emu.workspace_ids[0]
        assert emu.contract_violations == []
