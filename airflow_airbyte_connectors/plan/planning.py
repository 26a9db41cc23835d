"""Compare the desired definitions (config) with the current ones (Airbyte) into a typed plan.

Pure module: no Airflow, no HTTP. dictdiffer does the comparison over the fields the project manages;
its raw tuples never leave this module.

Identity of a definition, within its kind:
1. a definition ID in the config that exists in Airbyte;
2. otherwise the ``dockerRepository``.
Names are not unique in Airbyte and never decide identity alone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import dictdiffer

from airflow_airbyte_connectors.config.configs import ConnectorsConfig, DesiredDefinition
from airflow_airbyte_connectors.core.compatibility import CompatibilityMatrix, refusal
from airflow_airbyte_connectors.core.kinds import KINDS, Kind, id_key
from airflow_airbyte_connectors.core.releases import RegistryReleases
from airflow_airbyte_connectors.core.versions import VersionChange, classify
from airflow_airbyte_connectors.plan.gate import GateVerdict, gated
from airflow_airbyte_connectors.plan.impact import ActorImpact

# Fields the project manages, in Airbyte's names, and what the Configuration API can change.
MANAGED_FIELDS = ("name", "dockerRepository", "dockerImageTag", "documentationUrl")
UNCHANGEABLE_FIELDS = ("dockerRepository", "documentationUrl")

ActionType = Literal["create", "update"]


@dataclass(frozen=True)
class CurrentDefinition:
    """A definition as Airbyte lists it (default version, not per-workspace pins)."""

    kind: Kind
    definition_id: str
    name: str
    docker_repository: str
    docker_image_tag: str
    documentation_url: str | None
    custom: bool

    @classmethod
    def from_api(cls, kind: Kind, read: Mapping[str, Any]) -> CurrentDefinition:
        return cls(
            kind=kind,
            definition_id=read[id_key(kind)],
            name=read["name"],
            docker_repository=read["dockerRepository"],
            docker_image_tag=read["dockerImageTag"],
            documentation_url=read.get("documentationUrl"),
            custom=bool(read.get("custom", False)),
        )

    def managed_fields(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dockerRepository": self.docker_repository,
            "dockerImageTag": self.docker_image_tag,
            "documentationUrl": self.documentation_url,
        }


@dataclass(frozen=True)
class Change:
    field: str
    before: Any
    after: Any

    def __str__(self) -> str:
        return f"{self.field} {self.before} → {self.after}"


@dataclass(frozen=True)
class Action:
    """One write to make: create a custom definition, or update an existing one."""

    action: ActionType
    desired: DesiredDefinition
    definition_id: str | None = None  # the Airbyte definition to update; None for a create
    changes: tuple[Change, ...] = ()
    # What Airbyte held when planned: an update is written only while Airbyte still holds it.
    tag_before: str | None = None
    name_before: str | None = None
    documentation_url_before: str | None = None
    # What the version move means (updates of the tag only; see with_version_changes).
    version_change: VersionChange | None = None
    # The version classes [airbyte_connectors] hold_changes holds it for (also when apply_held releases it).
    hold_reasons: tuple[str, ...] = ()
    # Which sources/destinations the update moves or leaves behind (filled by the caller, which reads Airbyte).
    impact: tuple[ActorImpact, ...] | None = None
    # The definition updated is custom: it belongs to one workspace, the one its update must be sent with.
    custom: bool = False
    # The environment (connectors.environments) whose Airbyte it is written to; None without environments.
    environment: str | None = None
    # The promotion gate's verdict on it (environments with promoteFrom; see with_gates).
    gate: GateVerdict | None = None

    @property
    def tag_change(self) -> Change | None:
        return next((c for c in self.changes if c.field == "dockerImageTag"), None)

    @property
    def version_meaning(self) -> str:
        """``major, breaking``: the update's version classes, or nothing (creates, name-only updates)."""
        change = self.version_change
        return change.describe() if change and change.classes else ""

    @property
    def kind(self) -> Kind:
        return self.desired.kind

    @property
    def label(self) -> str:
        """Short human label, used as the mapped task's name in the UI: ``prod: update source GitHub
        1.8.0→1.9.2 minor`` (the environment first, where there are environments)."""
        where = f"{self.environment}: " if self.environment else ""
        tag_change = self.tag_change
        if self.action == "create":
            return f"{where}create {self.kind} {self.desired.name} {self.desired.docker_image_tag}"
        if tag_change:
            meaning = f" {self.version_meaning}" if self.version_meaning else ""
            return f"{where}update {self.kind} {self.desired.name} {tag_change.before}→{tag_change.after}{meaning}"
        return f"{where}update {self.kind} {self.desired.name} ({', '.join(c.field for c in self.changes)})"

    @property
    def gated_tag_move(self) -> bool:
        """Whether the promotion gate judges this write: a create, or a tag move that is not down (a rollback
        is not gated; a name-only update moves no version)."""
        if self.action == "create":
            return True
        change = self.tag_change
        return change is not None and gated(str(change.before), str(change.after))


