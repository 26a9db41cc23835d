"""Who may call the emulated Airbyte and which workspaces it answers with: ``applications/token``, the
credential check of every other call, 2.4's one-workspace rule, ``workspaces/list`` and
``workspaces/list_by_organization_id``, and direct access to tokens for tests. The state is :mod:`.auth`."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from airflow_airbyte_connectors.core.kinds import KINDS
from airflow_airbyte_connectors.testing.errors import problem_body, require
from airflow_airbyte_connectors.testing.state import EmulatorState


class AuthEndpoints(EmulatorState):
    @property
    def client_id(self) -> str | None:
        return self._auth.client_id

    @property
    def client_secret(self) -> str | None:
        return self._auth.client_secret

    @property
    def token_lifetime(self) -> float:
        return self._auth.token_lifetime

    @property
    def auth_enabled(self) -> bool:
        return self._auth.enabled

    @property
    def workspace_ids(self) -> list[str]:
        return self._workspaces.ids

    def issue_token(self) -> str:
        with self._lock:
            return self._auth.issue()

    @property
    def tokens_issued(self) -> list[str]:
        """Every token handed out so far (tests scan logs and XCom for them)."""
        with self._lock:
            return list(self._auth.issued)

    def expire_tokens(self) -> None:
        with self._lock:
            self._auth.tokens.clear()

    # -- endpoints ----------------------------------------------------------------------------------

    def _token(self, headers: Mapping[str, str], raw_body: bytes) -> tuple[int, Any]:
        """``applications/token`` (bearer profiles): its own body checks and error shapes."""
        with self._lock:
            status, answer, _ = self._auth.token_answer(headers, raw_body)
        return status, answer

    def _authorised(self, headers: Mapping[str, str]) -> bool:
        with self._lock:
            return not self._auth.enabled or self._auth.authorised(headers)

    def _scope_refusal(self, body: Any) -> tuple[int, Any] | None:
        """Airbyte 2.4 (CVE-2026-80049), auth on: 403 when the resources a request names belong to more than
        one workspace or organization; built-in definitions belong to none. None: the request may go on."""
        if not (self.profile.single_scope_requests and self._auth.enabled and isinstance(body, dict)):
            return None
        with self._lock:
            owners = [owner for key, value in body.items() if (owner := self._owner(key, value))]
        if len({workspace for workspace, _ in owners if workspace}) <= 1 and len({org for _, org in owners}) <= 1:
            return None
        return 403, problem_body(403, "The resources of this request belong to more than one workspace or organization")

    def _owner(self, key: str, value: Any) -> tuple[str | None, str] | None:
        """(workspace, organization) owning the resource ``key`` names; None if nothing does or it is unknown."""
        workspace_id: str | None = None
        if key == "organizationId":
            return None, str(value)
        if key == "workspaceId":
            workspace_id = str(value)
        for kind in KINDS:
            if key == f"{kind}DefinitionId":
                definition = self._definitions.by_kind[kind].get(str(value))
                workspace_id = definition.workspace_id if definition else None
            elif key == f"{kind}Id":
                actor = self._actors.actors[kind].get(str(value))
                workspace_id = actor.workspace_id if actor else None
        workspace = next((w for w in self._workspaces.reads if w["workspaceId"] == workspace_id), None)
        return (workspace_id, workspace["organizationId"]) if workspace else None

    def _workspaces_list(self) -> dict[str, Any]:
        return {"workspaces": copy.deepcopy(self._workspaces.reads)}

    def _workspaces_list_by_organization_id(self, body: Any) -> dict[str, Any]:
        require(body, "organizationId")
        org = body["organizationId"]
        return {"workspaces": [copy.deepcopy(w) for w in self._workspaces.reads if w["organizationId"] == org]}
