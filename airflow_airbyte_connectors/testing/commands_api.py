"""The SPEC command of the emulated Airbyte (2.0 and later): ``commands/run/spec``, ``commands/status`` and
``commands/output/spec``, as Airbyte's ``CommandService`` answers them.

A SPEC runs for ``write_delay`` seconds (the time the SPEC job inside ``create_custom`` takes) after its first
start; starting it again with the same id changes nothing. It fails for an unpullable tag (the image cannot be
pulled) and for a crashing one (the connector exits with an error), with Airbyte's ``failureReason``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from airflow_airbyte_connectors.core.kinds import KINDS
from airflow_airbyte_connectors.testing.errors import ApiError, require
from airflow_airbyte_connectors.testing.state import EmulatorState

# What ``commands/<action>`` answers; each is ``_command_<action>(body)``.
COMMAND_ACTIONS = {"run/spec": "run_spec", "status": "status", "output/spec": "output_spec"}


@dataclass(frozen=True)
class SpecCommand:
    image: str
    tag: str
    workspace_id: str
    started: float  # time.monotonic() of the first start
    seconds: float  # how long it runs


class CommandEndpoints(EmulatorState):
    crashing_tags: frozenset[str]
    _commands: dict[str, SpecCommand]

    @property
    def spec_commands(self) -> list[str]:
        """The ids of the SPEC commands started so far (no request logged)."""
        with self._lock:
            return list(self._commands)

    def _command_run_spec(self, body: dict[str, Any]) -> dict[str, Any]:
        for key in ("id", "workspace_id", "docker_image_tag"):
            require(body, key)
        if not body.get("docker_image") and not body.get("actor_definition_id"):
            raise ApiError(400, "docker_image is required when actor_definition_id is not provided")
        self._workspaces.find(body["workspace_id"])
        with self._lock:
            if body["id"] not in self._commands:  # an id acts as an idempotency key: a second start is a no-op
                image = body.get("docker_image") or self._repository_of(str(body["actor_definition_id"]))
                self._commands[body["id"]] = SpecCommand(
                    image, body["docker_image_tag"], body["workspace_id"], time.monotonic(), self.write_delay
                )
        return {"id": body["id"]}

    def _repository_of(self, definition_id: str) -> str:
        for kind in KINDS:
            definition = self._definitions.by_kind[kind].get(definition_id)
            if definition is not None:
                return str(definition.read["dockerRepository"])
        raise ApiError(404, f"Actor definition {definition_id} not found")

    def _command_status(self, body: dict[str, Any]) -> dict[str, Any]:
        command = self._command(body)
        elapsed = time.monotonic() - command.started
        if elapsed >= command.seconds:
            status = "completed"  # a failed SPEC completes too; its output says how it ended
        else:
            status = "pending" if elapsed < command.seconds / 10 else "running"
        return {"id": body["id"], "status": status}

    def _command_output_spec(self, body: dict[str, Any]) -> dict[str, Any]:
        command = self._command(body)
        image = f"{command.image}:{command.tag}"
        if time.monotonic() - command.started < command.seconds:
            return _failed(body["id"], f"Failed to read the output of command {body['id']}: it has not finished")
        if command.tag in self.unpullable_tags:
            return _failed(body["id"], f"Failed to pull container image {image}", "config_error")
        if command.tag in self.crashing_tags:
            return _failed(body["id"], f"{image} exited with code 1 while reading its spec", "system_error", "source")
        spec = {
            "documentationUrl": f"https://docs.example.com/{command.image.rpartition('/')[2]}",
            "connectionSpecification": {"type": "object", "properties": {}, "required": []},
        }
        return {"id": body["id"], "status": "succeeded", "spec": spec}

    def _command(self, body: dict[str, Any]) -> SpecCommand:
        require(body, "id")
        with self._lock:
            command = self._commands.get(body["id"])
        if command is None:  # Airbyte finds no workspace to check the caller's role in
            raise ApiError(403, "User does not have the required permissions to access the resource(s).", problem=True)
        return command


def _failed(
    command_id: str, message: str, failure_type: str = "system_error", origin: str = "airbyte_platform"
) -> dict[str, Any]:
    """``SpecCommandOutputResponse`` of a SPEC that failed, with its ``FailureReason``."""
    reason = {
        "failureOrigin": origin,
        "failureType": failure_type,
        "externalMessage": message,
        "timestamp": int(time.time() * 1000),
    }
    return {"id": command_id, "status": "failed", "failureReason": reason}
