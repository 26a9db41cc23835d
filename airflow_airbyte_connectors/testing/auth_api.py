"""Who may call the emulated Airbyte and which workspaces it answers with: ``applications/token``, the
credential check of every other call, ``workspaces/list`` and ``workspaces/list_by_organization_id``,
and direct access to tokens for tests. The state is :mod:`.auth`."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from airflow_airbyte_connectors.testing.errors import require
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

    def _workspaces_list(self) -> dict[str, Any]:
        return {"workspaces": copy.deepcopy(self._workspaces.reads)}

    def _workspaces_list_by_organization_id(self, body: Any) -> dict[str, Any]:
        require(body, "organizationId")
        org = body["organizationId"]
        return {"workspaces": [copy.deepcopy(w) for w in self._workspaces.reads if w["organizationId"] == org]}
