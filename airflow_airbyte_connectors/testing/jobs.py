"""The jobs Airbyte ran on connections (syncs, and the resets, refreshes and clears beside them), without HTTP.

A job's ``configId`` is its connection's ID. The connection need not exist in this emulator: a test in
another process can give jobs to any connection ID (the command line creates no connections).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

# Airbyte's JobStatus up to 2.0 (``queued`` came later and is not emulated).
JOB_STATUSES = ("pending", "running", "incomplete", "failed", "succeeded", "cancelled")
# The JobConfigTypes whose scope is a connection.
CONNECTION_JOB_TYPES = ("sync", "reset_connection", "refresh", "clear")


@dataclass(frozen=True)
class Job:
    id: int
    config_type: str
    connection_id: str
    status: str
    created_at: int  # epoch seconds, as Airbyte answers them
    updated_at: int


class JobStore:
    """Every job, in the order they were added. Not locked itself: the server calls it under its own lock."""

    def __init__(self) -> None:
        self.jobs: list[Job] = []

    def add(
        self,
        connection_id: str,
        status: str,
        *,
        config_type: str = "sync",
        created_at: float | None = None,
        updated_at: float | None = None,
    ) -> Job:
        """A new job with the next ID (IDs increase, as Airbyte's do).

        :param created_at: epoch seconds (default now); ``updated_at`` defaults to it.
        :raises ValueError: an empty connection ID, an unknown status or type, or an update before the creation.
        """
        if not isinstance(connection_id, str) or not connection_id:
            raise ValueError("a job needs its connection's ID")
        if status not in JOB_STATUSES:
            raise ValueError(f"status must be one of {JOB_STATUSES}, not {status!r}")
        if config_type not in CONNECTION_JOB_TYPES:
            raise ValueError(f"config type must be one of {CONNECTION_JOB_TYPES}, not {config_type!r}")
        created = int(created_at if created_at is not None else time.time())
        updated = int(updated_at) if updated_at is not None else created
        if updated < created:
            raise ValueError("a job cannot be updated before it was created")
        job = Job(len(self.jobs) + 1, config_type, connection_id, status, created, updated)
        self.jobs.append(job)
        return job


def job_read(job: Job) -> dict[str, Any]:
    """``JobRead``: ``startedAt`` once the job left ``pending``."""
    read: dict[str, Any] = {
        "id": job.id,
        "configType": job.config_type,
        "configId": job.connection_id,
        "createdAt": job.created_at,
        "updatedAt": job.updated_at,
        "status": job.status,
    }
    if job.status != "pending":
        read["startedAt"] = job.created_at
    return read


def job_with_attempts(job: Job) -> dict[str, Any]:
    """``JobWithAttemptsRead``: a pending job has no attempt yet; any other has one (attempt number 0), running
    while the job runs, succeeded with it, failed otherwise (AttemptStatus knows no other outcome)."""
    if job.status == "pending":
        return {"job": job_read(job), "attempts": []}
    attempt: dict[str, Any] = {
        "id": 0,
        "status": job.status if job.status in ("running", "succeeded") else "failed",
        "createdAt": job.created_at,
        "updatedAt": job.updated_at,
    }
    if attempt["status"] != "running":
        attempt["endedAt"] = job.updated_at
    return {"job": job_read(job), "attempts": [attempt]}
