"""AirbyteDefinitionOperator: bring one connector definition in Airbyte to its desired state."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_airbyte_connectors.configs import DesiredDefinition, Kind
    from airflow_airbyte_connectors.hooks.airbyte_definitions import AirbyteDefinitionsHook
    from airflow_airbyte_connectors.planning import CurrentDefinition

# The DAG file imports this module, so the dag-processor pays for everything imported here on every
# parse: the config, planning and HTTP modules are imported where they are used.
KINDS = ("source", "destination")


# Seconds to wait between looks for a create whose answer was lost.
_CONFIRM_WAITS = (1.0, 2.0, 4.0)

# Sources/destinations read one by one after an update across a breaking change; the rest are counted.
_AFTER_UPDATE_READS = 100

# Statuses that mean "this request will never succeed as sent"; 401/408/429/5xx may pass on a retry.
_PERMANENT_STATUSES = frozenset({400, 403, 404, 409, 422})


class DuplicateDefinitionError(AirflowFailException):
    """Airbyte holds more than one definition with the same identity. A retry cannot fix that: a person
    must choose (an ID in basic_config) or delete the extra one."""

    def __init__(self, message: str, definition_ids: list[str]):
        super().__init__(message)
        self.definition_ids = definition_ids


class AirbyteDefinitionOperator(BaseOperator):
    """Create or update one Airbyte source or destination definition so that it matches ``definition``.

    The operator re-reads Airbyte before writing and acts only if still needed: a retry, a cleared task
    or a second run never creates a second copy or repeats an update. It returns a small JSON result.

    :param kind: ``"source"`` or ``"destination"``.
    :param definition: the desired definition in Airbyte's field names: ``name``, ``dockerRepository``,
        ``dockerImageTag``, ``documentationUrl`` and optionally ``sourceDefinitionId`` /
        ``destinationDefinitionId`` (an entry of basic_config's ``connectors`` section).
    :param airbyte_conn_id: the ``airbyte`` Connection (default ``[airbyte_connectors] conn_id``).
    :param workspace_id: workspace sent with writes (default: configured, else discovered).
    :param dry_run: read and decide, but send no write.
    :param planned_action: what the plan expected (``create``/``update``), for the log and the label.
    :param definition_id: the Airbyte definition the plan matched, if any.
    :param action_label: readable name of this task instance (the mapped task's label in the UI).
    :param breaking_changes: the registry breaking changes the planned update crosses (their JSON form).
        After such an update the operator reads the definition's sources/destinations again and reports
        which Airbyte kept on the old version and which moved.
    """

    template_fields: Sequence[str] = ("definition", "workspace_id", "airbyte_conn_id")
    ui_color = "#cfe8ff"

    def __init__(
        self,
        *,
        kind: Kind,
        definition: Mapping[str, Any],
        airbyte_conn_id: str | None = None,
        workspace_id: str | None = None,
        dry_run: bool = False,
        planned_action: str | None = None,
        definition_id: str | None = None,
        action_label: str | None = None,
        breaking_changes: Sequence[Mapping[str, Any]] = (),
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.kind = kind
        self.definition = definition
        self.airbyte_conn_id = airbyte_conn_id
        self.workspace_id = workspace_id
        self.dry_run = dry_run
        self.planned_action = planned_action
        self.definition_id = definition_id
        self.action_label = action_label or f"{planned_action or 'apply'} {kind} {definition.get('name', '?')}"
        self.breaking_changes = list(breaking_changes)

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_airbyte_connectors.hooks.airbyte_definitions import AirbyteApiError, AirbyteDefinitionsHook

        desired = self._desired()
        hook = AirbyteDefinitionsHook(self.airbyte_conn_id, workspace_id=self.workspace_id)
        try:
            current = self._find(hook, desired)
            if current is None:
                return self._create(hook, desired)
            return self._update(hook, desired, current)
        except DuplicateDefinitionError as exc:
            # The run's report lists every duplicate with its IDs.
            if "ti" in context:
                context["ti"].xcom_push(key="duplicates", value={"message": str(exc), "ids": exc.definition_ids})
            raise
        except AirbyteApiError as exc:
            if exc.status in _PERMANENT_STATUSES:
                # Airbyte rejected the request itself: a retry would be rejected again.
                raise AirflowFailException(str(exc)) from exc
            raise

    # -- steps -------------------------------------------------------------------------------

    def _desired(self) -> DesiredDefinition:
        """Validate the one definition with the same rules as basic_config (also for direct use)."""
        from airflow_airbyte_connectors.configs import parse_connectors

        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        section = {f"{self.kind}_definitions": [dict(self.definition)]}
        return parse_connectors(section, source=f"task {self.task_id}").of_kind(self.kind)[0]

    def _find(self, hook: AirbyteDefinitionsHook, desired: DesiredDefinition) -> CurrentDefinition | None:
        """Re-read Airbyte now: the plan may be stale (retry, cleared task, a concurrent run)."""
        from airflow_airbyte_connectors.planning import CurrentDefinition, CurrentIndex

        index = CurrentIndex(CurrentDefinition.from_api(self.kind, r) for r in hook.list_definitions(self.kind))
        match, candidates = index.find(desired)
        if match is None and len(candidates) > 1:
            ids = sorted(c.definition_id for c in candidates)
            raise DuplicateDefinitionError(
                f"{self.kind} {desired.name}: {len(candidates)} definitions in Airbyte use "
                f"{desired.docker_repository} ({', '.join(ids)}); set {desired.id_key} in basic_config to choose one",
                ids,
            )
        return match

    def _create(self, hook: AirbyteDefinitionsHook, desired: DesiredDefinition) -> dict[str, Any]:
        from airflow_airbyte_connectors.hooks.airbyte_definitions import WriteOutcomeUnknownError

        if self.dry_run:
            self.log.info(
                "Dry run: would create %s %s (%s:%s)",
                self.kind,
                desired.name,
                desired.docker_repository,
                desired.docker_image_tag,
            )
            return self._result("would_create", None, desired.name, None, desired.docker_image_tag)
        workspace_id = hook.get_workspace_id()
        self.log.info(
            "Creating %s %s (%s:%s) in workspace %s",
            self.kind,
            desired.name,
            desired.docker_repository,
            desired.docker_image_tag,
            workspace_id,
        )
        try:
            created = hook.create_definition(self.kind, desired.to_api(), workspace_id)
            definition_id = created[desired.id_key]
        except WriteOutcomeUnknownError:
            # The create may have happened. Never send it again blindly: look first, and give Airbyte a
            # moment to finish a create that is still running.
            self.log.warning("The answer to the create was lost; checking whether Airbyte applied it")
            found = self._find_after_lost_answer(hook, desired)
            if found is None:
                raise
            definition_id = found.definition_id
        self._check_single(hook, desired, definition_id)
        return self._result("created", definition_id, desired.name, None, desired.docker_image_tag)

    def _update(
        self, hook: AirbyteDefinitionsHook, desired: DesiredDefinition, current: CurrentDefinition
    ) -> dict[str, Any]:
        from airflow_airbyte_connectors.hooks.airbyte_definitions import WriteOutcomeUnknownError

        tag_before = current.docker_image_tag
        rename = desired.name if current.custom and desired.name != current.name else None
        if tag_before == desired.docker_image_tag and rename is None:
            self.log.info(
                "%s %s (%s) is already at %s: nothing to do", self.kind, current.name, current.definition_id, tag_before
            )
            return self._result("unchanged", current.definition_id, current.name, tag_before, tag_before)
        if self.dry_run:
            self.log.info(
                "Dry run: would update %s %s (%s) %s → %s",
                self.kind,
                current.name,
                current.definition_id,
                tag_before,
                desired.docker_image_tag,
            )
            return self._result(
                "would_update", current.definition_id, current.name, tag_before, desired.docker_image_tag
            )
        workspace_id = hook.get_workspace_id()
        self.log.info(
            "Updating %s %s (%s) %s → %s%s",
            self.kind,
            current.name,
            current.definition_id,
            tag_before,
            desired.docker_image_tag,
            f", renaming to {rename!r}" if rename else "",
        )
        try:
            updated = hook.update_definition(
                self.kind,
                current.definition_id,
                docker_image_tag=desired.docker_image_tag,
                workspace_id=workspace_id,
                name=rename,
            )
        except WriteOutcomeUnknownError:
            # The update may have happened; read back instead of sending it again.
            self.log.warning("The answer to the update was lost; checking whether Airbyte applied it")
            updated = hook.get_definition(self.kind, current.definition_id)
            if updated["dockerImageTag"] != desired.docker_image_tag:
                raise
        result = self._result(
            "updated",
            current.definition_id,
            updated.get("name", current.name),
            tag_before,
            updated.get("dockerImageTag", desired.docker_image_tag),
        )
        if self.breaking_changes:
            result["afterUpdate"] = self._after_update(
                hook, current.definition_id, tag_before, desired.docker_image_tag
            )
        return result

    def _after_update(
        self, hook: AirbyteDefinitionsHook, definition_id: str, tag_before: str, tag_after: str
    ) -> dict[str, Any]:
        """What Airbyte did to the sources/destinations: which it kept on the old version, which moved."""
        stayed, moved = [], []
        actors = hook.search_actors(self.kind, definition_id)
        for read in actors[:_AFTER_UPDATE_READS]:
            runs = hook.get_actor_version(self.kind, read[f"{self.kind}Id"]).get("dockerImageTag")
            entry = {"id": read[f"{self.kind}Id"], "name": read.get("name"), "workspaceId": read.get("workspaceId")}
            (moved if runs == tag_after else stayed).append({**entry, "runs": runs})
        if stayed:
            self.log.warning(
                "%d %s(s) still run %s after the update across breaking change(s) %s: %s. Airbyte does not "
                "enforce the deadline on OSS; see the migration guide.",
                len(stayed),
                self.kind,
                tag_before,
                ", ".join(c["version"] for c in self.breaking_changes),
                ", ".join(f"{a['name']} ({a['runs']})" for a in stayed),
            )
        return {
            "breakingChanges": self.breaking_changes,
            "stayed": stayed,
            "moved": moved,
            "notRead": max(0, len(actors) - _AFTER_UPDATE_READS),
        }

    def _find_after_lost_answer(
        self, hook: AirbyteDefinitionsHook, desired: DesiredDefinition
    ) -> CurrentDefinition | None:
        for wait in _CONFIRM_WAITS:
            found = self._find(hook, desired)
            if found is not None:
                return found
            time.sleep(wait)
        return self._find(hook, desired)

    def _check_single(self, hook: AirbyteDefinitionsHook, desired: DesiredDefinition, created_id: str) -> None:
        """Airbyte cannot create atomically-if-absent; a concurrent run could have created a twin.
        Detect it right after the create and fail loudly with the IDs instead of leaving two silently."""
        twins = [
            read[desired.id_key]
            for read in hook.list_definitions(self.kind)
            if read["dockerRepository"] == desired.docker_repository
        ]
        if len(twins) > 1:
            raise DuplicateDefinitionError(
                f"{self.kind} {desired.name}: Airbyte now holds {len(twins)} definitions for "
                f"{desired.docker_repository}: {', '.join(sorted(twins))} (this task created {created_id}). "
                "Another run or person created one at the same time; delete the extra one in Airbyte.",
                sorted(twins),
            )

    def _result(
        self, action: str, definition_id: str | None, name: str, tag_before: str | None, tag_after: str | None
    ) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "action": action,
            "definitionId": definition_id,
            "name": name,
            "dockerRepository": self.definition.get("dockerRepository"),
            "tagBefore": tag_before,
            "tagAfter": tag_after,
            "dryRun": bool(self.dry_run),
        }
