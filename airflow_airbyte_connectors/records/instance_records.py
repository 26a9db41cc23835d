"""What the records kept in Airflow Variables per Airbyte instance and definition (pending creates, versions
seen) share: one key layout, ``<prefix><instance digest>:<kind>:<dockerRepository>``, and how a time they hold
is read. No Airflow import."""

from __future__ import annotations

import hashlib
from datetime import datetime

# Airflow's Variable key column is 250 characters; a long repository is named by its digest.
MAX_KEY = 250
HASHED = "sha256:"


def instance_prefix(prefix: str, instance: str) -> str:
    """The keys of one Airbyte (``AirbyteDefinitionsHook.instance_id``) begin with this; two never share it."""
    return f"{prefix}{hashlib.sha256(instance.encode()).hexdigest()[:16]}:"


def definition_key(instance_prefix: str, kind: str, docker_repository: str) -> str:
    """One definition's key under an instance's prefix: its repository as written, or its digest when long."""
    name = f"{instance_prefix}{kind}:{docker_repository}"
    if len(name) <= MAX_KEY:
        return name
    return f"{instance_prefix}{kind}:{HASHED}{hashlib.sha256(docker_repository.encode()).hexdigest()}"


def recorded_time(field: str, text: str) -> datetime:
    """A time a record holds in ``field``: ISO 8601 with a UTC offset, else ValueError saying what is wrong."""
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"has {field} {text[:40]!r}, not an ISO 8601 time") from None
    if at.tzinfo is None:
        raise ValueError(f"has {field} {text[:40]!r} without a UTC offset")
    return at
