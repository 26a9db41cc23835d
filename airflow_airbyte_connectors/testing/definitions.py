"""Connector definitions of the emulated Airbyte: the state and the operations on it, without HTTP.

A definition is kept as the ``SourceDefinitionRead`` / ``DestinationDefinitionRead`` Airbyte answers with;
a deleted one stays as a tombstone (``get`` still finds it, lists do not), as in Airbyte.
"""

from __future__ import annotations

import copy
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_airbyte_connectors.core.kinds import KINDS
from airflow_airbyte_connectors.testing.errors import ApiError, require

# Enum values the spec allows in SourceDefinitionRead / DestinationDefinitionRead.
_SOURCE_TYPES = {"api", "file", "database", "custom"}
_SUPPORT_LEVELS = {"community", "certified", "archived", "none"}
_RELEASE_STAGES = {"alpha", "beta", "generally_available", "custom"}


@dataclass
class Definition:
    kind: str
    read: dict[str, Any]
    tombstone: bool = False
    workspace_id: str | None = None  # the workspace a custom definition was created in

    @property
    def id(self) -> str:
        return str(self.read[f"{self.kind}DefinitionId"])

    @property
    def tag(self) -> str:
        """The default version: what every actor without a pin runs."""
        return str(self.read["dockerImageTag"])


class DefinitionStore:
    """Every definition by kind and ID. Not locked itself: the server calls it under its own lock."""

    def __init__(self) -> None:
        self.by_kind: dict[str, dict[str, Definition]] = {kind: {} for kind in KINDS}

    def reads(self, kind: str) -> list[dict[str, Any]]:
        return [copy.deepcopy(d.read) for d in self.by_kind[kind].values() if not d.tombstone]

    def add(
        self,
        kind: str,
        *,
        name: str,
        docker_repository: str,
        docker_image_tag: str,
        documentation_url: str,
        custom: bool = False,
        definition_id: str | None = None,
        workspace_id: str | None = None,
    ) -> dict[str, Any]:
        read: dict[str, Any] = {
            f"{kind}DefinitionId": definition_id or str(uuid.uuid4()),
            "name": name,
            "dockerRepository": docker_repository,
            "dockerImageTag": docker_image_tag,
            "documentationUrl": documentation_url,
            "custom": custom,
        }
        self.by_kind[kind][read[f"{kind}DefinitionId"]] = Definition(kind, read, workspace_id=workspace_id)
        return copy.deepcopy(read)

    def find(self, kind: str, body: Any, *, include_deleted: bool = False) -> Definition:
        """The definition a request body names by ``<kind>DefinitionId``; 404 like Airbyte if unknown."""
        key = f"{kind}DefinitionId"
        require(body, key)
        definition = self.by_kind[kind].get(str(body[key]))
        if definition is None or (definition.tombstone and not include_deleted):
            raise ApiError(404, f"Could not find configuration for {kind}_definition: {body[key]}.")
        return definition

    def resolve(self, kind: str, reference: str) -> Definition:
        """A live definition by ID or ``dockerRepository`` (for direct seeding); KeyError if none or several."""
        live = [d for d in self.by_kind[kind].values() if not d.tombstone]
        matches = [d for d in live if reference in (d.id, d.read["dockerRepository"])]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} {kind} definitions match {reference!r}; expected exactly one")
        return matches[0]

    def with_repository(self, kind: str, docker_repository: str) -> list[Definition]:
        matches = [d for d in self.by_kind[kind].values() if d.read["dockerRepository"] == docker_repository]
        if not matches:
            raise KeyError(f"no {kind} definition uses {docker_repository}")
        return matches

    def remove(self, kind: str, docker_repository: str) -> None:
        for definition in self.with_repository(kind, docker_repository):
            del self.by_kind[kind][definition.id]

    def seed(self, registry: Mapping[str, Any], older: float, missing: float, rng: random.Random) -> None:
        for kind in KINDS:
            for entry in registry.get(f"{kind}s", []):
                if entry.get("tombstone") or rng.random() < missing:
                    continue
                read = read_from_registry(kind, entry)
                if rng.random() < older:
                    read["dockerImageTag"] = older_tag(read["dockerImageTag"])
                self.by_kind[kind][read[f"{kind}DefinitionId"]] = Definition(kind, read)


def older_tag(tag: str) -> str:
    """A lower version than ``tag`` (patch, else minor, else major), still a valid Docker tag."""
    parts = tag.split(".")
    for index in range(len(parts) - 1, -1, -1):
        if parts[index].isdigit() and int(parts[index]) > 0:
            parts[index] = str(int(parts[index]) - 1)
            return ".".join(parts)
    return f"{tag}-old"


def read_from_registry(kind: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    """The definition read Airbyte serves for a registry entry (only fields and values the spec allows)."""
    read: dict[str, Any] = {
        f"{kind}DefinitionId": entry[f"{kind}DefinitionId"],
        "name": entry["name"],
        "dockerRepository": entry["dockerRepository"],
        "dockerImageTag": entry["dockerImageTag"],
        "documentationUrl": entry.get("documentationUrl") or "https://docs.airbyte.com",
        "custom": bool(entry.get("custom", False)),
    }
    if entry.get("iconUrl"):
        read["icon"] = entry["iconUrl"]
    if entry.get("supportLevel") in _SUPPORT_LEVELS:
        read["supportLevel"] = entry["supportLevel"]
    if entry.get("releaseStage") in _RELEASE_STAGES:
        read["releaseStage"] = entry["releaseStage"]
    if kind == "source" and entry.get("sourceType") in _SOURCE_TYPES:
        read["sourceType"] = entry["sourceType"]
    if entry.get("language"):
        read["language"] = entry["language"]
    return read
