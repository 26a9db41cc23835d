"""Sources, destinations, their connections, and the version each one runs (pins), without HTTP.

An actor runs its pin's tag if it has one, else its definition's default. Pins are actor-scoped
``connector_version`` configurations, as Airbyte keeps them: ``origin="user"`` (set by an admin; shown as
``isVersionOverrideApplied``) or ``origin="breaking_change"`` (made by ``update`` for actors a crossed
breaking change affects, remembering that breaking change's version).
"""

from __future__ import annotations

import copy
import secrets
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_airbyte_connectors.core.kinds import KINDS
from airflow_airbyte_connectors.testing.errors import ApiError
from airflow_airbyte_connectors.testing.registry import crossed_on_upgrade, rolled_back

ORIGINS = ("user", "breaking_change")
CONNECTION_STATUSES = ("active", "inactive", "deprecated")
MASK = "**********"  # what Airbyte shows instead of a secret (AirbyteSecretConstants)
# Configuration keys treated as secrets: the emulator has no connector specs to read airbyte_secret from.
_SECRET_WORDS = ("password", "secret", "token", "api_key", "apikey", "private_key", "client_secret")


@dataclass(frozen=True)
class Pin:
    tag: str
    origin: str
    breaking_change: str | None = None  # the breaking change's version, for origin "breaking_change"


@dataclass
class ActorRecord:
    kind: str
    id: str
    definition_id: str
    workspace_id: str
    name: str
    configuration: dict[str, Any]
    created_at: int
    tombstone: bool = False


@dataclass
class Connection:
    id: str
    name: str
    source_id: str
    destination_id: str
    workspace_id: str
    streams: dict[str, bool]  # stream name -> selected
    status: str
    created_at: int = field(default_factory=lambda: int(time.time()))


