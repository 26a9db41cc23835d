"""Upgrade proposals: on 13 connectors' real release histories, and on hand-made cases for each rule."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from itertools import product

import pytest

from airflow_airbyte_connectors.config.policies import BREAKING_POLICIES, VERSION_POLICIES, Policy
from airflow_airbyte_connectors.core.compatibility import parse_matrix, refusal
from airflow_airbyte_connectors.core.versions import BreakingChange, airbyte_version
from airflow_airbyte_connectors.upgrades.proposals import Candidate, Proposal, propose, release_version
from tests.support import SHARED_AIRBYTE, require_airbyte_files

HISTORY = SHARED_AIRBYTE / "connector-version-history.json"
# The histories' newest rows are dated 2026-09 (github 2.7.1: 2026-09-21): on this day a 30-day cooldown
# holds back real releases.
TODAY = date(2026, 10, 1)


@dataclass(frozen=True)
class History:
    repository: str
    candidates: tuple[Candidate, ...]
    breaking_changes: tuple[BreakingChange, ...]

    def propose(self, current: str, policy: Policy, today: date = TODAY) -> Proposal:
        return propose(current, self.candidates, policy=policy, breaking_changes=self.breaking_changes, today=today)

    def releases(self) -> list[str]:
        return sorted({c.tag for c in self.candidates if release_version(c.tag)}, key=release_version)


@cache
def histories() -> dict[str, History]:
    """Every connector of the file; breaking changes: the metadata.yaml list and the 2026-03-19 registry's."""
    document = json.loads(HISTORY.read_text())
    found = {}
    for item in document["connectors"]:
        versions = sorted(set(item["breakingChanges"]) | set(item["registry20260319"]["breakingChanges"]))
        found[item["dockerRepository"]] = History(
            repository=item["dockerRepository"],
            candidates=tuple(
                Candidate(row["version"], date.fromisoformat(row["date"]) if row["date"] else None)
                for row in item["versions"]
            ),
            breaking_changes=tuple(BreakingChange(version, f"breaking change {version}") for version in versions),
        )
    return found


def history(repository: str) -> History:
    require_airbyte_files()
    return histories()[repository]


def all_histories() -> list[History]:
    require_airbyte_files()
    return list(histories().values())


def newest_release(tags, major: int | None = None) -> str:
    return max((tag for tag in tags if major is None or release_version(tag)[0] == major), key=release_version)


def crossed(proposal: Proposal) -> list[str]:
    return [change.version for change in proposal.crossed]


MINOR_STOP = Policy("minor", "stop")
MAJOR_STOP = Policy("major", "stop")
MAJOR_ALLOW = Policy("major", "allow")