@dataclass(frozen=True)
class Finding:
    """Something the plan reports but does not change."""

    category: Literal[
        "unchangeable",
        "name_taken",
        "repeated_name",
        "ambiguous",
        "id_not_found",
        "not_renamable",
        "image_missing",
        "image_unchecked",
        "platform_refused",
        "platform_compatibility",
        "registry",
        "create_pending",
        "environment_tag",
        "promotion_records",
    ]
    kind: Kind | None  # None: about the run as a whole (e.g. the connector registry could not be read)
    name: str
    message: str


@dataclass(frozen=True)
class Plan:
    creates: tuple[Action, ...] = ()
    updates: tuple[Action, ...] = ()
    unchanged: tuple[DesiredDefinition, ...] = ()
    findings: tuple[Finding, ...] = ()
    # Definitions in Airbyte that the config does not mention: reported, never deleted.
    unmanaged: tuple[CurrentDefinition, ...] = ()
    # Writes not sent because their image does not exist (see with_image_checks) or because Airbyte would refuse
    # the version (see with_platform_compatibility): each fails the run.
    blocked: tuple[Action, ...] = ()
    # Updates not written because of their version class (see with_holds): a decision, not a failure.
    held: tuple[Action, ...] = ()
    # Creates not sent because an earlier create's outcome is still unknown (see with_pending_creates).
    pending: tuple[Action, ...] = ()
    # Creates and updates the promotion gate keeps back, each with its verdict (see with_gates).
    waiting: tuple[Action, ...] = ()

    @property
    def actions(self) -> tuple[Action, ...]:
        return self.creates + self.updates

    @property
    def conflicts(self) -> tuple[Finding, ...]:
        """Findings that leave a configured definition unmanaged until a person resolves them."""
        return tuple(f for f in self.findings if f.category == "ambiguous")

    def summary(self) -> dict[str, int]:
        return {
            "create": len(self.creates),
            "update": len(self.updates),
            "blocked": len(self.blocked),
            "held": len(self.held),
            "pending": len(self.pending),
            "waiting": len(self.waiting),
            "unchanged": len(self.unchanged),
            "unmanaged": len(self.unmanaged),
            "findings": len(self.findings),
            "conflicts": len(self.conflicts),
        }


ImageStatus = Literal["exists", "missing", "unknown"]


def with_version_changes(
    plan: Plan, releases: RegistryReleases | None, *, registry: Literal["read", "off", "failed"]
) -> Plan:
    """Classify each update's version move and find the registry breaking changes it crosses.

    ``registry``: ``read`` (``releases`` holds the registry), ``off`` (the user turned breaking-change data
    off: nothing counts as breaking), ``failed`` (unreadable: a major or unknown move counts as breaking).
    """
    updates = []
    findings: list[Finding] = []
    for action in plan.updates:
        tag = action.tag_change
        if tag is None:
            updates.append(action)
            continue
        desired = action.desired
        known: tuple[Any, ...] | None
        if registry == "read" and releases is not None:
            known = releases.breaking_changes(desired.kind, action.definition_id, desired.docker_repository)
            prefix = f"{desired.kind} {desired.docker_repository} ("
            findings += [
                Finding("registry", desired.kind, desired.name, f"connector registry: {problem}")
                for problem in releases.findings
                if problem.startswith(prefix)
            ]
        else:
            known = () if registry == "off" else None
        change = classify(
            str(tag.before), str(tag.after), known, registry_known=registry != "read" or known is not None
        )
        updates.append(replace(action, version_change=change))
    return replace(plan, updates=tuple(updates), findings=plan.findings + tuple(findings))


