"""The connector registry the emulated Airbyte consults, and Airbyte's version rule for comparing tags.

Real Airbyte fetches ``metadata/<dockerRepository>/latest/oss.json`` on every definition ``update`` and
uses its ``releases.breakingChanges``: a repository the registry lacks (404) has none, so nothing is
pinned; a registry that cannot be reached fails the update (500).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from functools import total_ordering
from typing import Any


class VersionError(ValueError):
    """A tag Airbyte's ``Version`` cannot parse or compare (Airbyte throws; the API answers 500)."""


@total_ordering
class AirbyteVersion:
    """``io.airbyte.commons.version.Version``: not SemVer.

    Only the numeric ``X.Y.Z`` before the first ``-`` counts (``2.0.0-rc.1 == 2.0.0``), a 4th part is
    ignored, and a ``dev*`` tag equals every version. Fewer than three parts fail at construction, a
    non-numeric part when compared.
    """

    def __init__(self, tag: str):
        self.tag = tag.replace("\n", "").strip()
        self.dev = self.tag.startswith("dev")
        parts = self.tag.split("-")[0].split(".")
        if not self.dev and len(parts) < 3:
            raise VersionError(f"Invalid version string: {tag!r}")
        self._parts = parts[:3]

    def _numbers(self) -> tuple[int, ...]:
        try:
            return tuple(int(part) for part in self._parts)
        except ValueError:
            raise VersionError(f"Invalid version string: {self.tag!r}") from None

    def _compare(self, other: AirbyteVersion) -> int:
        if self.dev or other.dev:
            return 0
        mine, theirs = self._numbers(), other._numbers()
        return (mine > theirs) - (mine < theirs)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AirbyteVersion) and self._compare(other) == 0

    def __lt__(self, other: AirbyteVersion) -> bool:
        return self._compare(other) < 0

    __hash__ = None  # type: ignore[assignment]  # equality is not transitive with dev tags

    def __repr__(self) -> str:
        return f"AirbyteVersion({self.tag!r})"


class ConnectorRegistry:
    """A registry document (``{"sources": [...], "destinations": [...]}`` with ``releases``) by repository.

    :param document: the registry as loaded; None means an empty registry (every connector unknown).
    :param unreachable: the emulated server cannot fetch it (an air-gapped Airbyte).
    """

    def __init__(self, document: Mapping[str, Any] | None = None, *, unreachable: bool = False):
        self.document = document
        self.unreachable = unreachable
        self._entries: dict[tuple[str, str], Mapping[str, Any]] = {}
        for kind in ("source", "destination"):
            for entry in (document or {}).get(f"{kind}s", []):
                if isinstance(entry, Mapping) and entry.get("dockerRepository"):
                    self._entries[(kind, entry["dockerRepository"])] = entry

    def entry(self, kind: str, docker_repository: str) -> Mapping[str, Any] | None:
        """``metadata/<repo>/latest/oss.json``: the entry, or None for a 404."""
        return self._entries.get((kind, docker_repository))

    def breaking_changes(self, kind: str, docker_repository: str) -> dict[str, Mapping[str, Any]]:
        """``releases.breakingChanges`` of a repository by version; {} when it has none or is unknown."""
        entry = self.entry(kind, docker_repository) or {}
        return dict((entry.get("releases") or {}).get("breakingChanges") or {})


def crossed_on_upgrade(
    current: str, new: str, breaking_changes: Mapping[str, Mapping[str, Any]]
) -> list[tuple[str, Mapping[str, Any]]]:
    """``getBreakingChangesForUpgrade``: those with ``current < v <= new``, ascending; none on a downgrade.

    Raises :class:`VersionError` for a tag Airbyte cannot compare, but only when there are breaking
    changes to compare with (Airbyte returns early on an empty list).
    """
    if not breaking_changes:
        return []
    old, target = AirbyteVersion(current), AirbyteVersion(new)
    if target <= old:  # "When downgrading, we don't take into account breaking changes"
        return []
    crossed = [(AirbyteVersion(v), v, change) for v, change in breaking_changes.items()]
    crossed = [item for item in crossed if old < item[0] <= target]
    return [(v, change) for _, v, change in sorted(crossed, key=lambda item: item[0]._numbers())]


def rolled_back(new: str, breaking_changes: Mapping[str, Mapping[str, Any]]) -> set[str]:
    """Breaking changes above the new default: their ``breaking_change`` pins are released."""
    if not breaking_changes:
        return set()
    target = AirbyteVersion(new)
    return {v for v in breaking_changes if AirbyteVersion(v) > target}


def upcoming(actor_tag: str, default_tag: str, breaking_changes: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """``ActorDefinitionVersionBreakingChanges`` for an actor on ``actor_tag``: the breaking changes with
    ``actor < v <= default``, ascending; {} when there are none (the field is then left out).

    ``minUpgradeDeadline`` and ``deadlineAction`` come from the one with the earliest deadline; a missing
    action reads as ``disable``, as Airbyte's converter does.
    """
    try:
        actor, default = AirbyteVersion(actor_tag), AirbyteVersion(default_tag)
        ahead = sorted(
            (AirbyteVersion(v)._numbers(), v, change)
            for v, change in breaking_changes.items()
            if actor < AirbyteVersion(v) <= default
        )
    except VersionError:
        return {}
    if not ahead:
        return {}
    listed = []
    for _, version, change in ahead:
        item = {
            "version": version,
            "message": change["message"],
            "upgradeDeadline": change["upgradeDeadline"],
            "migrationDocumentationUrl": change.get("migrationDocumentationUrl") or "https://docs.airbyte.com",
        }
        if change.get("deadlineAction"):
            item["deadlineAction"] = change["deadlineAction"]
        listed.append(item)
    first = min(listed, key=lambda item: item["upgradeDeadline"])
    return {
        "upcomingBreakingChanges": listed,
        "minUpgradeDeadline": first["upgradeDeadline"],
        "deadlineAction": first.get("deadlineAction", "disable"),
    }


def support_state(
    actor_tag: str,
    default_tag: str,
    breaking_changes: Mapping[str, Mapping[str, Any]],
    today: datetime.date | None = None,
) -> str:
    """``SupportStateUpdater``: ``unsupported`` behind a breaking change whose deadline has passed,
    ``deprecated`` behind one still to come, else ``supported`` (on the deadline day itself: neither)."""
    today = today or datetime.date.today()
    states = set()
    for change in upcoming(actor_tag, default_tag, breaking_changes).get("upcomingBreakingChanges", []):
        deadline = datetime.date.fromisoformat(change["upgradeDeadline"])
        if deadline < today:
            states.add("unsupported")
        elif deadline > today:
            states.add("deprecated")
    return "unsupported" if "unsupported" in states else "deprecated" if states else "supported"
