"""The connector registry the emulated Airbyte consults, and Airbyte's version rule for comparing tags.

Real Airbyte fetches ``metadata/<dockerRepository>/latest/oss.json`` on every definition ``update`` and
uses its ``releases.breakingChanges``: a repository the registry lacks (404) has none, so nothing is
pinned; a registry that cannot be reached fails the update (500).

:func:`registry_from_history` makes a registry out of release histories, each connector at a chosen
``dockerImageTag`` with its breaking changes; :meth:`ConnectorRegistry.set_image_tag` moves one while served.
"""

from __future__ import annotations

import copy
import datetime
from collections.abc import Iterable, Mapping
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

    def set_image_tag(self, docker_repository: str, tag: str) -> None:
        """Publish ``tag`` as the repository's latest version (its ``dockerImageTag``), as a registry release does."""
        found = False
        document = dict(self.document or {})
        for kind in ("source", "destination"):
            entries = list(document.get(f"{kind}s", []))
            for index, entry in enumerate(entries):
                if isinstance(entry, Mapping) and entry.get("dockerRepository") == docker_repository:
                    entries[index] = self._entries[(kind, docker_repository)] = {**entry, "dockerImageTag": tag}
                    found = True
            document[f"{kind}s"] = entries
        if not found:
            raise KeyError(f"{docker_repository} is not in the registry")
        self.document = document

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


def registry_from_history(
    history: Mapping[str, Any],
    *,
    tags: Mapping[str, str] | None = None,
    base: Mapping[str, Any] | None = None,
    breaking: Mapping[str, Iterable[str]] | None = None,
    deadline_days: int = 30,
) -> dict[str, Any]:
    """A registry document for the connectors of a release history (``connector-version-history.json``).

    Each entry is ``base``'s entry for the repository when it has one (name, definition id, the real breaking
    changes' texts), else one made from the history. ``dockerImageTag``: ``tags[repository]``, else the history's
    registry snapshot (``registry20260319``), else its ``latest``. ``releases.breakingChanges``: the versions
    ``breaking[repository]``, else the snapshot's; a version without a text in ``base`` gets a made-up message and
    a deadline ``deadline_days`` after its release date in the history.
    """
    known = {
        entry["dockerRepository"]: (kind, entry)
        for kind in ("source", "destination")
        for entry in (base or {}).get(f"{kind}s", [])
        if isinstance(entry, Mapping) and entry.get("dockerRepository")
    }
    document: dict[str, Any] = {"sources": [], "destinations": []}
    for connector in history.get("connectors", []):
        repository = connector["dockerRepository"]
        snapshot = connector.get("registry20260319") or {}
        kind = "destination" if repository.split("/")[-1].startswith("destination-") else "source"
        kind, entry = known.get(repository, (kind, None))
        entry = copy.deepcopy(dict(entry)) if entry else _history_entry(kind, connector)
        entry["dockerImageTag"] = (tags or {}).get(repository) or snapshot.get("dockerImageTag") or connector["latest"]
        versions = list((breaking or {}).get(repository, snapshot.get("breakingChanges", connector["breakingChanges"])))
        released = {row["version"]: row.get("date") for row in connector.get("versions", [])}
        texts = dict((entry.get("releases") or {}).get("breakingChanges") or {})
        entry["releases"] = {
            **(entry.get("releases") or {}),
            "breakingChanges": {
                v: texts.get(v) or _made_up_change(repository, v, released.get(v), deadline_days) for v in versions
            },
        }
        document[f"{kind}s"].append(entry)
    return document


def _history_entry(kind: str, connector: Mapping[str, Any]) -> dict[str, Any]:
    slug = connector["dockerRepository"].split("/")[-1].removeprefix(f"{kind}-")
    return {
        f"{kind}DefinitionId": connector.get("definitionId"),
        "name": slug.replace("-", " ").title(),
        "dockerRepository": connector["dockerRepository"],
        "documentationUrl": f"https://docs.airbyte.com/integrations/{kind}s/{slug}",
    }


def _made_up_change(repository: str, version: str, released: str | None, deadline_days: int) -> dict[str, Any]:
    start = datetime.date.fromisoformat(released) if released else datetime.date(2026, 1, 1)
    return {
        "message": f"{repository} {version} changes its schema; refresh and reset the affected streams.",
        "upgradeDeadline": (start + datetime.timedelta(days=deadline_days)).isoformat(),
        "migrationDocumentationUrl": f"https://docs.airbyte.com/migrations#{version}",
    }
