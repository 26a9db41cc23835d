"""The [airbyte_connectors] settings that are parsed, not just read: lists and closed choices."""

from __future__ import annotations

import pytest

from airflow_airbyte_connectors import settings


class TestHoldChanges:
    def test_default_holds_breaking_changes_and_downgrades(self):
        assert settings.hold_changes() == {"breaking", "downgrade"}

    @pytest.mark.parametrize(("value", "expected"), [("", set()), (" Major , prerelease,", {"major", "prerelease"})])
    def test_comma_list_any_case_spaces_and_empty(self, monkeypatch, value, expected):
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__HOLD_CHANGES", value)
        assert settings.hold_changes() == expected

    def test_unknown_class_is_named_with_the_choices(self, monkeypatch):
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__HOLD_CHANGES", "breaking,risky")
        with pytest.raises(ValueError, match=r"hold_changes: risky is not a version class \(choose from patch, "):
            settings.hold_changes()


class TestApproval:
    def test_users_are_a_comma_list(self, monkeypatch):
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__APPROVAL_USERS", " alice, ,bob ")
        assert settings.approval_users() == ["alice", "bob"]

    def test_unknown_mode_is_named(self, monkeypatch):
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__APPROVAL", "sometimes")
        with pytest.raises(ValueError, match="approval: 'sometimes' is not one of never, held, always"):
            settings.approval()


class TestBounds:
    def test_max_response_is_read_in_megabytes(self, monkeypatch):
        assert settings.max_response_bytes() == 64 * 1024 * 1024
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__MAX_RESPONSE_MB", "2")
        assert settings.max_response_bytes() == 2 * 1024 * 1024

    def test_apply_timeout_follows_write_timeout_unless_set(self, monkeypatch):
        assert settings.apply_timeout() == 3600.0
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__WRITE_TIMEOUT", "2000")
        assert settings.apply_timeout() == 6000.0
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__APPLY_TIMEOUT", "900")
        assert settings.apply_timeout() == 900.0
