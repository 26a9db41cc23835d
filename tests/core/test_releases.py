"""Reading breaking changes out of registry documents: Airbyte's real files, lookups, and bad input that
becomes findings naming the connector while everything else is still read."""

from __future__ import annotations

import copy
import json
from datetime import date
from functools import cache
from typing import Any

import pytest

from airflow_airbyte_connectors.core.releases import (
    MAX_FINDINGS_PER_CONNECTOR,
    RegistryFormatError,
    parse_registry,
)
from tests.support import SHARED_AIRBYTE

GITHUB_ID = "ef69ef6e-aa7f-4af1-a01d-ef775033524e"
REGISTRY_FILE = SHARED_AIRBYTE / "oss-registry-releases-b8390e04.json"
METADATA_FILE = SHARED_AIRBYTE / "registry-releases.json"


@cache
def _load(path) -> dict[str, Any]:
    return json.loads(path.read_text())


@cache
def _parsed_registry():
    return parse_registry(_load(REGISTRY_FILE))


def registry_document() -> dict[str, Any]:
    return copy.deepcopy(_load(REGISTRY_FILE))


def entry(kind: str, repository: str) -> dict[str, Any]:
    for item in _load(REGISTRY_FILE)[f"{kind}s"]:
        if item["dockerRepository"] == repository:
            return copy.deepcopy(item)
    raise KeyError(repository)


def source(repository: str, breaking_changes: Any, **fields: Any) -> dict[str, Any]:
    """A minimal source entry with the given ``releases.breakingChanges``."""
    return {
        "sourceDefinitionId": fields.pop("definition_id", f"id-{repository}"),
        "name": repository,
        "dockerRepository": repository,
        "dockerImageTag": "1.0.0",
        "releases": {"breakingChanges": breaking_changes},
        **fields,
    }


def good(version: str = "2.0.0", **fields: Any) -> dict[str, Any]:
    return {"message": f"breaks at {version}", "upgradeDeadline": "2024-01-15", **fields}


class TestRealFiles:
    def test_registry_form(self):
        releases = parse_registry(_load(REGISTRY_FILE))
        assert releases.connector_count == 647
        assert releases.findings == ()
        total = sum(len(changes) for changes in releases.by_repository.values())
        assert total == 169  # the notes' count of breaking changes in this snapshot

    def test_registry_form_fields(self):
        releases = parse_registry(_load(REGISTRY_FILE))
        hubspot = releases.breaking_changes("source", None, "airbyte/source-hubspot")
        assert [c.version for c in hubspot] == ["2.0.0", "3.0.0", "4.0.0", "5.0.0", "6.0.0"]
        five = hubspot[3]
        assert five.deadline_action == "auto_upgrade"
        assert five.upgrade_deadline == date(2025, 6, 15)
        assert five.impacted_streams[0] == "contact_lists"
        assert five.migration_documentation_url.endswith("hubspot-migrations#5.0.0")

    def test_metadata_form_with_odd_cases(self):
        releases = parse_registry(_load(METADATA_FILE))
        assert releases.connector_count == 64
        assert releases.findings == ()
        # breakingChanges: [] in destination-motherduck's metadata means none.
        assert releases.breaking_changes("destination", None, "airbyte/destination-motherduck") == ()
        # No releases block at all: known, without breaking changes.
        assert releases.breaking_changes("source", None, "airbyte/source-asana") == ()

    def test_multi_line_message_kept(self):
        releases = parse_registry(_load(METADATA_FILE))
        messages = [c.message for changes in releases.by_repository.values() for c in changes]
        assert any("\n" in message for message in messages)


