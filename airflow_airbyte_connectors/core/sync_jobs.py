"""The sync jobs Airbyte ran on a connection, typed: what a promotion gate reads. No Airflow, no HTTP."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class SyncJob:
    """One sync job of a connection.

    :param status: Airbyte's ``JobStatus``: ``pending``, ``running``, ``incomplete`` (an attempt failed, another
        may follow), ``failed``, ``succeeded``, ``cancelled`` (and ``queued`` on Airbyte newer than 2.0).
    """

    job_id: int
    connection_id: str
    status: str
    created_at: datetime  # timezone-aware, UTC
    updated_at: datetime

    @classmethod
    def from_job_read(cls, read: Mapping[str, Any]) -> SyncJob:
        """From Airbyte's ``JobRead`` (``createdAt`` and ``updatedAt`` in epoch seconds)."""
        return cls(
            job_id=int(read["id"]),
            connection_id=str(read["configId"]),
            status=str(read["status"]),
            created_at=datetime.fromtimestamp(read["createdAt"], tz=UTC),
            updated_at=datetime.fromtimestamp(read["updatedAt"], tz=UTC),
        )
