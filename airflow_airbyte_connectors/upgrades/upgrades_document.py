"""The upgrades document: one typed, versioned record of what ``find_outdated`` found, read by every consumer
(``airbyte-connectors outdated --format json``, the ``connector_upgrades`` task's return value and its Asset
event's ``extra``, which carries the proposals' rows only).

Pure module: no Airflow, no HTTP. JSON field names are camelCase; the JSON Schema in docs/upgrades-schema.md is
generated from these models (``python -m airflow_airbyte_connectors.upgrades.upgrades_document``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from airflow_airbyte_connectors.core.kinds import Kind
from airflow_airbyte_connectors.plan.plan_document import BreakingChangeInfo, Document, VersionChangeInfo
from airflow_airbyte_connectors.settings_options import OPTION
from airflow_airbyte_connectors.upgrades.proposals import NoProposal

if TYPE_CHECKING:
    from airflow_airbyte_connectors.config.policies import Policy
    from airflow_airbyte_connectors.core.versions import BreakingChange, VersionChange
    from airflow_airbyte_connectors.upgrades.outdated import Outdated, OutdatedRow, PlatformCheck, Unread

# Bumped when a field is removed or changes meaning; fields may be added within a version.
UPGRADES_SCHEMA_VERSION: Literal[1] = 1


class PolicyInfo(Document):
    """The effective policy of a definition, in basic_config's key names."""

    version_policy: Literal["pin", "patch", "minor", "major"]
    breaking: Literal["stop", "allow"]
    # ``7d``; null: no cooldown.
    minimum_release_age: str | None
    skip_versions: list[str]

    @classmethod
    def of(cls, policy: Policy) -> PolicyInfo:
        return cls.model_validate(policy.to_json())


class SkippedVersionInfo(Document):
    """A newer release the policy allows that this Airbyte refuses, in Airbyte's words."""

    version: str
    reason: str


class UpgradeRow(Document):
    """One definition: its tags, what its policy proposes and why, and (with a connection) what Airbyte runs."""

    kind: Kind
    name: str
    docker_repository: str
    config_tag: str
    # With a connection: the tag Airbyte holds and how many sources/destinations use the definition (null: not
    # read, or nothing proposed).
    airbyte_tag: str | None
    touches: int | None
    # The connector registry's current version (null: not in it, or it was not read).
    registry_latest: str | None
    # The image registry the tags are read at (URL, never with userinfo).
    registry: str | None
    policy: PolicyInfo
    # False: no versionPolicy anywhere, so ``pin``.
    policy_set: bool
    newest: str | None
    newest_in_policy: str | None
    proposed: str | None
    # The proposed move from the config's tag, as Airbyte classifies it.
    classes: list[str]
    crossed: list[BreakingChangeInfo]
    stopped_at: BreakingChangeInfo | None
    age_days: int | None
    # The day the newest release the cooldown holds back is old enough (YYYY-MM-DD; null: none held, or undated).
    cooldown_until: str | None
    # Why nothing is proposed (null when something is).
    reason: NoProposal | None
    detail: str
    # One line for people on why this row proposes what it does, or nothing; every row has one.
    why: str
    skipped: list[SkippedVersionInfo]
    # The newest release beyond the policy, shown beside the proposal and never proposed.
    also_available: VersionChangeInfo | None
    # With a connection whose tag differs from the config's: the proposed move from Airbyte's tag, and the line
    # saying it is a downgrade or crosses a breaking change from there (null: neither).
    airbyte_move: VersionChangeInfo | None
    airbyte_flag: str | None
    # What this row could not read (its tag list, a release date), in the registry's words.
    problem: str | None

    @classmethod
    def of(cls, row: OutdatedRow) -> UpgradeRow:
        proposal = row.proposal
        return cls(
            kind=row.desired.kind,
            name=row.desired.name,
            docker_repository=row.desired.docker_repository,
            config_tag=row.desired.docker_image_tag,
            airbyte_tag=row.airbyte_tag,
            touches=row.touches,
            registry_latest=row.registry_latest,
            registry=row.registry,
            policy=PolicyInfo.of(proposal.policy),
            policy_set=row.policy_set,
            newest=proposal.newest,
            newest_in_policy=proposal.newest_in_policy,
            proposed=proposal.proposed,
            classes=list(proposal.classes),
            crossed=[_breaking(change) for change in proposal.crossed],
            stopped_at=_breaking(proposal.stopped_at) if proposal.stopped_at else None,
            age_days=proposal.age_days,
            cooldown_until=proposal.cooldown_until.isoformat() if proposal.cooldown_until else None,
            reason=proposal.reason,
            detail=proposal.detail,
            why=row.why,
            skipped=[SkippedVersionInfo(version=s.tag, reason=s.reason) for s in proposal.skipped],
            also_available=_change(proposal.also_available),
            airbyte_move=_change(row.airbyte_move),
            airbyte_flag=row.airbyte_flag,
            problem=row.problem,
        )