class TestGitHubAndHubSpot:
    def test_github_minor_stop_proposes_the_newest_1x(self):
        github = history("airbyte/source-github")
        proposal = github.propose("1.8.0", MINOR_STOP)
        assert proposal.proposed == newest_release(github.releases(), major=1) == "1.9.2"
        assert proposal.classes == ("minor",)
        assert proposal.crossed == () and proposal.stopped_at is None and proposal.reason is None
        assert proposal.newest == "2.7.1"
        assert proposal.age_days == (TODAY - date(2025, 10, 21)).days

    def test_the_release_beyond_the_policy_is_also_available_never_proposed(self):
        github = history("airbyte/source-github")
        proposal = propose(
            "1.8.0", github.candidates, policy=Policy("minor"), breaking_changes=github.breaking_changes, today=TODAY
        )
        assert proposal.proposed == "1.9.2"
        assert proposal.also_available_text == "also available: 2.7.1 (major, crosses 2.0.0)"
        # The platform refuses 2.7.1: the newest it takes is offered instead; a major policy offers nothing beyond.
        refused = propose(
            "1.8.0",
            github.candidates,
            policy=Policy("minor"),
            breaking_changes=github.breaking_changes,
            today=TODAY,
            platform_refusal=lambda tag: "needs Airbyte 3" if tag == "2.7.1" else None,
        )
        assert refused.also_available is not None and refused.also_available.target == "2.7.0"
        allowed = propose(
            "1.8.0",
            github.candidates,
            policy=Policy("major", "allow"),
            breaking_changes=github.breaking_changes,
            today=TODAY,
        )
        assert (allowed.proposed, allowed.also_available) == ("2.7.1", None)

    def test_skipped_versions_are_never_proposed_nor_offered(self):
        github = history("airbyte/source-github")
        policy = Policy("minor", skip_versions=frozenset({"1.9.2", "2.7.1"}))
        proposal = propose(
            "1.8.0", github.candidates, policy=policy, breaking_changes=github.breaking_changes, today=TODAY
        )
        assert (proposal.proposed, proposal.newest) == ("1.9.1", "2.7.1")
        assert proposal.detail == "1.9.1 is the newest release within 1.x; skipVersions leaves out 1.9.2, 2.7.1"
        assert proposal.also_available is not None and proposal.also_available.target == "2.7.0"

    def test_github_major_stop_still_stops_below_2_0_0(self):
        proposal = history("airbyte/source-github").propose("1.8.0", MAJOR_STOP)
        assert proposal.proposed == "1.9.2"
        assert proposal.stopped_at is not None and proposal.stopped_at.version == "2.0.0"
        assert proposal.crossed == ()
        assert proposal.detail == "stopped below breaking change 2.0.0 (2.7.1 is past it)"

    def test_github_major_allow_proposes_the_newest_release_and_names_2_0_0(self):
        github = history("airbyte/source-github")
        proposal = github.propose("1.8.0", MAJOR_ALLOW)
        assert proposal.proposed == newest_release(github.releases()) == "2.7.1"
        # Every breaking change above 1.8.0 up to the proposal, ascending (GitHub has one).
        expected = [
            change.version
            for change in github.breaking_changes
            if (1, 8, 0) < airbyte_version(change.version) <= (2, 7, 1)
        ]
        assert crossed(proposal) == expected == ["2.0.0"]
        assert proposal.classes == ("major", "breaking")
        assert proposal.stopped_at is None

    def test_hubspot_major_stop_stops_below_5_0_0(self):
        hubspot = history("airbyte/source-hubspot")
        proposal = hubspot.propose("4.2.0", MAJOR_STOP)
        assert proposal.proposed == newest_release(hubspot.releases(), major=4) == "4.12.2"
        assert proposal.stopped_at is not None and proposal.stopped_at.version == "5.0.0"
        assert proposal.crossed == ()

    def test_hubspot_major_allow_names_every_later_breaking_change(self):
        proposal = history("airbyte/source-hubspot").propose("4.2.0", MAJOR_ALLOW)
        assert proposal.proposed == "6.0.1"
        assert crossed(proposal) == ["5.0.0", "6.0.0"]

    def test_dates_out_of_version_order_are_ordered_by_version(self):
        # 2.7.0 is dated 2026-09-16, the lower 2.6.1 2026-09-17: with 15 days, 2.7.0 is old enough, 2.6.1 not.
        proposal = history("airbyte/source-github").propose("2.5.0", Policy("minor", "stop", 15))
        assert proposal.proposed == "2.7.0"
        assert proposal.age_days == 15
        assert proposal.newest_in_policy == "2.7.1"
        assert proposal.detail == "held back by the 15d cooldown until 2026-10-06: 2.7.1 is 10 days old"

    def test_prereleases_and_odd_tags_are_never_proposed(self):
        stripe = history("airbyte/source-stripe")
        # Its newest row is 5.15.23-rc.1 (dated after 5.15.22).
        assert stripe.candidates[0].tag == "5.15.23-rc.1"
        proposal = stripe.propose("5.15.0", MAJOR_ALLOW)
        assert proposal.proposed == proposal.newest == "5.15.22"
        snowflake = history("airbyte/destination-snowflake")
        assert "0.4.56 (broken)" in {candidate.tag for candidate in snowflake.candidates}
        assert snowflake.propose("0.4.55", Policy("patch", "allow")).proposed == newest_release(
            [tag for tag in snowflake.releases() if tag.startswith("0.4.")]
        )


