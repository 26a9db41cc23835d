"""The endpoints of sources, destinations, connections and actor versions of the emulated Airbyte, and direct
seeding of them for tests (no request logged). The state is :mod:`.actors`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Required, TypedDict, Unpack

from airflow_airbyte_connectors.testing.actors import ActorRecord, masked
from airflow_airbyte_connectors.testing.definitions import Definition
from airflow_airbyte_connectors.testing.errors import require
from airflow_airbyte_connectors.testing.registry import support_state, upcoming
from airflow_airbyte_connectors.testing.state import EmulatorState


class ActorFields(TypedDict, total=False):
    """What :meth:`ActorEndpoints.add_actor` takes besides the kind and the definition."""

    name: Required[str]
    workspace_id: str | None
    configuration: Mapping[str, Any] | None


class ActorEndpoints(EmulatorState):
    """``{sources,destinations}/{search, list, get}``, ``actor_definition_versions/get_for_<kind>`` and
    ``connections/list``; subclasses in tests override the ``_actor_<action>`` methods to misbehave."""

    # -- direct seeding (no request logged) -----------------------------------------------------

    def add_actor(
        self,
        kind: str,
        definition: str,
        *,
        name: str,
        workspace_id: str | None = None,
        configuration: Mapping[str, Any] | None = None,
    ) -> str:
        """Create a source or destination of ``definition`` (a definition ID or ``dockerRepository``); returns
        its ID. ``workspace_id`` defaults to the first workspace; ``configuration`` to a small one with one
        secret (answered masked as ``**********``)."""
        with self._lock:
            found = self._definitions.resolve(kind, definition)
            workspace = workspace_id or self._workspaces.ids[0]
            self._workspaces.find(workspace)
            actor = self._actors.add_actor(
                kind, definition_id=found.id, workspace_id=workspace, name=name, configuration=configuration
            )
            return actor.id

    def add_source(self, definition: str, **fields: Unpack[ActorFields]) -> str:
        """:meth:`add_actor` of a source; returns its sourceId."""
        return self.add_actor("source", definition, **fields)

    def add_destination(self, definition: str, **fields: Unpack[ActorFields]) -> str:
        """:meth:`add_actor` of a destination; returns its destinationId."""
        return self.add_actor("destination", definition, **fields)

    def add_connection(
        self, source_id: str, destination_id: str, streams: Mapping[str, bool] | Iterable[str], **options: Any
    ) -> str:
        """Connect a source to a destination (same workspace); returns the connectionId. ``streams`` and
        ``options`` (``status``, ``name``) as :meth:`ActorStore.add_connection` takes them."""
        with self._lock:
            return self._actors.add_connection(source_id, destination_id, streams, **options).id

    def pin_actor(
        self, kind: str, actor_id: str, tag: str, *, origin: str = "user", breaking_change: str | None = None
    ) -> None:
        """Pin one source/destination to ``tag`` (an actor-scoped ``connector_version`` configuration).

        :param origin: ``"user"`` (shown as ``isVersionOverrideApplied``; never moved by ``update``) or
            ``"breaking_change"`` (as ``update`` makes them; give the breaking change's version).
        """
        with self._lock:
            self._actors.pin(kind, actor_id, tag, origin=origin, breaking_change=breaking_change)

    def unpin_actor(self, kind: str, actor_id: str) -> None:
        """Remove an actor's pin (it follows its definition's default again)."""
        with self._lock:
            self._actors.pins[kind].pop(actor_id, None)

    def actor_version(self, kind: str, actor_id: str) -> str:
        """The tag the actor runs: its pin's, else its definition's default."""
        with self._lock:
            actor = self._actors.get(kind, actor_id)
            return self._actors.version(actor, self._definitions.by_kind[kind][actor.definition_id].tag)

    def actor_pins(self, kind: str) -> dict[str, tuple[str, str, str | None]]:
        """Every pin of ``kind``: actor ID -> (tag, origin, breaking-change version or None)."""
        with self._lock:
            return {key: (pin.tag, pin.origin, pin.breaking_change) for key, pin in self._actors.pins[kind].items()}

    # -- endpoints ----------------------------------------------------------------------------------

    def _actor_search(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        """``SourceSearch``/``DestinationSearch``: every live actor of the instance (all workspaces) whose
        fields equal the ones given; an empty body matches all."""
        fields: dict[str, Callable[[ActorRecord], Any]] = {
            f"{kind}DefinitionId": lambda a: a.definition_id,
            f"{kind}Id": lambda a: a.id,
            "workspaceId": lambda a: a.workspace_id,
            "name": lambda a: a.name,
        }
        with self._lock:
            actors = [
                a
                for a in self._actors.live(kind)
                if all(get(a) == body[key] for key, get in fields.items() if body.get(key) is not None)
                and (body.get(f"{kind}Name") is None or self._definition_of(a).read["name"] == body[f"{kind}Name"])
            ]
            return {f"{kind}s": [self._actor_read(a) for a in actors]}

    def _actor_list(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        """Per workspace. From v1.8.0 (profile 2.0) paged by cursor: ``pageSize`` (default 20) actors after
        the actor ID in ``cursor``; before, everything at once."""
        require(body, "workspaceId")
        with self._lock:
            self._workspaces.find(body["workspaceId"])
            actors = [a for a in self._actors.live(kind) if a.workspace_id == body["workspaceId"]]
            if not self.profile.paginated_actor_lists:
                return {f"{kind}s": [self._actor_read(a) for a in actors]}
            page_size = int(body.get("pageSize") or 20)
            ids = [a.id for a in actors]
            start = ids.index(body["cursor"]) + 1 if body.get("cursor") in ids else 0
            page = actors[start : start + page_size]
            return {
                f"{kind}s": [self._actor_read(a) for a in page],
                "page_size": page_size,
                "num_connections": len(actors),
            }

    def _actor_get(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        require(body, f"{kind}Id")
        with self._lock:
            return self._actor_read(self._actors.find(kind, body[f"{kind}Id"]))

    def _actor_version_read(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        """``ActorDefinitionVersionRead`` of the version the actor runs."""
        require(body, f"{kind}Id")
        with self._lock:
            actor = self._actors.find(kind, body[f"{kind}Id"])
            definition = self._definition_of(actor)
            read: dict[str, Any] = {
                "dockerRepository": definition.read["dockerRepository"],
                "dockerImageTag": self._actors.version(actor, definition.tag),
                "supportsRefreshes": False,
                "supportsFileTransfer": False,
                "supportsDataActivation": False,
                **self._version_state(actor),
            }
            if definition.read.get("supportLevel"):
                read["supportLevel"] = definition.read["supportLevel"]
            return read

    def _connections_list(self, body: Any) -> dict[str, Any]:
        require(body, "workspaceId")
        with self._lock:
            self._workspaces.find(body["workspaceId"])
            connections = [
                c
                for c in self._actors.connections.values()
                if c.workspace_id == body["workspaceId"] and c.status != "deprecated"  # deprecated = deleted
            ]
            return {"connections": [self._actors.connection_read(c) for c in connections]}

    # -- read models --------------------------------------------------------------------------------

    def _definition_of(self, actor: ActorRecord) -> Definition:
        return self._definitions.by_kind[actor.kind][actor.definition_id]

    def _version_state(self, actor: ActorRecord) -> dict[str, Any]:
        """``isVersionOverrideApplied`` (user pins only), ``supportState`` of the version the actor runs
        and ``breakingChanges`` (only when it runs behind some) from the registry's list."""
        definition = self._definition_of(actor)
        pin = self._actors.pins[actor.kind].get(actor.id)
        tag = self._actors.version(actor, definition.tag)
        changes = (
            {}
            if definition.read.get("custom")
            else self._registry.breaking_changes(actor.kind, definition.read["dockerRepository"])
        )
        state: dict[str, Any] = {
            "isVersionOverrideApplied": bool(pin and pin.origin == "user"),
            "supportState": support_state(tag, definition.tag, changes),
        }
        breaking = upcoming(tag, definition.tag, changes)
        if breaking:
            state["breakingChanges"] = breaking
        return state

    def _actor_read(self, actor: ActorRecord) -> dict[str, Any]:
        """``SourceRead``/``DestinationRead``: the spec's required fields plus version state and usage."""
        definition = self._definition_of(actor)
        connections = self._actors.connections_of(actor)
        read: dict[str, Any] = {
            f"{actor.kind}DefinitionId": actor.definition_id,
            f"{actor.kind}Id": actor.id,
            "workspaceId": actor.workspace_id,
            "connectionConfiguration": masked(actor.configuration),
            "name": actor.name,
            f"{actor.kind}Name": definition.read["name"],
            "createdAt": actor.created_at,
            "status": "active" if any(c.status == "active" for c in connections) else "inactive",
            "numConnections": len(connections),
            **self._version_state(actor),
        }
        if definition.read.get("icon"):
            read["icon"] = definition.read["icon"]
        return read
