"""Since when each Airbyte runs each tag: records in Airflow's metadata database, read and written through the task
SDK as a task does (Airflow's in-process execution API, the one ``dag.test()`` uses)."""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from airflow_airbyte_connectors.config.environments import same_airbyte
from airflow_airbyte_connectors.records.promotion_records import PREFIX, VersionRecord, VersionsSeen, recorded_since

STAGING = VersionsSeen("deployment 6c1f6d3e-0000-4000-8000-000000000001")
PROD = VersionsSeen("deployment 6c1f6d3e-0000-4000-8000-000000000002")
GITHUB = "airbyte/source-github"
POSTGRES = "airbyte/destination-postgres"
T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
UNTOUCHED = "untouched by this test's step"
# When the gate reads: after everything the tests record.
LATER = T0 + timedelta(days=30)


@pytest.fixture
def task_sdk(airflow_db: None) -> Iterator[None]:
    """``airflow.sdk.Variable`` as inside a task, against the test's Airflow database; no record before or after."""
    import psutil
    import structlog
    from airflow.sdk.execution_time.supervisor import (
        InProcessSupervisorComms,
        InProcessTestSupervisor,
        set_supervisor_comms,
    )

    supervisor = InProcessTestSupervisor(
        id=uuid.uuid4(),
        pid=os.getpid(),
        process=psutil.Process(),
        process_log=structlog.get_logger(),
        client=InProcessTestSupervisor._api_client(),
    )
    supervisor.comms = InProcessSupervisorComms(supervisor=supervisor)
    forget_records()
    with set_supervisor_comms(supervisor.comms):
        yield
    forget_records()


def forget_records() -> None:
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session
    from sqlalchemy import delete

    with create_session() as session:
        session.execute(delete(Variable).where(Variable.key.startswith(PREFIX)))


def stored() -> dict[str, dict]:
    """Every record in the database, key → its JSON."""
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(select(Variable).where(Variable.key.startswith(PREFIX)))
        return {row.key: json.loads(row.val) for row in rows}


def mark_untouched() -> set[str]:
    """Mark every record (in its description, which every write replaces); the keys marked."""
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session
    from sqlalchemy import update

    with create_session() as session:
        session.execute(update(Variable).where(Variable.key.startswith(PREFIX)).values(description=UNTOUCHED))
    return set(stored())


def changed_since_marked(marked: set[str]) -> set[str]:
    """The records written or deleted since :func:`mark_untouched`."""
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(select(Variable.key, Variable.description).where(Variable.key.startswith(PREFIX)))
        now = {key: description for key, description in rows}
    return {key for key, description in now.items() if description != UNTOUCHED} | (marked - set(now))


def set_by_hand(key: str, raw: str) -> None:
    from airflow.sdk import Variable

    Variable.set(key, raw)


@pytest.mark.usefixtures("task_sdk")
class TestObserve:
    def test_first_observation_records_the_tag_seen_now(self):
        assert STAGING.observe("source", GITHUB, "1.9.2", T0) == T0
        assert stored() == {
            STAGING.key("source", GITHUB): {
                "kind": "source",
                "dockerRepository": GITHUB,
                "dockerImageTag": "1.9.2",
                "since": "2026-12-07T12:00:00+00:00",
                "learned": "seen",
                "instance": STAGING.instance,
            }
        }
        assert STAGING.since("source", GITHUB, "1.9.2", LATER) == T0

    def test_the_same_tag_keeps_its_since(self):
        STAGING.observe("source", GITHUB, "1.9.2", T0)
        marked = mark_untouched()
        assert STAGING.observe("source", GITHUB, "1.9.2", T0 + timedelta(days=2)) == T0
        assert changed_since_marked(marked) == set()

    def test_a_new_tag_counts_from_the_run_that_sees_it(self):
        STAGING.observe("source", GITHUB, "1.9.2", T0)
        later = T0 + timedelta(days=2)
        assert STAGING.observe("source", GITHUB, "1.10.0", later) == later
        assert STAGING.since("source", GITHUB, "1.10.0", LATER) == later
        assert STAGING.since("source", GITHUB, "1.9.2", LATER) is None  # not what it runs now

    def test_since_is_kept_to_the_second_so_a_later_read_agrees(self):
        moment = T0 + timedelta(microseconds=700_000)
        assert (
            STAGING.observe("source", GITHUB, "1.9.2", moment) == T0 == STAGING.since("source", GITHUB, "1.9.2", LATER)
        )

    def test_since_does_not_write(self):
        assert STAGING.since("source", GITHUB, "1.9.2", LATER) is None
        assert stored() == {}


