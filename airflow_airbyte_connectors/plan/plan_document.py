"""The plan document: one typed, versioned record of a plan, made once from a
:class:`~airflow_airbyte_connectors.plan.planning.Plan` and read by every consumer (the ``prepare`` XCom, the
approval, the report, the Asset event, ``airbyte-connectors plan --format json``). Also the typed records
the write tasks hand to the report.

Pure module: no Airflow, no HTTP. JSON field names are camelCase like Airbyte's; the JSON Schema in
docs/plan-schema.md is generated from these models.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from airflow_airbyte_connectors.config.configs import DesiredDefinition
from airflow_airbyte_connectors.core.kinds import Kind
from airflow_airbyte_connectors.plan.gate import GateState, GateVerdict
from airflow_airbyte_connectors.plan.impact import ActorImpact
from airflow_airbyte_connectors.plan.planning import Action, Finding, Plan
from airflow_airbyte_connectors.settings_options import ApprovalMode

# Bumped when a field is removed or changes meaning; fields may be added within a version.
PLAN_SCHEMA_VERSION: Literal[4] = 4
# Sources/destinations named per outcome of one change; the rest are counted.
ACTORS_SHOWN = 10
# Findings that say why a write was blocked.
BLOCKING_CATEGORIES = ("image_missing", "platform_refused")
# The order predicted outcomes are listed in.
OUTCOMES = ("stays_behind", "moves", "user_pinned", "already_pinned", "released")


class Document(BaseModel):
    """camelCase JSON, snake_case Python; frozen; unknown fields refused when read back."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="forbid")

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


class FieldChange(Document):
    field: str
    before: Any
    after: Any


class BreakingChangeInfo(Document):
    """A registry breaking change a version move crosses."""

    version: str
    message: str
    upgrade_deadline: str | None = None
    deadline_action: str | None = None
    migration_documentation_url: str | None = None
    impacted_streams: list[str] = []


class VersionChangeInfo(Document):
    """What a tag move means: its version classes, the breaking changes crossed, notes."""

    current: str
    target: str
    classes: list[str]
    crossed: list[BreakingChangeInfo]
    notes: list[str]


class ImpactInfo(Document):
    """Whom an update touches: counts per predicted outcome and the first sources/destinations of each."""

    total: int
    outcomes: dict[str, int]
    actors: list[dict[str, Any]]


class Gate(Document):
    """The promotion gate's verdict on a version move into an environment with ``promoteFrom``."""

    state: GateState
    # "waiting for staging: 1.9.2 there for 1d 4h of 3d; 3 of 2 syncs succeeded"
    reason: str

    @classmethod
    def of(cls, verdict: GateVerdict | None) -> Gate | None:
        return cls(state=verdict.state, reason=verdict.reason) if verdict is not None else None


class PlannedChange(Document):
    """One create or update: to write, held, blocked (image missing, version refused), pending (earlier
    outcome unknown) or waiting (the promotion gate). A write task receives it as it is and sends what it says."""

    # Names the change in the run: the approval, the write tasks and the report match on it (labels can repeat).
    change_id: str
    # The environment whose Airbyte it is for (null without environments).
    environment: str | None = None
    label: str
    action: Literal["create", "update"]
    kind: Kind
    name: str
    docker_repository: str
    tag_before: str | None
    tag_after: str
    definition_id: str | None
    documentation_url: str
    # What Airbyte held when planned besides the tag (null for a create): an update is written only while
    # Airbyte still holds them.
    name_before: str | None = None
    documentation_url_before: str | None = None
    changes: list[FieldChange]
    version_change: VersionChangeInfo | None
    # ``major, breaking``: what the version move means, as planned (and, where asked, approved).
    version_meaning: str = ""
    hold_reasons: list[str]
    impact: ImpactInfo | None
    # The promotion gate's verdict (environments with promoteFrom; null where no gate judged it).
    gate: Gate | None = None
    # The workspace the write is sent with, decided when the run planned (null: not decided, e.g. the CLI).
    workspace_id: str | None = None
    # Why no workspace can be sent with this update (no workspace lists the custom definition): its write
    # task fails with it and writes nothing.
    owner_not_found: str | None = None

    @classmethod
    def of(cls, action: Action) -> PlannedChange:
        tag_change = action.tag_change
        if action.action == "create":
            tag_before = None
        elif tag_change:
            tag_before = tag_change.before
        else:  # an update of the name only: the version stays
            tag_before = action.desired.docker_image_tag
        change = action.version_change
        return cls(
            change_id=change_id(action),
            environment=action.environment,
            label=action.label,
            action=action.action,
            kind=action.kind,
            name=action.desired.name,
            docker_repository=action.desired.docker_repository,
            tag_before=tag_before,
            tag_after=action.desired.docker_image_tag,
            definition_id=action.definition_id,
            documentation_url=action.desired.documentation_url,
            name_before=action.name_before,
            documentation_url_before=action.documentation_url_before,
            changes=[FieldChange(field=c.field, before=c.before, after=c.after) for c in action.changes],
            version_change=VersionChangeInfo.model_validate(change.to_json()) if change else None,
            version_meaning=action.version_meaning,
            hold_reasons=list(action.hold_reasons),
            impact=impact_info(action.impact),
            gate=Gate.of(action.gate),
        )