class ActorStore:
    """Actors, connections and pins. Not locked itself: the server calls it under its own lock."""

    def __init__(self) -> None:
        self.actors: dict[str, dict[str, ActorRecord]] = {kind: {} for kind in KINDS}
        self.connections: dict[str, Connection] = {}
        self.pins: dict[str, dict[str, Pin]] = {kind: {} for kind in KINDS}

    # -- state -------------------------------------------------------------------------------

    def add_actor(
        self,
        kind: str,
        *,
        definition_id: str,
        workspace_id: str,
        name: str,
        configuration: Mapping[str, Any] | None = None,
    ) -> ActorRecord:
        # A small configuration with one secret, so clients can be seen not to need (or leak) it.
        config = {"start_date": "2024-01-01T00:00:00Z", "api_key": f"emulated-{secrets.token_hex(8)}"}
        actor = ActorRecord(
            kind=kind,
            id=str(uuid.uuid4()),
            definition_id=definition_id,
            workspace_id=workspace_id,
            name=name,
            configuration=copy.deepcopy(dict(configuration)) if configuration is not None else config,
            created_at=int(time.time()),
        )
        self.actors[kind][actor.id] = actor
        return actor

    def add_connection(
        self,
        source_id: str,
        destination_id: str,
        streams: Mapping[str, bool] | Iterable[str],
        *,
        status: str = "active",
        name: str | None = None,
    ) -> Connection:
        """Connect a source to a destination (same workspace).

        :param streams: stream name -> selected; an iterable of names means all of them selected.
        :param status: ``active``, ``inactive`` or ``deprecated`` (deleted: ignored by breaking-change
            scopes and not listed).
        :raises KeyError: an unknown actor. :raises ValueError: a bad status, or two workspaces.
        """
        if status not in CONNECTION_STATUSES:
            raise ValueError(f"status must be one of {CONNECTION_STATUSES}, not {status!r}")
        source, destination = self.get("source", source_id), self.get("destination", destination_id)
        if source.workspace_id != destination.workspace_id:
            raise ValueError("a connection's source and destination must be in one workspace")
        selected = (
            {str(k): bool(v) for k, v in streams.items()}
            if isinstance(streams, Mapping)
            else dict.fromkeys(streams, True)
        )
        connection = Connection(
            id=str(uuid.uuid4()),
            name=name or f"{source.name} → {destination.name}",
            source_id=source_id,
            destination_id=destination_id,
            workspace_id=source.workspace_id,
            streams=selected,
            status=status,
        )
        self.connections[connection.id] = connection
        return connection

    def get(self, kind: str, actor_id: str) -> ActorRecord:
        """An actor for direct use; KeyError if unknown."""
        try:
            return self.actors[kind][actor_id]
        except KeyError:
            raise KeyError(f"no {kind} {actor_id}") from None

    def find(self, kind: str, actor_id: Any) -> ActorRecord:
        """The live actor a request names; 404 like Airbyte if unknown or deleted."""
        actor = self.actors[kind].get(str(actor_id))
        if actor is None or actor.tombstone:
            raise ApiError(404, f"Could not find configuration for {kind}: {actor_id}.")
        return actor

    def live(self, kind: str) -> list[ActorRecord]:
        return [a for a in self.actors[kind].values() if not a.tombstone]

    def of_definition(self, kind: str, definition_id: str) -> list[ActorRecord]:
        # Like Airbyte's getActorIdsForDefinition, deleted actors count too (harmless: nobody reads them).
        return [a for a in self.actors[kind].values() if a.definition_id == definition_id]

    def connections_of(self, actor: ActorRecord) -> list[Connection]:
        """Non-deprecated connections with the actor as source or destination."""
        side = "source_id" if actor.kind == "source" else "destination_id"
        return [c for c in self.connections.values() if getattr(c, side) == actor.id and c.status != "deprecated"]

    def delete_for_definition(self, kind: str, definition_id: str) -> None:
        """Deleting a definition deletes its actors and their connections, as in Airbyte."""
        for actor in self.of_definition(kind, definition_id):
            actor.tombstone = True
            for connection in self.connections_of(actor):
                connection.status = "deprecated"

    # -- versions ----------------------------------------------------------------------------

    def pin(
        self, kind: str, actor_id: str, tag: str, *, origin: str = "user", breaking_change: str | None = None
    ) -> None:
        if origin not in ORIGINS:
            raise ValueError(f"origin must be one of {ORIGINS}, not {origin!r}")
        self.get(kind, actor_id)
        self.pins[kind][actor_id] = Pin(tag, origin, breaking_change if origin == "breaking_change" else None)

    def version(self, actor: ActorRecord, default_tag: str) -> str:
        pin = self.pins[actor.kind].get(actor.id)
        return pin.tag if pin else default_tag

    def apply_default_change(
        self, kind: str, definition_id: str, old_tag: str, new_tag: str, breaking_changes: Mapping[str, Any]
    ) -> None:
        """Pins and releases ``update`` makes when the default goes from ``old_tag`` to ``new_tag``
        (``ActorDefinitionVersionUpdater.updateDefaultVersion``); the caller then sets the default.

        Upgrade: for each crossed breaking change in order, the actors without a pin that it affects
        (all of them without ``scopedImpact``; else those with a non-deprecated connection selecting an
        impacted stream) are pinned to ``old_tag``. Any change: ``breaking_change`` pins of breaking
        changes above ``new_tag`` are removed. User pins are never touched. Everything that can fail
        (:class:`~.registry.VersionError`, an unknown scope type) fails before anything changes.
        """
        crossed = crossed_on_upgrade(old_tag, new_tag, breaking_changes)
        released = rolled_back(new_tag, breaking_changes)
        scopes = [(version, _impacted_streams(change)) for version, change in crossed]
        pins = self.pins[kind]
        for version, streams in scopes:
            candidates = [a for a in self.of_definition(kind, definition_id) if a.id not in pins]
            affected = candidates if streams is None else [a for a in candidates if self._syncs_any(a, streams)]
            for actor in affected:
                pins[actor.id] = Pin(old_tag, "breaking_change", version)
        for actor in self.of_definition(kind, definition_id):
            pin = pins.get(actor.id)
            if pin and pin.origin == "breaking_change" and pin.breaking_change in released:
                del pins[actor.id]

    def _syncs_any(self, actor: ActorRecord, streams: set[str]) -> bool:
        # Names only, no namespace; only selected streams are in Airbyte's stored catalog.
        return any(
            selected and name in streams
            for connection in self.connections_of(actor)
            for name, selected in connection.streams.items()
        )

    # -- read models -------------------------------------------------------------------------

    def connection_read(self, connection: Connection) -> dict[str, Any]:
        """``ConnectionRead`` with the catalog: every stream, ``config.selected`` saying which sync."""
        streams = [
            {
                "stream": {"name": name, "jsonSchema": {"type": "object"}, "supportedSyncModes": ["full_refresh"]},
                "config": {"syncMode": "full_refresh", "destinationSyncMode": "overwrite", "selected": selected},
            }
            for name, selected in connection.streams.items()
        ]
        return {
            "connectionId": connection.id,
            "name": connection.name,
            "sourceId": connection.source_id,
            "destinationId": connection.destination_id,
            "workspaceId": connection.workspace_id,
            "syncCatalog": {"streams": streams},
            "status": connection.status,
            "breakingChange": False,
            "created_at": connection.created_at,
        }


def _impacted_streams(change: Mapping[str, Any]) -> set[str] | None:
    """The stream names a breaking change is scoped to; None when it affects every actor."""
    scopes = change.get("scopedImpact") or []
    if not scopes:
        return None
    streams: set[str] = set()
    for scope in scopes:
        if scope.get("scopeType") != "stream":  # Airbyte knows no other scope type and throws
            raise ValueError(f"unsupported breaking-change scope type {scope.get('scopeType')!r}")
        streams.update(scope.get("impactedScopes") or [])
    return streams


def masked(configuration: Any) -> Any:
    """The configuration as Airbyte answers it: secrets replaced by ``**********``."""
    if isinstance(configuration, Mapping):
        return {
            key: MASK
            if isinstance(value, str) and any(word in key.lower() for word in _SECRET_WORDS)
            else masked(value)
            for key, value in configuration.items()
        }
    if isinstance(configuration, list):
        return [masked(item) for item in configuration]
    return configuration
