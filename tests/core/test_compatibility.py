"""The platform-compatibility check, as Airbyte's validateVersionSupport runs it (pure, no HTTP)."""

from __future__ import annotations

import pytest

from airflow_airbyte_connectors.core.compatibility import (
    CompatibilityFormatError,
    RangeError,
    find_definition_id,
    parse_matrix,
    parse_version,
    refusal,
    satisfies,
    unchecked_reason,
)

MYSQL = "4e3b6a13-18db-4a77-b9c8-56b4f10d0b91"
MATRIX = parse_matrix(
    {
        "compatibleConnectors": [
            {
                "connectorName": "source-mysql",
                "connectorType": "source",
                "connectorDefinitionId": MYSQL,
                "compatibilityMatrix": [
                    {"connectorVersion": "1.2.0", "airbyteVersion": "0.2.0"},
                    {"connectorVersion": ">=1.1.0 <1.2.0", "airbyteVersion": ">=2.3.0", "blocked": False},
                    {"connectorVersion": "1.1.3", "airbyteVersion": "*", "blocked": True},
                    {"connectorVersion": "^3.0.0", "airbyteVersion": "*", "blocked": True},
                ],
            }
        ]
    }
)


class TestRefusal:
    def test_airbyte_version_outside_the_rule_is_refused_with_airbyte_s_words(self):
        assert refusal(MATRIX, MYSQL, "1.1.5", "2.2.0") == (
            "Current Airbyte version 2.2.0 doesn't support connector version 1.1.5 for connector source-mysql. "
            "Compatible Airbyte Version(s): >=2.3.0"
        )
        assert refusal(MATRIX, MYSQL, "1.1.5", "2.3.0") is None
        assert refusal(MATRIX, MYSQL.upper(), "1.2.0", "2.0.0") is not None  # IDs compare case-insensitively

    def test_blocked_version_is_refused(self):
        assert refusal(MATRIX, MYSQL, "3.4.1", "2.4.0") == (
            "Connector source-mysql with version 3.4.1 is temporarily blocked from upgrade."
        )

    def test_the_first_matching_rule_decides(self):
        # 1.1.3 is in ">=1.1.0 <1.2.0" (listed first), so its own "blocked" rule is never reached, as on the server.
        assert refusal(MATRIX, MYSQL, "1.1.3", "2.3.0") is None

    @pytest.mark.parametrize(
        ("definition_id", "tag", "airbyte_version", "edition"),
        [
            ("11111111-1111-1111-1111-111111111111", "1.1.5", "2.2.0", None),  # connector not listed
            (MYSQL, "1.0.9", "2.2.0", None),  # no rule matches the tag
            (MYSQL, "4.0.0", "2.2.0", None),
            (MYSQL, "1.1.5-rc.1", "2.2.0", None),  # a prerelease: not judged (semver4j may differ)
            (MYSQL, "1.1.5", "dev", None),  # the server fails open on a non-semver version
            (MYSQL, "1.1.5", "0.63.8", None),  # no check before 0.63.9
            (MYSQL, "1.1.5", "2.2.0", "cloud"),  # Cloud skips the check
        ],
        ids=["not-listed", "no-rule", "no-rule-above", "prerelease", "dev-airbyte", "before-0.63.9", "cloud"],
    )
    def test_allowed(self, definition_id, tag, airbyte_version, edition):
        assert refusal(MATRIX, definition_id, tag, airbyte_version, edition) is None

    def test_checked_from_0_63_9(self):
        assert refusal(MATRIX, MYSQL, "1.1.5", "0.63.9") is not None

    def test_an_unreadable_range_fails_open(self):
        broken = parse_matrix(
            {
                "compatibleConnectors": [
                    {
                        "connectorDefinitionId": MYSQL,
                        "compatibilityMatrix": [{"connectorVersion": "one.two", "airbyteVersion": ">=9.0.0"}],
                    }
                ]
            }
        )
        assert refusal(broken, MYSQL, "1.0.0", "2.0.0") is None


