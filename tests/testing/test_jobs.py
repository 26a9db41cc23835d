"""The emulator's sync jobs: ``jobs/list`` answers as Airbyte's ``JobHistoryHandler.listJobsFor`` does, and tests
give connections their jobs in-process (``add_sync_job``) or from another process (the control endpoint)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from airflow_airbyte_connectors.testing import AirbyteEmulator, Faults

CONNECTION = "3f1b2c4d-0000-4000-8000-000000000001"
OTHER_CONNECTION = "3f1b2c4d-0000-4000-8000-000000000002"
CONTROL = "/emulator/control/sync_jobs"
T0 = 1_780_000_000  # epoch seconds


def jobs_list(emu: AirbyteEmulator, body: dict, **kwargs) -> requests.Response:
    return requests.post(f"{emu.url}/api/v1/jobs/list", json=body, timeout=10, **kwargs)


def listed_ids(emu: AirbyteEmulator, **body) -> list[int]:
    answer = jobs_list(emu, {"configTypes": ["sync"], **body})
    assert answer.status_code == 200, answer.text
    return [item["job"]["id"] for item in answer.json()["jobs"]]


def control(url: str, body: dict) -> requests.Response:
    return requests.post(f"{url}{CONTROL}", json=body, timeout=10)


class TestJobsList:
    @pytest.mark.parametrize("profile", ["0.63", "1.6", "2.0", "2.2", "2.4"])
    def test_every_profile_answers_newest_first_in_airbytes_shape(self, emulator, profile):
        emu = emulator(profile=profile)
        # Added out of order: the answer follows createdAt, not the order of IDs; a tie goes to the higher ID.
        first = emu.add_sync_job(CONNECTION, "succeeded", created_at=T0 + 60)
        second = emu.add_sync_job(CONNECTION, "failed", created_at=T0)
        third = emu.add_sync_job(CONNECTION, "running", created_at=T0 + 120)
        fourth = emu.add_sync_job(CONNECTION, "cancelled", created_at=T0 + 60, updated_at=T0 + 90)
        assert [first["id"], second["id"], third["id"], fourth["id"]] == [1, 2, 3, 4]
        answer = jobs_list(emu, {"configTypes": ["sync"], "configId": CONNECTION}).json()
        assert [item["job"]["id"] for item in answer["jobs"]] == [3, 4, 1, 2]
        assert answer["totalJobCount"] == 4
        assert answer["jobs"][1]["job"] == {
            "id": 4,
            "configType": "sync",
            "configId": CONNECTION,
            "createdAt": T0 + 60,
            "updatedAt": T0 + 90,
            "startedAt": T0 + 60,
            "status": "cancelled",
        }
        # Every exchange is checked against Airbyte's spec by the fixture: the answer is a JobReadList.

    @pytest.mark.parametrize(
        ("status", "attempt_status", "ended"),
        [
            ("pending", None, False),
            ("running", "running", False),
            ("succeeded", "succeeded", True),
            ("failed", "failed", True),
            ("incomplete", "failed", True),
            ("cancelled", "failed", True),
        ],
        ids=["pending", "running", "succeeded", "failed", "incomplete", "cancelled"],
    )
    def test_attempts_follow_the_job(self, emulator, status, attempt_status, ended):
        emu = emulator()
        emu.add_sync_job(CONNECTION, status, created_at=T0, updated_at=T0 + 30)
        (item,) = jobs_list(emu, {"configTypes": ["sync"]}).json()["jobs"]
        if attempt_status is None:
            assert item["attempts"] == []
            return
        (attempt,) = item["attempts"]
        assert attempt["id"] == 0 and attempt["status"] == attempt_status
        assert ("endedAt" in attempt) is ended

    def test_filters_by_connection_and_type(self, emulator):
        emu = emulator()
        emu.add_sync_job(CONNECTION, "succeeded", created_at=T0)
        emu.add_sync_job(OTHER_CONNECTION, "succeeded", created_at=T0 + 1)
        emu.add_sync_job(CONNECTION, "succeeded", created_at=T0 + 2, config_type="reset_connection")
        emu.add_sync_job(CONNECTION, "failed", created_at=T0 + 3)
        assert listed_ids(emu, configId=CONNECTION) == [4, 1]
        assert listed_ids(emu, configId=OTHER_CONNECTION) == [2]
        assert listed_ids(emu, configId="00000000-0000-4000-8000-00000000dead") == []  # unknown: none, not 404
        assert listed_ids(emu) == [4, 2, 1]  # no configId: every connection's
        assert listed_ids(emu, configTypes=["sync", "reset_connection"], configId=CONNECTION) == [4, 3, 1]
        assert listed_ids(emu, configTypes=["refresh"]) == []

    def test_filters_by_status_and_time_with_bounds_included(self, emulator):
        emu = emulator()
        for minute, status in enumerate(["succeeded", "failed", "succeeded", "running"]):
            emu.add_sync_job(CONNECTION, status, created_at=T0 + 60 * minute)
        assert listed_ids(emu, statuses=["succeeded"]) == [3, 1]
        # 2026-05-28T20:27:40Z is T0 + 60: createdAtStart keeps the job created then.
        since = {"createdAtStart": "2026-05-28T20:27:40Z"}
        assert listed_ids(emu, **since) == [4, 3, 2]
        answer = jobs_list(emu, {"configTypes": ["sync"], **since, "pagination": {"pageSize": 1}}).json()
        assert answer["totalJobCount"] == 3  # counts what the filters keep, whatever the page
        assert listed_ids(emu, createdAtStart="2026-05-28T22:27:40+02:00", createdAtEnd="2026-05-28T20:28:40Z") == [
            3,
            2,
        ]

    def test_order_by_another_field_and_method(self, emulator):
        emu = emulator()
        emu.add_sync_job(CONNECTION, "succeeded", created_at=T0, updated_at=T0 + 500)
        emu.add_sync_job(CONNECTION, "succeeded", created_at=T0 + 10, updated_at=T0 + 20)
        assert listed_ids(emu, orderByField="updatedAt", orderByMethod="DESC") == [1, 2]
        assert listed_ids(emu, orderByField="createdAt", orderByMethod="ASC") == [1, 2]
        assert listed_ids(emu, orderByField="updatedAt") == [2, 1]  # one of the two: the default order

    def test_pages_by_size_and_offset(self, emulator):
        emu = emulator()
        for minute in range(250):
            emu.add_sync_job(CONNECTION, "succeeded", created_at=T0 + 60 * minute)
        newest_first = list(range(250, 0, -1))
        assert listed_ids(emu) == newest_first[:200]  # Airbyte's default page
        pages = [listed_ids(emu, pagination={"pageSize": 100, "rowOffset": offset}) for offset in (0, 100, 200)]
        assert [len(page) for page in pages] == [100, 100, 50]
        assert sum(pages, []) == newest_first
        assert listed_ids(emu, pagination={"pageSize": 100, "rowOffset": 300}) == []

    @pytest.mark.parametrize(
        ("profile", "first_id"), [("0.63", 6), ("1.6", 7), ("2.0", 7)], ids=["sql-offset", "1.6-page", "2.0-page"]
    )
    def test_an_offset_inside_a_page_starts_that_page_from_1_0_on(self, emulator, profile, first_id):
        # 0.63 used SQL's OFFSET as given; from 1.0 a Micronaut Pageable serves page rowOffset // pageSize.
        emu = emulator(profile=profile)
        for minute in range(10):
            emu.add_sync_job(CONNECTION, "succeeded", created_at=T0 + 60 * minute)
        assert listed_ids(emu, pagination={"pageSize": 3, "rowOffset": 4})[0] == first_id

    @pytest.mark.allow_contract_violations
    def test_config_types_are_required(self, emulator):
        emu = emulator()
        assert jobs_list(emu, {"configId": CONNECTION}).status_code == 422
        assert jobs_list(emu, {"configTypes": []}).status_code == 500  # Airbyte's check() throws
        assert any("jobs/list request" in violation for violation in emu.contract_violations)


class TestAddingJobs:
    def test_python_api_refuses_what_airbyte_would_never_hold(self, emulator):
        emu = emulator()
        with pytest.raises(ValueError, match="status must be one of"):
            emu.add_sync_job(CONNECTION, "done")
        with pytest.raises(ValueError, match="config type must be one of"):
            emu.add_sync_job(CONNECTION, "succeeded", config_type="get_spec")
        with pytest.raises(ValueError, match="updated before it was created"):
            emu.add_sync_job(CONNECTION, "succeeded", created_at=T0, updated_at=T0 - 1)
        with pytest.raises(ValueError, match="needs its connection's ID"):
            emu.add_sync_job("", "succeeded")
        assert emu.requests == []  # the Python API logs no request

    def test_control_endpoint_adds_a_job_without_credentials_or_contract(self, emulator):
        # Auth on: Airbyte's API wants credentials, the test's channel does not (nor is it in Airbyte's spec: the
        # fixture fails a test whose exchanges break the contract).
        emu = emulator(client_id="ci", client_secret="ci-secret")
        added = control(emu.url, {"connectionId": CONNECTION, "status": "failed", "createdAt": T0})
        assert added.status_code == 200
        assert added.json() == {
            "id": 1,
            "configType": "sync",
            "configId": CONNECTION,
            "createdAt": T0,
            "updatedAt": T0,
            "startedAt": T0,
            "status": "failed",
        }
        assert control(emu.url, {"connectionId": CONNECTION, "status": "succeeded"}).json()["id"] == 2
        assert jobs_list(emu, {"configTypes": ["sync"]}).status_code == 401
        answer = jobs_list(emu, {"configTypes": ["sync"], "configId": CONNECTION}, auth=("ci", "ci-secret"))
        assert [item["job"]["status"] for item in answer.json()["jobs"]] == ["succeeded", "failed"]

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            ({"status": "succeeded"}, "needs its connection's ID"),
            ({"connectionId": CONNECTION, "status": "ok"}, "status must be one of"),
            ({"connectionId": CONNECTION, "status": "failed", "created_at": T0}, "unknown field(s) ['created_at']"),
            ({"connectionId": CONNECTION, "status": "failed", "createdAt": "yesterday"}, "invalid literal"),
            (["not", "an", "object"], "expected a JSON object"),
        ],
        ids=["no-connection", "bad-status", "misspelt-field", "bad-time", "not-an-object"],
    )
    def test_control_endpoint_refuses_a_bad_job_with_400(self, emulator, body, message):
        emu = emulator()
        answer = control(emu.url, body)
        assert answer.status_code == 400 and message in answer.json()["message"]
        assert listed_ids(emu) == []

    def test_control_endpoint_is_spared_the_faults(self, emulator):
        emu = emulator(faults=Faults(error_rate=1.0))
        assert control(emu.url, {"connectionId": CONNECTION, "status": "succeeded"}).status_code == 200
        assert jobs_list(emu, {"configTypes": ["sync"]}).status_code in (500, 502, 503)
        assert emu.faults_injected == {"error": 1}


class TestSideBySide:
    def test_two_emulators_each_keep_their_own_jobs(self, emulator):
        staging, prod = emulator(), emulator(profile="1.6")
        staging.add_sync_job(CONNECTION, "succeeded")
        staging.add_sync_job(CONNECTION, "failed")
        prod.add_sync_job(CONNECTION, "running")
        assert listed_ids(staging, configId=CONNECTION) == [2, 1]
        assert listed_ids(prod, configId=CONNECTION) == [1]  # IDs are per instance, as in two Airbyte databases

    def test_two_command_line_emulators_side_by_side(self, tmp_path):
        with command_line_emulator(tmp_path / "staging") as staging, command_line_emulator(tmp_path / "prod") as prod:
            assert staging != prod
            for status in ("failed", "succeeded"):
                assert control(staging, {"connectionId": CONNECTION, "status": status}).status_code == 200
            assert control(prod, {"connectionId": CONNECTION, "status": "running"}).status_code == 200
            for url, statuses in ((staging, ["succeeded", "failed"]), (prod, ["running"])):
                answer = requests.post(
                    f"{url}/api/v1/jobs/list", json={"configTypes": ["sync"], "configId": CONNECTION}, timeout=10
                ).json()
                assert [item["job"]["status"] for item in answer["jobs"]] == statuses


@contextlib.contextmanager
def command_line_emulator(ready: Path) -> Iterator[str]:
    """``python -m airflow_airbyte_connectors.testing`` on a port of its own; yields its URL."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_airbyte_connectors.testing",
            "--seed",
            "none",
            "--port",
            "0",
            "--max-lifetime",
            "30",
            "--ready-file",
            str(ready),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert "listening on http://127.0.0.1:" in process.stdout.readline()
        yield ready.read_text()
    finally:
        os.kill(process.pid, signal.SIGTERM)
        assert process.wait(timeout=10) == 0
