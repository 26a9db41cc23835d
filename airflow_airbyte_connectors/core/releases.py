"""Read the breaking changes out of an Airbyte connector registry document.

Pure module: no Airflow, no HTTP (``clients.connector_registry`` fetches the document).

Accepted documents:

* the registry, ``{"sources": [...], "destinations": [...]}`` (``oss_registry.json``, the seed the platform ships);
  unknown top-level keys (``_provenance``) are ignored;
* a single registry entry (``metadata/<dockerRepository>/latest/oss.json``, what the server itself reads).

Every problem in an entry is a finding naming the connector and the place; the rest of that entry, and every other
entry, is still read. Only a document of the wrong shape as a whole raises :class:`RegistryFormatError`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from airflow_airbyte_connectors.core.kinds import KINDS, Kind
from airflow_airbyte_connectors.core.quoting import key_text, quote
from airflow_airbyte_connectors.core.versions import BreakingChange, plain_version

_DATE = re.compile(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
DEADLINE_ACTIONS = ("auto_upgrade", "disable")
# A registry entry with more findings than this is reported by its first ones; the rest are counted.
MAX_FINDINGS_PER_CONNECTOR = 20


class RegistryFormatError(ValueError):
    """The document is not a connector registry at all (the caller reports it as one finding).

    ``reason`` says so without quoting the document (for a local file, which may be any file); the message
    may add what the document holds instead (its keys)."""

    def __init__(self, reason: str, content: str = ""):
        self.reason = reason
        super().__init__(reason + content)


@dataclass(frozen=True)
class RegistryReleases:
    """Breaking changes per connector. Keys are ``(kind, definition id in lower case)`` and ``(kind, repository)``."""

    by_definition_id: Mapping[tuple[Kind, str], tuple[BreakingChange, ...]] = field(default_factory=dict, repr=False)
    by_repository: Mapping[tuple[Kind, str], tuple[BreakingChange, ...]] = field(default_factory=dict, repr=False)
    findings: tuple[str, ...] = ()
    connector_count: int = 0
    # The registry's current version (its ``dockerImageTag``) per connector, keyed like the breaking changes.
    latest_by_definition_id: Mapping[tuple[Kind, str], str] = field(default_factory=dict, repr=False)
    latest_by_repository: Mapping[tuple[Kind, str], str] = field(default_factory=dict, repr=False)

    def breaking_changes(
        self, kind: Kind, definition_id: str | None, docker_repository: str
    ) -> tuple[BreakingChange, ...] | None:
        """The connector's breaking changes, ascending (``()`` when it has none); None if the registry lacks it.

        The definition ID decides first: a custom definition may reuse a built-in's repository.
        """
        if definition_id:
            found = self.by_definition_id.get((kind, definition_id.lower()))
            if found is not None:
                return found
        return self.by_repository.get((kind, docker_repository))

    def latest(self, kind: Kind, definition_id: str | None, docker_repository: str) -> str | None:
        """The version the registry offers for the connector now; None if the registry lacks it."""
        if definition_id and (kind, definition_id.lower()) in self.latest_by_definition_id:
            return self.latest_by_definition_id[(kind, definition_id.lower())]
        return self.latest_by_repository.get((kind, docker_repository))


def parse_registry(document: Any) -> RegistryReleases:
    """Read every entry's ``releases.breakingChanges``; raise :class:`RegistryFormatError` for a wrong document."""
    entries = _entries(document)
    by_id: dict[tuple[Kind, str], tuple[BreakingChange, ...]] = {}
    by_repository: dict[tuple[Kind, str], tuple[BreakingChange, ...]] = {}
    latest_by_id: dict[tuple[Kind, str], str] = {}
    latest_by_repository: dict[tuple[Kind, str], str] = {}
    findings: list[str] = []
    count = 0
    for kind, place, entry in entries:
        if not isinstance(entry, dict):
            findings.append(f"{place}: must be an object, got {_type_name(entry)}; skipped")
            continue
        definition_id = entry.get(f"{kind}DefinitionId")
        repository = entry.get("dockerRepository")
        label = _label(kind, place, entry)
        if not isinstance(repository, str) or not repository:
            findings.append(f"{label}: dockerRepository missing or not a string; skipped")
            continue
        problems: list[str] = []
        changes = _breaking_changes(entry.get("releases"), problems)
        if len(problems) > MAX_FINDINGS_PER_CONNECTOR:
            extra = len(problems) - MAX_FINDINGS_PER_CONNECTOR
            problems = problems[:MAX_FINDINGS_PER_CONNECTOR] + [f"... and {extra} more"]
        findings.extend(f"{label}: {problem}" for problem in problems)
        count += 1
        if isinstance(definition_id, str) and definition_id:
            if (kind, definition_id.lower()) in by_id:
                findings.append(f"{label}: {kind}DefinitionId repeats an earlier entry; the first one is used")
            else:
                by_id[(kind, definition_id.lower())] = changes
                if isinstance(tag := entry.get("dockerImageTag"), str):
                    latest_by_id[(kind, definition_id.lower())] = tag
        elif definition_id is not None:
            findings.append(f"{label}: {kind}DefinitionId is not a string; matched by dockerRepository only")
        # The first entry wins a repository: the same rule as for IDs, so a lookup never depends on entry order twice.
        by_repository.setdefault((kind, repository), changes)
        if isinstance(tag := entry.get("dockerImageTag"), str):
            latest_by_repository.setdefault((kind, repository), tag)
    return RegistryReleases(
        by_definition_id=by_id,
        by_repository=by_repository,
        findings=tuple(findings),
        connector_count=count,
        latest_by_definition_id=latest_by_id,
        latest_by_repository=latest_by_repository,
    )


