"""The error the emulated server answers with, and the one request check every resource needs."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An answer other than 200: the server turns it into Airbyte's error body for the profile."""

    def __init__(
        self,
        status: int,
        message: str,
        validation_errors: list[dict[str, str]] | None = None,
        *,
        problem: bool = False,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.validation_errors = validation_errors
        # Answered as Airbyte's problem body (BadRequestProblem) on every version: it keeps its ``detail``.
        self.problem = problem


def problem_body(status: int, message: str) -> dict[str, object]:
    """Airbyte's problem body (``AbstractThrowableProblemHandler``): ``BadRequestProblem`` for a 400,
    ``ForbiddenProblem`` for a 403 (type and title by analogy)."""
    title = "forbidden" if status == 403 else "bad-request"
    return {
        "status": status,
        "type": f"https://reference.airbyte.com/reference/errors#{title}",
        "title": title,
        "detail": message,
        "data": {"message": message},
    }


def require(body: Any, key: str) -> None:
    """422 like Airbyte's bean validation when ``key`` is missing from the request body."""
    if not isinstance(body, dict) or body.get(key) in (None, ""):
        raise ApiError(422, f"{key} is required", [{"propertyPath": key, "message": "must not be null"}])