class TestUncheckedReason:
    @pytest.mark.parametrize(
        ("airbyte_version", "edition", "reason"),
        [
            ("2.2.0", "cloud", "Airbyte Cloud does not check platform compatibility"),
            ("dev", None, "Airbyte version 'dev' is not X.Y.Z, so Airbyte's own check lets every version through"),
            ("0.63.8", "community", "Airbyte 0.63.8 does not check platform compatibility (Airbyte does from 0.63.9)"),
        ],
        ids=["cloud", "dev", "before-0.63.9"],
    )
    def test_why_nothing_is_refused(self, airbyte_version, edition, reason):
        assert unchecked_reason(airbyte_version, edition) == reason
        assert refusal(MATRIX, MYSQL, "1.1.5", airbyte_version, edition) is None

    @pytest.mark.parametrize("edition", [None, "community", "enterprise"])
    def test_checked(self, edition):
        assert unchecked_reason("0.63.9", edition) is None


class TestFindDefinitionId:
    """Without a definition ID, the matrix entry named after the image: Airbyte's built-ins are airbyte/<name>."""

    @pytest.mark.parametrize(
        "repository", ["airbyte/source-mysql", "docker.io/airbyte/source-mysql"], ids=["hub", "with-registry"]
    )
    def test_airbyte_image_matches_by_name_and_type(self, repository):
        assert find_definition_id(MATRIX, "source", repository) == MYSQL

    @pytest.mark.parametrize(
        ("kind", "repository"),
        [
            ("destination", "airbyte/source-mysql"),  # another type
            ("source", "ghcr.io/acme/source-mysql"),  # a fork: a custom definition, never checked by Airbyte
            ("source", "source-mysql"),  # no namespace
            ("source", "airbyte/source-mysql-v2"),
        ],
        ids=["other-type", "fork", "no-namespace", "other-name"],
    )
    def test_no_match(self, kind, repository):
        assert find_definition_id(MATRIX, kind, repository) is None

    def test_two_entries_of_one_name_match_neither(self):
        entry = {"connectorName": "source-mysql", "connectorType": "source", "compatibilityMatrix": []}
        twice = parse_matrix(
            {
                "compatibleConnectors": [
                    {**entry, "connectorDefinitionId": MYSQL},
                    {**entry, "connectorDefinitionId": "11111111-1111-1111-1111-111111111111"},
                ]
            }
        )
        assert find_definition_id(twice, "source", "airbyte/source-mysql") is None


class TestRanges:
    @pytest.mark.parametrize(
        ("version", "range_text", "expected"),
        [
            ("1.2.3", "1.2.3", True),
            ("1.2.4", "1.2.3", False),
            ("1.2.3", "=1.2.3", True),
            ("1.1.0", ">=1.1.0 <1.2.0", True),
            ("1.2.0", ">=1.1.0 <1.2.0", False),
            ("1.0.0", ">= 1.0.0", True),
            ("1.2.9", "1.2", True),
            ("1.3.0", "1.2.x", False),
            ("9.9.9", "*", True),
            ("1.2.9", "~1.2.3", True),
            ("1.3.0", "~1.2.3", False),
            ("1.9.0", "^1.2.3", True),
            ("2.0.0", "^1.2.3", False),
            ("0.2.9", "^0.2.3", True),
            ("0.3.0", "^0.2.3", False),
            ("1.4.9", "1.0.0 - 1.4", True),
            ("1.5.0", "1.0.0 - 1.4", False),
            ("2.1.0", "<1.0.0 || >=2", True),
            ("1.5.0", "<1.0.0 || >=2", False),
            ("2.0.0", ">1.x", True),
            ("1.9.9", "<=1.9", True),
        ],
    )
    def test_npm_style(self, version, range_text, expected):
        assert satisfies(parse_version(version), range_text) is expected

    @pytest.mark.parametrize("range_text", ["abc", "1.2 <", ">=1.0.0 junk!"])
    def test_unreadable(self, range_text):
        with pytest.raises(RangeError):
            satisfies((1, 0, 0), range_text)


class TestParse:
    def test_not_a_matrix(self):
        with pytest.raises(CompatibilityFormatError, match="compatibleConnectors"):
            parse_matrix({"sources": []})

    def test_bad_entries_are_left_out_with_a_finding(self):
        parsed = parse_matrix(
            {
                "compatibleConnectors": [
                    {"connectorName": "no id"},
                    {"connectorDefinitionId": MYSQL, "compatibilityMatrix": [{"connectorVersion": "1.0.0"}]},
                ]
            }
        )
        assert list(parsed.connectors) == [MYSQL] and parsed.connectors[MYSQL].rules == ()
        assert len(parsed.findings) == 2