def _entries(document: Any) -> list[tuple[Kind, str, Any]]:
    """``(kind, place, entry)`` for each entry; the place is its path in the document (``sources[3]``)."""
    if not isinstance(document, dict):
        raise RegistryFormatError(
            "not a connector registry: expected an object with 'sources' and 'destinations', "
            f"got {_type_name(document)}"
        )
    lists = [kind for kind in KINDS if f"{kind}s" in document]
    if not lists:
        # A single registry entry, as metadata/<repo>/latest/oss.json serves it.
        for kind in KINDS:
            if f"{kind}DefinitionId" in document and "dockerRepository" in document:
                return [(kind, "entry", document)]
        keys = ", ".join(key_text(key) for key in sorted(map(str, document))[:10]) or "none"
        raise RegistryFormatError(
            "not a connector registry: no 'sources' or 'destinations' list and not a registry entry", f" (keys: {keys})"
        )
    entries: list[tuple[Kind, str, Any]] = []
    for kind in lists:
        value = document[f"{kind}s"]
        if not isinstance(value, list):
            raise RegistryFormatError(f"not a connector registry: '{kind}s' must be a list, got {_type_name(value)}")
        entries.extend((kind, f"{kind}s[{index}]", entry) for index, entry in enumerate(value))
    return entries


def _label(kind: Kind, place: str, entry: dict[str, Any]) -> str:
    """How a finding names a connector: ``source airbyte/source-github (sources[12])``."""
    name = entry.get("dockerRepository") or entry.get("name") or entry.get(f"{kind}DefinitionId")
    return f"{kind} {key_text(name)} ({place})" if isinstance(name, str) and name else f"{kind} {place}"