@pytest.mark.usefixtures("task_sdk")
class TestWritten:
    def test_written_beats_a_later_observation_of_the_same_tag(self):
        STAGING.written("source", GITHUB, "1.9.2", T0)
        assert STAGING.observe("source", GITHUB, "1.9.2", T0 + timedelta(hours=5)) == T0
        assert stored()[STAGING.key("source", GITHUB)]["learned"] == "written"

    def test_a_second_write_of_the_same_tag_keeps_the_first(self):
        """A retried write task does not restart the soak."""
        STAGING.written("source", GITHUB, "1.9.2", T0)
        STAGING.written("source", GITHUB, "1.9.2", T0 + timedelta(minutes=10))
        assert STAGING.since("source", GITHUB, "1.9.2", LATER) == T0

    def test_written_replaces_another_tag_and_a_tag_only_seen(self):
        STAGING.written("source", GITHUB, "1.9.2", T0)
        STAGING.written("source", GITHUB, "1.10.0", T0 + timedelta(hours=1))
        assert STAGING.since("source", GITHUB, "1.10.0", LATER) == T0 + timedelta(hours=1)
        STAGING.observe("destination", POSTGRES, "2.0.0", T0)
        STAGING.written("destination", POSTGRES, "2.0.0", T0 + timedelta(hours=2))
        assert STAGING.since("destination", POSTGRES, "2.0.0", LATER) == T0 + timedelta(hours=2)


def listing(github: str = "1.9.2", postgres: str = "2.0.0"):
    return [("source", GITHUB, github), ("destination", POSTGRES, postgres)]


@pytest.mark.usefixtures("task_sdk")
class TestObserveAll:
    def test_one_run_gives_every_since_and_writes_only_what_changed(self):
        assert STAGING.observe_all(listing(), T0) == {("source", GITHUB): T0, ("destination", POSTGRES): T0}
        marked = mark_untouched()
        later = T0 + timedelta(days=1)
        assert STAGING.observe_all(listing(postgres="2.1.0"), later) == {
            ("source", GITHUB): T0,
            ("destination", POSTGRES): later,
        }
        assert changed_since_marked(marked) == {STAGING.key("destination", POSTGRES)}
        marked = mark_untouched()
        STAGING.observe_all(listing(postgres="2.1.0"), later + timedelta(hours=1))
        assert changed_since_marked(marked) == set()

    def test_a_definition_deleted_from_airbyte_loses_its_record(self):
        STAGING.observe_all(listing(), T0)
        assert STAGING.observe_all(listing()[:1], T0 + timedelta(hours=1)) == {("source", GITHUB): T0}
        assert set(stored()) == {STAGING.key("source", GITHUB)}
        assert STAGING.since("destination", POSTGRES, "2.0.0", LATER) is None

    def test_a_repository_listed_at_two_tags_has_no_since(self, caplog):
        STAGING.observe_all(listing(), T0)
        twice = [*listing(), ("source", GITHUB, "1.10.0")]
        with caplog.at_level(logging.WARNING, logger="airflow_airbyte_connectors.records.promotion_records"):
            found = STAGING.observe_all(twice, T0 + timedelta(hours=1))
        assert found == {("destination", POSTGRES): T0}
        assert STAGING.since("source", GITHUB, "1.9.2", LATER) is None
        assert f"lists source {GITHUB} at 1.10.0 and 1.9.2: no one tag runs there" in caplog.text

    def test_two_airbytes_keep_their_own_records(self):
        STAGING.observe_all(listing(github="1.10.0"), T0)
        PROD.observe_all(listing(), T0 + timedelta(days=3))
        assert STAGING.since("source", GITHUB, "1.10.0", LATER) == T0
        assert PROD.since("source", GITHUB, "1.10.0", LATER) is None
        PROD.observe_all([], T0 + timedelta(days=4))  # prod lists nothing: only its own records go
        assert STAGING.observe_all(listing(github="1.10.0"), T0 + timedelta(days=5)) == {
            ("source", GITHUB): T0,
            ("destination", POSTGRES): T0,
        }
        assert {key.removeprefix(STAGING.prefix) for key in stored()} == {"source:" + GITHUB, "destination:" + POSTGRES}
        same = VersionsSeen(STAGING.instance)  # the same Airbyte through another URL or connection
        assert same.since("source", GITHUB, "1.10.0", LATER) == T0


