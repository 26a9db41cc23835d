"""Version comparison (Airbyte's and SemVer) and the classification of a definition's version change,
on hand-made cases, on properties, and on Airbyte's real registry data."""

from __future__ import annotations

import json
from datetime import date
from functools import cache

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_airbyte_connectors.core.releases import RegistryReleases, parse_registry
from airflow_airbyte_connectors.core.versions import (
    NOTE_NO_DATA,
    NOTE_NOT_IN_REGISTRY,
    VERSION_CLASSES,
    BreakingChange,
    UncomparableVersion,
    VersionChange,
    airbyte_compare,
    airbyte_version,
    classify,
    is_dev,
    plain_version,
    range_version,
    release_version,
    semver_key,
)
from tests.support import SHARED_AIRBYTE


@cache
def registry() -> RegistryReleases:
    """The OSS registry the platform ships (2026-03-19), in registry form."""
    return parse_registry(json.loads((SHARED_AIRBYTE / "oss-registry-releases-b8390e04.json").read_text()))


@cache
def metadata() -> RegistryReleases:
    """Connectors' metadata.yaml releases blocks (some newer than the registry, -rc tags, odd cases)."""
    return parse_registry(json.loads((SHARED_AIRBYTE / "registry-releases.json").read_text()))


def changes_of(repository: str, releases: RegistryReleases | None = None) -> tuple[BreakingChange, ...]:
    kind = "destination" if "/destination-" in repository else "source"
    found = (releases or registry()).breaking_changes(kind, None, repository)
    assert found is not None, repository
    return found


def bc(version: str, streams: tuple[str, ...] = ()) -> BreakingChange:
    return BreakingChange(version=version, message=f"breaks at {version}", impacted_streams=streams)


def versions(change: VersionChange) -> list[str]:
    return [crossed.version for crossed in change.crossed]


class TestAirbyteVersion:
    @pytest.mark.parametrize(
        ("tag", "expected"),
        [
            ("1.2.3", (1, 2, 3)),
            ("1.2.3-rc.1", (1, 2, 3)),
            ("1.2.3-preview.abc-def", (1, 2, 3)),
            ("1.2.3-", (1, 2, 3)),
            ("1.2.3.4", (1, 2, 3)),
            (" 1.2.3\n", (1, 2, 3)),
            ("01.002.3", (1, 2, 3)),
            ("1.2", None),
            ("3", None),
            ("v1.2.3", None),
            ("1.2.3+build.5", None),
            ("latest", None),
            ("dev", None),
            ("", None),
            ("1..3", None),
            ("1.2.99999999999", None),
            ("1.2.x", None),
            ("1.2." + "9" * 5000, None),
            ("1.2.0000000000000000000007", (1, 2, 7)),
        ],
        ids=[
            "plain",
            "rc",
            "preview-with-dash",
            "trailing-dash",
            "fourth-part-ignored",
            "whitespace-newline",
            "leading-zeros",
            "two-parts",
            "one-part",
            "v-prefix",
            "build-metadata",
            "latest",
            "dev",
            "empty",
            "empty-part",
            "int-overflow",
            "letter",
            "5000-digits",  # int() would raise (Python's 4,300-digit limit)
            "zeros-before-a-small-number",
        ],
    )
    def test_parse(self, tag, expected):
        assert airbyte_version(tag) == expected

    @pytest.mark.parametrize(
        ("tag", "dev"),
        [("dev", True), ("dev-1234", True), ("develop", True), ("1.0.0-dev", False), ("latest", False)],
        ids=["dev", "dev-suffix", "develop", "dev-suffix-on-version", "latest"],
    )
    def test_is_dev(self, tag, dev):
        assert is_dev(tag) is dev

    @pytest.mark.parametrize(
        ("a", "b", "expected"),
        [
            ("1.2.3", "1.2.4", -1),
            ("1.10.0", "1.9.9", 1),
            ("2.0.0-rc.1", "2.0.0", 0),
            ("2.0.0", "2.0.0-rc.1", 0),
            ("dev", "9.9.9", 0),
            ("1.0.0", "dev", 0),
        ],
        ids=["patch", "numeric-not-string", "rc-equals-release", "release-equals-rc", "dev-left", "dev-right"],
    )
    def test_compare(self, a, b, expected):
        assert airbyte_compare(a, b) == expected

    @pytest.mark.parametrize(
        ("a", "b", "bad"),
        [("v1.2.3", "1.0.0", "v1.2.3"), ("1.0.0", "1.2", "1.2"), ("latest", "1.0.0", "latest")],
        ids=["v-prefix", "two-parts", "latest"],
    )
    def test_uncomparable_raises_naming_the_tag(self, a, b, bad):
        with pytest.raises(UncomparableVersion) as raised:
            airbyte_compare(a, b)
        assert raised.value.tag == bad
        assert repr(bad) in str(raised.value)


