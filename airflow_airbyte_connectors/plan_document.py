"""The plan document: one typed, versioned record of a plan, made once from a
:class:`~airflow_airbyte_connectors.planning.Plan` and read by every consumer (the ``prepare`` XCom, the
approval, the report, the Asset event, ``airbyte-connectors plan --format json``). Also the typed records
the write tasks hand to the report.

Pure module: no Airflow, no HTTP. JSON field names are camelCase like Airbyte's; the JSON Schema in
docs/plan-schema.md is generated from these models.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from airflow_airbyte_connectors.configs import DesiredDefinition
from airflow_airbyte_connectors.impact import ActorImpact
from airflow_airbyte_connectors.kinds import Kind
from airflow_airbyte_connectors.planning import Action, Finding, Plan
from airflow_airbyte_connectors.settings_options import ApprovalMode

# Bumped when a field is removed or changes meaning; fields may be added within a version.
PLAN_SCHEMA_VERSION: Literal[2] = 2
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


class PlannedChange(Document):
    """One create or update: to write, held, blocked (image missing, version refused) or pending (earlier
    outcome unknown)."""

    label: str
    action: Literal["create", "update"]
    kind: Kind
    name: str
    docker_repository: str
    tag_before: str | None
    tag_after: str
    definition_id: str | None
    changes: list[FieldChange]
    version_change: VersionChangeInfo | None
    hold_reasons: list[str]
    impact: ImpactInfo | None

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
            label=action.label,
            action=action.action,
            kind=action.kind,
            name=action.desired.name,
            docker_repository=action.desired.docker_repository,
            tag_before=tag_before,
            tag_after=action.desired.docker_image_tag,
            definition_id=action.definition_id,
            changes=[FieldChange(field=c.field, before=c.before, after=c.after) for c in action.changes],
            version_change=VersionChangeInfo.model_validate(change.to_json()) if change else None,
            hold_reasons=list(action.hold_reasons),
            impact=impact_info(action.impact),
        )


def impact_info(impact: tuple[ActorImpact, ...] | None) -> ImpactInfo | None:
    """Counts per outcome and the first actors of each (never their configuration)."""
    if impact is None:
        return None
    shown: list[dict[str, Any]] = []
    for outcome in OUTCOMES:
        shown += [i.to_json() for i in impact if i.outcome == outcome][:ACTORS_SHOWN]
    return ImpactInfo(total=len(impact), outcomes=dict(Counter(i.outcome for i in impact)), actors=shown)


class UnchangedDefinition(Document):
    kind: Kind
    name: str
    docker_repository: str
    docker_image_tag: str
    definition_id: str | None = None

    @classmethod
    def of(cls, desired: DesiredDefinition) -> UnchangedDefinition:
        return cls(
            kind=desired.kind,
            name=desired.name,
            docker_repository=desired.docker_repository,
            docker_image_tag=desired.docker_image_tag,
            definition_id=desired.definition_id,
        )


class Note(Document):
    """A finding: reported, not written. ``ambiguous`` ones are conflicts, ``image_missing`` and
    ``platform_refused`` ones block."""

    category: str
    kind: Kind | None
    name: str
    message: str

    @classmethod
    def of(cls, finding: Finding) -> Note:
        return cls(category=finding.category, kind=finding.kind, name=finding.name, message=finding.message)


class ApprovalRequest(Document):
    """What waits for a person in this run (``changes``: labels), and what they are shown."""

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
    unchanged: int
    unmanaged: int
    findings: int
    conflicts: int


class PlanDocument(Document):
    """A plan, as the DAG's tasks, the CLI and other programs read it (docs/plan-schema.md)."""

    schema_version: Literal[2] = PLAN_SCHEMA_VERSION
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
    unchanged: list[UnchangedDefinition]
    findings: list[Note]
    # Definitions in Airbyte that basic_config does not mention (left alone).
    unmanaged: int
    approval: ApprovalRequest = Field(default_factory=lambda: ApprovalRequest(mode="never"))

    @classmethod
    def of(cls, plan: Plan, *, dry_run: bool, **context: Any) -> PlanDocument:
        """``context``: where and from what it was planned (``airbyte_url``, ``config_digest``, ...)."""
        counts = plan.summary()
        return cls(
            dry_run=dry_run,
            counts=Counts(**counts),
            changes=[PlannedChange.of(a) for a in plan.actions],
            held=[PlannedChange.of(a) for a in plan.held],
            blocked=[PlannedChange.of(a) for a in plan.blocked],
            pending=[PlannedChange.of(a) for a in plan.pending],
            unchanged=[UnchangedDefinition.of(d) for d in plan.unchanged],
            findings=[Note.of(f) for f in plan.findings],
            unmanaged=len(plan.unmanaged),
            **context,
        )

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
        return f"{self.kind} {self.name} {self.tag_before}→{self.tag_after}"

    @property
    def changed_airbyte(self) -> bool:
        return self.action in ("created", "updated")


class WriteProblem(Document):
    """A write that was not made (``stale``), whose outcome is unknown, or that found a duplicate."""

    message: str
    label: str | None = None
    # Duplicates: the definition IDs Airbyte holds twice.
    ids: list[str] = []


if __name__ == "__main__":  # docs/plan-schema.json
    import json

    print(json.dumps(PlanDocument.model_json_schema(by_alias=True), indent=2, ensure_ascii=False))