@pytest.mark.usefixtures("task_sdk")
class TestRecordsNotBelieved:
    @pytest.mark.parametrize(
        "raw",
        [
            "not json {",
            "[]",
            json.dumps({"dockerImageTag": "1.9.2", "since": "yesterday", "learned": "seen"}),
            json.dumps({"dockerImageTag": "1.9.2", "since": "2026-12-01T00:00:00", "learned": "seen"}),
            json.dumps({"dockerImageTag": "1.9.2", "since": "2026-12-01T00:00:00+00:00", "learned": "guessed"}),
            json.dumps({"since": "2026-12-01T00:00:00+00:00", "learned": "seen"}),
        ],
        ids=["not-json", "not-an-object", "not-a-time", "naive-time", "unknown-learned", "no-tag"],
    )
    def test_an_unreadable_record_is_taken_as_seen_now_and_rewritten(self, raw, caplog):
        key = STAGING.key("source", GITHUB)
        set_by_hand(key, raw)
        assert STAGING.since("source", GITHUB, "1.9.2", LATER) is None  # read only: not seen yet, the gate waits
        with caplog.at_level(logging.WARNING, logger="airflow_airbyte_connectors.records.promotion_records"):
            assert STAGING.observe_all(listing(), T0) == {("source", GITHUB): T0, ("destination", POSTGRES): T0}
        assert f"Airflow Variable {key!r}" in caplog.text and "taken as seen now" in caplog.text
        assert stored()[key]["since"] == "2026-12-07T12:00:00+00:00"
        assert STAGING.observe("source", GITHUB, "1.9.2", T0 + timedelta(days=1)) == T0

    def test_a_since_in_the_future_is_taken_as_now(self, caplog):
        key = STAGING.key("source", GITHUB)
        future = VersionRecord("1.9.2", T0 + timedelta(hours=2), "written")
        set_by_hand(key, json.dumps(future.to_json()))
        assert STAGING.since("source", GITHUB, "1.9.2", T0) == T0
        with caplog.at_level(logging.WARNING, logger="airflow_airbyte_connectors.records.promotion_records"):
            assert STAGING.observe("source", GITHUB, "1.9.2", T0) == T0
        assert f"Airflow Variable {key!r} has since 2026-12-07T14:00:00+00:00, in the future" in caplog.text
        assert STAGING.observe("source", GITHUB, "1.9.2", T0 + timedelta(days=1)) == T0  # rewritten: counts from T0

    def test_a_since_within_the_clock_skew_is_believed(self):
        ahead = T0 + timedelta(minutes=50)
        set_by_hand(STAGING.key("source", GITHUB), json.dumps(VersionRecord("1.9.2", ahead, "written").to_json()))
        assert STAGING.observe("source", GITHUB, "1.9.2", T0) == ahead


class TestKeys:
    def test_a_long_repository_still_fits_airflows_key_column(self):
        long = "ghcr.io/" + "a" * 247
        key = STAGING.key("destination", long)
        assert len(key) <= 250 and key.startswith(STAGING.prefix + "destination:sha256:")
        assert key != STAGING.key("destination", long[:-1] + "b")

    def test_keys_name_the_airbyte_by_digest_and_the_definition(self):
        assert STAGING.key("source", GITHUB) == f"{STAGING.prefix}source:{GITHUB}"
        assert STAGING.prefix.startswith(PREFIX) and STAGING.instance not in STAGING.prefix
        assert STAGING.prefix != PROD.prefix and not STAGING.prefix.startswith(PROD.prefix)

    @pytest.mark.usefixtures("task_sdk")
    def test_a_long_repository_is_recorded_and_dropped_like_any_other(self):
        long = "ghcr.io/" + "a" * 247
        assert STAGING.observe_all([("destination", long, "1.0.0")], T0) == {("destination", long): T0}
        assert STAGING.observe_all([("destination", long, "1.0.0")], T0 + timedelta(days=1)) == {
            ("destination", long): T0
        }
        assert stored()[STAGING.key("destination", long)]["dockerRepository"] == long
        STAGING.observe_all([], T0 + timedelta(days=2))
        assert stored() == {}


