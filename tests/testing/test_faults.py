"""Fault injection: deterministic, and each fault looks to a client as it would on a real network."""

from __future__ import annotations

import pytest
import requests

from airflow_airbyte_connectors.testing import AirbyteEmulator, Faults
from airflow_airbyte_connectors.testing.faults import FaultInjector
from airflow_airbyte_connectors.testing.trickle import TricklingAirbyte

NEW = {
    "name": "Acme",
    "dockerRepository": "acme/source-acme",
    "dockerImageTag": "1.0.0",
    "documentationUrl": "https://acme.example/docs",
}


def create(emu: AirbyteEmulator, timeout: float = 5) -> requests.Response:
    return requests.post(
        f"{emu.url}/api/v1/source_definitions/create_custom",
        json={"workspaceId": emu.workspace_ids[0], "sourceDefinition": NEW},
        timeout=timeout,
    )


def test_same_seed_same_faults():
    faults = Faults(seed=42, error_rate=0.2, rate_limit_rate=0.1, drop_rate=0.1, lost_write_rate=0.2)
    operations = ["source_definitions/list", "source_definitions/update"] * 50
    first_injector, second_injector = FaultInjector(faults), FaultInjector(faults)
    first = [first_injector.draw(op) for op in operations]
    again = [second_injector.draw(op) for op in operations]
    assert first == again and {"error", "rate_limited", "dropped", "lost_write"} <= set(first)
    assert "lost_write" not in {f for f, op in zip(first, operations, strict=True) if op.endswith("list")}


@pytest.mark.parametrize("status", [500, 502, 503])
def test_error_answers_change_nothing(emulator, status):
    emu = emulator(faults=Faults(error_rate=1.0))
    answers = {create(emu).status_code for _ in range(12)}
    assert status in answers and answers <= {500, 502, 503}
    assert emu.definitions("source") == []


def test_rate_limit_carries_retry_after(emulator):
    emu = emulator(faults=Faults(rate_limit_rate=1.0, retry_after=3))
    answer = create(emu)
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "3"
    assert emu.definitions("source") == []


def test_dropped_connection_does_nothing(emulator):
    emu = emulator(faults=Faults(drop_rate=1.0))
    with pytest.raises(requests.ConnectionError):
        create(emu)
    assert emu.definitions("source") == [] and emu.faults_injected == {"dropped": 1}


def test_lost_write_is_applied_but_never_answered(emulator):
    emu = emulator(faults=Faults(lost_write_rate=1.0))
    with pytest.raises(requests.ConnectionError):
        create(emu)
    assert [d["dockerRepository"] for d in emu.definitions("source")] == ["acme/source-acme"]
    (recorded,) = emu.requests
    assert recorded.fault == "lost_write" and recorded.status == 0


def test_slow_answer_outlives_the_client_but_the_write_still_lands(emulator):
    emu = emulator(faults=Faults(slow_rate=1.0, slow_seconds=1.0))
    with pytest.raises(requests.Timeout):
        create(emu, timeout=0.3)
    emu.wait_idle()
    assert len(emu.definitions("source")) == 1


def test_faults_can_be_switched_off(emulator):
    emu = emulator(faults=Faults(error_rate=1.0))
    assert create(emu).status_code >= 500
    emu.set_faults(None)
    assert create(emu).status_code == 200
    assert sum(emu.faults_injected.values()) == 1


def test_held_write_is_applied_after_the_client_is_gone(emulator):
    emu = emulator()
    other = {**NEW, "dockerRepository": "acme/source-other"}
    held = emu.write_holds.hold("source_definitions/create_custom", dockerRepository=NEW["dockerRepository"])
    # Another repository is not held.
    body = {"workspaceId": emu.workspace_ids[0], "sourceDefinition": other}
    assert requests.post(f"{emu.url}/api/v1/source_definitions/create_custom", json=body, timeout=5).ok
    with pytest.raises(requests.ReadTimeout):
        create(emu, timeout=0.5)
    held.wait_in_flight(timeout=5)
    assert [d["dockerRepository"] for d in emu.definitions("source")] == ["acme/source-other"]
    held.release()
    held.wait_finished(timeout=5)
    emu.wait_idle()
    assert sorted(d["dockerRepository"] for d in emu.definitions("source")) == [
        NEW["dockerRepository"],
        "acme/source-other",
    ]
    # Only the first matching write is held.
    assert create(emu, timeout=5).ok


def test_held_write_goes_on_by_itself_after_its_seconds(emulator):
    emu = emulator(seed="builtin")
    definition = emu.definitions("source")[0]
    held = emu.write_holds.hold(
        "source_definitions/update", seconds=0.5, sourceDefinitionId=definition["sourceDefinitionId"]
    )
    answer = requests.post(
        f"{emu.url}/api/v1/source_definitions/update",
        json={
            "sourceDefinitionId": definition["sourceDefinitionId"],
            "dockerImageTag": "9.9.9",
            "workspaceId": emu.workspace_ids[0],
        },
        timeout=5,
    )
    assert answer.ok and held.in_flight.is_set() and held.finished.is_set()
    tags = {d["sourceDefinitionId"]: d["dockerImageTag"] for d in emu.definitions("source")}
    assert tags[definition["sourceDefinitionId"]] == "9.9.9"


def test_a_trickling_emulator_rate_limits_like_the_plain_one(emulator):
    emu = emulator(
        emulator_class=TricklingAirbyte,
        operations=["source_definitions/list"],
        interval=0,
        faults=Faults(rate_limit_rate=1.0, retry_after=7),
    )
    answer = requests.post(f"{emu.url}/api/v1/source_definitions/list", json={}, timeout=10)
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "7"
