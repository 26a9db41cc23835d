"""What a failed call to Airbyte is, which failures may be repeated, and what an answer says."""

from __future__ import annotations

import json
from typing import Any

from airflow_airbyte_connectors.clients.bounded_http import Answer, ConnectFailed, ConnectTimeout, RequestError, Timeout
from airflow_airbyte_connectors.core.urls import without_userinfo

_BODY_EXCERPT = 300
# A proxy's answers: the request may still be running in Airbyte behind it.
GATEWAY_STATUSES = frozenset({502, 503, 504})


class AirbyteApiError(Exception):
    """A call to Airbyte failed. Carries method, URL and status; never a secret or token."""

    def __init__(self, method: str, url: str, status: int | None, detail: str):
        self.method = method
        self.url = without_userinfo(url)
        self.status = status
        self.detail = detail
        # Seconds Airbyte asked to wait before the next try (its Retry-After header), when it said.
        self.retry_after: float | None = None
        status_text = f"HTTP {status}" if status is not None else "no answer"
        super().__init__(f"{method} {self.url} failed: {status_text}: {detail}")


class AirbyteNotFoundError(AirbyteApiError):
    """Airbyte answered 404 (an unknown definition or workspace ID, or an endpoint this version lacks)."""


class WriteOutcomeUnknownError(AirbyteApiError):
    """A write was sent but its answer never came: Airbyte may or may not have applied it."""


class SpecFailedError(AirbyteApiError):
    """Airbyte ran the connector's SPEC (``commands/run/spec``) and it failed (an image it cannot pull, a
    connector that crashed), or was cancelled: nothing was created. ``detail`` is Airbyte's ``failureReason``."""


class SpecStillRunningError(AirbyteApiError):
    """The connector's SPEC had not finished within the write timeout. Nothing was created; a retry asks
    Airbyte again about the same command (its id is the create's), so the SPEC is not run twice."""


def is_retryable_read(exc: BaseException) -> bool:
    """Reads change nothing, so any transient failure may be repeated."""
    if isinstance(exc, ConnectFailed | Timeout):
        return True
    return isinstance(exc, AirbyteApiError) and exc.status in (429, 500, 502, 503, 504)


def is_refused(exc: AirbyteApiError) -> bool:
    """Airbyte answered that it will not serve this call (a 4xx other than 401/429): the endpoint is missing or
    forbidden here, not failing for a while. Optional reads fall back on it; any other failure is raised."""
    return exc.status is not None and 200 <= exc.status < 500 and exc.status not in (401, 429)


def was_never_sent(exc: BaseException) -> bool:
    """True when a write cannot have reached Airbyte, so repeating it is safe."""
    if isinstance(exc, ConnectTimeout):
        return True
    if isinstance(exc, AirbyteApiError):
        return exc.status == 429  # rejected before any work was done
    if isinstance(exc, ConnectFailed):
        cause = exc.args[0] if exc.args else None
        reason = getattr(cause, "reason", cause)
        return "NewConnectionError" in type(reason).__name__ or "Connection refused" in str(reason)
    return False


def answer_json(answer: Answer) -> dict[str, Any]:
    if answer.status == 204 or not answer.body:
        return {}
    try:
        parsed: dict[str, Any] = json.loads(answer.body)
        return parsed
    except ValueError:
        raise AirbyteApiError(
            "POST", answer.url, answer.status, f"answer is not JSON: {excerpt(answer.body)}"
        ) from None


def excerpt(body: bytes) -> str:
    return body[:_BODY_EXCERPT].decode("utf-8", "replace").strip() or "(empty body)"


def describe_body(answer: Answer) -> str:
    """A short, useful excerpt: Airbyte's message, validation errors, or (v2.0+) just the errorId."""
    try:
        body = json.loads(answer.body)
    except ValueError:
        return excerpt(answer.body) if answer.body.strip() else (answer.reason or "(empty body)")
    if not isinstance(body, dict):
        return str(body)[:_BODY_EXCERPT]
    parts = []
    if body.get("message"):
        parts.append(str(body["message"]))
    elif body.get("detail"):  # a problem body (BadRequestProblem): {status, type, title, detail, data}
        parts.append(str(body["detail"]))
    for problem in body.get("validationErrors") or []:
        if isinstance(problem, dict):
            parts.append(f"{problem.get('propertyPath')}: {problem.get('message', 'invalid')}")
    if body.get("errorId") and not parts:
        parts.append(f"errorId {body['errorId']} (see Airbyte's server log)")
    return "; ".join(parts)[:_BODY_EXCERPT] or str(body)[:_BODY_EXCERPT]


def describe_read_failure(exc: BaseException, conn_id: str) -> str:
    """One line, without secrets, for a failure to resolve the Airflow connection ``conn_id`` or to read its
    Airbyte."""
    from airflow_airbyte_connectors.clients.connection_errors import describe_connection_error

    if type(exc).__name__ == "AirflowNotFoundException":
        env = f"AIRFLOW_CONN_{conn_id.upper()}"
        return (
            f"Airflow connection {conn_id!r} is not defined or cannot be parsed; set {env} to its JSON "
            f'(e.g. {{"conn_type": "airbyte", "host": "http://localhost:8000"}})'
        )
    if isinstance(exc, AirbyteApiError):
        return f"Airbyte: {exc}"
    if isinstance(exc, RequestError):
        url = without_userinfo(str(exc.request.url)) if exc.request is not None else "Airbyte"
        return f"cannot reach Airbyte ({url}): {describe_connection_error(exc)}"
    if isinstance(exc, ValueError):  # e.g. a connection without a host, several workspaces
        return f"connection {conn_id!r}: {exc}"
    return f"{type(exc).__name__}: {exc}"