class TestLookup:
    @pytest.fixture
    def releases(self):
        return _parsed_registry()

    def test_by_definition_id(self, releases):
        found = releases.breaking_changes("source", GITHUB_ID, "somewhere/else")
        assert [c.version for c in found] == ["2.0.0"]

    def test_definition_id_case_does_not_matter(self, releases):
        assert releases.breaking_changes("source", GITHUB_ID.upper(), "x/y") is not None

    def test_falls_back_to_repository(self, releases):
        found = releases.breaking_changes("source", "00000000-0000-0000-0000-000000000000", "airbyte/source-github")
        assert [c.version for c in found] == ["2.0.0"]

    def test_id_decides_over_repository(self):
        document = {
            "sources": [
                source("airbyte/source-a", {"2.0.0": good()}, definition_id="id-a"),
                source("airbyte/source-b", {"3.0.0": good("3.0.0")}, definition_id="id-b"),
            ]
        }
        found = parse_registry(document).breaking_changes("source", "id-b", "airbyte/source-a")
        assert [c.version for c in found] == ["3.0.0"]

    @pytest.mark.parametrize(
        ("kind", "definition_id", "repository"),
        [
            ("source", None, "ghcr.io/acme/source-acme-crm"),
            ("destination", None, "airbyte/source-github"),
            ("destination", GITHUB_ID, "x/y"),
        ],
        ids=["custom", "wrong-kind-repository", "wrong-kind-id"],
    )
    def test_not_in_registry(self, releases, kind, definition_id, repository):
        assert releases.breaking_changes(kind, definition_id, repository) is None

    def test_without_releases_is_empty_not_none(self, releases):
        assert releases.breaking_changes("source", None, "airbyte/source-pokeapi") == ()

    def test_single_entry_document(self):
        # metadata/<repo>/latest/oss.json: one registry entry, what the Airbyte server reads.
        releases = parse_registry(entry("source", "airbyte/source-github"))
        assert releases.connector_count == 1
        assert [c.version for c in releases.breaking_changes("source", GITHUB_ID, "")] == ["2.0.0"]

    def test_destination_single_entry(self):
        releases = parse_registry(entry("destination", "airbyte/destination-duckdb"))
        found = releases.breaking_changes("destination", None, "airbyte/destination-duckdb")
        assert [c.version for c in found] == ["0.3.0", "0.4.0", "0.5.0"]


def test_a_hostile_registry_is_quoted_in_short():
    # Every value a registry sends that a finding names is cut to about 80 characters, escapes shown.
    huge = "9" * 1_000_000
    document = {
        "sources": [
            source(
                "airbyte/" + "a" * 1_000_000,
                {
                    huge: good(),
                    "3.0.0": good("3.0.0", upgradeDeadline=huge, deadlineAction="x\u202e" * 500_000),
                },
            )
        ]
    }
    findings = parse_registry(document).findings
    assert len(findings) == 3 and all(len(finding) < 400 for finding in findings)
    assert all("(1000008 characters)" in f and "(1000000 characters)" in f for f in findings)
    with pytest.raises(RegistryFormatError) as raised:
        parse_registry({"k" * 1_000_000: 1})
    assert len(str(raised.value)) < 400


class TestWrongShape:
    @pytest.mark.parametrize(
        ("document", "text"),
        [
            ([], "got a list"),
            ("<!DOCTYPE html>", "got a string"),
            (None, "got null"),
            ({"sources": 3}, "'sources' must be a list, got int"),
            ({"destinations": {"a": 1}}, "'destinations' must be a list, got an object"),
            ({}, "no 'sources' or 'destinations' list"),
            ({"error": "not found"}, "keys: error"),
        ],
        ids=["list", "string", "null", "sources-int", "destinations-object", "empty-object", "error-object"],
    )
    def test_raises(self, document, text):
        with pytest.raises(RegistryFormatError, match="not a connector registry") as raised:
            parse_registry(document)
        assert text in str(raised.value)


