"""Constants and helpers the tests share (import this, not conftest)."""

from __future__ import annotations

import json
import socket
from functools import cache
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
# Airbyte's published OpenAPI specs and registry snapshots, kept beside the clone (never copied into it).
# Without them the tests that read them are skipped, and CI refuses to run (tests/conftest.py).
SHARED_AIRBYTE = REPO_ROOT.parent / "shared" / "airbyte"
REGISTRY = SHARED_AIRBYTE / "oss-registry-v2.0.0.json"
# Airbyte's OSS registry of March 2026 with each connector's releases (breaking changes).
RELEASES = SHARED_AIRBYTE / "oss-registry-releases-b8390e04.json"
CONFIG_API_SPEC = SHARED_AIRBYTE / "config-api.yaml"
# The contract each emulator profile is held to: Airbyte's spec at the nearest published release
# (no spec of 0.63 is available; v1.0.0's definition endpoints are the closest). config-api.yaml is main of
# 2026-08-21 (about 2.2), the newest copy: no spec of 2.0.0, 2.3 or 2.4 is stored.
PROFILE_SPECS = {
    "0.63": SHARED_AIRBYTE / "config-api-definitions@v1.0.0.yaml",
    "1.6": SHARED_AIRBYTE / "config-api-definitions@v1.6.0.yaml",
    "2.0": CONFIG_API_SPEC,
    "2.2": CONFIG_API_SPEC,
    "2.4": CONFIG_API_SPEC,
}
DAGS_FOLDER = REPO_ROOT / "dags"

# A custom connector that no Airbyte ships: creating it is this project's job.
CUSTOM_SOURCE = {
    "name": "Acme CRM",
    "dockerRepository": "ghcr.io/acme/source-acme-crm",
    "dockerImageTag": "1.2.0",
    "documentationUrl": "https://acme.example.com/docs/airbyte",
}

CLIENT_ID = "aac-test-client"
CLIENT_SECRET = "aac-test-secret-4b1f9e0c7d"  # distinctive, so a scan for leaks can find it


