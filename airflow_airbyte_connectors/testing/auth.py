"""Who may call the emulated Airbyte, and the workspaces it has: credentials, bearer tokens, workspaces."""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
import uuid
from collections.abc import Mapping
from typing import Any

from airflow_airbyte_connectors.testing.errors import ApiError

DEFAULT_ORGANIZATION_ID = "00000000-0000-0000-0000-000000000000"


class Auth:
    """Client credentials and the tokens issued for them. Not locked itself: the server locks around it.

    :param scheme: ``"basic"`` (docker-compose era Airbyte) or ``"bearer"``.
    :param basic: HTTP Basic with the credentials is accepted too (bearer servers before 2.2).
    """

    def __init__(
        self,
        scheme: str,
        client_id: str | None,
        client_secret: str | None,
        token_lifetime: float,
        *,
        basic: bool = True,
    ):
        self.scheme = scheme
        self.basic = basic or scheme == "basic"
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_lifetime = token_lifetime
        self.tokens: dict[str, float] = {}  # token -> expiry (monotonic)
        self.issued: list[str] = []

    @property
    def enabled(self) -> bool:
        return bool(self.client_id and self.client_secret)

    def issue(self) -> str:
        token = secrets.token_urlsafe(32)
        self.tokens[token] = time.monotonic() + self.token_lifetime
        self.issued.append(token)
        return token

    def token_answer(self, headers: Mapping[str, str], raw_body: bytes) -> tuple[int, Any, str | None]:
        """``applications/token``: (status, body, the token issued or None)."""
        if not headers.get("content-type", "").startswith("application/json"):
            return 415, {"message": "Content-Type must be application/json"}, None
        try:
            body = json.loads(raw_body or b"{}")
        except ValueError:
            return 400, {"message": "Malformed JSON body"}, None
        missing = [f for f in ("client_id", "client_secret") if not isinstance(body.get(f), str)]
        if missing:
            return (
                422,
                {
                    "message": "Invalid token request",
                    "validationErrors": [{"propertyPath": f, "message": "required"} for f in missing],
                },
                None,
            )
        if (body["client_id"], body["client_secret"]) != (self.client_id, self.client_secret):
            return 401, {"message": "Invalid client credentials"}, None
        token = self.issue()
        return 200, {"access_token": token}, token

    def authorised(self, headers: Mapping[str, str]) -> bool:
        header = headers.get("authorization", "")
        if header.startswith("Basic ") and self.basic:
            expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
            return secrets.compare_digest(header, f"Basic {expected}")
        if self.scheme == "basic" or not header.startswith("Bearer "):
            return False
        expiry = self.tokens.get(header.removeprefix("Bearer "))
        return expiry is not None and time.monotonic() < expiry


class Workspaces:
    """The instance's workspaces, all in the OSS default organization."""

    def __init__(self, count: int):
        names = ["Default Workspace", *(f"Workspace {number}" for number in range(2, count + 1))]
        self.reads: list[dict[str, Any]] = [new_workspace(name) for name in names[:count]]

    @property
    def ids(self) -> list[str]:
        return [w["workspaceId"] for w in self.reads]

    def find(self, workspace_id: str) -> dict[str, Any]:
        for workspace in self.reads:
            if workspace["workspaceId"] == workspace_id:
                return workspace
        raise ApiError(404, f"Could not find configuration for STANDARD_WORKSPACE: {workspace_id}.")


def new_workspace(name: str) -> dict[str, Any]:
    return {
        "workspaceId": str(uuid.uuid4()),
        "customerId": str(uuid.uuid4()),
        "organizationId": DEFAULT_ORGANIZATION_ID,
        "name": name,
        "slug": re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-"),
        "initialSetupComplete": True,
    }
