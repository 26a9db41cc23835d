"""``jobs/list`` of the emulated Airbyte, as ``JobHistoryHandler.listJobsFor`` answers it, and the ways a test
gives a connection its jobs: :meth:`JobEndpoints.add_sync_job` in the same process, the control endpoint
``POST /emulator/control/sync_jobs`` from another. The state is :mod:`.jobs`."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from airflow_airbyte_connectors.testing.errors import ApiError, require
from airflow_airbyte_connectors.testing.jobs import Job, job_read, job_with_attempts
from airflow_airbyte_connectors.testing.state import EmulatorState

# Not Airbyte's API: a test's way in from another process. No credentials, never checked against the contract.
SYNC_JOBS_CONTROL_PATH = "/emulator/control/sync_jobs"
_CONTROL_FIELDS = {"connectionId", "status", "createdAt", "updatedAt", "configType"}
DEFAULT_PAGE_SIZE = 200  # JobHistoryHandler.DEFAULT_PAGE_SIZE
_ORDER_FIELDS = {"createdAt": "created_at", "updatedAt": "updated_at"}


class JobEndpoints(EmulatorState):
    # -- direct seeding (no request logged) -----------------------------------------------------

    def add_sync_job(
        self,
        connection_id: str,
        status: str,
        *,
        created_at: float | None = None,
        updated_at: float | None = None,
        config_type: str = "sync",
    ) -> dict[str, Any]:
        """Give a connection a job that ended (or stands) at ``status``; returns its ``JobRead``.

        :param connection_id: any connection ID; the connection need not exist here.
        :param status: ``succeeded``, ``failed``, ``cancelled``, ``running``, ``pending`` or ``incomplete``.
        :param created_at: epoch seconds (default now); ``updated_at`` defaults to it.
        :param config_type: another job type run on a connection (``reset_connection``, ``refresh``, ``clear``), to
            see that a read of syncs leaves it out.
        :raises ValueError: an empty connection ID, an unknown status or type, an update before the creation.
        """
        with self._lock:
            job = self._jobs.add(
                connection_id, status, config_type=config_type, created_at=created_at, updated_at=updated_at
            )
            return job_read(job)

    # -- endpoints ----------------------------------------------------------------------------------

    def _jobs_list(self, body: dict[str, Any]) -> dict[str, Any]:
        """The jobs of the given types (and connection: ``configId``) newest first, one page of them, and how many
        match in all (``totalJobCount``). Filters: ``statuses``, ``createdAtStart``/``End`` and ``updatedAtStart``/
        ``End`` (bounds included). ``orderByField`` and ``orderByMethod`` together change the order. Ties go by job
        ID. From 1.0 a page starts at a whole page: ``rowOffset // pageSize`` (Micronaut's ``Pageable``); 0.63 used
        ``rowOffset`` as it is (SQL ``OFFSET``). ``includingJobId`` is not emulated."""
        require(body, "configTypes")
        if not body["configTypes"]:
            raise ApiError(500, "Must include at least one configType.")
        types = set(body["configTypes"])
        statuses = set(body.get("statuses") or ())
        connection_id = body.get("configId")
        created = _bounds(body, "createdAtStart", "createdAtEnd")
        updated = _bounds(body, "updatedAtStart", "updatedAtEnd")
        with self._lock:
            matching = [
                job
                for job in self._jobs.jobs
                if job.config_type in types
                and (not connection_id or job.connection_id == connection_id)
                and (not statuses or job.status in statuses)
                and created[0] <= job.created_at <= created[1]
                and updated[0] <= job.updated_at <= updated[1]
            ]
        ordered = _ordered(matching, body.get("orderByField"), body.get("orderByMethod"))
        pagination = body.get("pagination") or {}
        page_size = pagination.get("pageSize")
        page_size = DEFAULT_PAGE_SIZE if page_size is None else page_size
        if page_size < 1:  # Airbyte divides the row offset by it
            raise ApiError(500, "/ by zero")
        offset = pagination.get("rowOffset") or 0
        if self.profile.job_pages_start_at_page_boundaries:
            offset -= offset % page_size
        page = ordered[offset : offset + page_size]
        return {"jobs": [job_with_attempts(job) for job in page], "totalJobCount": len(matching)}

    def _control_add_sync_job(self, raw_body: bytes) -> tuple[int, Any]:
        """``POST /emulator/control/sync_jobs`` with ``{connectionId, status, createdAt?, updatedAt?, configType?}``
        (epoch seconds): :meth:`add_sync_job` over HTTP; 200 with the ``JobRead``, 400 with a message."""
        try:
            body = json.loads(raw_body or b"null")
        except ValueError:
            return 400, {"message": "Malformed JSON body"}
        if not isinstance(body, dict):
            return 400, {"message": "expected a JSON object: {connectionId, status, createdAt?, ...}"}
        if unknown := sorted(set(body) - _CONTROL_FIELDS):
            return 400, {"message": f"unknown field(s) {unknown}; known: {sorted(_CONTROL_FIELDS)}"}
        try:
            read = self.add_sync_job(
                body.get("connectionId", ""),  # both checked by the store
                body.get("status", ""),
                created_at=body.get("createdAt"),
                updated_at=body.get("updatedAt"),
                config_type=body.get("configType", "sync"),
            )
        except (TypeError, ValueError) as exc:
            return 400, {"message": str(exc)}
        return 200, read


def _bounds(body: dict[str, Any], start_key: str, end_key: str) -> tuple[float, float]:
    """A ``date-time`` range of the request as epoch seconds, open where a bound is not given."""
    bounds = []
    for key, unbounded in ((start_key, float("-inf")), (end_key, float("inf"))):
        value = body.get(key)
        if value is None:
            bounds.append(unbounded)
            continue
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            raise ApiError(400, f"{key}: {value!r} is not a date-time") from None
        if moment.tzinfo is None:  # an OffsetDateTime needs its offset
            raise ApiError(400, f"{key}: {value!r} has no UTC offset")
        bounds.append(moment.timestamp())
    return bounds[0], bounds[1]


def _ordered(jobs: list[Job], field: str | None, method: str | None) -> list[Job]:
    """Newest first, unless both ``orderByField`` and ``orderByMethod`` are given (JobServiceDataImpl)."""
    attribute, descending = "created_at", True
    if field and method:
        if field not in _ORDER_FIELDS or method.upper() not in ("ASC", "DESC"):
            raise ApiError(400, f"Invalid order method/order field: {method}, {field}")
        attribute, descending = _ORDER_FIELDS[field], method.upper() == "DESC"
    return sorted(jobs, key=lambda job: (getattr(job, attribute), job.id), reverse=descending)