def oracle(history: History, current: str, policy: Policy, today: date) -> str | None:
    """The proposal by the rules written out one by one, for comparison with ``propose``."""
    now = release_version(current)
    first_breaking = min(
        (version for change in history.breaking_changes if (version := airbyte_version(change.version)) > now),
        default=None,
    )
    dates: dict[str, list[date | None]] = {}
    for candidate in history.candidates:
        dates.setdefault(candidate.tag, []).append(candidate.released)
    best = None
    for candidate in history.candidates:
        version = release_version(candidate.tag)
        if version is None or version <= now or policy.version_policy == "pin":
            continue
        if policy.version_policy == "patch" and version[:2] != now[:2]:
            continue
        if policy.version_policy == "minor" and (version[0] != now[0] or (now[0] == 0 and version[1] != now[1])):
            continue
        if policy.breaking == "stop" and first_breaking is not None and version >= first_breaking:
            continue
        if policy.minimum_release_age is not None:
            known = [released for released in dates[candidate.tag] if released is not None]
            if not known or (today - max(known)).days < policy.minimum_release_age:
                continue
        if best is None or version > release_version(best):
            best = candidate.tag
    return best


# pin has a test of its own.
MOVING = [
    Policy(version, breaking, age)
    for version, breaking, age in product(VERSION_POLICIES[1:], BREAKING_POLICIES, (None, 30))
]
# Every third release of each connector as the current version: about 700 of them, in every range.
STRIDE = 3


class TestEveryHistory:
    """Releases of every connector as the current version, under every policy."""

    @pytest.mark.parametrize("policy", MOVING, ids=lambda policy: policy.describe().replace(" ", "-"))
    def test_proposals_follow_the_rules(self, policy):
        checked = 0
        for each in all_histories():
            for current in each.releases()[::STRIDE]:
                proposal = each.propose(current, policy)
                assert proposal.proposed == oracle(each, current, policy, TODAY), (each.repository, current)
                checked += 1
                if proposal.proposed is None:
                    assert proposal.reason is not None and proposal.detail
                    continue
                assert release_version(proposal.proposed)
                assert release_version(proposal.proposed) > release_version(current)
                if policy.breaking == "stop":
                    assert not proposal.change.breaking and proposal.crossed == ()
                if policy.minimum_release_age is not None:
                    # The cooldown: never younger than 30 days on TODAY, never undated.
                    assert proposal.age_days is not None and proposal.age_days >= policy.minimum_release_age
        assert checked > 600

    def test_pin_never_proposes(self):
        # Whatever else the policy says, and from any tag (pre-releases and odd ones too).
        for each in all_histories():
            for current in {candidate.tag for candidate in each.candidates}:
                proposal = each.propose(current, Policy("pin", "allow"))
                assert proposal.proposed is None and proposal.reason == "pinned", (each.repository, current)

    def test_a_30_day_cooldown_holds_back_real_releases(self):
        # Not vacuous: on TODAY some newest-in-policy releases are younger than 30 days.
        held = [
            (each.repository, current)
            for each in all_histories()
            for current in each.releases()[::STRIDE]
            if (proposal := each.propose(current, Policy("major", "allow", 30))).newest_in_policy
            and proposal.proposed != proposal.newest_in_policy
        ]
        assert len(held) > 30


def candidates(*tags: str, released: date | None = None) -> list[Candidate]:
    return [Candidate(tag, released) for tag in tags]


def bc(version: str) -> BreakingChange:
    return BreakingChange(version=version, message=f"breaks at {version}")


OLD = date(2026, 1, 1)