class UnreadInfo(Document):
    """A registry that could not be read, said once."""

    # ``connector registry`` or ``image registry``.
    what: str
    # Never with userinfo.
    url: str
    reason: str
    # The setting that points it elsewhere and its environment variable (null: the image's name says where).
    setting: str | None
    env_var: str | None
    # What it left unread: ``airbyte/source-github`` (a tag list) or ``... (release date of 1.2.3)``.
    unread: list[str]
    # What the answer does without it.
    meaning: str

    @classmethod
    def of(cls, unread: Unread) -> UnreadInfo:
        return cls(
            what=unread.what,
            url=unread.url,
            reason=unread.reason,
            setting=unread.setting,
            env_var=OPTION[unread.setting].env_var if unread.setting else None,
            unread=list(unread.unread),
            meaning=unread.meaning,
        )


class PlatformInfo(Document):
    """The Airbyte whose platform-compatibility matrix the proposals were checked against, or would have been."""

    airbyte_version: str | None
    edition: str | None
    # ``given`` (--airbyte-version) or ``connection``; null: unknown.
    origin: Literal["given", "connection"] | None = Field(alias="from")
    checked: bool

    @classmethod
    def of(cls, platform: PlatformCheck) -> PlatformInfo:
        return cls.model_validate(platform.to_json())


class UpgradesDocument(Document):
    """What ``outdated`` found, as programs read it (docs/upgrades-schema.md)."""

    schema_version: Literal[1] = UPGRADES_SCHEMA_VERSION
    # The day release ages were judged on (YYYY-MM-DD).
    today: str
    # How many rows propose a version (of all rows, also when ``rows`` holds the proposals only).
    proposals: int
    definitions: int
    # ``all``: a row per definition (the CLI, the task's return value); ``proposals``: only the rows proposing
    # a version (the Asset event's ``extra``, which stays small).
    rows_included: Literal["all", "proposals"]
    rows: list[UpgradeRow]
    # False: something was unread (``problems``); no row may then be taken for "nothing newer".
    complete: bool
    # True: versions were needed and no tag list gave one (the connector_upgrades run fails, no event).
    nothing_read: bool
    # Each problem once, for people: every unread registry (``unread``), then the rest.
    problems: list[str]
    unread: list[UnreadInfo]
    # Said, but complete all the same (no policy means pin, platform compatibility not checked, ...).
    notes: list[str]
    platform_compatibility: PlatformInfo

    @classmethod
    def of(cls, outdated: Outdated, *, rows: Literal["all", "proposals"] = "all") -> UpgradesDocument:
        shown = outdated.rows if rows == "all" else outdated.proposals
        return cls(
            today=outdated.today.isoformat(),
            proposals=len(outdated.proposals),
            definitions=len(outdated.rows),
            rows_included=rows,
            rows=[UpgradeRow.of(row) for row in shown],
            complete=not outdated.problems,
            nothing_read=outdated.nothing_read,
            problems=list(outdated.problems),
            unread=[UnreadInfo.of(unread) for unread in outdated.unread],
            notes=list(outdated.notes),
            platform_compatibility=PlatformInfo.of(outdated.platform),
        )


def _breaking(change: BreakingChange) -> BreakingChangeInfo:
    return BreakingChangeInfo.model_validate(change.to_json())


def _change(change: VersionChange | None) -> VersionChangeInfo | None:
    return None if change is None else VersionChangeInfo.model_validate(change.to_json())


def upgrades_json_schema() -> dict[str, Any]:
    return UpgradesDocument.model_json_schema(by_alias=True)


if __name__ == "__main__":  # docs/upgrades-schema.json
    import json

    print(json.dumps(upgrades_json_schema(), indent=2, ensure_ascii=False))