def _breaking_changes(releases: Any, problems: list[str]) -> tuple[BreakingChange, ...]:
    if releases is None:
        return ()
    if not isinstance(releases, dict):
        problems.append(f"releases: must be an object, got {_type_name(releases)}; no breaking changes read")
        return ()
    changes = releases.get("breakingChanges")
    if changes is None or changes == [] or changes == {}:
        return ()  # metadata.yaml sometimes says `breakingChanges: []`; the generator drops it
    if not isinstance(changes, dict):
        problems.append(
            f"releases.breakingChanges: must be an object keyed by version, got {_type_name(changes)}; "
            "no breaking changes read"
        )
        return ()
    parsed = []
    for version, body in changes.items():
        place = f"releases.breakingChanges[{quote(version)}]"
        # ConnectorBreakingChanges.yaml: keys must be exact versions, no pre-release.
        if not isinstance(version, str) or plain_version(version) is None:
            problems.append(f"{place}: the key is not a version X.Y.Z; skipped")
            continue
        if not isinstance(body, dict):
            problems.append(f"{place}: must be an object, got {_type_name(body)}; skipped")
            continue
        parsed.append(_breaking_change(version, body, place, problems))
    parsed.sort(key=lambda change: plain_version(change.version) or (0, 0, 0))
    return tuple(parsed)


def _breaking_change(version: str, body: dict[str, Any], place: str, problems: list[str]) -> BreakingChange:
    """One breaking change; a bad field is a problem and is left out, the breaking change itself still counts."""
    message = body.get("message")
    if not isinstance(message, str):
        problems.append(f"{place}.message: must be a string, got {_type_name(message)}")
        message = "" if message is None else str(message)

    deadline = None
    raw_deadline = body.get("upgradeDeadline")
    if raw_deadline is None:
        problems.append(f"{place}.upgradeDeadline: missing")
    elif not isinstance(raw_deadline, str) or not _DATE.fullmatch(raw_deadline):
        problems.append(f"{place}.upgradeDeadline: {quote(raw_deadline)} is not a date YYYY-MM-DD")
    else:
        try:
            deadline = date.fromisoformat(raw_deadline)
        except ValueError:
            problems.append(f"{place}.upgradeDeadline: {quote(raw_deadline)} is not a date YYYY-MM-DD")

    action = body.get("deadlineAction")
    if action is not None and not isinstance(action, str):
        problems.append(f"{place}.deadlineAction: must be a string, got {_type_name(action)}")
        action = None
    elif action is not None and action not in DEADLINE_ACTIONS:
        problems.append(f"{place}.deadlineAction: {quote(action)} is not one of {', '.join(DEADLINE_ACTIONS)}")

    url = body.get("migrationDocumentationUrl")
    if url is not None and not isinstance(url, str):
        problems.append(f"{place}.migrationDocumentationUrl: must be a string, got {_type_name(url)}")
        url = None

    return BreakingChange(
        version=version,
        message=message,
        upgrade_deadline=deadline,
        deadline_action=action,
        migration_documentation_url=url,
        impacted_streams=_impacted_streams(body.get("scopedImpact"), f"{place}.scopedImpact", problems),
    )


def _impacted_streams(scopes: Any, place: str, problems: list[str]) -> tuple[str, ...]:
    """Stream names from ``scopedImpact``. Anything unreadable widens the impact to every actor, never narrows it."""
    if scopes is None or scopes == []:
        return ()
    if not isinstance(scopes, list):
        problems.append(f"{place}: must be a list, got {_type_name(scopes)}; every actor counts as affected")
        return ()
    streams: list[str] = []
    for index, scope in enumerate(scopes):
        here = f"{place}[{index}]"
        if not isinstance(scope, dict):
            problems.append(f"{here}: must be an object, got {_type_name(scope)}; every actor counts as affected")
            return ()
        if scope.get("scopeType") != "stream":
            # Airbyte throws on any other scope type; assume the worst rather than a narrower impact.
            problems.append(
                f"{here}.scopeType: {quote(scope.get('scopeType'))} is not 'stream'; every actor counts as affected"
            )
            return ()
        names = scope.get("impactedScopes")
        if not isinstance(names, list) or not names or not all(isinstance(name, str) for name in names):
            problems.append(f"{here}.impactedScopes: must be a non-empty list of stream names; every actor counts")
            return ()
        streams.extend(name for name in names if name not in streams)
    return tuple(streams)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    return names.get(type(value), type(value).__name__)