class TestRules:
    @pytest.mark.parametrize(
        ("policy", "expected"),
        [("patch", "1.2.9"), ("minor", "1.9.0"), ("major", "3.0.0")],
    )
    def test_version_policy_ranges(self, policy, expected):
        found = propose(
            "1.2.3",
            candidates("1.2.2", "1.2.9", "1.3.0", "1.9.0", "2.0.0", "3.0.0"),
            policy=Policy(policy, "allow"),
            breaking_changes=(),
            today=TODAY,
        )
        assert found.proposed == expected

    @pytest.mark.parametrize(
        ("policy", "expected", "detail"),
        [
            ("minor", "0.2.9", "0.2.9 is the newest release within 0.2.x"),
            ("patch", "0.2.9", "0.2.9 is the newest release within 0.2.x"),
            ("major", "1.1.0", "1.1.0 is the newest release"),
        ],
    )
    def test_before_1_0_0_a_minor_counts_as_a_major(self, policy, expected, detail):
        # SemVer: anything may change in 0.y; no registry breaking change is needed to hold 0.2 back from 0.6.
        tags = candidates("0.2.3", "0.2.9", "0.3.0", "0.6.0", "1.1.0", released=OLD)
        found = propose("0.2.3", tags, policy=Policy(policy, "stop"), breaking_changes=(), today=TODAY)
        assert (found.proposed, found.detail) == (expected, detail)
        # From 1.0.0 on, minor is the same X again.
        assert propose("1.0.0", candidates("1.4.0"), policy=Policy("minor"), breaking_changes=(), today=TODAY).proposed

    @pytest.mark.parametrize(
        "tag",
        ["1.3.0-rc.1", "1.3.0-rc1", "dev", "latest", "sha-3f2a9c1", "v1.3.0", "1.3", "1.3.0.1", "01.3.0", "1.3.0+b1",
         "1234567890.0.0", " 1.3.0", "1.3.0\n"],
    )  # fmt: skip
    def test_only_release_tags_are_proposed(self, tag):
        found = propose(
            "1.2.3", candidates(tag, "1.2.3"), policy=Policy("major", "allow"), breaking_changes=(), today=TODAY
        )
        assert found.proposed is None and found.newest == "1.2.3"
        assert found.reason == "newest"

    @pytest.mark.parametrize("current", ["latest", "dev", "1.2", "v1.2.3", "1.2.3+build", "sha-3f2a9c1"])
    def test_a_current_tag_that_is_no_version_gets_no_proposal(self, current):
        found = propose(current, candidates("9.9.9"), policy=Policy("major", "allow"), breaking_changes=(), today=TODAY)
        assert found.proposed is None and found.reason == "unversioned"
        assert "is not an X.Y.Z version" in found.detail

    def test_from_a_prerelease_to_its_release(self):
        found = propose(
            "2.0.0-rc.1",
            candidates("2.0.0", "2.0.1"),
            policy=Policy("patch"),
            breaking_changes=(bc("2.0.0"),),
            today=TODAY,
        )
        assert found.proposed == "2.0.1"
        assert found.crossed == ()  # Airbyte reads 2.0.0-rc.1 as 2.0.0: past that breaking change already

    def test_already_newest_names_what_is_outside_the_policy(self):
        found = propose("1.2.3", candidates("1.2.3", "2.0.0"), policy=Policy("patch"), breaking_changes=(), today=TODAY)
        assert (found.proposed, found.reason) == (None, "newest")
        assert found.detail == "1.2.3 is the newest release within 1.2.x; newer outside the policy: 2.0.0"

    def test_stop_at_a_breaking_change_right_above(self):
        found = propose(
            "1.2.3", candidates("1.3.0", "1.4.0"), policy=Policy("minor"), breaking_changes=(bc("1.3.0"),), today=TODAY
        )
        assert (found.proposed, found.reason) == (None, "breaking")
        assert found.stopped_at == bc("1.3.0")

    def test_breaking_changes_below_or_at_current_do_not_stop(self):
        found = propose(
            "2.0.0",
            candidates("2.1.0"),
            policy=Policy("minor"),
            breaking_changes=(bc("1.0.0"), bc("2.0.0")),
            today=TODAY,
        )
        assert found.proposed == "2.1.0" and found.stopped_at is None

    def test_without_registry_data_a_major_move_counts_as_breaking(self):
        tags = candidates("1.9.0", "2.0.0")
        unread = propose("1.2.3", tags, policy=Policy("major"), breaking_changes=None, today=TODAY)
        assert unread.proposed == "1.9.0" and unread.stopped_at is None
        assert "no breaking-change data" in unread.detail
        custom = propose(
            "1.2.3", tags, policy=Policy("major"), breaking_changes=None, today=TODAY, registry_known=False
        )
        assert custom.proposed == "2.0.0"

    def test_cooldown_needs_a_known_date(self):
        tags = [Candidate("1.2.4", None), Candidate("1.2.5", TODAY)]
        found = propose("1.2.3", tags, policy=Policy("patch", minimum_release_age=7), breaking_changes=(), today=TODAY)
        assert (found.proposed, found.reason, found.newest_in_policy) == (None, "cooldown", "1.2.5")
        assert (
            found.detail
            == "held back by the 7d cooldown until 2026-10-08: 2 newer releases, the newest 1.2.5 is 0 days old"
        )
        assert found.cooldown_until == date(2026, 10, 8)  # the WHY column: "cooldown until 2026-10-08"
        undated = propose(
            "1.2.3", tags[:1], policy=Policy("patch", minimum_release_age=7), breaking_changes=(), today=TODAY
        )
        assert undated.detail == "held back by the 7d cooldown: 1.2.4 has no known release date"
        # Without a cooldown, dates are not needed.
        assert propose("1.2.3", tags[:1], policy=Policy("patch"), breaking_changes=(), today=TODAY).proposed == "1.2.4"

    def test_cooldown_is_inclusive_and_refuses_future_dates(self):
        week_ago = date(2026, 9, 24)
        tags = [Candidate("1.2.4", week_ago), Candidate("1.2.5", date(2026, 12, 1))]
        found = propose("1.2.3", tags, policy=Policy("patch", minimum_release_age=7), breaking_changes=(), today=TODAY)
        assert (found.proposed, found.age_days) == ("1.2.4", 7)
        assert found.detail == "held back by the 7d cooldown: 1.2.5 is dated 2026-12-01 (in the future)"

    def test_a_tag_listed_twice_keeps_its_latest_date(self):
        tags = [Candidate("1.2.4", OLD), Candidate("1.2.4", date(2026, 9, 30)), Candidate("1.2.4", None)]
        found = propose("1.2.3", tags, policy=Policy("patch", minimum_release_age=7), breaking_changes=(), today=TODAY)
        assert found.proposed is None and found.reason == "cooldown"

    def test_timestamps_count_in_whole_days(self):
        created = datetime(2026, 9, 1, 23, 59, tzinfo=UTC)
        assert Candidate("1.2.4", created).released == date(2026, 9, 1)

    def test_json(self):
        found = propose(
            "1.8.0",
            [Candidate("2.0.0", OLD)],
            policy=Policy("major", "allow", 7),
            breaking_changes=(bc("2.0.0"),),
            today=TODAY,
        )
        assert found.to_json() == {
            "current": "1.8.0",
            "policy": {"versionPolicy": "major", "breaking": "allow", "minimumReleaseAge": "7d", "skipVersions": []},
            "newest": "2.0.0",
            "newestInPolicy": "2.0.0",
            "proposed": "2.0.0",
            "classes": ["major", "breaking"],
            "crossed": [bc("2.0.0").to_json()],
            "stoppedAt": None,
            "ageDays": (TODAY - OLD).days,
            "reason": None,
            "detail": "2.0.0 is the newest release",
            "skipped": [],
            "alsoAvailable": None,
        }
        json.dumps(found.to_json())