class TestFindings:
    @pytest.mark.parametrize(
        ("breaking_changes", "finding"),
        [
            ({"1.2": good()}, "releases.breakingChanges['1.2']: the key is not a version X.Y.Z; skipped"),
            ({"v3": good()}, "releases.breakingChanges['v3']: the key is not a version X.Y.Z; skipped"),
            ({"3.0.0-rc.1": good()}, "releases.breakingChanges['3.0.0-rc.1']: the key is not a version X.Y.Z"),
            # Not a crash: int() of 4,300 digits and more raises.
            ({"9" * 5000 + ".0.0": good()}, ": the key is not a version X.Y.Z; skipped"),
            ({"3.0.0": "breaks"}, "releases.breakingChanges['3.0.0']: must be an object, got a string; skipped"),
            (
                {"3.0.0": good(upgradeDeadline="soon")},
                "releases.breakingChanges['3.0.0'].upgradeDeadline: 'soon' is not a date YYYY-MM-DD",
            ),
            (
                {"3.0.0": good(upgradeDeadline="2024-02-30")},
                "releases.breakingChanges['3.0.0'].upgradeDeadline: '2024-02-30' is not a date",
            ),
            ({"3.0.0": {"message": "m"}}, "releases.breakingChanges['3.0.0'].upgradeDeadline: missing"),
            ({"3.0.0": good(message=42)}, "releases.breakingChanges['3.0.0'].message: must be a string, got int"),
            (
                {"3.0.0": good(deadlineAction="explode")},
                "releases.breakingChanges['3.0.0'].deadlineAction: 'explode' is not one of auto_upgrade, disable",
            ),
            (
                {"3.0.0": good(migrationDocumentationUrl=["x"])},
                "releases.breakingChanges['3.0.0'].migrationDocumentationUrl: must be a string, got a list",
            ),
            (
                {"3.0.0": good(scopedImpact=[{"scopeType": "field", "impactedScopes": ["a"]}])},
                "scopedImpact[0].scopeType: 'field' is not 'stream'; every actor counts as affected",
            ),
            (
                {"3.0.0": good(scopedImpact=[{"scopeType": "stream", "impactedScopes": ["a", 3]}])},
                "scopedImpact[0].impactedScopes: must be a non-empty list of stream names",
            ),
            ({"3.0.0": good(scopedImpact="users")}, "scopedImpact: must be a list, got a string"),
            (["3.0.0"], "releases.breakingChanges: must be an object keyed by version, got a list"),
        ],
        ids=[
            "key-1.2",
            "key-v3",
            "key-rc",
            "key-5000-digits",
            "body-string",
            "deadline-soon",
            "deadline-impossible",
            "deadline-missing",
            "message-int",
            "deadline-action",
            "url-list",
            "scope-type",
            "scope-names",
            "scope-not-list",
            "breaking-changes-list",
        ],
    )
    def test_finding_names_connector_and_others_still_parsed(self, breaking_changes, finding):
        if isinstance(breaking_changes, dict):
            # A good breaking change next to the bad one, to show it is still read.
            breaking_changes = {"1.0.0": good("1.0.0"), **breaking_changes}
        bad = source("airbyte/source-bad", breaking_changes)
        document = registry_document()
        document["sources"].insert(5, bad)
        releases = parse_registry(document)

        (only,) = releases.findings
        assert only.startswith("source airbyte/source-bad (sources[5]): ")
        assert finding in only
        assert releases.connector_count == 648
        # The other connectors are untouched.
        assert [c.version for c in releases.breaking_changes("source", GITHUB_ID, "")] == ["2.0.0"]
        # The bad connector is still known; its good breaking changes are still there.
        found = releases.breaking_changes("source", None, "airbyte/source-bad")
        assert found is not None
        if isinstance(breaking_changes, dict):
            assert "1.0.0" in [c.version for c in found]

    def test_bad_field_keeps_the_breaking_change(self):
        document = {"sources": [source("airbyte/source-bad", {"3.0.0": good(upgradeDeadline="soon", message=None)})]}
        releases = parse_registry(document)
        (change,) = releases.breaking_changes("source", None, "airbyte/source-bad")
        # Still a breaking change (so still crossed); only the unreadable fields are missing.
        assert change.version == "3.0.0" and change.upgrade_deadline is None and change.message == ""
        assert len(releases.findings) == 2

    def test_bad_scope_widens_impact(self):
        scopes = [{"scopeType": "stream", "impactedScopes": ["users"]}, {"scopeType": "field", "impactedScopes": []}]
        releases = parse_registry({"sources": [source("airbyte/source-x", {"3.0.0": good(scopedImpact=scopes)})]})
        (change,) = releases.breaking_changes("source", None, "airbyte/source-x")
        assert change.impacted_streams == ()  # every actor, never a narrower set than Airbyte would use

    def test_releases_not_an_object(self):
        bad = source("airbyte/source-bad", {})
        bad["releases"] = "soon"
        releases = parse_registry({"sources": [bad]})
        assert releases.findings == (
            "source airbyte/source-bad (sources[0]): releases: must be an object, got a string; "
            "no breaking changes read",
        )
        assert releases.breaking_changes("source", None, "airbyte/source-bad") == ()

    @pytest.mark.parametrize(
        ("bad", "finding"),
        [
            (3, "sources[0]: must be an object, got int; skipped"),
            ({"name": "Nameless"}, "source Nameless (sources[0]): dockerRepository missing or not a string; skipped"),
            (
                {"dockerRepository": "a/b", "sourceDefinitionId": 7},
                "source a/b (sources[0]): sourceDefinitionId is not a string; matched by dockerRepository only",
            ),
        ],
        ids=["entry-int", "no-repository", "id-int"],
    )
    def test_bad_entries(self, bad, finding):
        releases = parse_registry({"sources": [bad, source("airbyte/source-ok", {"2.0.0": good()})]})
        assert releases.findings == (finding,)
        assert releases.breaking_changes("source", None, "airbyte/source-ok")[0].version == "2.0.0"

    def test_repeated_definition_id(self):
        first = source("airbyte/source-a", {"2.0.0": good()}, definition_id="same")
        second = source("airbyte/source-b", {}, definition_id="SAME")
        releases = parse_registry({"sources": [first, second]})
        assert releases.findings == (
            "source airbyte/source-b (sources[1]): sourceDefinitionId repeats an earlier entry; the first one is used",
        )
        assert releases.breaking_changes("source", "same", "")[0].version == "2.0.0"

    def test_findings_per_connector_are_capped(self):
        keys = {f"v{index}": good() for index in range(MAX_FINDINGS_PER_CONNECTOR + 5)}
        releases = parse_registry({"sources": [source("airbyte/source-noisy", keys)]})
        assert len(releases.findings) == MAX_FINDINGS_PER_CONNECTOR + 1
        assert releases.findings[-1].endswith("... and 5 more")

    def test_unknown_keys_ignored(self):
        bad = source("airbyte/source-x", {"2.0.0": good(isBreaking=False, safeToDowngrade=True)})
        bad["releases"]["unsafeDowngrades"] = {"1.0.0": {"message": "x"}}
        releases = parse_registry({"_provenance": {}, "sources": [bad], "extra": 1})
        assert releases.findings == ()
        assert len(releases.breaking_changes("source", None, "airbyte/source-x")) == 1


def test_the_registry_s_current_version_per_connector():
    document = {
        "sources": [
            {"sourceDefinitionId": "AAA", "dockerRepository": "airbyte/source-a", "dockerImageTag": "1.2.3"},
            {"sourceDefinitionId": "bbb", "dockerRepository": "airbyte/source-b"},
        ],
        "destinations": [],
    }
    releases = parse_registry(document)
    assert releases.latest("source", "aaa", "elsewhere/x") == "1.2.3"  # the ID decides, in any case
    assert releases.latest("source", None, "airbyte/source-a") == "1.2.3"
    assert releases.latest("source", "bbb", "airbyte/source-b") is None  # no dockerImageTag: not known
    assert releases.latest("destination", None, "airbyte/source-a") is None
