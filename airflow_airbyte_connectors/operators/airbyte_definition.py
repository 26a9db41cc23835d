"""AirbyteDefinitionOperator: bring one connector definition in Airbyte to its desired state."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, cast

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from airflow_airbyte_connectors.budgets import AFTER_UPDATE_BUDGET, LOST_ANSWER_WAITS
from airflow_airbyte_connectors.tasks.names import XComKey

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_airbyte_connectors.config.configs import DesiredDefinition
    from airflow_airbyte_connectors.core.kinds import Kind
    from airflow_airbyte_connectors.hooks.airbyte_definitions import AirbyteDefinitionsHook
    from airflow_airbyte_connectors.plan.plan_document import (
        AfterUpdate,
        BreakingChangeInfo,
        PlannedChange,
        WriteAction,
        WriteProblem,
        WriteResult,
    )
    from airflow_airbyte_connectors.plan.planning import CurrentDefinition
    from airflow_airbyte_connectors.records.pending_creates import PendingCreates

# The DAG file imports this module, so the dag-processor pays for everything imported here on every
# parse: the config, planning and HTTP modules are imported where they are used.


# Sources/destinations read one by one after an update across a breaking change, within budgets.AFTER_UPDATE_BUDGET;
# the rest are counted, not read: the write is done and the report must not wait for minutes.
_AFTER_UPDATE_READS = 100

# The namespace of the SPEC command ids derived from a run and an image (any fixed UUID would do).
_SPEC_COMMANDS = uuid.UUID("5b1f0c3e-8d47-4a8e-9f51-3c2f6a1d7e90")

# Statuses that mean "this request will never succeed as sent"; 401/408/429/5xx may pass on a retry.
_PERMANENT_STATUSES = frozenset({400, 403, 404, 409, 422})


class DuplicateDefinitionError(AirflowFailException):
    """Airbyte holds more than one definition with the same identity. A retry cannot fix that: a person
    must choose (an ID in basic_config) or delete the extra one."""

    def __init__(self, message: str, definition_ids: list[str]):
        super().__init__(message)
        self.definition_ids = definition_ids


class StalePlanError(AirflowFailException):
    """Airbyte no longer holds what the plan saw. Nothing was written: what was planned (and maybe approved)
    is not what a write would do now. A retry would find the same; the next run plans again."""


class CreatePendingError(RuntimeError):
    """An earlier create of this definition has an unknown outcome and Airbyte does not show it yet: it is
    not sent again (a retry looks again) until Airbyte shows it or ``create_settle_window`` passes."""


class AirbyteDefinitionOperator(BaseOperator):
    """Create or update one Airbyte source or destination definition: a change of a plan (``change``), as
    create_connectors maps it, or a definition brought to its desired state (``kind`` and ``definition``).

    The operator re-reads Airbyte before writing and acts only if still needed: a retry, a cleared task
    or a second run never creates a second copy or repeats an update. It returns a small JSON result
    (plan_document.WriteResult). Its arguments are used as given: none is rendered as a Jinja template.

    A planned change is a promise: an update is written only while Airbyte still holds its ``tagBefore``,
    ``nameBefore`` and ``documentationUrlBefore`` (one GET of the definition), a create only while Airbyte holds
    no such definition. Anything else fails with :class:`StalePlanError` and writes nothing. A retry that finds
    the planned change already made reports it as made (``"confirmed": "after retry"``).

    :param change: a change of the plan document (plan_document.PlannedChange, or its JSON as XCom holds it),
        checked against that model before anything is read: what to write (a custom definition is renamed only
        where the plan renames it), where (its ``workspaceId``; its ``environment``, where the version written is
        recorded for the environments promoting from it), what it means (``versionMeaning``; after an update
        across a breaking change the operator reads the definition's sources/destinations again and reports which
        Airbyte kept on the old version and which moved). Its ``label`` names the mapped task in the UI, its
        ``changeId`` the result and anything told to the report.
    :param kind: ``"source"`` or ``"destination"`` (without ``change``).
    :param definition: the desired definition in Airbyte's field names (without ``change``): ``name``,
        ``dockerRepository``, ``dockerImageTag``, ``documentationUrl`` and optionally ``sourceDefinitionId`` /
        ``destinationDefinitionId`` (an entry of basic_config's ``connectors`` section). The operator decides
        from what Airbyte holds whether to create or update it.
    :param airbyte_conn_id: the ``airbyte`` Connection (default ``[airbyte_connectors] conn_id``).
    :param workspace_id: workspace sent with writes without ``change`` (default: configured, else
        discovered); an update of a custom definition is sent with its own workspace (see
        :meth:`AirbyteDefinitionsHook.owner_workspace_id`).
    :param dry_run: read and decide, but send no write.
    """

    # None: a definition is data from basic_config, never a Jinja template (a name holding ``{{ conn... }}``
    # must reach Airbyte as written), and storing rendered fields costs each mapped write a call to Airflow.
    template_fields: Sequence[str] = ()
    ui_color = "#cfe8ff"

    def __init__(
        self,
        *,
        change: PlannedChange | Mapping[str, Any] | None = None,
        kind: Kind | None = None,
        definition: Mapping[str, Any] | None = None,
        airbyte_conn_id: str | None = None,
        workspace_id: str | None = None,
        dry_run: bool = False,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if (change is None) == (definition is None):
            raise ValueError("pass either change (a planned change) or kind and definition")
        self.change = change
        self.definition = definition
        self.airbyte_conn_id = airbyte_conn_id
        self.workspace_id = workspace_id
        # Not ``self.plan_only``: BaseOperator has a method of that name.
        self.plan_only = dry_run
        self._kind = kind

    @cached_property
    def planned(self) -> PlannedChange | None:
        """The planned change, as the plan document's model reads it (None: used on its own)."""
        from airflow_airbyte_connectors.plan.plan_document import PlannedChange

        return None if self.change is None else PlannedChange.model_validate(self.change)

    @property
    def kind(self) -> Kind:
        return self.planned.kind if self.planned is not None else cast("Kind", self._kind)

    @property
    def action_label(self) -> str:
        """The mapped task's name in the UI: the change's label."""
        if self.planned is not None:
            return self.planned.label
        return f"apply {self._kind} {(self.definition or {}).get('name', '?')}"

    @property
    def environment(self) -> str | None:
        return self.planned.environment if self.planned is not None else None

    def execute(self, context: Context) -> dict[str, Any]:
        result = self._write(context)
        if self.environment is not None and result.changed_airbyte:
            self._record_written()
        return result.to_json()

    def _record_written(self) -> None:
        """Since now, this environment runs the tag written: a promotion from it counts from this moment."""
        from datetime import UTC, datetime

        from airflow_airbyte_connectors.hooks.airbyte_definitions import AirbyteDefinitionsHook
        from airflow_airbyte_connectors.records.promotion_records import VersionsSeen

        hook = AirbyteDefinitionsHook(self.airbyte_conn_id, workspace_id=self._workspace_id)
        desired = self._desired()
        VersionsSeen(hook.instance_id).written(
            self.kind, desired.docker_repository, desired.docker_image_tag, datetime.now(UTC)
        )

    @property
    def _workspace_id(self) -> str | None:
        return self.planned.workspace_id if self.planned is not None else self.workspace_id

    def _write(self, context: Context) -> WriteResult:
        from airflow_airbyte_connectors.hooks.airbyte_definitions import (
            AirbyteDefinitionsHook,
            OwnerWorkspaceNotFoundError,
        )
        from airflow_airbyte_connectors.hooks.airbyte_errors import (
            AirbyteApiError,
            SpecFailedError,
            WriteOutcomeUnknownError,
        )
        from airflow_airbyte_connectors.plan.plan_document import WriteProblem

        planned = self.planned
        if planned is not None and planned.owner_not_found:
            # The plan found no workspace to send this update with: any workspace it picked could be refused.
            raise AirflowFailException(planned.owner_not_found)
        desired = self._desired()
        hook = AirbyteDefinitionsHook(self.airbyte_conn_id, workspace_id=self._workspace_id)
        ti = context.get("ti")
        try:
            if planned is not None and planned.action == "update":
                return self._planned_update(hook, desired, planned, retried=getattr(ti, "try_number", 1) > 1)
            run_id = context.get("run_id")
            if planned is not None:
                # Intents live in Airflow Variables: only inside a task (a direct call has no ``ti``).
                return self._planned_create(hook, desired, run_id=run_id, track=ti is not None)
            # Not from a plan (the operator used on its own): decide from what Airbyte holds now.
            current = self._find(hook, desired)
            if current is None:
                return self._create(hook, desired, spec=self._connector_spec(hook, desired, run_id))
            return self._update(hook, desired, current)
        except SpecFailedError as exc:
            # Airbyte ran the image's SPEC and it failed: nothing was created, and a retry reads the same command.
            self._tell_report(ti, XComKey.REFUSED, WriteProblem(label=self.action_label, message=str(exc)))
            raise AirflowFailException(str(exc)) from exc
        except DuplicateDefinitionError as exc:
            # The run's report lists every duplicate with its IDs.
            self._tell_report(ti, XComKey.DUPLICATES, WriteProblem(message=str(exc), ids=exc.definition_ids))
            raise
        except StalePlanError as exc:
            self._tell_report(ti, XComKey.STALE, WriteProblem(label=self.action_label, message=str(exc)))
            raise
        except (WriteOutcomeUnknownError, CreatePendingError) as exc:
            # Not failed: unknown. The retry (or the next run) looks before it sends anything.
            self._tell_report(ti, XComKey.UNKNOWN, WriteProblem(label=self.action_label, message=str(exc)))
            raise
        except OwnerWorkspaceNotFoundError as exc:
            raise AirflowFailException(f"update {self.kind} {desired.name}: {exc}; nothing written") from exc
        except AirbyteApiError as exc:
            if exc.status in _PERMANENT_STATUSES:
                # Airbyte rejected the request itself: a retry would be rejected again.
                self._tell_report(ti, XComKey.REFUSED, WriteProblem(label=self.action_label, message=str(exc)))
                raise AirflowFailException(str(exc)) from exc
            raise

    def _tell_report(self, ti: Any, key: str, problem: WriteProblem) -> None:
        if ti is not None:
            mine = {"environment": self.environment, "change_id": self.planned.change_id if self.planned else None}
            ti.xcom_push(key=key, value=problem.model_copy(update=mine).to_json())

    # -- planned writes: the plan is a promise ----------------------------------------------

    def _stale(self, now: str, planned: str) -> StalePlanError:
        return StalePlanError(
            f"stale plan: {self.kind} {self._desired().name} is now {now} (planned {planned}); "
            "nothing written — the next run plans again"
        )

    def _planned_update(
        self, hook: AirbyteDefinitionsHook, desired: DesiredDefinition, change: PlannedChange, *, retried: bool
    ) -> WriteResult:
        """Write the planned update only while Airbyte still holds the tag the plan saw."""
        from airflow_airbyte_connectors.hooks.airbyte_errors import AirbyteNotFoundError
        from airflow_airbyte_connectors.plan.planning import CurrentDefinition

        if change.definition_id is None or change.tag_before is None:
            raise AirflowFailException(f"{change.label}: an update needs definitionId and tagBefore; nothing written")
        planned = f"{change.tag_before} → {desired.docker_image_tag}"
        try:
            read = hook.get_definition(self.kind, change.definition_id)
        except AirbyteNotFoundError:
            raise self._stale(f"gone ({change.definition_id} not found)", planned) from None
        current = CurrentDefinition.from_api(self.kind, read)
        # Renamed only where the plan renames: a name Airbyte took since the plan makes the plan stale below.
        named = change.name_before if change.name_before is not None else current.name
        rename = desired.name if current.custom and desired.name != named else None
        if current.docker_image_tag == desired.docker_image_tag and (rename is None or current.name == rename):
            if not retried:
                self.log.info(
                    "%s %s (%s) is already at %s: nothing to do",
                    self.kind,
                    current.name,
                    current.definition_id,
                    current.docker_image_tag,
                )
                return self._result(
                    "unchanged", current.definition_id, current.name, change.tag_before, desired.docker_image_tag
                )
            # An earlier try's write was committed although its answer never came (lost, or the worker died).
            self.log.info(
                "%s %s (%s) %s: already made, by an earlier try",
                self.kind,
                current.name,
                current.definition_id,
                planned,
            )
            result = self._result(
                "updated", current.definition_id, current.name, change.tag_before, desired.docker_image_tag
            )
            return self._with_after_update(hook, result.model_copy(update={"confirmed": "after retry"}))
        if current.docker_image_tag not in (change.tag_before, desired.docker_image_tag):
            raise self._stale(current.docker_image_tag, planned)
        moved = self._moved_since_plan(current, change)
        if moved:
            raise self._stale(moved, f"{planned}, as {change.name_before!r}")
        return self._update(hook, desired, current)

    @staticmethod
    def _moved_since_plan(current: CurrentDefinition, change: PlannedChange) -> str:
        """What else Airbyte changed since the plan, in words ("" when nothing): the fields an update keeps or
        writes, other than the tag."""
        moved = []
        if change.name_before is not None and current.name != change.name_before:
            moved.append(f"named {current.name!r}")
        before = change.documentation_url_before
        if before is not None and current.documentation_url != before:
            moved.append(f"documented at {current.documentation_url!r} (was {before!r})")
        return " and ".join(moved)

    def _planned_create(
        self, hook: AirbyteDefinitionsHook, desired: DesiredDefinition, *, run_id: str | None, track: bool
    ) -> WriteResult:
        """Create only while Airbyte holds no definition for the image, and never twice: the intent is
        recorded before sending, so a retry recognises its own create even when the answer never came.

        On Airbyte 2.1 and later the image's SPEC runs first (:meth:`_connector_spec`), then it looks again."""
        track = track and not self.plan_only
        pending = self._pending_creates(hook) if track else None
        done = self._earlier_create(hook, desired, pending)
        if done is not None:
            return done
        spec = self._connector_spec(hook, desired, run_id)
        if spec is not None:
            # The SPEC took a while: another run may have created the definition meanwhile.
            done = self._earlier_create(hook, desired, pending)
            if done is not None:
                return done
        return self._create(hook, desired, run_id=run_id, pending=pending, spec=spec)

    def _earlier_create(
        self, hook: AirbyteDefinitionsHook, desired: DesiredDefinition, pending: PendingCreates | None
    ) -> WriteResult | None:
        """None while the planned create is still to be sent; the result when an earlier create of it shows in
        Airbyte. Raises when Airbyte holds another such definition (stale) or an earlier create's outcome is
        not known yet (pending)."""
        from airflow_airbyte_connectors import settings
        from airflow_airbyte_connectors.records.pending_creates import UnreadablePendingRecordError

        found = self._find(hook, desired)
        try:
            intent = pending.find(self.kind, desired.docker_repository) if pending else None
        except UnreadablePendingRecordError as error:
            if found is None:
                message = f"create {self.kind} {desired.name} pending on an unreadable record: {error}"
                raise CreatePendingError(message) from None
            intent = None  # Airbyte shows a definition: not this task's to create (the next plan drops the record)
        if found is not None:
            if intent is not None and found.docker_image_tag == desired.docker_image_tag:
                self.log.info(
                    "%s %s (%s): created by an earlier create whose answer was not seen (sent %s)",
                    self.kind,
                    found.name,
                    found.definition_id,
                    intent.sent_at.isoformat(timespec="seconds"),
                )
                self._check_single(hook, desired, found.definition_id)
                assert pending is not None
                pending.forget(self.kind, desired.docker_repository)
                result = self._result("created", found.definition_id, found.name, None, desired.docker_image_tag)
                return result.model_copy(update={"confirmed": "after retry"})
            raise self._stale(
                f"{found.docker_image_tag} ({found.definition_id})", f"create → {desired.docker_image_tag}"
            )
        window = settings.create_settle_window()
        if intent is not None and not intent.settled(window):
            raise CreatePendingError(
                f"create {self.kind} {desired.name} pending since {intent.since}: "
                "an earlier create's outcome is unknown and Airbyte does not show it yet; not sent again until it "
                f"does or create_settle_window ({window:g} s) passes"
            )
        return None

    def _connector_spec(
        self, hook: AirbyteDefinitionsHook, desired: DesiredDefinition, run_id: str | None
    ) -> dict[str, Any] | None:
        """The image's spec from Airbyte's SPEC command where Airbyte's create takes it (2.1 and later), so the
        create itself is a quick write whose outcome is seldom unknown; None elsewhere (and in a dry run). The
        command's id comes from the run and the image: a retry of this task waits for the same SPEC."""
        if self.plan_only or not hook.instance.create_takes_spec:
            return None
        image = f"{desired.docker_repository}:{desired.docker_image_tag}"
        key = f"{self.dag_id} {run_id} {self.kind} {image}" if run_id else None
        command_id = str(uuid.uuid5(_SPEC_COMMANDS, key) if key else uuid.uuid4())
        self.log.info("Running the SPEC of %s in Airbyte (command %s) before the create", image, command_id)
        started = time.monotonic()
        workspace_id = hook.get_workspace_id()
        spec = hook.connector_spec(command_id, workspace_id, desired.docker_repository, desired.docker_image_tag)
        self.log.info("The SPEC of %s finished in %.1f s", image, time.monotonic() - started)
        return spec

    @staticmethod
    def _pending_creates(hook: AirbyteDefinitionsHook) -> PendingCreates:
        from airflow_airbyte_connectors.records.pending_creates import PendingCreates

        return PendingCreates(hook.instance_id, hook.client_settings.root_url)

    # -- steps -------------------------------------------------------------------------------

    @cached_property
    def _desired_definition(self) -> DesiredDefinition:
        from airflow_airbyte_connectors.config.configs import DesiredDefinition, parse_connectors
        from airflow_airbyte_connectors.core.kinds import KINDS

        planned = self.planned
        if planned is not None:
            # The plan validated it when it read basic_config; the model checked its shape.
            return DesiredDefinition(
                kind=planned.kind,
                name=planned.name,
                docker_repository=planned.docker_repository,
                docker_image_tag=planned.tag_after,
                documentation_url=planned.documentation_url,
                definition_id=planned.definition_id,
            )
        # Used on its own: the definition is checked by basic_config's rules, as an entry of it.
        if self._kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self._kind!r}")
        section = {f"{self._kind}_definitions": [dict(self.definition or {})]}
        return parse_connectors(section, source=f"task {self.task_id}").of_kind(self._kind)[0]

    def _desired(self) -> DesiredDefinition:
        return self._desired_definition

    def _find(self, hook: AirbyteDefinitionsHook, desired: DesiredDefinition) -> CurrentDefinition | None:
        """Re-read Airbyte now: the plan may be stale (retry, cleared task, a concurrent run)."""
        from airflow_airbyte_connectors.plan.planning import CurrentDefinition, CurrentIndex

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

    def _create(
        self,
        hook: AirbyteDefinitionsHook,
        desired: DesiredDefinition,
        *,
        run_id: str | None = None,
        pending: PendingCreates | None = None,
        spec: Mapping[str, Any] | None = None,
    ) -> WriteResult:
        """Send the create (with the image's ``spec`` where one was read). With ``pending``, its intent is
        recorded first and kept unless the create provably never reached Airbyte, Airbyte refused it (4xx), or
        Airbyte shows the outcome: whatever else ends this task meanwhile (a task timeout, a kill, a lost
        answer) leaves a record the next attempt reads."""
        from airflow_airbyte_connectors.hooks.airbyte_errors import (
            AirbyteApiError,
            WriteOutcomeUnknownError,
            was_never_sent,
        )

        if self.plan_only:
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
        if pending:
            pending.record(self.kind, desired.docker_repository, desired.docker_image_tag, desired.name, run_id)
        try:
            answer = hook.create_definition(self.kind, desired.to_api(), workspace_id, connector_specification=spec)
            definition_id = answer.get(desired.id_key)
            if not definition_id:
                raise WriteOutcomeUnknownError(
                    "POST", hook.api_url(f"{self.kind}_definitions/create_custom"), 200, "answered without an ID"
                )
        except WriteOutcomeUnknownError:
            # The create may have happened. Never send it again blindly: look first, and give Airbyte a
            # moment to finish a create that is still running. The intent stays recorded until it shows.
            self.log.warning("The answer to the create was lost; checking whether Airbyte applied it")
            found = self._find_after_lost_answer(hook, desired)
            if found is None:
                raise
            definition_id = found.definition_id
        except AirbyteApiError as exc:
            if exc.status is not None and exc.status >= 500:
                # Airbyte answered, so the request is over: it shows now whatever it committed before failing.
                self.log.warning("Airbyte answered %s to the create; checking whether it applied it", exc.status)
                committed = self._find(hook, desired)
                if committed is None:
                    self._forget(pending, desired, f"Airbyte answered {exc.status} and shows no such definition")
                    raise
                definition_id = committed.definition_id
            else:
                self._forget(pending, desired, f"Airbyte refused it ({exc.status})")
                raise
        except Exception as exc:
            if was_never_sent(exc):
                self._forget(pending, desired, "it never reached Airbyte")
            raise
        self._forget(pending, desired, "Airbyte shows it")
        self._check_single(hook, desired, definition_id)
        return self._result("created", definition_id, desired.name, None, desired.docker_image_tag)

    def _forget(self, pending: PendingCreates | None, desired: DesiredDefinition, why: str) -> None:
        if pending:
            self.log.info("The create of %s %s is no longer pending: %s", self.kind, desired.name, why)
            pending.forget(self.kind, desired.docker_repository)

    def _update(
        self, hook: AirbyteDefinitionsHook, desired: DesiredDefinition, current: CurrentDefinition
    ) -> WriteResult:
        from airflow_airbyte_connectors.hooks.airbyte_errors import WriteOutcomeUnknownError

        tag_before = current.docker_image_tag
        rename = desired.name if current.custom and desired.name != current.name else None
        if tag_before == desired.docker_image_tag and rename is None:
            self.log.info(
                "%s %s (%s) is already at %s: nothing to do", self.kind, current.name, current.definition_id, tag_before
            )
            return self._result("unchanged", current.definition_id, current.name, tag_before, tag_before)
        if self.plan_only:
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
        workspace_id = self._update_workspace(hook, current)
        self.log.info(
            "Updating %s %s (%s) %s → %s%s, with workspace %s",
            self.kind,
            current.name,
            current.definition_id,
            tag_before,
            desired.docker_image_tag,
            f", renaming to {rename!r}" if rename else "",
            workspace_id,
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
        return self._with_after_update(hook, result)

    def _update_workspace(self, hook: AirbyteDefinitionsHook, current: CurrentDefinition) -> str:
        """The workspace sent with an update: the plan's, as planned (the plan is a promise); without a plan,
        a custom definition's own, since Airbyte 2.4 refuses (403) one naming another workspace."""
        if (self.planned is not None and self._workspace_id is not None) or not current.custom:
            return hook.get_workspace_id()
        return hook.owner_workspace_id(self.kind, current.definition_id)

    def _with_after_update(self, hook: AirbyteDefinitionsHook, result: WriteResult) -> WriteResult:
        change = self.planned.version_change if self.planned is not None else None
        if change is None or not change.crossed or result.definition_id is None:
            return result
        after = self._after_update(hook, change.crossed, result.definition_id, result.tag_before, result.tag_after)
        return result.model_copy(update={"after_update": after})

    def _after_update(
        self,
        hook: AirbyteDefinitionsHook,
        crossed: Sequence[BreakingChangeInfo],
        definition_id: str,
        tag_before: str | None,
        tag_after: str | None,
    ) -> AfterUpdate:
        """What Airbyte did to the sources/destinations: which it kept on the old version, which moved."""
        from airflow_airbyte_connectors.plan.plan_document import ActorAfterUpdate, AfterUpdate

        stayed: list[ActorAfterUpdate] = []
        moved: list[ActorAfterUpdate] = []
        actors = hook.search_actors(self.kind, definition_id)
        deadline = time.monotonic() + AFTER_UPDATE_BUDGET
        for read in actors[:_AFTER_UPDATE_READS]:
            if time.monotonic() > deadline:
                break
            runs = hook.get_actor_version(self.kind, read[f"{self.kind}Id"]).get("dockerImageTag")
            entry = ActorAfterUpdate(
                id=read[f"{self.kind}Id"], name=read.get("name"), workspace_id=read.get("workspaceId"), runs=runs
            )
            (moved if runs == tag_after else stayed).append(entry)
        if stayed:
            self.log.warning(
                "%d %s(s) still run %s after the update across breaking change(s) %s: %s. Airbyte does not "
                "enforce the deadline on OSS; see the migration guide.",
                len(stayed),
                self.kind,
                tag_before,
                ", ".join(c.version for c in crossed),
                ", ".join(f"{a.name} ({a.runs})" for a in stayed),
            )
        return AfterUpdate(
            breaking_changes=list(crossed), stayed=stayed, moved=moved, not_read=len(actors) - len(stayed) - len(moved)
        )

    def _find_after_lost_answer(
        self, hook: AirbyteDefinitionsHook, desired: DesiredDefinition
    ) -> CurrentDefinition | None:
        for wait in LOST_ANSWER_WAITS:
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
        self, action: WriteAction, definition_id: str | None, name: str, tag_before: str | None, tag_after: str | None
    ) -> WriteResult:
        from airflow_airbyte_connectors.plan.plan_document import WriteResult

        planned = self.planned
        return WriteResult(
            change_id=planned.change_id if planned else None,
            environment=self.environment,
            kind=self.kind,
            action=action,
            definition_id=definition_id,
            name=name,
            docker_repository=self._desired().docker_repository,
            tag_before=tag_before,
            tag_after=tag_after,
            dry_run=bool(self.plan_only),
            # As planned (and, where asked, approved): the report and the Asset event say what it meant.
            version_meaning=planned.version_meaning if planned else "",
        )