# A connector whose 1.3.x needs Airbyte 2.3 and whose 1.2.6 is blocked, judged for Airbyte 2.0.0.
PLATFORM = parse_matrix(
    {
        "compatibleConnectors": [
            {
                "connectorName": "source-x",
                "connectorType": "source",
                "connectorDefinitionId": "7c2bfa37-1b1a-4f64-a8a5-f3a1c5f0e3d2",
                "compatibilityMatrix": [
                    {"connectorVersion": "1.2.6", "airbyteVersion": "*", "blocked": True},
                    {"connectorVersion": ">=1.3.0 <1.4.0", "airbyteVersion": ">=2.3.0"},
                ],
            }
        ]
    }
)
NEEDS_2_3 = (
    "Current Airbyte version 2.0.0 doesn't support connector version {} for connector source-x. "
    "Compatible Airbyte Version(s): >=2.3.0"
)
BLOCKED = "Connector source-x with version 1.2.6 is temporarily blocked from upgrade."


def on_airbyte_2_0(tag: str) -> str | None:
    return refusal(PLATFORM, "7c2bfa37-1b1a-4f64-a8a5-f3a1c5f0e3d2", tag, "2.0.0", "community")


def skipped(proposal: Proposal) -> list[tuple[str, str]]:
    return [(version.tag, version.reason) for version in proposal.skipped]