def definition_entry(raw: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A basic_config entry from a registry entry (its four keys, and its environment keys if any)."""
    keys = ("name", "dockerRepository", "dockerImageTag", "documentationUrl")
    narrowing = {k: v for k, v in raw.items() if k in ("environments", "environmentTags")}
    return {**{k: raw[k] for k in keys}, **narrowing, **extra}


def environments_config(
    *sources: dict[str, Any], destinations: tuple[dict[str, Any], ...] = (), soak: str = "1h", syncs: int = 1
) -> dict[str, Any]:
    """basic_config's connectors section for two Airbytes: staging, and prod promoting from it."""
    return {
        "connectors": {
            "environments": {
                "staging": {"conn_id": "airbyte_staging"},
                "prod": {"conn_id": "airbyte_prod", "promoteFrom": "staging", "soak": soak, "successfulSyncs": syncs},
            },
            "source_definitions": [definition_entry(s) for s in sources],
            "destination_definitions": [definition_entry(d) for d in destinations],
        }
    }


def add_source_definition(
    emu: Any,
    entry: dict[str, Any],
    *,
    tag: str | None = None,
    custom: bool = True,
    workspace_id: str | None = None,
) -> dict[str, Any]:
    """A basic_config source ``entry`` as a definition of ``emu`` (no request logged), at ``tag`` (default the
    entry's), created in ``workspace_id`` (its actor_definition_workspace_grant); Airbyte's read of it."""
    return emu.add_definition(
        "source",
        name=entry["name"],
        docker_repository=entry["dockerRepository"],
        docker_image_tag=tag or entry["dockerImageTag"],
        documentation_url=entry["documentationUrl"],
        custom=custom,
        workspace_id=workspace_id,
    )


def add_custom_source(emu: Any, *, tag: str | None = None, workspace_id: str | None = None) -> dict[str, Any]:
    """CUSTOM_SOURCE as a custom definition of ``emu``: :func:`add_source_definition`."""
    return add_source_definition(emu, CUSTOM_SOURCE, tag=tag, workspace_id=workspace_id)


def connection_uri(emu: Any, *, auth: str = "bearer", host_suffix: str = "", **extra: Any) -> str:
    """The JSON form of an `airbyte` Connection pointing at emulator ``emu``."""
    conn: dict[str, Any] = {"conn_type": "airbyte", "host": emu.url + host_suffix}
    if auth in ("bearer", "basic"):
        conn.update(login=CLIENT_ID, password=CLIENT_SECRET)
    if auth == "basic":
        extra["auth_type"] = "basic"
    if extra:
        conn["extra"] = extra
    return json.dumps(conn)


def unused_port() -> int:
    """A port on 127.0.0.1 that nothing listens on now: for a server to start on, or for a refused connection."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def require_airbyte_files() -> None:
    """Skip the calling test on a clone without ``../shared/airbyte`` (CI always has it), for tests whose code
    under test turns the missing file into a finding instead of an error."""
    if not SHARED_AIRBYTE.is_dir():
        pytest.skip(f"needs Airbyte's OpenAPI specs and registry snapshots in {SHARED_AIRBYTE}")


@cache
def registry() -> dict[str, Any]:
    if not REGISTRY.exists():
        # The package's own small seed, so that test modules still import; their tests are skipped.
        from airflow_airbyte_connectors.testing import builtin_registry

        return dict(builtin_registry())
    return json.loads(REGISTRY.read_text())


def registry_entry(kind: str, name: str) -> dict[str, Any]:
    """A copy of one entry of Airbyte's connector registry (``kind`` is source or destination)."""
    for entry in registry()[f"{kind}s"]:
        if entry["name"] == name:
            return dict(entry)
    raise KeyError(name)


# A team's copy of the DAG file: another dag_id, the writes and the approval inside a TaskGroup.
COPY_DAG_ID = "airbyte_prod_definitions"
COPY_GROUP = "writes"


def renamed_copy(source: str) -> str:
    """The shipped DAG file with its dag_id changed and every task from ``apply`` to ``apply_approved`` moved
    into a TaskGroup, as a person copying it would edit it."""
    lines = source.replace('dag_id="create_connectors"', f'dag_id="{COPY_DAG_ID}"').splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("    applied = ["))
    last = next(i for i, line in enumerate(lines) if line.strip() == "applied.append(gated)")
    grouped = [f'    with TaskGroup("{COPY_GROUP}"):'] + [
        f"    {line}" if line else line for line in lines[first : last + 1]
    ]
    copied = "\n".join(lines[:first] + grouped + lines[last + 1 :]) + "\n"
    assert copied.count(f'dag_id="{COPY_DAG_ID}"') == 1 and copied.count("from airflow.sdk import (\n") == 1
    return copied.replace("from airflow.sdk import (\n", "from airflow.sdk import (\n    TaskGroup,\n", 1)


def pending_records() -> dict[str, Any]:
    """The pending-create records in Airflow's Variables, by key (their raw text)."""
    from airflow_airbyte_connectors.records.pending_creates import PREFIX

    return variables_under(PREFIX)


def variables_under(prefix: str) -> dict[str, Any]:
    """Airflow's Variables whose key begins with ``prefix``, by key (their raw text)."""
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(select(Variable).where(Variable.key.startswith(prefix)))
        return {row.key: row.val for row in rows}


def age_versions_seen(hours: float) -> None:
    """Move every promotion record's since ``hours`` into the past: a soak passes without waiting."""
    from datetime import datetime, timedelta

    from airflow.models.variable import Variable

    from airflow_airbyte_connectors.records.promotion_records import PREFIX

    for key, raw in variables_under(PREFIX).items():
        record = json.loads(raw)
        since = datetime.fromisoformat(record["since"]) - timedelta(hours=hours)
        Variable.set(key, json.dumps({**record, "since": since.isoformat(timespec="seconds")}))


def age_pending_creates(days: float = 1.0) -> None:
    """Move every pending create's sentAt ``days`` into the past: the settle window passes without waiting."""
    from datetime import datetime, timedelta

    from airflow.models.variable import Variable

    for key, raw in pending_records().items():
        record = json.loads(raw)
        sent = datetime.fromisoformat(record["sentAt"]) - timedelta(days=days)
        Variable.set(key, json.dumps({**record, "sentAt": sent.isoformat(timespec="seconds")}))