class TestGrammar:
    """The version shapes read outside Airbyte's own comparison, each one way, here."""

    @pytest.mark.parametrize(
        ("text", "plain", "release"),
        [
            ("1.2.3", (1, 2, 3), (1, 2, 3)),
            ("0.0.0", (0, 0, 0), (0, 0, 0)),
            ("01.2.3", (1, 2, 3), None),
            ("1.2.999999999", (1, 2, 999999999), (1, 2, 999999999)),
            ("1.2.1234567890", (1, 2, 1234567890), None),
            ("1.2." + "9" * 19, None, None),
            ("1.2." + "9" * 5000, None, None),
            ("1.2.3-rc.1", None, None),
            ("v1.2.3", None, None),
            ("1.2", None, None),
            ("1.2.3\n", None, None),
            (" 1.2.3", None, None),
            ("1.2.\u0663", None, None),  # a digit, but not an ASCII one
        ],
        ids=["plain", "zeros", "leading-zero", "9-digits", "10-digits", "19-digits", "5000-digits", "rc", "v", "two",
             "newline", "space", "arabic-indic-digit"],
    )  # fmt: skip
    def test_plain_and_release_versions(self, text, plain, release):
        assert plain_version(text) == plain
        assert release_version(text) == release

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("1", (1, None, None)),
            ("1.2", (1, 2, None)),
            ("v1.2.3", (1, 2, 3)),
            ("1.x", (1, None, None)),
            ("1.x.3", (1, None, None)),
            ("*", (None, None, None)),
            ("1.2.3-rc.1", None),
            ("1." + "9" * 19, None),
            ("a.b", None),
        ],
        ids=["major", "minor", "v-full", "x-minor", "after-a-wildcard", "star", "prerelease", "19-digits", "letters"],
    )
    def test_range_version(self, text, expected):
        assert range_version(text) == expected


class TestSemverKey:
    def test_spec_example_order(self):
        ordered = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.1",
            "1.1.0",
            "2.0.0",
        ]
        assert sorted(reversed(ordered), key=semver_key) == ordered

    def test_build_metadata_does_not_count(self):
        assert semver_key("1.0.0+a") == semver_key("1.0.0+b.2") == semver_key("1.0.0")

    @pytest.mark.parametrize(
        "tag",
        ["01.0.0", "1.0", "v1.0.0", "1.0.0-", "1.0.0-01", "1.0.0+", "1.0.0-a..b", "latest", "dev", "1.0.0.0"],
        ids=[
            "leading-zero",
            "two-parts",
            "v-prefix",
            "empty-pre",
            "leading-zero-pre",
            "empty-build",
            "empty-identifier",
            "latest",
            "dev",
            "four-parts",
        ],
    )
    def test_not_semver(self, tag):
        assert semver_key(tag) is None


# --- properties ---------------------------------------------------------------------------------------------------

_numbers = st.tuples(*(st.integers(0, 30),) * 3)
_suffixes = st.sampled_from(["", "-rc.1", "-rc.2", "-preview.abc", "-dev", "-"])
comparable_tags = st.builds(lambda n, s: f"{n[0]}.{n[1]}.{n[2]}{s}", _numbers, _suffixes)

