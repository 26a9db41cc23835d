"""The emulator's SPEC command (``commands/run/spec``, ``status``, ``output/spec``) answers as Airbyte's
CommandService does, and a create given the spec runs no SPEC job where Airbyte takes it (2.1 and later)."""

from __future__ import annotations

import time

import pytest
import requests

from airflow_airbyte_connectors.testing import AirbyteEmulator
from tests.support import REGISTRY

IMAGE = {"docker_image": "acme/source-acme", "docker_image_tag": "1.0.0"}
NEW = {
    "name": "Acme",
    "dockerRepository": "acme/source-acme",
    "dockerImageTag": "1.0.0",
    "documentationUrl": "https://acme.example/docs",
}


def post(emu: AirbyteEmulator, operation: str, body: dict) -> requests.Response:
    return requests.post(f"{emu.url}/api/v1/{operation}", json=body, timeout=10)


def start(emu: AirbyteEmulator, command_id: str, **image: str) -> requests.Response:
    body = {"id": command_id, "workspace_id": emu.workspace_ids[0], **IMAGE, **image}
    return post(emu, "commands/run/spec", body)


def status_when_done(emu: AirbyteEmulator, command_id: str, timeout: float = 20) -> tuple[str, set[str]]:
    """Poll the command's status until it is no longer pending or running; also every status seen."""
    seen: set[str] = set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = post(emu, "commands/status", {"id": command_id}).json()["status"]
        seen.add(status)
        if status not in ("pending", "running"):
            return status, seen
    raise AssertionError(f"command {command_id} still {seen} after {timeout} s")


class TestSpecCommand:
    def test_runs_then_answers_the_spec(self, emulator):
        emu = emulator(seed=REGISTRY, profile="2.2", write_delay=0.5)
        assert start(emu, "c1").json() == {"id": "c1"}
        status, seen = status_when_done(emu, "c1")
        assert status == "completed" and "running" in seen
        output = post(emu, "commands/output/spec", {"id": "c1"}).json()
        assert output["status"] == "succeeded" and output["spec"]["connectionSpecification"]["type"] == "object"

    def test_a_second_start_with_the_same_id_is_a_no_op(self, emulator):
        emu = emulator(seed=REGISTRY, profile="2.2", write_delay=0.5)
        start(emu, "c1")
        assert status_when_done(emu, "c1")[0] == "completed"
        assert start(emu, "c1", docker_image_tag="2.0.0").status_code == 200
        # Not started again: it is still completed, for the first image.
        assert post(emu, "commands/status", {"id": "c1"}).json()["status"] == "completed"
        assert emu.spec_commands == ["c1"]

    @pytest.mark.parametrize(
        ("tags", "message", "failure_type"),
        [
            ({"unpullable_tags": ["1.0.0"]}, "Failed to pull container image acme/source-acme:1.0.0", "config_error"),
            ({"crashing_tags": ["1.0.0"]}, "acme/source-acme:1.0.0 exited with code 1", "system_error"),
        ],
        ids=["image-missing", "connector-crash"],
    )
    def test_a_failed_spec_completes_with_airbytes_failure_reason(self, emulator, tags, message, failure_type):
        emu = emulator(seed=REGISTRY, profile="2.2", **tags)
        start(emu, "c1")
        assert status_when_done(emu, "c1")[0] == "completed"
        output = post(emu, "commands/output/spec", {"id": "c1"}).json()
        assert output["status"] == "failed" and "spec" not in output
        assert output["failureReason"]["externalMessage"].startswith(message)
        assert output["failureReason"]["failureType"] == failure_type

    def test_an_unknown_command_is_forbidden(self, emulator):
        emu = emulator(seed=REGISTRY, profile="2.2")
        answer = post(emu, "commands/status", {"id": "nobody-started-it"})
        assert answer.status_code == 403 and answer.json()["title"] == "forbidden"

    @pytest.mark.allow_contract_violations  # 1.6's spec has no commands: the 404 is the point
    def test_airbyte_before_2_0_has_no_commands(self, emulator):
        emu = emulator(seed=REGISTRY, profile="1.6")
        assert start(emu, "c1").status_code == 404


class TestCreateWithSpec:
    """Airbyte 2.1 and later skip the SPEC job of a create given ``connectorSpecification``; 2.0 ignores it."""

    SPEC = {"connectionSpecification": {"type": "object", "properties": {}}}

    @pytest.mark.parametrize(("profile", "status"), [("2.0", 500), ("2.2", 200), ("2.4", 200)])
    def test_a_create_given_the_spec_pulls_no_image(self, emulator, profile, status):
        # An image that cannot be pulled fails the SPEC job inside the create: only a create without one succeeds.
        emu = emulator(seed=REGISTRY, profile=profile, unpullable_tags=["1.0.0"])
        body = {"workspaceId": emu.workspace_ids[0], "sourceDefinition": {**NEW, "connectorSpecification": self.SPEC}}
        assert post(emu, "source_definitions/create_custom", body).status_code == status

    def test_without_the_spec_the_create_runs_its_spec_job(self, emulator):
        emu = emulator(seed=REGISTRY, profile="2.2", unpullable_tags=["1.0.0"])
        body = {"workspaceId": emu.workspace_ids[0], "sourceDefinition": NEW}
        assert post(emu, "source_definitions/create_custom", body).status_code == 500
