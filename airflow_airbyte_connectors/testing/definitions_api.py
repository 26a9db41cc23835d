"""The definition endpoints of the emulated Airbyte (``{source,destination}_definitions/...``), and direct
access to the definitions for tests (no request logged). The state is :mod:`.definitions`."""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from typing import Any

from airflow_airbyte_connectors.core.compatibility import parse_matrix, refusal
from airflow_airbyte_connectors.testing.definitions import Definition
from airflow_airbyte_connectors.testing.errors import ApiError, require
from airflow_airbyte_connectors.testing.state import EmulatorState

# What ``<kind>_definitions/<action>`` answers; each is ``_definition_<action>(kind, body)``.
DEFINITION_ACTIONS = frozenset({"list", "list_for_workspace", "get", "create_custom", "update", "delete"})


class DefinitionEndpoints(EmulatorState):
    """Subclasses in tests override the ``_definition_<action>`` methods to misbehave."""

    compatibility_matrix: Mapping[str, Any] | None  # enforced by update, as Airbyte's validateVersionSupport
    airbyte_version: str

    # -- direct access (no request logged) --------------------------------------------------------

    def definitions(self, kind: str) -> list[dict[str, Any]]:
        with self._lock:
            return self._definitions.reads(kind)

    def add_definition(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Add a definition (no request logged); ``fields`` as :meth:`DefinitionStore.add` takes them."""
        with self._lock:
            return self._definitions.add(kind, **fields)

    def delete_definition(self, kind: str, definition_id: str) -> None:
        with self._lock:
            self._definitions.by_kind[kind][definition_id].tombstone = True
            self._actors.delete_for_definition(kind, definition_id)

    def remove(self, kind: str, docker_repository: str) -> None:
        """Forget every definition using ``docker_repository``, as if this Airbyte never had it."""
        with self._lock:
            self._definitions.remove(kind, docker_repository)

    def set_tag(self, kind: str, docker_repository: str, tag: str) -> None:
        """Set the default version of every definition using ``docker_repository`` (an older Airbyte)."""
        with self._lock:
            for definition in self._definitions.with_repository(kind, docker_repository):
                definition.read["dockerImageTag"] = tag

    # -- endpoints ----------------------------------------------------------------------------------

    def _definition_list(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        return {f"{kind}Definitions": self.definitions(kind)}

    def _definition_list_for_workspace(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        """What a workspace may use: the built-ins and the custom definitions granted to it, as Airbyte's
        ``listAllowedSourceDefinitions`` answers. Airbyte gives each the version resolved for the workspace
        (its pins); this emulator pins actors only, so here that is the default version."""
        require(body, "workspaceId")
        workspace_id = body["workspaceId"]
        self._workspaces.find(workspace_id)
        with self._lock:
            # A definition without a workspace (built-in, or seeded so) is every workspace's.
            allowed = [
                copy.deepcopy(d.read)
                for d in self._definitions.by_kind[kind].values()
                if not d.tombstone and d.workspace_id in (None, workspace_id)
            ]
        return {f"{kind}Definitions": allowed}

    def _definition_get(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        # Like Airbyte, a deleted (tombstoned) definition is still returned by get.
        with self._lock:
            return copy.deepcopy(self._definitions.find(kind, body, include_deleted=True).read)

    def _definition_create_custom(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        require(body, f"{kind}Definition")
        fields = body[f"{kind}Definition"]
        missing = [f for f in ("name", "dockerRepository", "dockerImageTag", "documentationUrl") if not fields.get(f)]
        if missing:
            raise ApiError(
                422,
                "Invalid definition",
                [{"propertyPath": f"{kind}Definition.{f}", "message": "must not be null"} for f in missing],
            )
        # Current servers need a workspace (the scope-only form fails).
        require(body, "workspaceId")
        self._workspaces.find(body["workspaceId"])
        # From 2.1 a create given the spec (read by a SPEC command before) is a database write, with no SPEC job.
        spec_job = fields.get("connectorSpecification") is None or not self.profile.create_takes_spec
        if spec_job:
            self._spec_job(fields["dockerImageTag"], fields["dockerRepository"])
        else:
            self._refuse_blocked(fields["dockerImageTag"], fields["dockerRepository"])
        read = self.add_definition(
            kind,
            name=fields["name"],
            docker_repository=fields["dockerRepository"],
            docker_image_tag=fields["dockerImageTag"],
            documentation_url=fields["documentationUrl"],
            custom=True,
            workspace_id=body["workspaceId"],
        )
        time.sleep(self.write_delay if spec_job else 0)
        return read

    def _definition_update(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        require(body, f"{kind}DefinitionId")
        require(body, "dockerImageTag")
        if "workspaceId" not in body and self.profile.update_requires_workspace:
            raise ApiError(400, "workspaceId is required")
        with self._lock:
            definition = self._definitions.find(kind, body)
        self._validate_version_support(definition, body["dockerImageTag"])
        self._spec_job(body["dockerImageTag"], definition.read["dockerRepository"])
        with self._lock:
            if self._registry.unreachable:  # Airbyte fetches latest/oss.json on every update, even for customs
                raise ApiError(
                    500, f"Failed to fetch connector registry entry for {definition.read['dockerRepository']}"
                )
            # Custom definitions and repositories the registry lacks (404) have no breaking changes.
            custom = definition.read.get("custom")
            changes = {} if custom else self._registry.breaking_changes(kind, definition.read["dockerRepository"])
            try:
                self._actors.apply_default_change(kind, definition.id, definition.tag, body["dockerImageTag"], changes)
            except ValueError as error:  # Airbyte's Version throws on such a tag: a 500, nothing written
                raise ApiError(500, str(error)) from None
            self._apply_update(definition, body)
            answer = copy.deepcopy(definition.read)
        time.sleep(self.write_delay)
        return answer

    def _apply_update(self, definition: Definition, body: dict[str, Any]) -> None:
        """What ``update`` changes: the default tag, resources, and (custom, newer servers) the name."""
        definition.read["dockerImageTag"] = body["dockerImageTag"]
        if body.get("name") and definition.read.get("custom") and self.profile.custom_rename:
            definition.read["name"] = body["name"]
        if "resourceRequirements" in body:
            definition.read["resourceRequirements"] = body["resourceRequirements"]

    def _definition_delete(self, kind: str, body: dict[str, Any]) -> None:
        with self._lock:
            definition = self._definitions.find(kind, body)
            definition.tombstone = True
            self._actors.delete_for_definition(kind, definition.id)

    def _validate_version_support(self, definition: Definition, tag: str) -> None:
        """Airbyte's ``validateVersionSupport`` before an update: 400 with its problem body and wording when
        the platform-compatibility matrix refuses the tag for this Airbyte version."""
        matrix = self.compatibility_matrix
        if matrix is None:
            return
        refused = refusal(parse_matrix(matrix), definition.id, tag, self.airbyte_version, "community")
        if refused is not None:
            raise ApiError(400, refused, problem=True)

    def _refuse_blocked(self, tag: str, repository: str) -> None:
        if tag in self.blocked_tags:
            name = repository.rpartition("/")[2]
            raise ApiError(
                400, f"Connector {name} with version {tag} is temporarily blocked from upgrade.", problem=True
            )

    def _spec_job(self, tag: str, repository: str) -> None:
        """Airbyte checks the version, then pulls the image to read its spec; an unpullable tag fails
        after a while."""
        self._refuse_blocked(tag, repository)
        if tag in self.unpullable_tags:
            time.sleep(self.write_delay)
            raise ApiError(500, f"Get Spec job failed: image tag {tag} cannot be pulled")
