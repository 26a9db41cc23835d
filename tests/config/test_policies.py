"""Version policies in basic_config: parsed, validated like every other key, and invisible to planning."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from airflow_airbyte_connectors.config.configs import MAX_QUOTED_CHARS, ConfigError, get_configs, parse_connectors
from airflow_airbyte_connectors.config.policies import (
    DEFAULT_POLICY,
    MAX_RELEASE_AGE_DAYS,
    POLICY_KEYS,
    Policy,
    parse_release_age,
)
from airflow_airbyte_connectors.plan.planning import make_plan

DATA = Path(__file__).parent.parent / "data" / "configs"
POLICIES = DATA / "policies.yaml"


def entry(name="PokeAPI", repo="airbyte/source-pokeapi", tag="0.3.40", **policy):
    return {
        "name": name,
        "dockerRepository": repo,
        "dockerImageTag": tag,
        "documentationUrl": f"https://docs.example.com/{name}",
        **policy,
    }


def three_sources(**third_policy):
    """Three sources; the third (index 2) carries ``third_policy``."""
    return [
        entry("A", "airbyte/source-a"),
        entry("B", "airbyte/source-b"),
        entry("C", "airbyte/source-c", **third_policy),
    ]


def problems_of(section) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_connectors(section)
    return caught.value.problems


def without_policies(document: dict) -> dict:
    """The same connectors section with every policy key removed."""
    connectors = {key: value for key, value in document["connectors"].items() if key != "policy"}
    for key in ("source_definitions", "destination_definitions"):
        connectors[key] = [
            {field: value for field, value in item.items() if field not in POLICY_KEYS} for item in connectors[key]
        ]
    return {"connectors": connectors}


class TestEffectivePolicy:
    def test_section_default_and_entry_overrides(self):
        config = get_configs("connectors", path=POLICIES)
        github, hubspot, poke = config.source_definitions
        (postgres,) = config.destination_definitions
        assert config.policy == Policy("patch", "stop", 7)
        # An override changes its own keys only; the others come from the section.
        assert config.policy_of(github) == Policy("minor", "stop", 7)
        # 0d lifts the section's cooldown for this entry.
        assert config.policy_of(hubspot) == Policy("major", "allow", None)
        assert config.policy_of(poke) == config.policy
        assert config.policy_of(postgres) == Policy("pin", "stop", 7)

    def test_no_policy_anywhere_is_pin(self):
        config = parse_connectors({"source_definitions": [entry()]})
        assert config.policy == DEFAULT_POLICY == Policy("pin", "stop", None)
        assert config.policy_of(config.source_definitions[0]).version_policy == "pin"
        assert config.entry_policies == {}

    def test_empty_section_policy_is_the_default(self):
        config = parse_connectors({"policy": {}, "source_definitions": [entry()]})
        assert config.policy == DEFAULT_POLICY

    def test_entry_override_without_section_policy(self):
        config = parse_connectors({"source_definitions": [entry(versionPolicy="minor")]})
        assert config.policy_of(config.source_definitions[0]) == Policy("minor", "stop", None)

    def test_skip_versions_of_an_entry_add_to_the_section_s(self):
        config = parse_connectors(
            {
                "policy": {"versionPolicy": "minor", "skipVersions": ["1.9.1"]},
                "source_definitions": [entry("A", "airbyte/source-a", skipVersions=["2.0.0"]), entry()],
            }
        )
        first, second = config.source_definitions
        assert config.policy_of(first).skip_versions == {"1.9.1", "2.0.0"}
        assert config.policy_of(second).skip_versions == {"1.9.1"}
        assert config.policy_of(first).describe() == "minor, stop at breaking changes, skips 1.9.1, 2.0.0"

    def test_policies_are_per_kind(self):
        config = parse_connectors(
            {
                "source_definitions": [entry(repo="acme/connector", versionPolicy="major")],
                "destination_definitions": [entry(repo="acme/connector")],
            }
        )
        assert config.policy_of(config.source_definitions[0]).version_policy == "major"
        assert config.policy_of(config.destination_definitions[0]).version_policy == "pin"

    @pytest.mark.parametrize(
        ("text", "days"),
        [("7d", 7), ("1d", 1), ("0d", None), ("000d", None), (f"{MAX_RELEASE_AGE_DAYS}d", MAX_RELEASE_AGE_DAYS)],
    )
    def test_release_age(self, text, days):
        assert parse_release_age(text) == days

    def test_describe_and_json(self):
        policy = Policy("minor", "stop", 7)
        assert policy.describe() == "minor, stop at breaking changes, 7d cooldown"
        assert Policy().describe() == "pin"
        assert policy.to_json() == {
            "versionPolicy": "minor",
            "breaking": "stop",
            "minimumReleaseAge": "7d",
            "skipVersions": [],
        }
        assert Policy("major", "allow").to_json()["minimumReleaseAge"] is None


class TestPlanningIgnoresPolicies:
    def test_config_with_policies_plans_exactly_like_one_without(self, tmp_path):
        document = yaml.safe_load(POLICIES.read_text())
        bare = tmp_path / "bare.yaml"
        bare.write_text(yaml.safe_dump(without_policies(document)))
        with_them = get_configs("connectors", path=POLICIES)
        without = get_configs("connectors", path=bare)
        assert without.policy == DEFAULT_POLICY and not without.entry_policies
        # Same definitions, same API bodies: a policy is never a write to Airbyte.
        assert with_them.source_definitions == without.source_definitions
        assert with_them.destination_definitions == without.destination_definitions
        assert [d.to_api() for d in with_them.source_definitions] == [d.to_api() for d in without.source_definitions]
        current = {
            "source": [
                {
                    "sourceDefinitionId": "ef69ef6e-aa7f-4af1-a01d-ef775033524e",
                    "name": "GitHub",
                    "dockerRepository": "airbyte/source-github",
                    "dockerImageTag": "1.7.0",
                    "documentationUrl": "https://docs.airbyte.com/integrations/sources/github",
                }
            ],
            "destination": [],
        }
        plan = make_plan(with_them, current)
        assert plan == make_plan(without, current)
        assert [a.action for a in plan.actions].count("update") == 1
        assert len(plan.creates) == 3


DAYS = "must be a number of days such as 7d (0d for none)"
NOT_DAYS = "is not a number of days such as 7d (0d for none)"
# Each case: (policy keys, the problem's text after the entry's or section's path).
BAD_VALUES = [
    ({"versionPolicy": "minr"}, "versionPolicy: 'minr' is not one of pin, patch, minor, major"),
    (
        {"versionPolicy": "Minor"},
        "versionPolicy: 'Minor' is not one of pin, patch, minor, major (policies are lowercase: minor)",
    ),
    ({"versionPolicy": None}, "versionPolicy: must be one of pin, patch, minor, major, got nothing (null)"),
    ({"versionPolicy": 1}, "versionPolicy: must be one of pin, patch, minor, major, got a number 1"),
    ({"breaking": "maybe"}, "breaking: 'maybe' is not one of stop, allow"),
    ({"breaking": False}, "breaking: must be one of stop, allow, got a boolean False"),
    ({"minimumReleaseAge": "7 days"}, f"minimumReleaseAge: '7 days' {NOT_DAYS}"),
    ({"minimumReleaseAge": "1w"}, f"minimumReleaseAge: '1w' {NOT_DAYS}"),
    ({"minimumReleaseAge": "-1d"}, f"minimumReleaseAge: '-1d' {NOT_DAYS}"),
    ({"minimumReleaseAge": 7}, f"minimumReleaseAge: {DAYS}, got a number (write 7d)"),
    ({"minimumReleaseAge": None}, f"minimumReleaseAge: {DAYS}, got nothing (null)"),
    ({"minimumReleaseAge": True}, f"minimumReleaseAge: {DAYS}, got a boolean"),
    ({"minimumReleaseAge": "99999d"}, f"minimumReleaseAge: '99999d' is more than {MAX_RELEASE_AGE_DAYS} days"),
    ({"skipVersions": "1.9.1"}, 'skipVersions: must be a list of release versions such as ["1.9.1"], got a string'),
    ({"skipVersions": ["1.9.1", "1.9"]}, "skipVersions[1]: '1.9' is not a release version X.Y.Z (such as 1.9.1)"),
    ({"skipVersions": ["1.9.1-rc.1"]}, "skipVersions[0]: '1.9.1-rc.1' is not a release version X.Y.Z (such as 1.9.1)"),
    ({"skipVersions": [2.0]}, 'skipVersions[0]: must be a release version X.Y.Z, got a number (quote it: "2.0")'),
]
BAD_IDS = [
    "typo",
    "uppercase",
    "null-policy",
    "number-policy",
    "breaking-typo",
    "breaking-yaml-no",
    "age-words",
    "age-weeks",
    "age-negative",
    "age-number",
    "age-null",
    "age-boolean",
    "age-too-long",
    "skip-not-a-list",
    "skip-short-version",
    "skip-prerelease",
    "skip-yaml-number",
]


class TestValidation:
    @pytest.mark.parametrize(("keys", "problem"), BAD_VALUES, ids=BAD_IDS)
    def test_bad_value_on_an_entry_is_named_with_its_path(self, keys, problem):
        assert problems_of({"source_definitions": three_sources(**keys)}) == [
            f"connectors.source_definitions[2].{problem}"
        ]

    @pytest.mark.parametrize(("keys", "problem"), BAD_VALUES, ids=BAD_IDS)
    def test_bad_value_in_the_section_is_named_with_its_path(self, keys, problem):
        assert problems_of({"policy": keys, "source_definitions": [entry()]}) == [f"connectors.policy.{problem}"]

    def test_unknown_section_policy_keys_are_refused(self):
        problems = problems_of(
            {"policy": {"versionPolcy": "minor", "allowMajor": True, 3: "x"}, "destination_definitions": []}
        )
        expected = "unknown key (expected versionPolicy, breaking, minimumReleaseAge, skipVersions)"
        assert problems == [
            f"connectors.policy.versionPolcy: {expected}",
            f"connectors.policy.allowMajor: {expected}",
            f"connectors.policy.3: {expected}",
        ]

    @pytest.mark.parametrize("value", [None, "minor", ["versionPolicy"]], ids=["null", "string", "list"])
    def test_section_policy_must_be_a_mapping(self, value):
        (problem,) = problems_of({"policy": value, "source_definitions": []})
        assert problem.startswith(
            "connectors.policy: must be a mapping with versionPolicy, breaking, minimumReleaseAge, skipVersions"
        )

    @pytest.mark.parametrize(
        ("key", "problem"),
        [
            ("versionpolicy", "versionpolicy: unknown key; did you mean versionPolicy?"),
            ("version_policy", "version_policy: unknown key; did you mean versionPolicy?"),
            ("minimum-release-age", "minimum-release-age: unknown key; did you mean minimumReleaseAge?"),
            ("Breaking", "Breaking: unknown key; did you mean breaking?"),
            ("policy", "policy: an entry sets its policy keys directly"),
        ],
    )
    def test_near_misses_of_entry_policy_keys_are_named(self, key, problem):
        (found,) = problems_of({"source_definitions": three_sources(**{key: "minor"})})
        assert found.startswith(f"connectors.source_definitions[2].{problem}")

    def test_other_entry_keys_are_still_ignored(self):
        config = parse_connectors({"source_definitions": [entry(releaseStage="alpha", iconUrl="https://x.example")]})
        assert config.entry_policies == {}

    def test_every_problem_reported_at_once_with_the_rest_of_the_config(self):
        problems = problems_of(
            {
                "policy": {"versionPolicy": "latest", "cooldown": "7d"},
                "source_definitions": [
                    entry("A", "airbyte/source-a", breaking="never"),
                    {"name": "B", "dockerRepository": "airbyte/source-b", "minimumReleaseAge": "soon"},
                ],
                "destination_definitions": [entry("C", "airbyte/destination-c", versionPolicy="minr")],
            }
        )
        assert problems == [
            "connectors.policy.cooldown: unknown key "
            "(expected versionPolicy, breaking, minimumReleaseAge, skipVersions)",
            "connectors.policy.versionPolicy: 'latest' is not one of pin, patch, minor, major",
            "connectors.source_definitions[0].breaking: 'never' is not one of stop, allow",
            "connectors.source_definitions[1].dockerImageTag: required",
            "connectors.source_definitions[1].documentationUrl: required",
            # Checked although the entry itself is broken: every problem at once.
            f"connectors.source_definitions[1].minimumReleaseAge: 'soon' {NOT_DAYS}",
            "connectors.destination_definitions[0].versionPolicy: 'minr' is not one of pin, patch, minor, major",
        ]

    def test_long_values_are_quoted_short(self):
        value = "m" * 100_000
        (problem,) = problems_of({"source_definitions": [entry(versionPolicy=value)]})
        assert len(problem) < 2 * MAX_QUOTED_CHARS + 100
        assert "(100000 characters)" in problem

    def test_invisible_characters_are_shown_escaped(self):
        (problem,) = problems_of({"source_definitions": [entry(breaking="stop\u202e")]})
        assert "'stop\\u202e' is not one of stop, allow" in problem

    def test_unknown_section_key_lists_policy(self):
        (problem,) = problems_of({"polcy": {}, "source_definitions": []})
        assert problem == "connectors.polcy: unknown key (expected destination_definitions, source_definitions, policy)"