class TestPlatformRefusal:
    """A release the platform refuses is never proposed: the newest the policy allows that it takes is."""

    def test_refused_releases_are_skipped_newest_first_and_the_next_newest_proposed(self):
        tags = candidates("1.2.4", "1.2.5", "1.2.6", "1.3.0", "1.3.1", released=OLD)
        found = propose(
            "1.2.3", tags, policy=MINOR_STOP, breaking_changes=(), today=TODAY, platform_refusal=on_airbyte_2_0
        )
        assert (found.proposed, found.newest_in_policy, found.reason) == ("1.2.5", "1.3.1", None)
        assert skipped(found) == [
            ("1.3.1", NEEDS_2_3.format("1.3.1")),
            ("1.3.0", NEEDS_2_3.format("1.3.0")),
            ("1.2.6", BLOCKED),
        ]
        assert found.to_json()["skipped"][0] == {"version": "1.3.1", "reason": NEEDS_2_3.format("1.3.1")}

    def test_a_refused_release_below_the_proposal_is_not_listed(self):
        tags = candidates("1.2.6", "1.2.7", released=OLD)
        found = propose(
            "1.2.3", tags, policy=MINOR_STOP, breaking_changes=(), today=TODAY, platform_refusal=on_airbyte_2_0
        )
        assert (found.proposed, found.skipped) == ("1.2.7", ())

    def test_every_newer_release_refused_proposes_nothing(self):
        tags = candidates("1.2.6", "1.3.0", released=OLD)
        found = propose(
            "1.2.5", tags, policy=MINOR_STOP, breaking_changes=(), today=TODAY, platform_refusal=on_airbyte_2_0
        )
        assert (found.proposed, found.reason, found.newest_in_policy) == (None, "refused", "1.3.0")
        assert found.detail == "this Airbyte refuses all 2 newer releases the policy allows"
        assert [tag for tag, _ in skipped(found)] == ["1.3.0", "1.2.6"]
        one = propose(
            "1.2.5", tags[:1], policy=MINOR_STOP, breaking_changes=(), today=TODAY, platform_refusal=on_airbyte_2_0
        )
        assert one.detail == "this Airbyte refuses the newer release the policy allows"

    def test_a_refused_release_holds_no_older_one_back_in_the_cooldown(self):
        # 1.2.6 is old enough but blocked; 1.2.5 is too young; 1.2.4 is the one.
        tags = [Candidate("1.2.4", OLD), Candidate("1.2.5", TODAY), Candidate("1.2.6", OLD)]
        policy = Policy("patch", minimum_release_age=7)
        found = propose("1.2.3", tags, policy=policy, breaking_changes=(), today=TODAY, platform_refusal=on_airbyte_2_0)
        assert (found.proposed, skipped(found)) == ("1.2.4", [("1.2.6", BLOCKED)])
        assert found.detail == "held back by the 7d cooldown until 2026-10-08: 1.2.5 is 0 days old"

    def test_without_a_platform_every_release_is_taken(self):
        tags = candidates("1.2.6", "1.3.0", released=OLD)
        found = propose("1.2.5", tags, policy=MINOR_STOP, breaking_changes=(), today=TODAY)
        assert (found.proposed, found.skipped) == ("1.3.0", ())
