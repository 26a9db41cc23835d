"""Which sources or destinations a definition's version change moves, and which Airbyte keeps behind.

Pure module: no Airflow, no HTTP. It predicts what Airbyte's server does on a definition ``update``
(airbyte-platform ``ActorDefinitionVersionUpdater``):

- actors with any version pin (a person's, or one an earlier breaking change made) do not move;
- on an upgrade, for each crossed breaking change in version order, the remaining actors it affects are
  pinned to the old version: all of them when the change has no stream scope, otherwise those with a
  non-deprecated connection that selects one of the impacted streams (names only);
- on a downgrade no pins are made, and pins made by breaking changes above the new version are removed.

Only the fields below are kept from Airbyte's answers: never ``connectionConfiguration``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from airflow_airbyte_connectors.core.kinds import Kind

Outcome = Literal["moves", "stays_behind", "user_pinned", "already_pinned", "released"]


@dataclass(frozen=True)
class Actor:
    """A source or destination using a definition, as much of it as the plan needs."""

    kind: Kind
    actor_id: str
    name: str
    workspace_id: str
    num_connections: int | None
    user_pinned: bool  # Airbyte's isVersionOverrideApplied: a person pinned its version
    breaking_change_pins: tuple[str, ...] = ()  # versions of breaking changes it is held behind already

    @classmethod
    def from_api(cls, kind: Kind, read: Mapping[str, Any]) -> Actor:
        breaking = read.get("breakingChanges") or {}
        return cls(
            kind=kind,
            actor_id=read[f"{kind}Id"],
            name=read.get("name", ""),
            workspace_id=read.get("workspaceId", ""),
            num_connections=read.get("numConnections"),
            user_pinned=bool(read.get("isVersionOverrideApplied", False)),
            breaking_change_pins=tuple(
                str(change.get("version")) for change in breaking.get("upcomingBreakingChanges", []) or []
            ),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.actor_id,
            "name": self.name,
            "workspaceId": self.workspace_id,
            "numConnections": self.num_connections,
            "userPinned": self.user_pinned,
        }


@dataclass(frozen=True)
class Crossing:
    """One breaking change a version change crosses: its version and the streams it is scoped to
    (empty: every actor is affected)."""

    version: str
    impacted_streams: tuple[str, ...] = ()


@dataclass(frozen=True)
class ActorImpact:
    actor: Actor
    outcome: Outcome
    # The breaking change that keeps it behind, and the impacted streams its connections select.
    because_of: str | None = None
    streams: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            **self.actor.to_json(),
            "outcome": self.outcome,
            "becauseOf": self.because_of,
            "streams": list(self.streams),
        }


def selected_streams(actor_id: str, connections: Iterable[Mapping[str, Any]]) -> set[str]:
    """Names of the streams that the actor's non-deprecated connections select (as source or destination)."""
    names: set[str] = set()
    for connection in connections:
        if connection.get("status") == "deprecated":
            continue
        if actor_id not in (connection.get("sourceId"), connection.get("destinationId")):
            continue
        for entry in (connection.get("syncCatalog") or {}).get("streams", []) or []:
            config = entry.get("config") or {}
            stream = entry.get("stream") or {}
            if config.get("selected", True) and stream.get("name"):
                names.add(stream["name"])
    return names


def predict(
    actors: Sequence[Actor],
    streams_by_actor: Mapping[str, set[str]],
    crossed: Sequence[Crossing],
    *,
    downgrade: bool,
) -> tuple[ActorImpact, ...]:
    """What Airbyte's update does to each actor. ``crossed`` is in ascending version order; for a downgrade
    it holds the breaking changes between the two versions (whose pins Airbyte removes)."""
    impacts: list[ActorImpact] = []
    remaining: list[Actor] = []
    released_versions = {c.version for c in crossed} if downgrade else set()
    for actor in actors:
        if actor.user_pinned:
            impacts.append(ActorImpact(actor, "user_pinned"))
        elif actor.breaking_change_pins and not (set(actor.breaking_change_pins) & released_versions):
            impacts.append(ActorImpact(actor, "already_pinned", because_of=actor.breaking_change_pins[0]))
        elif actor.breaking_change_pins:
            impacts.append(ActorImpact(actor, "released", because_of=actor.breaking_change_pins[0]))
        else:
            remaining.append(actor)
    if not downgrade:
        for crossing in crossed:
            still: list[Actor] = []
            for actor in remaining:
                hit = tuple(sorted(streams_by_actor.get(actor.actor_id, set()) & set(crossing.impacted_streams)))
                if not crossing.impacted_streams or hit:
                    impacts.append(ActorImpact(actor, "stays_behind", because_of=crossing.version, streams=hit))
                else:
                    still.append(actor)
            remaining = still
    impacts += [ActorImpact(actor, "moves") for actor in remaining]
    order = {a.actor_id: i for i, a in enumerate(actors)}
    return tuple(sorted(impacts, key=lambda i: order[i.actor.actor_id]))
