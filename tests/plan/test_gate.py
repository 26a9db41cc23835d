"""The promotion gate's rules and words (pure: no Airflow, no HTTP)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from airflow_airbyte_connectors.core.sync_jobs import SyncJob
from airflow_airbyte_connectors.plan.gate import Upstream, duration, gated, judge

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
SINCE = NOW - timedelta(days=1, hours=4)
GITHUB_TO_WAREHOUSE = "c-1"
NAMES = {GITHUB_TO_WAREHOUSE: "github → warehouse", "c-2": "github → lake"}


def job(job_id: int, status: str, hours_after_since: float, connection: str = GITHUB_TO_WAREHOUSE) -> SyncJob:
    at = SINCE + timedelta(hours=hours_after_since)
    return SyncJob(job_id, connection, status, at, at + timedelta(minutes=10))


def staging(tag: str | None = "1.9.2", since=SINCE, syncs=()) -> Upstream:
    return Upstream("staging", tag, since, None if syncs is None else list(syncs), NAMES)


def verdict(upstream: Upstream, soak=timedelta(days=3), successful_syncs: int = 2):
    return judge("1.9.2", upstream, soak=soak, successful_syncs=successful_syncs, now=NOW)


class TestTheGate:
    def test_waits_while_the_soak_runs_even_with_enough_syncs(self):
        found = verdict(staging(syncs=[job(1, "succeeded", 1), job(2, "succeeded", 2), job(3, "succeeded", 3)]))
        assert (found.state, found.reason) == (
            "waiting",
            "waiting for staging: 1.9.2 there for 1d 4h of 3d; 3 of 2 syncs succeeded",
        )

    def test_opens_after_the_soak_and_enough_successful_syncs(self):
        found = verdict(staging(syncs=[job(1, "succeeded", 1), job(2, "succeeded", 2)]), soak=timedelta(days=1))
        assert found.open and found.reason == "staging ran it: 1.9.2 there for 1d 4h of 1d; 2 of 2 syncs succeeded"

    def test_waits_for_syncs_after_the_soak(self):
        found = verdict(staging(syncs=[job(1, "succeeded", 1)]), soak=timedelta(hours=1))
        assert found.state == "waiting" and found.reason.endswith("1 of 2 syncs succeeded")

    def test_a_failed_latest_sync_holds_it_naming_the_connection_and_job(self):
        syncs = [job(1, "succeeded", 1), job(2, "succeeded", 2), job(3, "failed", 3)]
        found = verdict(staging(syncs=syncs), soak=timedelta(hours=1))
        at = (SINCE + timedelta(hours=3, minutes=10)).isoformat(timespec="minutes")
        assert (found.state, found.reason) == (
            "held",
            f"held: staging sync of 'github → warehouse' failed at {at} (job 3)",
        )

    def test_a_failure_followed_by_a_success_does_not_hold(self):
        syncs = [job(1, "failed", 1), job(2, "succeeded", 2), job(3, "succeeded", 3)]
        assert verdict(staging(syncs=syncs), soak=timedelta(hours=1)).open

    def test_a_sync_still_running_after_a_failure_holds_until_it_succeeds(self):
        syncs = [job(1, "succeeded", 1), job(2, "succeeded", 2), job(3, "failed", 3), job(4, "running", 4)]
        assert verdict(staging(syncs=syncs), soak=timedelta(hours=1)).state == "held"

    def test_each_connection_is_judged_by_its_own_latest_sync(self):
        syncs = [job(1, "succeeded", 1), job(2, "failed", 2, connection="c-2"), job(3, "succeeded", 3)]
        found = verdict(staging(syncs=syncs), soak=timedelta(hours=1))
        assert found.state == "held" and "'github → lake'" in found.reason

    def test_a_cancelled_sync_neither_counts_nor_holds(self):
        syncs = [job(1, "succeeded", 1), job(2, "cancelled", 2)]
        found = verdict(staging(syncs=syncs), soak=timedelta(hours=1))
        assert found.state == "waiting" and found.reason.endswith("1 of 2 syncs succeeded")

    def test_syncs_before_the_version_arrived_do_not_count(self):
        syncs = [job(1, "succeeded", -5), job(2, "failed", -3), job(3, "succeeded", -1), job(4, "succeeded", 1)]
        found = verdict(staging(syncs=syncs), soak=timedelta(hours=1))
        assert found.state == "waiting" and found.reason.endswith("1 of 2 syncs succeeded")

    def test_with_no_connection_the_soak_alone_gates(self):
        assert (
            verdict(staging(syncs=None)).reason
            == "waiting for staging: 1.9.2 there for 1d 4h of 3d; no syncs to judge by"
        )
        assert verdict(staging(syncs=None), soak=timedelta(days=1)).open

    @pytest.mark.parametrize(
        ("tag", "reason"),
        [
            ("1.9.1", "waiting for staging: 1.9.2 is not there yet (it runs 1.9.1)"),
            (None, "waiting for staging: 1.9.2 is not there yet (it does not have it)"),
        ],
    )
    def test_waits_while_the_upstream_runs_another_version(self, tag, reason):
        assert verdict(staging(tag=tag)).reason == reason

    def test_waits_for_a_run_to_see_the_version_there(self):
        found = verdict(staging(since=None))
        assert (found.state, found.reason) == ("waiting", "waiting for staging: 1.9.2 there, not yet seen by a run")

    def test_zero_syncs_required_opens_on_the_soak(self):
        assert verdict(staging(syncs=[]), soak=timedelta(days=1), successful_syncs=0).open


class TestWhatIsGated:
    @pytest.mark.parametrize(
        ("current", "target", "waits"),
        [
            (None, "1.0.0", True),
            ("1.8.0", "1.9.2", True),
            ("1.9.2", "1.9.2", True),
            ("1.9.2", "1.8.0", False),
            ("main", "1.9.2", True),
        ],
        ids=["create", "upgrade", "same", "rollback", "uncomparable"],
    )
    def test_everything_but_a_move_down(self, current, target, waits):
        assert gated(current, target) is waits


@pytest.mark.parametrize(
    ("span", "text"),
    [
        (timedelta(days=3), "3d"),
        (timedelta(days=1, hours=4, minutes=5), "1d 4h"),
        (timedelta(hours=5, minutes=30), "5h 30m"),
        (timedelta(minutes=45), "45m"),
        (timedelta(seconds=20), "20s"),
        (timedelta(0), "0s"),
        (timedelta(days=2, minutes=3), "2d"),
    ],
)
def test_durations_read_as_people_write_them(span, text):
    assert duration(span) == text
