"""Reading what the promotion gate needs from the upstream Airbyte, over real HTTP to the emulator."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from airflow_airbyte_connectors.core.kinds import Kind
from airflow_airbyte_connectors.hooks.airbyte_definitions import AirbyteDefinitionsHook
from airflow_airbyte_connectors.plan.gate import Upstream, judge
from airflow_airbyte_connectors.plan.upstream import (
    READS_AT_ONCE,
    UpstreamDefinition,
    read_upstream,
    read_upstreams,
)
from airflow_airbyte_connectors.testing import AirbyteEmulator
from tests.support import REGISTRY

GITHUB = "airbyte/source-github"
POKEAPI = "airbyte/source-pokeapi"
STRIPE = "airbyte/source-stripe"
POSTGRES = "airbyte/destination-postgres"
SNOWFLAKE = "airbyte/destination-snowflake"
TAG = "1.9.2"
HOUR = 3600


def hook() -> AirbyteDefinitionsHook:
    return AirbyteDefinitionsHook(read_timeout=5)


def definition_id(emu: AirbyteEmulator, kind: str, repository: str) -> str:
    return next(d[f"{kind}DefinitionId"] for d in emu.definitions(kind) if d["dockerRepository"] == repository)


def reads(emu: AirbyteEmulator) -> Counter[str]:
    """The requests sent, by operation (the token aside: it is asked for once per process)."""
    return Counter(r.operation for r in emu.requests if r.operation != "applications/token")


def verdict(upstream: Upstream, soak: timedelta = timedelta(days=1)):
    return judge(TAG, upstream, soak=soak, successful_syncs=2, now=datetime.now(UTC))


def minutes(moment: float) -> str:
    return datetime.fromtimestamp(moment, tz=UTC).isoformat(timespec="minutes")


@dataclass
class Staging:
    """Two workspaces, a GitHub source and a Postgres lake in each; a PokeAPI source beside the first GitHub.

    Connections: ``github → warehouse`` (first workspace), ``github → lake`` (second) and ``pokeapi → warehouse``
    (first): the PokeAPI one shares a workspace and a destination with GitHub's, and uses another source.
    """

    emu: AirbyteEmulator
    warehouse: str
    lake: str
    pokeapi: str
    since: float  # when staging got the tag: two days ago, whole seconds (as Airbyte's job times)

    def at(self, hours_after_since: float) -> float:
        return self.since + hours_after_since * HOUR

    def syncs(self, connection: str, *statuses_and_hours: tuple[str, float]) -> list[int]:
        """Jobs ``(status, hours after since)`` on a connection, each ending ten minutes after it started."""
        return [
            self.emu.add_sync_job(connection, status, created_at=self.at(h), updated_at=self.at(h) + 600)["id"]
            for status, h in statuses_and_hours
        ]

    def definition(self, kind: Kind, repository: str, since: float | None = None) -> UpstreamDefinition:
        moment = datetime.fromtimestamp(self.since if since is None else since, tz=UTC)
        return UpstreamDefinition(kind, definition_id(self.emu, kind, repository), TAG, moment)


@pytest.fixture
def staging(use_emulator) -> Staging:
    emu = use_emulator(seed=REGISTRY, workspaces=2)
    first, second = emu.workspace_ids
    lakes = [emu.add_destination(POSTGRES, name=f"Lake {i}", workspace_id=w) for i, w in enumerate((first, second))]
    github = [emu.add_source(GITHUB, name=f"GitHub {i}", workspace_id=w) for i, w in enumerate((first, second))]
    pokeapi = emu.add_source(POKEAPI, name="PokeAPI", workspace_id=first)
    return Staging(
        emu,
        warehouse=emu.add_connection(github[0], lakes[0], ["issues"], name="github → warehouse"),
        lake=emu.add_connection(github[1], lakes[1], ["issues"], name="github → lake"),
        pokeapi=emu.add_connection(pokeapi, lakes[0], ["pokemon"], name="pokeapi → warehouse"),
        since=int(time.time()) - 48 * HOUR,
    )


def read(staging: Staging, kind: Kind, repository: str, **kwargs) -> Upstream:
    wanted = staging.definition(kind, repository)
    return read_upstream(hook(), "staging", wanted.kind, wanted.definition_id, wanted.tag, wanted.since, **kwargs)


class TestOneDefinition:
    def test_its_connections_in_every_workspace_and_their_syncs_since(self, staging):
        staging.syncs(staging.warehouse, ("failed", -3))  # before since: not counted, not read
        warehouse = staging.syncs(staging.warehouse, ("succeeded", 1), ("succeeded", 5))
        lake = staging.syncs(staging.lake, ("succeeded", 2), ("failed", 6))
        staging.syncs(staging.pokeapi, ("failed", 7))  # another definition's connection
        staging.emu.clear_requests()

        upstream = read(staging, "source", GITHUB)

        assert (upstream.environment, upstream.tag, upstream.since.timestamp()) == ("staging", TAG, staging.since)
        assert sorted(job.job_id for job in upstream.syncs) == sorted(warehouse + lake)
        assert upstream.connection_names == {staging.warehouse: "github → warehouse", staging.lake: "github → lake"}
        found = verdict(upstream)
        assert (found.state, found.reason) == (
            "held",
            f"held: staging sync of 'github → lake' failed at {minutes(staging.at(6) + 600)} (job {lake[-1]})",
        )
        # One search, each of the two workspaces' connections, one page of jobs per connection.
        assert reads(staging.emu) == {"sources/search": 1, "connections/list": 2, "jobs/list": 2}

    def test_opens_when_every_latest_sync_succeeded(self, staging):
        staging.syncs(staging.warehouse, ("failed", 1), ("succeeded", 5))
        staging.syncs(staging.lake, ("succeeded", 2))
        staging.syncs(staging.pokeapi, ("failed", 7))
        found = verdict(read(staging, "source", GITHUB))
        assert found.open and found.reason == "staging ran it: 1.9.2 there for 2d of 1d; 2 of 2 syncs succeeded"

    def test_a_destination_definition_by_its_destinations_connections(self, staging):
        emu = staging.emu
        first = emu.workspace_ids[0]
        snowflake = emu.add_destination(SNOWFLAKE, name="Snowflake", workspace_id=first)
        github = emu.add_source(GITHUB, name="GitHub to Snowflake", workspace_id=first)
        other = emu.add_connection(github, snowflake, ["issues"], name="github → snowflake")
        staging.syncs(other, ("failed", 8))  # a Snowflake connection: not Postgres's
        staging.syncs(staging.pokeapi, ("succeeded", 1), ("failed", 3))
        staging.syncs(staging.lake, ("succeeded", 2))
        emu.clear_requests()

        upstream = read(staging, "destination", POSTGRES)

        assert set(upstream.connection_names.values()) == {
            "github → warehouse",
            "github → lake",
            "pokeapi → warehouse",
        }
        assert {job.connection_id for job in upstream.syncs} == {staging.pokeapi, staging.lake}
        found = verdict(upstream)
        assert found.state == "held" and found.reason.startswith("held: staging sync of 'pokeapi → warehouse' failed")
        assert reads(emu) == {"destinations/search": 1, "connections/list": 2, "jobs/list": 3}

    def test_no_connection_uses_it_so_no_syncs_to_judge_by(self, staging):
        emu = staging.emu
        emu.add_source(STRIPE, name="Stripe, not connected", workspace_id=emu.workspace_ids[0])
        emu.clear_requests()

        upstream = read(staging, "source", STRIPE)

        assert upstream.syncs is None and upstream.connection_names == {}
        found = verdict(upstream, soak=timedelta(days=3))
        assert (found.state, found.reason) == (
            "waiting",
            "waiting for staging: 1.9.2 there for 2d of 3d; no syncs to judge by",
        )
        assert reads(emu) == {"sources/search": 1, "connections/list": 1}

    def test_no_source_of_it_lists_no_connections(self, staging):
        staging.emu.clear_requests()
        upstream = read(staging, "source", STRIPE)
        assert upstream.syncs is None
        assert reads(staging.emu) == {"sources/search": 1}

    @pytest.mark.parametrize(
        ("definition_id", "tag", "since"),
        [(None, None, None), ("known", TAG, None)],
        ids=["definition-absent", "since-not-recorded"],
    )
    def test_nothing_is_read_when_the_gate_waits_anyway(self, staging, definition_id, tag, since):
        if definition_id == "known":
            definition_id = staging.definition("source", GITHUB).definition_id
        staging.syncs(staging.warehouse, ("succeeded", 1))
        staging.emu.clear_requests()

        upstream = read_upstream(hook(), "staging", "source", definition_id, tag, since)

        assert upstream == Upstream("staging", tag, None, None)
        assert staging.emu.requests == []
        assert verdict(upstream).state == "waiting"

    def test_jobs_before_since_are_not_read_past_the_first_page(self, staging):
        for minute in range(120):  # two hours of history before since: more than two pages of 50
            staging.emu.add_sync_job(staging.warehouse, "succeeded", created_at=staging.at(-2) + 60 * minute)
        recent = staging.syncs(staging.warehouse, ("succeeded", 1), ("succeeded", 2))
        staging.emu.clear_requests()

        upstream = read(staging, "source", GITHUB)

        assert sorted(job.job_id for job in upstream.syncs) == recent
        listed = [r.body["configId"] for r in staging.emu.requests if r.operation == "jobs/list"]
        assert sorted(listed) == sorted([staging.warehouse, staging.lake])  # one page each


class _SlowJobLists(AirbyteEmulator):
    """Each ``jobs/list`` takes a little while, and the most answered at once is remembered."""

    in_flight = 0
    most_in_flight = 0
    _count_lock = threading.Lock()

    def _jobs_list(self, body):
        with self._count_lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            time.sleep(0.1)
            return super()._jobs_list(body)
        finally:
            with self._count_lock:
                self.in_flight -= 1


class TestManyDefinitions:
    def wanted(self, staging: Staging) -> list[UpstreamDefinition]:
        return [
            staging.definition("source", GITHUB),
            staging.definition("source", POKEAPI),
            staging.definition("destination", POSTGRES),
            staging.definition("source", GITHUB),  # a second change of one definition
            UpstreamDefinition("source", None, None, None),  # absent upstream
        ]

    def test_each_workspace_listed_once_each_connection_read_once(self, staging):
        staging.syncs(staging.warehouse, ("succeeded", 1), ("succeeded", 2))
        staging.syncs(staging.lake, ("failed", 1))
        staging.syncs(staging.pokeapi, ("succeeded", 3))
        wanted = self.wanted(staging)
        staging.emu.clear_requests()

        upstreams = read_upstreams(hook(), "staging", wanted)

        assert set(upstreams) == set(wanted)
        # GitHub's and PokeAPI's connections are Postgres's too: three connections, each read once.
        assert reads(staging.emu) == {
            "sources/search": 2,
            "destinations/search": 1,
            "connections/list": 2,
            "jobs/list": 3,
        }
        one_at_a_time = {d: read_upstream(hook(), "staging", d.kind, d.definition_id, d.tag, d.since) for d in wanted}
        assert upstreams == one_at_a_time
        states = [verdict(upstreams[d]).state for d in wanted]
        assert states == ["held", "waiting", "held", "held", "waiting"]  # PokeAPI: 1 of 2 syncs

    def test_a_connection_is_read_again_for_another_since(self, staging):
        wanted = [staging.definition("source", GITHUB), staging.definition("destination", POSTGRES, staging.at(1))]
        staging.emu.clear_requests()
        read_upstreams(hook(), "staging", wanted)
        # GitHub's two connections at both times; PokeAPI's at Postgres's only.
        assert reads(staging.emu)["jobs/list"] == 5

    def test_reads_go_a_few_at_a_time_and_plan_as_one_at_a_time(self, use_emulator):
        emu = use_emulator(seed=REGISTRY, emulator_class=_SlowJobLists)
        lake = emu.add_destination(POSTGRES, name="Lake")
        for i in range(10):
            emu.add_connection(emu.add_source(GITHUB, name=f"GitHub {i}"), lake, ["issues"], name=f"github {i}")
        since = datetime.now(UTC) - timedelta(days=1)
        wanted = [UpstreamDefinition("source", definition_id(emu, "source", GITHUB), TAG, since)]

        many = read_upstreams(hook(), "staging", wanted)
        assert emu.most_in_flight == READS_AT_ONCE
        emu.most_in_flight = 0
        with ThreadPoolExecutor(max_workers=1) as one:
            assert read_upstreams(hook(), "staging", wanted, pool=one) == many
        assert emu.most_in_flight == 1
        assert len(many[wanted[0]].connection_names) == 10


class TestEnvironmentsPromotingFromOne:
    """eu and us promote from prod: one plan reads prod once for both gates (plan_builder.UpstreamReads)."""

    def test_two_gates_at_once_read_the_upstream_once(self, staging):
        from airflow_airbyte_connectors.plan.plan_builder import UpstreamReads

        staging.syncs(staging.warehouse, ("succeeded", 1))
        staging.syncs(staging.lake, ("succeeded", 2))
        github = staging.definition("source", GITHUB)
        staging.emu.clear_requests()
        shared = UpstreamReads()

        with ThreadPoolExecutor(max_workers=2) as pool:
            eu, us = pool.map(lambda _: shared.read(hook(), "staging", [github]), range(2))

        assert eu == us and verdict(eu[github]).open
        assert reads(staging.emu) == {"sources/search": 1, "connections/list": 2, "jobs/list": 2}

    def test_a_second_gate_reads_only_what_the_first_did_not(self, staging):
        from airflow_airbyte_connectors.plan.plan_builder import UpstreamReads

        github, pokeapi = staging.definition("source", GITHUB), staging.definition("source", POKEAPI)
        shared = UpstreamReads()
        first = shared.read(hook(), "staging", [github])
        staging.emu.clear_requests()

        second = shared.read(hook(), "staging", [github, pokeapi])

        assert second[github] is first[github]
        # PokeAPI's search, its workspace's connections, its one connection's jobs.
        assert reads(staging.emu) == {"sources/search": 1, "connections/list": 1, "jobs/list": 1}
        assert second == read_upstreams(hook(), "staging", [github, pokeapi])