def change_id(action: Action) -> str:
    """12 hex digits naming ``action``: the same for the same change when the next run plans it again, and
    different for any two changes of one plan (environment, kind, create or update, the definition by ID or
    else by image, and what it is set to), however alike their labels."""
    identity = action.definition_id or action.desired.docker_repository
    target = sorted((c.field, str(c.after)) for c in action.changes)
    key = [action.environment, action.kind, action.action, identity, action.desired.docker_image_tag, target]
    return hashlib.sha256(json.dumps(key).encode()).hexdigest()[:12]


def impact_info(impact: tuple[ActorImpact, ...] | None) -> ImpactInfo | None:
    """Counts per outcome and the first actors of each (never their configuration)."""
    if impact is None:
        return None
    shown: list[dict[str, Any]] = []
    for outcome in OUTCOMES:
        shown += [i.to_json() for i in impact if i.outcome == outcome][:ACTORS_SHOWN]
    return ImpactInfo(total=len(impact), outcomes=dict(Counter(i.outcome for i in impact)), actors=shown)


class UnchangedDefinition(Document):
    environment: str | None = None
    kind: Kind
    name: str
    docker_repository: str
    docker_image_tag: str
    definition_id: str | None = None

    @classmethod
    def of(cls, desired: DesiredDefinition, environment: str | None = None) -> UnchangedDefinition:
        return cls(
            environment=environment,
            kind=desired.kind,
            name=desired.name,
            docker_repository=desired.docker_repository,
            docker_image_tag=desired.docker_image_tag,
            definition_id=desired.definition_id,
        )


class Note(Document):
    """A finding: reported, not written. ``ambiguous`` ones are conflicts, ``image_missing`` and
    ``platform_refused`` ones block."""

    environment: str | None = None
    category: str
    kind: Kind | None
    name: str
    message: str

    @classmethod
    def of(cls, finding: Finding, environment: str | None = None) -> Note:
        return cls(
            environment=environment,
            category=finding.category,
            kind=finding.kind,
            name=finding.name,
            message=finding.message,
        )


class ApprovalRequest(Document):
    """What waits for a person in this run (``changes``: their ``change_id``), and what they are shown."""

    mode: ApprovalMode
    changes: list[str] = []
    subject: str | None = None
    body: str | None = None


class AirbyteInstance(Document):
    """What Airbyte tells of itself (``instance_configuration``): ``2.0.0``, ``community``."""

    version: str | None = None
    edition: str | None = None

    def describe(self) -> str:
        """``Airbyte 2.0.0 (community)``."""
        edition = f" ({self.edition})" if self.edition else ""
        return f"Airbyte {self.version or '(version unknown)'}{edition}"


class Counts(Document):
    create: int
    update: int
    blocked: int
    held: int
    pending: int
    waiting: int = 0
    unchanged: int
    unmanaged: int
    findings: int
    conflicts: int


class EnvironmentInfo(Document):
    """One environment of ``connectors.environments`` as planned: its Airbyte, its counts, or why it failed."""

    name: str
    conn_id: str
    promote_from: str | None = None
    # The gate's minimum time in promote_from, in seconds, and its successful syncs there.
    soak_seconds: int | None = None
    successful_syncs: int | None = None
    airbyte_url: str | None = None
    definitions_asset: str | None = None
    airbyte: AirbyteInstance | None = None
    counts: Counts | None = None
    unmanaged: int = 0
    # Why nothing is planned or written there this run (unreachable, refused): the run fails, others go on.
    error: str | None = None