_alnum_identifier = st.from_regex(r"[0-9]*[A-Za-z-][0-9A-Za-z-]*", fullmatch=True).filter(lambda s: len(s) <= 8)
_pre_identifier = st.one_of(st.integers(0, 20).map(str), _alnum_identifier)
semver_tags = st.builds(
    lambda n, pre, build: (
        f"{n[0]}.{n[1]}.{n[2]}" + (f"-{'.'.join(pre)}" if pre else "") + (f"+{'.'.join(build)}" if build else "")
    ),
    st.tuples(*(st.integers(0, 3),) * 3),
    st.lists(_pre_identifier, max_size=3),
    st.lists(st.from_regex(r"[0-9A-Za-z-]{1,4}", fullmatch=True), max_size=2),
)


def reference_semver_compare(a: str, b: str) -> int:
    """semver.org §11, written step by step and independently of semver_key."""

    def split(tag: str) -> tuple[list[int], list[str] | None]:
        core, _, pre = tag.split("+")[0].partition("-")
        return [int(part) for part in core.split(".")], (pre.split(".") if pre else None)

    (core_a, pre_a), (core_b, pre_b) = split(a), split(b)
    if core_a != core_b:
        return -1 if core_a < core_b else 1
    if pre_a is None or pre_b is None:
        return (pre_a is None) - (pre_b is None)
    for x, y in zip(pre_a, pre_b, strict=False):
        if x == y:
            continue
        if x.isdigit() and y.isdigit():
            return -1 if int(x) < int(y) else 1
        if x.isdigit() != y.isdigit():
            return -1 if x.isdigit() else 1
        return -1 if x < y else 1
    return (len(pre_a) > len(pre_b)) - (len(pre_a) < len(pre_b))


class TestProperties:
    @given(comparable_tags)
    def test_airbyte_reflexive(self, a):
        assert airbyte_compare(a, a) == 0

    @given(comparable_tags, comparable_tags)
    def test_airbyte_total_and_antisymmetric(self, a, b):
        assert airbyte_compare(a, b) == -airbyte_compare(b, a)
        # Equal exactly when the numbers before the first '-' are equal: the suffix never counts.
        assert (airbyte_compare(a, b) == 0) == (airbyte_version(a) == airbyte_version(b))

    @given(comparable_tags, comparable_tags, comparable_tags)
    def test_airbyte_transitive(self, a, b, c):
        if airbyte_compare(a, b) <= 0 and airbyte_compare(b, c) <= 0:
            assert airbyte_compare(a, c) <= 0

    @given(comparable_tags, comparable_tags)
    def test_dev_equals_everything_so_it_is_no_preorder(self, a, b):
        # The special case: dev sits "between" any two versions, so transitivity does not hold through it.
        assert airbyte_compare(a, "dev") == airbyte_compare("dev", b) == 0

    @given(semver_tags)
    def test_semver_tags_have_a_key(self, a):
        assert semver_key(a) is not None

    @given(semver_tags, semver_tags)
    def test_semver_key_matches_the_spec(self, a, b):
        key_a, key_b = semver_key(a), semver_key(b)
        assert ((key_a > key_b) - (key_a < key_b)) == reference_semver_compare(a, b)

    @given(semver_tags, semver_tags)
    def test_semver_antisymmetric_modulo_build(self, a, b):
        if semver_key(a) == semver_key(b):
            assert a.split("+")[0] == b.split("+")[0]

    @given(st.lists(semver_tags, max_size=6))
    def test_semver_sort_is_stable_under_permutation(self, tags):
        by_key = sorted(tags, key=semver_key)
        assert [semver_key(t) for t in sorted(reversed(tags), key=semver_key)] == [semver_key(t) for t in by_key]

    @given(st.sets(_numbers, max_size=8), _numbers, _numbers, _suffixes)
    def test_crossed_is_exactly_the_versions_between(self, points, current, target, suffix):
        changes = [bc(f"{x}.{y}.{z}") for x, y, z in points]
        change = classify(".".join(map(str, current)), ".".join(map(str, target)) + suffix, changes)
        low, high = min(current, target), max(current, target)
        expected = sorted(point for point in points if low < point <= high)
        assert [airbyte_version(c.version) for c in change.crossed] == expected
        assert ("breaking" in change.classes) == bool(expected)
        assert ("downgrade" in change.classes) == (target < current)
        assert list(change.classes) == [name for name in VERSION_CLASSES if name in change.classes]