def with_holds(plan: Plan, hold_classes: frozenset[str], *, apply_held: bool = False) -> Plan:
    """Move the updates whose version classes are in ``hold_classes`` to ``held`` (unless ``apply_held``:
    then they stay writes, still marked with why they would have been held). Creates are never held."""
    updates: list[Action] = []
    held: list[Action] = []
    for action in plan.updates:
        classes = action.version_change.classes if action.version_change else ()
        reasons = tuple(c for c in classes if c in hold_classes)
        if not reasons:
            updates.append(action)
            continue
        marked = replace(action, hold_reasons=reasons)
        (updates if apply_held else held).append(marked)
    return replace(plan, updates=tuple(updates), held=plan.held + tuple(held))


def with_environment(plan: Plan, environment: str) -> Plan:
    """Mark every write as one to ``environment``'s Airbyte (its label names it)."""

    def marked(actions: tuple[Action, ...]) -> tuple[Action, ...]:
        return tuple(replace(action, environment=environment) for action in actions)

    return replace(
        plan,
        creates=marked(plan.creates),
        updates=marked(plan.updates),
        blocked=marked(plan.blocked),
        held=marked(plan.held),
        pending=marked(plan.pending),
        waiting=marked(plan.waiting),
    )


def with_gates(plan: Plan, verdicts: Mapping[int, GateVerdict]) -> Plan:
    """Apply the promotion gate: ``verdicts`` maps ``id(action)`` of each gated create, update or held update
    to its verdict. An open gate keeps the write (marked with why); a waiting or held one moves it to ``waiting``.
    Writes without a verdict (rollbacks, name-only updates) stay as they are."""

    def judged(action: Action) -> tuple[Action, bool]:
        verdict = verdicts.get(id(action))
        if verdict is None:
            return action, True
        return replace(action, gate=verdict), verdict.open

    kept, waiting = _sort_writes(plan, judged)
    return replace(kept, waiting=plan.waiting + waiting)


def _sort_writes(plan: Plan, keep: Callable[[Action], tuple[Action, bool]]) -> tuple[Plan, tuple[Action, ...]]:
    """Each write (create, update, held update) through ``keep``: the action it returns stays in its own list when
    the flag is True, else it is taken out (returned second, in plan order)."""
    kept: dict[str, list[Action]] = {"create": [], "update": [], "held": []}
    taken: list[Action] = []
    held = set(map(id, plan.held))
    for action in plan.actions + plan.held:
        marked, stays = keep(action)
        if stays:
            kept["held" if id(action) in held else action.action].append(marked)
        else:
            taken.append(marked)
    regrouped = replace(plan, creates=tuple(kept["create"]), updates=tuple(kept["update"]), held=tuple(kept["held"]))
    return regrouped, tuple(taken)


def with_pending_creates(plan: Plan, pending_why: Mapping[tuple[Kind, str], str]) -> Plan:
    """Take out the creates whose earlier create's outcome is unknown (``pending_why`` maps ``(kind,
    dockerRepository)`` to why: ``since T: ...``, or an unreadable record): Airbyte may still commit it, so
    sending it again could make a second definition. They are planned again once Airbyte shows the definition
    or the window passes."""
    creates, pending, findings = [], [], []
    for action in plan.creates:
        why = pending_why.get((action.kind, action.desired.docker_repository))
        if why is None:
            creates.append(action)
            continue
        pending.append(action)
        findings.append(
            Finding(
                "create_pending",
                action.kind,
                action.desired.name,
                f"create {action.kind} {action.desired.name} pending {why}",
            )
        )
    return replace(
        plan, creates=tuple(creates), pending=plan.pending + tuple(pending), findings=plan.findings + tuple(findings)
    )


def with_image_checks(plan: Plan, checks: Mapping[tuple[str, str], tuple[ImageStatus, str]]) -> Plan:
    """Take the writes whose image a registry says does not exist out of the plan (``blocked``), and note
    the ones no registry could confirm (they stay in the plan).

    ``checks`` maps ``(dockerRepository, dockerImageTag)`` to ``(status, reason)``; images not in it are
    taken to exist.
    """
    findings: list[Finding] = []

    def checked(action: Action) -> tuple[Action, bool]:
        desired = action.desired
        image = f"{desired.docker_repository}:{desired.docker_image_tag}"
        status, reason = checks.get((desired.docker_repository, desired.docker_image_tag), ("exists", ""))
        if status == "missing":
            message = (
                f"{desired.kind} {desired.name}: image {image} does not exist ({reason}); "
                f"'{action.label}' was not sent to Airbyte — fix dockerImageTag in basic_config"
            )
            findings.append(Finding("image_missing", desired.kind, desired.name, message))
            return action, False
        if status == "unknown":
            message = f"{desired.kind} {desired.name}: could not check image {image} ({reason}); not blocked for that"
            findings.append(Finding("image_unchecked", desired.kind, desired.name, message))
        return action, True

    kept, blocked = _sort_writes(plan, checked)
    return replace(kept, blocked=plan.blocked + blocked, findings=plan.findings + tuple(findings))