class PlanDocument(Document):
    """A plan, as the DAG's tasks, the CLI and other programs read it (docs/plan-schema.md).

    With ``connectors.environments``, one document covers every environment: each change, note and unchanged
    definition names its ``environment``, ``counts`` add up all of them, and ``environments`` says where each
    Airbyte is (``airbyteUrl``, ``airbyte`` and ``definitionsAsset`` at the top are then null).
    """

    schema_version: Literal[4] = PLAN_SCHEMA_VERSION
    dry_run: bool
    # Where the plan was made: the Airbyte API root (never with userinfo) and the Asset naming its definitions.
    airbyte_url: str | None = None
    definitions_asset: str | None = None
    # The version and edition of that Airbyte (null: not read).
    airbyte: AirbyteInstance | None = None
    # sha256 of the basic_config bytes planned from; whether the previous writing run planned from the same.
    config_digest: str | None = None
    config_unchanged: bool | None = None
    counts: Counts
    # Creates and updates to write: now, or once approved (see ``approval``).
    changes: list[PlannedChange]
    # Updates not written because of their version class (hold_changes), unless a person approves them.
    held: list[PlannedChange]
    # Writes not sent because their image tag does not exist in its registry, or because this Airbyte would refuse
    # the version (its platform-compatibility matrix): each fails the run.
    blocked: list[PlannedChange]
    # Creates not sent again because an earlier create's outcome is still unknown.
    pending: list[PlannedChange]
    # Version moves the promotion gate keeps back until the environment promoted from has run them (``gate``).
    waiting: list[PlannedChange] = []
    unchanged: list[UnchangedDefinition]
    findings: list[Note]
    # Definitions in Airbyte that basic_config does not mention (left alone).
    unmanaged: int
    approval: ApprovalRequest = Field(default_factory=lambda: ApprovalRequest(mode="never"))
    # connectors.environments, in promotion order; empty without environments.
    environments: list[EnvironmentInfo] = []

    @classmethod
    def of(cls, plan: Plan, *, dry_run: bool, environment: str | None = None, **context: Any) -> PlanDocument:
        """``context``: where and from what it was planned (``airbyte_url``, ``config_digest``, ...)."""
        counts = plan.summary()
        return cls(
            dry_run=dry_run,
            counts=Counts(**counts),
            changes=[PlannedChange.of(a) for a in plan.actions],
            held=[PlannedChange.of(a) for a in plan.held],
            blocked=[PlannedChange.of(a) for a in plan.blocked],
            pending=[PlannedChange.of(a) for a in plan.pending],
            waiting=[PlannedChange.of(a) for a in plan.waiting],
            unchanged=[UnchangedDefinition.of(d, environment) for d in plan.unchanged],
            findings=[Note.of(f, environment) for f in plan.findings],
            unmanaged=len(plan.unmanaged),
            **context,
        )

    @classmethod
    def of_environments(
        cls,
        planned: Sequence[tuple[EnvironmentInfo, Plan]],
        environments: Sequence[EnvironmentInfo],
        *,
        notes: Sequence[Finding] = (),
        **context: Any,
    ) -> PlanDocument:
        """One document for several environments: ``planned`` pairs each planned environment with its plan;
        ``environments`` lists every environment in promotion order (those not planned with their ``error``);
        ``notes``: findings about the whole plan (``environment`` null), after the environments' own."""
        parts = {info.name: cls.of(plan, environment=info.name, **context) for info, plan in planned}
        lists = ("changes", "held", "blocked", "pending", "waiting", "unchanged", "findings")
        merged: dict[str, Any] = {name: [item for p in parts.values() for item in getattr(p, name)] for name in lists}
        merged["findings"] += [Note.of(note) for note in notes]
        totals = Counter[str](findings=len(notes))
        for part in parts.values():
            totals.update(part.counts.model_dump())
        shown = [
            info.model_copy(update={"counts": parts[info.name].counts, "unmanaged": parts[info.name].unmanaged})
            if info.name in parts
            else info
            for info in environments
        ]
        return cls(
            counts=Counts(**{name: totals[name] for name in Counts.model_fields}),
            unmanaged=sum(p.unmanaged for p in parts.values()),
            environments=shown,
            **merged,
            **context,
        )

    def writes(self, change_ids: Collection[str], *, conn_id: str | None = None) -> list[dict[str, Any]]:
        """The mapped write tasks' kwargs for the changes named (in plan order): each one's typed change, the
        connection of its environment's Airbyte (else ``conn_id``) and whether the run is dry."""
        wanted = set(change_ids)
        return [
            {
                "change": change.to_json(),
                "airbyte_conn_id": info.conn_id if (info := self.environment(change.environment)) else conn_id,
                "dry_run": self.dry_run,
            }
            for change in self.changes + self.held
            if change.change_id in wanted
        ]

    def with_workspaces(self, workspaces: Mapping[str, Mapping[str, Any]]) -> PlanDocument:
        """The document with each write's ``workspace_id`` (or ``owner_not_found``), by change_id."""

        def filled(changes: list[PlannedChange]) -> list[PlannedChange]:
            return [c.model_copy(update=dict(workspaces.get(c.change_id, {}))) for c in changes]

        return self.model_copy(update={"changes": filled(self.changes), "held": filled(self.held)})

    def change(self, change_id: str | None) -> PlannedChange | None:
        return next((c for c in self.changes + self.held if c.change_id == change_id), None)

    @property
    def failed_environments(self) -> list[EnvironmentInfo]:
        return [e for e in self.environments if e.error is not None]

    def environment(self, name: str | None) -> EnvironmentInfo | None:
        return next((e for e in self.environments if e.name == name), None)

    @property
    def conflicts(self) -> list[Note]:
        return [n for n in self.findings if n.category == "ambiguous"]

    @property
    def image_missing(self) -> list[Note]:
        return [n for n in self.findings if n.category == "image_missing"]

    @property
    def platform_refused(self) -> list[Note]:
        return [n for n in self.findings if n.category == "platform_refused"]

    @property
    def notes(self) -> list[Note]:
        """Every finding but what blocked a write (missing images, refused versions: reported apart)."""
        return [n for n in self.findings if n.category not in BLOCKING_CATEGORIES]