# --- classification -----------------------------------------------------------------------------------------------


class TestClassify:
    @pytest.mark.parametrize(
        ("current", "target", "classes"),
        [
            ("1.2.3", "1.2.4", ("patch",)),
            ("1.2.3", "1.3.0", ("minor",)),
            ("1.2.3", "2.0.0", ("major",)),
            ("0.2.0", "0.3.0", ("minor",)),
            ("1.2.3", "1.2.0", ("downgrade",)),
            ("1.2.3", "1.2.3", ()),
            ("1.2.0", "1.2.0-rc.1", ("prerelease",)),
            ("1.2.0-rc.1", "1.2.0", ()),
            ("1.2.0", "1.3.0-rc.1", ("minor", "prerelease")),
            ("dev", "1.0.0", ("unknown",)),
            ("1.0.0", "dev", ("unknown",)),
            ("1.0.0", "v3", ("unknown",)),
            ("1.0.0", "1.2", ("unknown",)),
            ("1.0.0", "latest", ("unknown",)),
            ("latest", "1.0.0", ("unknown",)),
        ],
        ids=[
            "patch",
            "minor",
            "major",
            "pre-1.0-minor",
            "downgrade",
            "same",
            "rc-of-same",
            "rc-to-release",
            "minor-rc",
            "from-dev",
            "to-dev",
            "v3",
            "two-parts",
            "latest",
            "from-latest",
        ],
    )
    def test_classes_without_breaking_changes(self, current, target, classes):
        change = classify(current, target, [])
        assert change.classes == classes
        assert change.crossed == ()

    def test_unknown_tag_is_named_and_a_failing_update_predicted(self):
        change = classify("1.0.0", "v3", [bc("2.0.0")])
        assert change.classes == ("unknown",)
        assert change.crossed == ()
        assert any("'v3' is not a version Airbyte can compare" in note for note in change.notes)
        assert any("500" in note for note in change.notes)

    def test_dev_crosses_nothing(self):
        change = classify("1.0.0", "dev", [bc("2.0.0"), bc("3.0.0")])
        assert change.classes == ("unknown",)
        assert change.crossed == ()
        assert "pins no actor" in change.notes[0]

    def test_rc_of_a_breaking_version_crosses_it(self):
        change = classify("1.9.0", "2.0.0-rc.1", [bc("2.0.0")])
        assert change.classes == ("major", "prerelease", "breaking")
        assert versions(change) == ["2.0.0"]

    def test_same_numbers_note_gives_the_semver_view(self):
        (note,) = classify("2.0.0", "2.0.0-rc.1", [bc("2.0.0")]).notes
        assert "same version to it" in note and "2.0.0-rc.1 is before 2.0.0" in note

    def test_breaking_change_keys_airbyte_cannot_parse_are_skipped(self):
        change = classify("1.0.0", "3.0.0", [bc("v2"), bc("2.0"), bc("2.0.0")])
        assert versions(change) == ["2.0.0"]

    def test_crossed_ascending_whatever_the_input_order(self):
        change = classify("1.0.0", "10.0.0", [bc("10.0.0"), bc("2.0.0"), bc("9.1.0")])
        assert versions(change) == ["2.0.0", "9.1.0", "10.0.0"]

    @pytest.mark.parametrize(
        ("current", "target", "classes"),
        [
            ("1.0.0", "2.0.0", ("major", "breaking")),
            ("1.0.0", "latest", ("unknown", "breaking")),
            ("1.0.0", "dev", ("unknown", "breaking")),
            ("1.0.0", "1.1.0", ("minor",)),
            ("1.1.0", "1.0.0", ("downgrade",)),
        ],
        ids=["major", "latest", "dev", "minor", "downgrade"],
    )
    def test_registry_unavailable(self, current, target, classes):
        change = classify(current, target, None)
        assert change.classes == classes
        assert any("no breaking-change data (registry unavailable)" in note for note in change.notes)
        assert (NOTE_NO_DATA in change.notes) == ("breaking" in classes)

    def test_same_tag_with_registry_unavailable_is_unchanged(self):
        change = classify("1.0.0", "1.0.0", None)
        assert change.classes == () and change.notes == () and change.describe() == "unchanged"

    def test_not_in_registry(self):
        change = classify("1.0.0", "2.0.0", None, registry_known=False)
        assert change.classes == ("major",)
        assert change.notes == (NOTE_NOT_IN_REGISTRY,)

    @pytest.mark.parametrize(
        ("current", "target", "text"),
        [
            ("1.0.0", "2.0.0", "major"),
            ("1.0.0", "1.0.0", "unchanged"),
            ("1.0.0-rc.1", "1.0.0", "same version to Airbyte"),
        ],
        ids=["classes", "unchanged", "same-to-airbyte"],
    )
    def test_describe(self, current, target, text):
        assert classify(current, target, []).describe() == text

    def test_describe_breaking(self):
        assert classify("1.0.0", "2.0.0", [bc("2.0.0")]).describe() == "major, breaking"

    def test_to_json_is_json(self):
        change = classify("1.0.0", "2.0.0-rc.1", [bc("2.0.0", ("users",))])
        data = json.loads(json.dumps(change.to_json()))
        assert data["classes"] == ["major", "prerelease", "breaking"]
        assert data["crossed"][0]["impactedStreams"] == ["users"]
        assert data["current"] == "1.0.0" and data["target"] == "2.0.0-rc.1"


