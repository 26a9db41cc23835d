"""Pending creates: one set of records per Airbyte, in Airflow's Variables."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from airflow_airbyte_connectors.records.pending_creates import PREFIX, PendingCreate, PendingCreates

PROD, STAGING = PendingCreates("https://airbyte.example.com"), PendingCreates("https://airbyte-staging.example.com")
REPO = "ghcr.io/acme/source-acme-crm"
RECORD = {
    "kind": "source",
    "dockerRepository": REPO,
    "dockerImageTag": "1.2.0",
    "name": "Acme CRM",
    "sentAt": "2026-12-03T12:00:00+00:00",
}


def test_each_airbyte_has_its_own_keys():
    assert PROD.key("source", REPO).startswith(PROD.prefix) and PROD.prefix.startswith(PREFIX)
    assert PROD.key("source", REPO) != STAGING.key("source", REPO)
    assert PendingCreates("https://airbyte.example.com").key("source", REPO) == PROD.key("source", REPO)
    assert PROD.key("source", REPO) != PROD.key("destination", REPO)


def test_a_long_repository_still_fits_airflows_key_column():
    long = "ghcr.io/" + "a" * 247
    key = PROD.key("destination", long)
    assert len(key) <= 250 and key.startswith(PROD.prefix + "destination:sha256:")
    assert key != PROD.key("destination", long[:-1] + "b")


def test_settled_once_the_window_has_passed():
    sent = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    intent = PendingCreate("source", REPO, "1.2.0", "Acme CRM", sent, None)
    assert not intent.settled(900, now=sent + timedelta(seconds=899))
    assert intent.settled(900, now=sent + timedelta(seconds=900))
    assert PendingCreate.from_json(intent.to_json()) == intent


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ([], "holds list, not a JSON object"),
        (
            {"kind": "source", "name": "Acme CRM", "dockerImageTag": "1.2.0", "sentAt": "2026-12-03T12:00:00+00:00"},
            "has no text 'dockerRepository'",
        ),
        ({**RECORD, "kind": "connection"}, "has kind 'connection', not one of source, destination"),
        ({**RECORD, "sentAt": "yesterday"}, "has sentAt 'yesterday', not an ISO 8601 time"),
        ({**RECORD, "sentAt": "2026-12-03T12:00:00"}, "has sentAt '2026-12-03T12:00:00' without a UTC offset"),
    ],
    ids=["not-an-object", "missing-field", "unknown-kind", "not-a-time", "naive-time"],
)
def test_a_record_that_cannot_be_read_says_what_is_wrong(data, problem):
    with pytest.raises(ValueError, match=f"^{re.escape(problem)}$"):
        PendingCreate.from_json(data)


def test_one_airbyte_instance_one_prefix():
    deployment = PendingCreates("deployment 6c1f6d3e-0000-4000-8000-000000000001", "http://airbyte:8000")
    same = PendingCreates("deployment 6c1f6d3e-0000-4000-8000-000000000001", "http://10.0.0.5:8000")
    assert deployment.prefix == same.prefix != PROD.prefix


# Records are read and written through Airflow's task SDK, inside a task: tests/dags/test_plan_promise.py
# (TestUnknownOutcomes) runs them, two Airbytes in test_records_are_kept_per_airbyte.