class TestSameAirbyte:
    def test_distinct_airbytes_are_fine(self):
        assert same_airbyte({"staging": STAGING.instance, "prod": PROD.instance}) == []

    def test_two_environments_on_one_airbyte_are_refused(self):
        assert same_airbyte({"staging": STAGING.instance, "qa": PROD.instance, "prod": STAGING.instance}) == [
            f"environments staging and prod are the same Airbyte ({STAGING.instance}); each environment must be "
            "its own Airbyte: point their conn_id at different Airbyte instances"
        ]

    def test_three_on_one_airbyte_are_one_problem(self):
        problems = same_airbyte(
            {"dev": "http://airbyte:8000", "staging": "http://airbyte:8000", "prod": "http://airbyte:8000"}
        )
        assert len(problems) == 1 and problems[0].startswith("environments dev, staging and prod are the same Airbyte")


class TestRecordedSince:
    """Read only, outside a task (the command line): the records as a run kept them, one read per Airbyte."""

    @staticmethod
    def variables(*records: tuple[str, str, str, datetime]) -> dict[str, str]:
        return {
            STAGING.key(
                "source",
                repository,
            ): json.dumps(
                {"kind": "source", "dockerRepository": repository, **VersionRecord(tag, since, learned).to_json()}
            )
            for repository, tag, learned, since in records
        }

    def read(self, stored: dict[str, str], current=None, now: datetime = LATER) -> dict:
        asked: list[str] = []

        def variables_under(prefix: str) -> dict[str, str]:
            asked.append(prefix)
            return {k: v for k, v in stored.items() if k.startswith(prefix)}

        since = recorded_since(STAGING.instance, current or [("source", GITHUB, "1.9.2")], now, variables_under)
        assert asked == [STAGING.prefix]  # one read, under this Airbyte's prefix
        return since

    def test_the_recorded_since_of_the_tag_listed(self):
        stored = self.variables((GITHUB, "1.9.2", "written", T0))
        assert self.read(stored) == {("source", GITHUB): T0}

    @pytest.mark.parametrize(
        "stored",
        [{}, {"x": "y"}],
        ids=["nothing_recorded", "nothing_for_this_definition"],
    )
    def test_nothing_recorded_is_not_yet_seen(self, stored):
        assert self.read(stored) == {}

    def test_a_record_of_another_tag_is_not_yet_seen(self):
        assert self.read(self.variables((GITHUB, "1.9.0", "seen", T0))) == {}

    @pytest.mark.parametrize("raw", ["{", '{"dockerImageTag": "1.9.2"}', "[]"], ids=["not_json", "no_since", "list"])
    def test_an_unreadable_record_is_not_yet_seen(self, raw):
        assert self.read({STAGING.key("source", GITHUB): raw}) == {}

    def test_a_since_in_the_future_is_taken_as_now(self):
        stored = self.variables((GITHUB, "1.9.2", "seen", LATER + timedelta(days=1)))
        assert self.read(stored) == {("source", GITHUB): LATER}

    def test_a_repository_listed_at_two_tags_has_none(self):
        stored = self.variables((GITHUB, "1.9.2", "seen", T0))
        current = [("source", GITHUB, "1.9.2"), ("source", GITHUB, "1.9.0")]
        assert self.read(stored, current) == {}

    def test_another_airbytes_records_are_not_read(self):
        other = {
            PROD.key("source", GITHUB): self.variables((GITHUB, "1.9.2", "seen", T0))[STAGING.key("source", GITHUB)]
        }
        assert self.read(other) == {}

    @pytest.mark.usefixtures("task_sdk")
    def test_reads_from_airflows_database_what_a_run_recorded_and_writes_nothing(self):
        from airflow_airbyte_connectors.records.metadata_database import variables_under

        current = listing()
        recorded = STAGING.observe_all(current, T0)
        marked = mark_untouched()
        assert recorded_since(STAGING.instance, current, LATER, variables_under) == recorded
        assert changed_since_marked(marked) == set()