# -- what the write tasks hand to the report ----------------------------------------------------------

WriteAction = Literal["created", "updated", "would_create", "would_update", "unchanged"]


class ActorAfterUpdate(Document):
    id: str
    name: str | None = None
    workspace_id: str | None = None
    runs: str | None = None


class AfterUpdate(Document):
    """After an update across a breaking change: which sources/destinations moved and which stayed."""

    breaking_changes: list[BreakingChangeInfo]
    stayed: list[ActorAfterUpdate]
    moved: list[ActorAfterUpdate]
    not_read: int = 0


class WriteResult(Document):
    """What one write task did (its return value)."""

    # The planned change it wrote (null: the operator used on its own, not from a plan).
    change_id: str | None = None
    # The environment whose Airbyte it wrote to (null without environments).
    environment: str | None = None
    kind: Kind
    action: WriteAction
    definition_id: str | None
    name: str
    docker_repository: str | None = None
    tag_before: str | None = None
    tag_after: str | None = None
    dry_run: bool = False
    # As planned (and, where asked, approved).
    version_meaning: str = ""
    # "after retry": a retry found the planned change already made.
    confirmed: str | None = None
    after_update: AfterUpdate | None = None

    @property
    def label(self) -> str:
        where = f"{self.environment}: " if self.environment else ""
        return f"{where}{self.kind} {self.name} {self.tag_before}→{self.tag_after}"

    @property
    def changed_airbyte(self) -> bool:
        return self.action in ("created", "updated")


class WriteProblem(Document):
    """A write that was not made (``stale``), whose outcome is unknown, or that found a duplicate."""

    message: str
    # The planned change it is about (null: not from a plan).
    change_id: str | None = None
    label: str | None = None
    environment: str | None = None
    # Duplicates: the definition IDs Airbyte holds twice.
    ids: list[str] = []


if __name__ == "__main__":  # docs/plan-schema.json
    import json

    print(json.dumps(PlanDocument.model_json_schema(by_alias=True), indent=2, ensure_ascii=False))