class TestBreakingChange:
    @pytest.mark.parametrize(
        ("deadline", "today", "passed"),
        [
            (date(2025, 11, 21), date(2025, 11, 20), False),
            (date(2025, 11, 21), date(2025, 11, 21), False),
            (date(2025, 11, 21), date(2025, 11, 22), True),
            (None, date(2099, 1, 1), False),
        ],
        ids=["before", "on-the-day", "after", "no-deadline"],
    )
    def test_deadline_passed(self, deadline, today, passed):
        change = BreakingChange(version="2.0.0", message="m", upgrade_deadline=deadline)
        assert change.deadline_passed(today) is passed

    def test_json_round_trip(self):
        change = changes_of("airbyte/source-hubspot")[3]  # 5.0.0: deadlineAction, scoped
        data = json.loads(json.dumps(change.to_json()))
        assert data["upgradeDeadline"] == "2025-06-15"
        assert data["deadlineAction"] == "auto_upgrade"
        assert BreakingChange.from_json(data) == change


# --- Airbyte's data -----------------------------------------------------------------------------------------------


class TestRealData:
    def test_github_crosses_2_0_0_with_its_streams(self):
        change = classify("1.8.0", "2.1.14", changes_of("airbyte/source-github"))
        assert change.classes == ("major", "breaking")
        (crossed,) = change.crossed
        assert crossed.version == "2.0.0"
        assert crossed.upgrade_deadline == date(2025, 11, 21)
        assert "issues" in crossed.impacted_streams and "review_comments" in crossed.impacted_streams
        assert (
            crossed.migration_documentation_url
            == "https://docs.airbyte.com/integrations/sources/github-migrations#2.0.0"
        )

    def test_github_3_0_0_from_the_metadata(self):
        # 3.0.0 is only in the metadata (maybe an unmerged branch); the 2026-03-19 registry stops at 2.1.14.
        assert [c.version for c in changes_of("airbyte/source-github")] == ["2.0.0"]
        change = classify("1.8.0", "3.0.0", changes_of("airbyte/source-github", metadata()))
        assert versions(change) == ["2.0.0", "3.0.0"]
        assert change.crossed[1].impacted_streams == ("workflow_runs",)

    def test_hubspot_across_several_majors(self):
        change = classify("1.9.0", "6.3.1", changes_of("airbyte/source-hubspot"))
        assert change.classes == ("major", "breaking")
        assert versions(change) == ["2.0.0", "3.0.0", "4.0.0", "5.0.0", "6.0.0"]
        assert change.crossed[0].impacted_streams == ()  # 2.0.0 has no scope: every actor is affected
        assert change.crossed[1].impacted_streams == ("marketing_emails",)

    @pytest.mark.parametrize(
        ("current", "target", "classes", "crossed"),
        [
            ("2.0.5", "2.1.0", ("minor", "breaking"), ["2.1.0"]),
            ("2.1.0", "2.2.0", ("minor", "breaking"), ["2.2.0"]),
            ("2.6.0", "2.6.1", ("patch", "breaking"), ["2.6.1"]),
            ("2.0.5", "2.6.2", ("minor", "breaking"), ["2.1.0", "2.2.0", "2.6.1"]),
            ("2.6.1", "2.6.5", ("patch",), []),
        ],
        ids=["minor-2.1.0", "minor-2.2.0", "patch-2.6.1", "three-minor", "after-them"],
    )
    def test_shopify_breaks_on_minor_and_patch(self, current, target, classes, crossed):
        change = classify(current, target, changes_of("airbyte/source-shopify"))
        assert change.classes == classes
        assert versions(change) == crossed

    def test_duckdb_breaks_before_1_0(self):
        change = classify("0.2.0", "0.6.0", changes_of("airbyte/destination-duckdb"))
        assert change.classes == ("minor", "breaking")
        assert versions(change) == ["0.3.0", "0.4.0", "0.5.0"]
        assert change.crossed[0].message.endswith("migration guide.\n")  # a folded YAML block, kept as is

    def test_downgrade_across_breaking_changes(self):
        change = classify("6.3.1", "4.1.0", changes_of("airbyte/source-hubspot"))
        assert change.classes == ("downgrade", "breaking")
        assert versions(change) == ["5.0.0", "6.0.0"]
        assert "releases their pins" in change.notes[0] and "5.0.0, 6.0.0" in change.notes[0]

    def test_rc_target_from_metadata_crosses_its_release(self):
        # source-jira's metadata tag is 4.1.0-rc.1; to Airbyte it is 4.1.0 and crosses 4.0.0.
        change = classify("3.4.0", "4.1.0-rc.1", changes_of("airbyte/source-jira", metadata()))
        assert change.classes == ("major", "prerelease", "breaking")
        assert versions(change) == ["4.0.0"]

    def test_dev_tag_on_real_data(self):
        change = classify("1.8.0", "dev", changes_of("airbyte/source-github"))
        assert change.classes == ("unknown",) and change.crossed == ()

    def test_major_without_breaking_change_stays_major(self):
        # source-airtable lists only 4.0.0: its 2.0.0 and 3.0.0 were majors without a breaking-change entry.
        assert [c.version for c in changes_of("airbyte/source-airtable")] == ["4.0.0"]
        change = classify("2.1.0", "3.0.0", changes_of("airbyte/source-airtable"))
        assert change.classes == ("major",)
        assert change.notes == ()

    def test_breaking_change_ahead_of_the_published_tag(self):
        # source-faker lists 7.0.0 while its tag is 6.2.24: a patch up to the tag crosses nothing.
        change = classify("6.2.0", "6.2.24", changes_of("airbyte/source-faker"))
        assert change.classes == ("patch",)

    def test_registry_unavailable_major_counts_as_breaking(self):
        change = classify("2.1.0", "3.0.0", None)
        assert change.classes == ("major", "breaking")
        assert NOTE_NO_DATA in change.notes