def with_platform_compatibility(
    plan: Plan, matrix: CompatibilityMatrix, airbyte_version: str, edition: str | None = None
) -> Plan:
    """Take the updates (held ones too) Airbyte ``airbyte_version`` would refuse by its platform-compatibility
    matrix out of the plan (``blocked``), each with a finding quoting Airbyte's refusal."""
    findings: list[Finding] = []

    def allowed(action: Action) -> tuple[Action, bool]:
        desired = action.desired
        refused = (
            refusal(matrix, action.definition_id, desired.docker_image_tag, airbyte_version, edition)
            if action.action == "update" and action.definition_id
            else None
        )
        if refused is None:
            return action, True
        message = (
            f"{desired.kind} {desired.name}: {refused.rstrip('.')}; '{action.label}' was not sent to "
            "Airbyte — choose a version this Airbyte supports"
        )
        findings.append(Finding("platform_refused", desired.kind, desired.name, message))
        return action, False

    kept, blocked = _sort_writes(plan, allowed)
    return replace(kept, blocked=plan.blocked + blocked, findings=plan.findings + tuple(findings))


def make_plan(
    desired: ConnectorsConfig,
    current: Mapping[Kind, Iterable[Mapping[str, Any]]],
) -> Plan:
    """Plan the writes that bring Airbyte (``current``, list answers per kind) to ``desired``."""
    parts = [_plan_kind(kind, desired.of_kind(kind), current.get(kind, ())) for kind in KINDS]
    return Plan(
        creates=tuple(a for p in parts for a in p.creates),
        updates=tuple(a for p in parts for a in p.updates),
        unchanged=tuple(d for p in parts for d in p.unchanged),
        findings=tuple(f for p in parts for f in p.findings),
        unmanaged=tuple(c for p in parts for c in p.unmanaged),
    )


class CurrentIndex:
    """Airbyte's definitions of one kind, indexed for identity look-ups.

    The planner and the operator (again, at execute time) both decide identity here, so they agree.
    """

    def __init__(self, current: Iterable[CurrentDefinition]):
        self.definitions = list(current)
        self.by_id = {c.definition_id: c for c in self.definitions}
        self.by_repository: dict[str, list[CurrentDefinition]] = defaultdict(list)
        self.by_name: dict[str, list[CurrentDefinition]] = defaultdict(list)
        for definition in self.definitions:
            self.by_repository[definition.docker_repository].append(definition)
            self.by_name[definition.name.casefold()].append(definition)

    def find(self, desired: DesiredDefinition) -> tuple[CurrentDefinition | None, list[CurrentDefinition]]:
        """Return (the definition ``desired`` identifies or None, every candidate considered).

        More than one candidate and no match means the repository is ambiguous.
        """
        if desired.definition_id and desired.definition_id in self.by_id:
            found = self.by_id[desired.definition_id]
            return found, [found]
        candidates = self.by_repository.get(desired.docker_repository, [])
        return (candidates[0] if len(candidates) == 1 else None), candidates


def diff_definition(desired: DesiredDefinition, current: CurrentDefinition) -> list[Change]:
    """Differences over the managed fields, as typed changes (dictdiffer underneath)."""
    wanted = {
        "name": desired.name,
        "dockerRepository": desired.docker_repository,
        "dockerImageTag": desired.docker_image_tag,
        "documentationUrl": desired.documentation_url,
    }
    changes = []
    for kind_of_diff, path, payload in dictdiffer.diff(current.managed_fields(), wanted):
        # Both sides always carry the same keys, so dictdiffer only ever reports 'change'.
        assert kind_of_diff == "change", (kind_of_diff, path)
        field_name = path if isinstance(path, str) else path[0]
        before, after = payload
        changes.append(Change(field_name, before, after))
    return sorted(changes, key=lambda c: MANAGED_FIELDS.index(c.field))


@dataclass
class _KindPlan:
    creates: list[Action] = field(default_factory=list)
    updates: list[Action] = field(default_factory=list)
    unchanged: list[DesiredDefinition] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    unmanaged: list[CurrentDefinition] = field(default_factory=list)


