"""One create_connectors run keeps two Airbytes in step: staging takes the config's versions, prod takes them once
staging has run them for the soak with successful syncs. Real Airflow (dag.test), real HTTP to two emulators."""

from __future__ import annotations

import time
from typing import Any

import pytest

from airflow_airbyte_connectors.testing import AirbyteEmulator
from tests.dags.test_create_connectors import run_dag, task_states, xcom
from tests.dags.test_plan_promise import report_of
from tests.support import CLIENT_ID, CLIENT_SECRET, REGISTRY, age_versions_seen, connection_uri, registry_entry

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("airflow_db")]

GITHUB = {**registry_entry("source", "GitHub"), "dockerImageTag": "1.9.2"}
REPOSITORY = GITHUB["dockerRepository"]
SHIPPED = "1.9.0"  # the tag Airbyte 2.0's registry ships GitHub at
POSTGRES = "airbyte/destination-postgres"


def entry(raw: dict[str, Any], **extra: Any) -> dict[str, Any]:
    keys = ("name", "dockerRepository", "dockerImageTag", "documentationUrl")
    return {**{k: raw[k] for k in keys}, **extra}


def environments_config(*sources: dict[str, Any], soak: str = "1h", syncs: int = 1) -> dict[str, Any]:
    return {
        "connectors": {
            "environments": {
                "staging": {"conn_id": "airbyte_staging"},
                "prod": {"conn_id": "airbyte_prod", "promoteFrom": "staging", "soak": soak, "successfulSyncs": syncs},
            },
            "source_definitions": [
                entry(s, **{k: v for k, v in s.items() if k.startswith("environment")}) for s in sources
            ],
            "destination_definitions": [],
        }
    }


@pytest.fixture
def airbytes(emulator, monkeypatch) -> dict[str, AirbyteEmulator]:
    """Two Airbytes side by side, ``airbyte_staging`` and ``airbyte_prod``."""
    started = {}
    for name in ("staging", "prod"):
        emu = emulator(seed=REGISTRY, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
        monkeypatch.setenv(f"AIRFLOW_CONN_AIRBYTE_{name.upper()}", connection_uri(emu))
        started[name] = emu
    return started


def tag_in(emu: AirbyteEmulator, repository: str = REPOSITORY) -> str:
    (found,) = [d for d in emu.definitions("source") if d["dockerRepository"] == repository]
    return found["dockerImageTag"]


def plan_of(dagrun) -> dict[str, Any]:
    (plan,) = xcom(dagrun, "prepare", "plan")
    return plan


def gates(plan: dict[str, Any]) -> list[tuple[str, str]]:
    return [(w["label"], w["gate"]["reason"]) for w in plan["waiting"]]


def connect(emu: AirbyteEmulator, name: str = "github → warehouse") -> str:
    """A GitHub → Postgres connection in ``emu``; its id."""
    source = emu.add_source(REPOSITORY, name="GitHub")
    destination = emu.add_destination(POSTGRES, name="Warehouse")
    return emu.add_connection(source, destination, ["issues"], name=name)


def sync(emu: AirbyteEmulator, connection: str, status: str) -> int:
    """A sync job of ``connection`` that ended just now; its id."""
    moment = time.time()
    return emu.add_sync_job(connection, status, created_at=moment - 60, updated_at=moment)["id"]


class TestPromotion:
    def test_prod_waits_for_staging_then_follows_after_the_soak_and_a_successful_sync(self, airbytes, write_config):
        staging, prod = airbytes["staging"], airbytes["prod"]
        write_config(environments_config(GITHUB))

        first = run_dag()
        assert first.state == "success", task_states(first)
        assert (tag_in(staging), tag_in(prod)) == ("1.9.2", SHIPPED)
        plan = plan_of(first)
        assert plan["schemaVersion"] == 3
        assert [c["label"] for c in plan["changes"]] == ["staging: update source GitHub 1.9.0→1.9.2 patch"]
        assert gates(plan) == [
            (
                "prod: update source GitHub 1.9.0→1.9.2 patch",
                "waiting for staging: 1.9.2 is not there yet (it runs 1.9.0)",
            )
        ]

        second = run_dag()
        assert second.state == "success", task_states(second)
        assert tag_in(prod) == SHIPPED
        ((_, reason),) = gates(plan_of(second))
        assert reason.startswith("waiting for staging: 1.9.2 there for ") and reason.endswith(
            "of 1h; no syncs to judge by"
        )

        age_versions_seen(hours=2)
        sync(staging, connect(staging), "succeeded")
        third = run_dag()
        assert third.state == "success", task_states(third)
        assert tag_in(prod) == "1.9.2"
        (change,) = plan_of(third)["changes"]
        assert change["environment"] == "prod"
        assert change["gate"]["state"] == "open"
        assert change["gate"]["reason"].startswith("staging ran it: 1.9.2 there for 2h")
        assert change["gate"]["reason"].endswith("1 of 1 syncs succeeded")
