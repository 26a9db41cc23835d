"""Airbyte's version rule (not SemVer) and the breaking-change arithmetic built on it."""

from __future__ import annotations

import datetime

import pytest

from airflow_airbyte_connectors.testing.registry import (
    AirbyteVersion,
    VersionError,
    crossed_on_upgrade,
    rolled_back,
    support_state,
    upcoming,
)

CHANGES = {
    "2.0.0": {"message": "two", "upgradeDeadline": "2025-01-01", "migrationDocumentationUrl": "https://m#2"},
    "1.0.0": {"message": "one", "upgradeDeadline": "2024-01-01", "migrationDocumentationUrl": "https://m#1"},
    "10.0.0": {
        "message": "ten",
        "upgradeDeadline": "2030-01-01",
        "migrationDocumentationUrl": "https://m#10",
        "deadlineAction": "auto_upgrade",
    },
}


class TestVersionRule:
    @pytest.mark.parametrize(
        ("left", "right", "order"),
        [
            ("2.0.0-rc.1", "2.0.0", 0),
            ("1.2.3.4", "1.2.3", 0),
            ("dev", "9.9.9", 0),
            ("dev-abc", "0.0.1", 0),
            ("1.10.0", "1.9.0", 1),
            ("0.3.0", "0.2.9", 1),
            ("1.2.0-preview.abc", "1.2.1", -1),
        ],
        ids=["rc-is-its-version", "fourth-part-ignored", "dev", "dev-prefix", "numeric", "pre-1.0", "preview"],
    )
    def test_compare(self, left, right, order):
        a, b = AirbyteVersion(left), AirbyteVersion(right)
        assert ((a > b) - (a < b)) == order

    @pytest.mark.parametrize("tag", ["2.1", "latest", "v1.2.3", "1.2.3+build"], ids=["two", "word", "v", "plus"])
    def test_tags_airbyte_cannot_compare(self, tag):
        with pytest.raises(VersionError):
            _ = AirbyteVersion(tag) < AirbyteVersion("1.0.0")


class TestBreakingChanges:
    def test_crossed_ascending_between_current_and_new(self):
        assert [v for v, _ in crossed_on_upgrade("0.9.0", "10.0.0", CHANGES)] == ["1.0.0", "2.0.0", "10.0.0"]
        assert [v for v, _ in crossed_on_upgrade("1.0.0", "2.0.0-rc.1", CHANGES)] == ["2.0.0"]

    @pytest.mark.parametrize(("current", "new"), [("2.0.0", "1.0.0"), ("2.0.0", "2.0.0"), ("1.0.0", "dev")])
    def test_nothing_crossed_downwards_sideways_or_to_dev(self, current, new):
        assert crossed_on_upgrade(current, new, CHANGES) == []

    def test_no_breaking_changes_no_parsing(self):
        assert crossed_on_upgrade("latest", "v2", {}) == [] and rolled_back("v2", {}) == set()

    def test_rolled_back_are_above_the_new_default(self):
        assert rolled_back("1.5.0", CHANGES) == {"2.0.0", "10.0.0"}

    def test_upcoming_for_an_actor_behind_the_default(self):
        shown = upcoming("0.9.0", "10.0.0", CHANGES)
        assert [c["version"] for c in shown["upcomingBreakingChanges"]] == ["1.0.0", "2.0.0", "10.0.0"]
        assert (shown["minUpgradeDeadline"], shown["deadlineAction"]) == ("2024-01-01", "disable")
        assert upcoming("10.0.0", "10.0.0", CHANGES) == {}

    @pytest.mark.parametrize(
        ("actor", "today", "state"),
        [
            ("1.5.0", "2026-01-01", "unsupported"),
            ("2.0.0", "2026-01-01", "deprecated"),
            ("10.0.0", "2026-01-01", "supported"),
        ],
        ids=["deadline-passed", "deadline-ahead", "current"],
    )
    def test_support_state(self, actor, today, state):
        assert support_state(actor, "10.0.0", CHANGES, datetime.date.fromisoformat(today)) == state