def _plan_kind(
    kind: Kind, desired: Sequence[DesiredDefinition], current_reads: Iterable[Mapping[str, Any]]
) -> _KindPlan:
    index = CurrentIndex(CurrentDefinition.from_api(kind, read) for read in current_reads)
    plan = _KindPlan()
    plan.findings.extend(_repeated_names(kind, desired))
    claimed: set[str] = set()
    for wanted in desired:
        match, candidates = index.find(wanted)
        if wanted.definition_id and wanted.definition_id not in index.by_id:
            plan.findings.append(
                Finding(
                    "id_not_found",
                    kind,
                    wanted.name,
                    f"{kind} {wanted.name}: {id_key(kind)} {wanted.definition_id} is not in Airbyte; "
                    f"matched by dockerRepository {wanted.docker_repository} instead",
                )
            )
        if match is None and len(candidates) > 1:
            ids = ", ".join(sorted(c.definition_id for c in candidates))
            plan.findings.append(
                Finding(
                    "ambiguous",
                    kind,
                    wanted.name,
                    f"{kind} {wanted.name}: {len(candidates)} definitions in Airbyte use "
                    f"{wanted.docker_repository} ({ids}); set {id_key(kind)} in the config to choose one",
                )
            )
            claimed.update(c.definition_id for c in candidates)
            continue
        if match is not None and match.definition_id in claimed:
            plan.findings.append(
                Finding(
                    "ambiguous",
                    kind,
                    wanted.name,
                    f"{kind} {wanted.name}: definition {match.definition_id} is already claimed by another "
                    f"config entry; give each entry its own {id_key(kind)} or dockerRepository",
                )
            )
            continue
        if match is None:
            _plan_create(wanted, index, plan)
        else:
            claimed.add(match.definition_id)
            _plan_existing(wanted, match, plan)

    plan.unmanaged = [c for c in index.definitions if c.definition_id not in claimed]
    return plan


def _repeated_names(kind: Kind, desired: Sequence[DesiredDefinition]) -> list[Finding]:
    """Names the config uses more than once in a kind (with different images, or validation refuses it)."""
    by_name: dict[str, list[DesiredDefinition]] = defaultdict(list)
    for wanted in desired:
        by_name[wanted.name.casefold()].append(wanted)
    return [
        Finding(
            "repeated_name",
            kind,
            same[0].name,
            f"{kind} {same[0].name}: {len(same)} entries use this name "
            f"({', '.join(d.docker_repository for d in same)}); each is managed by its image, "
            "but Airbyte's UI will show them under one name",
        )
        for same in by_name.values()
        if len(same) > 1
    ]


def _plan_create(wanted: DesiredDefinition, index: CurrentIndex, plan: _KindPlan) -> None:
    plan.creates.append(Action("create", wanted))
    same_name = index.by_name.get(wanted.name.casefold(), [])
    if same_name:
        others = ", ".join(f"{c.definition_id} ({c.docker_repository})" for c in same_name)
        plan.findings.append(
            Finding(
                "name_taken",
                wanted.kind,
                wanted.name,
                f"{wanted.kind} {wanted.name}: the name is already used by {others}; "
                "Airbyte allows it, but the UI will show two connectors with the same name",
            )
        )


def _plan_existing(wanted: DesiredDefinition, match: CurrentDefinition, plan: _KindPlan) -> None:
    applicable: list[Change] = []
    for change in diff_definition(wanted, match):
        if change.field in UNCHANGEABLE_FIELDS:
            plan.findings.append(
                Finding(
                    "unchangeable",
                    wanted.kind,
                    wanted.name,
                    f"{wanted.kind} {wanted.name} ({match.definition_id}): {change} cannot be changed "
                    "through Airbyte's API; left as it is",
                )
            )
        elif change.field == "name" and not match.custom:
            plan.findings.append(
                Finding(
                    "not_renamable",
                    wanted.kind,
                    wanted.name,
                    f"{wanted.kind} {match.name} ({match.definition_id}): built-in definitions cannot be "
                    f"renamed; {change} ignored",
                )
            )
        else:
            applicable.append(change)
    if applicable:
        plan.updates.append(
            Action(
                "update",
                wanted,
                match.definition_id,
                tuple(applicable),
                tag_before=match.docker_image_tag,
                name_before=match.name,
                documentation_url_before=match.documentation_url,
                custom=match.custom,
            )
        )
    else:
        plan.unchanged.append(wanted)
