from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from airflow_airbyte_connectors.config import configs
from airflow_airbyte_connectors.config.configs import (
    MAX_QUOTED_CHARS,
    ConfigError,
    ConnectorsConfig,
    DesiredDefinition,
    Environment,
    get_configs,
    parse_connectors,
    quote,
)
from airflow_airbyte_connectors.config.environments import MAX_ENVIRONMENTS
from airflow_airbyte_connectors.config.policies import Policy
from tests.support import registry, require_airbyte_files

DATA = Path(__file__).parent.parent / "data" / "configs"


def entry(**overrides):
    base = {
        "name": "PokeAPI",
        "dockerRepository": "airbyte/source-pokeapi",
        "dockerImageTag": "0.3.40",
        "documentationUrl": "https://docs.airbyte.com/integrations/sources/pokeapi",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not ...}


def problems_of(section) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_connectors(section)
    return caught.value.problems


class TestGetConfigs:
    def test_valid_file_gives_typed_result_and_ignores_registry_extras(self):
        config = get_configs("connectors", path=DATA / "valid.yaml")
        assert isinstance(config, ConnectorsConfig)
        poke, acme = config.source_definitions
        assert poke.definition_id == "6371b14b-bc68-4236-bfbd-468e8df8e968"
        assert poke.docker_image_tag == "0.3.40"
        assert acme.definition_id is None
        assert acme.docker_repository == "ghcr.io/acme/source-acme-crm"
        (lake,) = config.destination_definitions
        assert lake.docker_repository == "registry.acme.example:5000/data/destination-acme-lake"

    def test_environments_file_gives_what_each_environment_wants(self):
        config = get_configs("connectors", path=DATA / "environments.yaml")
        assert [(e.name, e.promote_from, e.soak, e.successful_syncs) for e in config.environments] == [
            ("staging", None, None, 1),
            ("prod", "staging", timedelta(days=3), 2),
        ]

        def wanted(environment: str) -> list[tuple[str, str]]:
            desired = config.for_environment(environment)
            both = desired.source_definitions + desired.destination_definitions
            return [(d.docker_repository, d.docker_image_tag) for d in both]

        assert wanted("staging") == [
            ("airbyte/source-pokeapi", "0.3.40"),
            ("ghcr.io/acme/source-acme-crm", "1.2.0"),
            ("airbyte/destination-postgres", "2.4.7"),
        ]
        assert wanted("prod") == [("airbyte/source-pokeapi", "0.3.39"), ("airbyte/destination-postgres", "2.4.7")]

    def test_other_sections_are_returned_as_loaded(self):
        assert get_configs("airbyte", path=DATA / "valid.yaml") == {"url": "http://localhost:8000"}

    def test_missing_section_is_named(self, tmp_path):
        path = tmp_path / "basic_config.yaml"
        path.write_text("airbyte: {}\n")
        with pytest.raises(ConfigError, match=r"connectors: section missing"):
            get_configs("connectors", path=path)

    @pytest.mark.parametrize(
        ("content", "message"),
        [
            (b"connectors: [\n", r"YAML syntax: line \d+, column \d+"),
            (b"connectors:\n\t- a\n", r"YAML syntax"),
            (b"", r"file is empty"),
            (b"- a\n- b\n", r"top level must be a mapping, got a list"),
            (b"connectors: \xff\xfe\n", r"not UTF-8"),
            (b"connectors: !!python/object:os.system {}\n", r"YAML syntax.*python/object"),
        ],
        ids=["syntax", "tab", "empty", "list-top-level", "not-utf8", "python-tag"],
    )
    def test_unreadable_files(self, tmp_path, content, message):
        path = tmp_path / "basic_config.yaml"
        path.write_bytes(content)
        with pytest.raises(ConfigError, match=message):
            get_configs("connectors", path=path)

    def test_missing_file_and_directory(self, tmp_path):
        with pytest.raises(ConfigError, match="file not found"):
            get_configs("connectors", path=tmp_path / "nope.yaml")
        with pytest.raises(ConfigError, match="is a directory"):
            get_configs("connectors", path=tmp_path)

    def test_alias_bomb_is_refused_before_expanding(self, tmp_path):
        lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]']
        lines += [f"a{i}: &a{i} [{','.join(['*a' + str(i - 1)] * 10)}]" for i in range(1, 12)]
        path = tmp_path / "bomb.yaml"
        path.write_text("\n".join(lines) + "\nconnectors: *a11\n")
        with pytest.raises(ConfigError, match="aliases"):
            get_configs("connectors", path=path)

    def test_oversized_file_is_refused_without_parsing(self, tmp_path):
        path = tmp_path / "big.yaml"
        with path.open("wb") as handle:
            handle.truncate(6 * 1024 * 1024)
        with pytest.raises(ConfigError, match="the limit is"):
            get_configs("connectors", path=path)


class TestParseConnectors:
    def test_every_problem_is_reported_at_once_with_its_path(self):
        section = {
            "source_definitions": [
                entry(),
                entry(name="", dockerRepository="airbyte/source-a"),
                entry(name="B", dockerRepository="Airbyte/Source-B", dockerImageTag="1.0 beta"),
                entry(name="C", dockerRepository="https://hub.docker.com/airbyte/c", documentationUrl="ftp://x"),
                entry(name="D", dockerRepository="airbyte/source-d", dockerImageTag=...),
            ],
            "destination_definitions": {"name": "not a list"},
        }
        problems = problems_of(section)
        assert problems == [
            "connectors.source_definitions[1].name: must not be empty",
            "connectors.source_definitions[2].dockerRepository: 'Airbyte/Source-B' is not a Docker image name "
            "(lowercase, e.g. airbyte/source-pokeapi; no scheme, no tag)",
            "connectors.source_definitions[2].dockerImageTag: '1.0 beta' is not a Docker tag "
            "(letters, digits, '_', '.', '-'; at most 128; e.g. 0.3.40)",
            "connectors.source_definitions[3].dockerRepository: 'https://hub.docker.com/airbyte/c' is not a "
            "Docker image name (lowercase, e.g. airbyte/source-pokeapi; no scheme, no tag)",
            "connectors.source_definitions[3].documentationUrl: 'ftp://x' is not an http(s) URL",
            "connectors.source_definitions[4].dockerImageTag: required",
            "connectors.destination_definitions: must be a list (use [] for none), got a mapping",
        ]

    def test_duplicates_within_a_kind_are_named_with_both_places(self):
        problems = problems_of(
            {
                "source_definitions": [
                    entry(),
                    entry(name="pokeapi", dockerRepository="airbyte/source-other"),
                    entry(name="Other", dockerImageTag="1.0.0"),
                ]
            }
        )
        # A repeated name with another image is legitimate (Airbyte's registry has some); a repeated image is not.
        assert problems == [
            "connectors.source_definitions[2].dockerRepository: 'airbyte/source-pokeapi' already used by "
            "connectors.source_definitions[0]",
        ]

    def test_repeated_name_with_another_image_is_accepted(self):
        config = parse_connectors(
            {"source_definitions": [entry(), entry(name="POKEAPI", dockerRepository="acme/source-poke")]}
        )
        assert [d.docker_repository for d in config.source_definitions] == [
            "airbyte/source-pokeapi",
            "acme/source-poke",
        ]

    @pytest.mark.parametrize(
        ("repository", "valid"),
        [
            ("airbyte/source-pokeapi", True),
            ("ghcr.io/acme/source-x", True),
            ("localhost:5000/x", True),
            ("localhost/x", True),
            ("registry:5000/a/b", True),
            ("source-x", True),
            ("UPPER/case", False),
            ("acme/Source", False),
            ("acme//x", False),
            ("acme/x/", False),
            ("-acme/x", False),
        ],
    )
    def test_docker_image_names(self, repository, valid):
        section = {"source_definitions": [entry(dockerRepository=repository)]}
        if valid:
            assert parse_connectors(section).source_definitions[0].docker_repository == repository
        else:
            assert "is not a Docker image name" in problems_of(section)[0]

    def test_same_repository_in_both_kinds_is_fine(self):
        config = parse_connectors({"source_definitions": [entry()], "destination_definitions": [entry()]})
        assert len(config.source_definitions) == len(config.destination_definitions) == 1

    @pytest.mark.parametrize(
        ("section", "problem"),
        [
            (None, "connectors: must be a mapping"),
            ([], "connectors: must be a mapping"),
            ({}, "connectors: neither source_definitions nor destination_definitions"),
            ({"destination_definitions": [], "source_definition": []}, "connectors.source_definition: unknown key"),
            ({"source_definitions": None}, "connectors.source_definitions: must be a list"),
            ({"source_definitions": ["x"]}, "connectors.source_definitions[0]: must be a mapping"),
            (
                {"source_definitions": [entry(dockerImageTag=1.0)]},
                "connectors.source_definitions[0].dockerImageTag: must be a string, got a number (YAML read a number: "
                'put it in quotes, e.g. dockerImageTag: "1.10")',
            ),
            ({"source_definitions": [entry(name="   ")]}, "connectors.source_definitions[0].name: must not be empty"),
            ({"source_definitions": [entry(name=" PokeAPI")]}, "leading or trailing whitespace"),
            (
                {"source_definitions": [entry(sourceDefinitionId="not-a-uuid")]},
                "connectors.source_definitions[0].sourceDefinitionId: 'not-a-uuid' is not a UUID",
            ),
            (
                {"source_definitions": [entry(dockerRepository="airbyte/source-pokeapi:0.3.40")]},
                "is not a Docker image name",
            ),
            ({"source_definitions": [entry(documentationUrl="docs.airbyte.com")]}, "is not an http(s) URL"),
        ],
        ids=[
            "null",
            "list",
            "empty",
            "typo-key",
            "null-list",
            "entry-not-mapping",
            "float-tag",
            "blank-name",
            "padded-name",
            "bad-uuid",
            "tag-in-repository",
            "url-without-scheme",
        ],
    )
    def test_single_problem(self, section, problem):
        problems = problems_of(section)
        assert len(problems) == 1
        assert problem in problems[0]

    def test_error_message_lists_every_problem(self):
        with pytest.raises(ConfigError) as caught:
            parse_connectors(
                {"source_definitions": [entry(name=""), entry(name="B", dockerRepository="a/b", dockerImageTag="")]},
                source="cfg.yaml",
            )
        text = str(caught.value)
        assert text.startswith("Invalid basic_config cfg.yaml (2 problems):")
        assert "[0].name: must not be empty" in text and "[1].dockerImageTag: must not be empty" in text

    def test_ids_are_normalised_and_duplicate_ids_caught(self):
        upper = "6371B14B-BC68-4236-BFBD-468E8DF8E968"
        problems = problems_of(
            {
                "source_definitions": [
                    entry(sourceDefinitionId=upper),
                    entry(name="Copy", dockerRepository="airbyte/copy", sourceDefinitionId=upper.lower()),
                ]
            }
        )
        assert problems == [
            f"connectors.source_definitions[1].sourceDefinitionId: '{upper.lower()}' already used "
            "by connectors.source_definitions[0]"
        ]
        config = parse_connectors({"source_definitions": [entry(sourceDefinitionId=upper)]})
        assert config.source_definitions[0].definition_id == upper.lower()

    def test_registry_entries_are_accepted_as_they_are(self):
        require_airbyte_files()
        data = registry()
        config = parse_connectors(
            {"source_definitions": data["sources"][:100], "destination_definitions": data["destinations"]}
        )
        assert (len(config.source_definitions), len(config.destination_definitions)) == (100, 55)

    def test_registry_as_a_whole_is_a_valid_config(self):
        require_airbyte_files()
        # Airbyte's own registry reuses a few source names (Customer.io, Harness, PagerDuty up to case), each
        # with its own image: names are not identity, so the whole registry is a valid basic_config.
        data = registry()
        config = parse_connectors(
            {"source_definitions": data["sources"], "destination_definitions": data["destinations"]}
        )
        names = [d.name.casefold() for d in config.source_definitions]
        assert sorted({n for n in names if names.count(n) > 1}) == ["customer.io", "harness", "pagerduty"]
        assert len(config.source_definitions) + len(config.destination_definitions) == 633

    def test_yaml_round_trip_of_registry_tags(self):
        # Tags like 0.3.40 stay strings in YAML; 2.0 does not, and the message says how to fix it.
        loaded = yaml.safe_load("tag: 0.3.40\nother: 2.0\n")
        assert loaded == {"tag": "0.3.40", "other": 2.0}


def single_problem(**overrides) -> str:
    (problem,) = problems_of({"source_definitions": [entry(**overrides)]})
    return problem


FIELDS = ("name", "dockerRepository", "dockerImageTag", "documentationUrl", "sourceDefinitionId")
VALID = {**entry(), "sourceDefinitionId": "6371b14b-bc68-4236-bfbd-468e8df8e968"}


class TestWhitespaceAround:
    @pytest.mark.parametrize("field", FIELDS)
    @pytest.mark.parametrize(
        ("padded", "described"),
        [
            ("{}\n", "ends with U+000A LINE FEED"),
            ("{}\r\n", "ends with U+000A LINE FEED"),
            ("{} ", "ends with U+0020 SPACE"),
            ("\t{}", "starts with U+0009 CHARACTER TABULATION"),
            ("\u00a0{}", "starts with U+00A0 NO-BREAK SPACE"),
        ],
        ids=["newline", "crlf", "space", "leading-tab", "leading-nbsp"],
    )
    def test_is_refused_in_every_field_naming_the_character(self, field, padded, described):
        value = padded.format(VALID[field])
        assert single_problem(**{field: value}) == (
            f"connectors.source_definitions[0].{field}: {value!r} has leading or trailing whitespace ({described})"
        )


class TestLengthLimits:
    # Valid values exactly at each limit (Airbyte's varchar(256); Docker's 255 for a name, 128 for a tag).
    AT_LIMIT = {
        "name": "N" * configs.MAX_NAME_CHARS,
        "dockerRepository": "airbyte/" + "s" * (configs.MAX_REPOSITORY_CHARS - len("airbyte/")),
        "dockerImageTag": "1" * configs.MAX_TAG_CHARS,
        "documentationUrl": "https://docs.example/" + "p" * (configs.MAX_URL_CHARS - len("https://docs.example/")),
    }
    LIMITS = {"name": 256, "dockerRepository": 255, "dockerImageTag": 128, "documentationUrl": 256}

    @pytest.mark.parametrize("field", list(AT_LIMIT))
    def test_at_the_limit_passes_one_over_fails(self, field):
        at_limit = self.AT_LIMIT[field]
        assert len(at_limit) == self.LIMITS[field]
        definition = parse_connectors({"source_definitions": [entry(**{field: at_limit})]}).source_definitions[0]
        assert at_limit in definition.to_api().values()
        over = at_limit + ("1" if field == "dockerImageTag" else "s")
        assert single_problem(**{field: over}) == (
            f"connectors.source_definitions[0].{field}: {quote(over)} is too long: "
            f"the limit is {self.LIMITS[field]} characters"
        )


INVISIBLE = {
    "\u202a": "U+202A LEFT-TO-RIGHT EMBEDDING",
    "\u202b": "U+202B RIGHT-TO-LEFT EMBEDDING",
    "\u202c": "U+202C POP DIRECTIONAL FORMATTING",
    "\u202d": "U+202D LEFT-TO-RIGHT OVERRIDE",
    "\u202e": "U+202E RIGHT-TO-LEFT OVERRIDE",
    "\u2066": "U+2066 LEFT-TO-RIGHT ISOLATE",
    "\u2067": "U+2067 RIGHT-TO-LEFT ISOLATE",
    "\u2068": "U+2068 FIRST STRONG ISOLATE",
    "\u2069": "U+2069 POP DIRECTIONAL ISOLATE",
    "\u200e": "U+200E LEFT-TO-RIGHT MARK",
    "\u200f": "U+200F RIGHT-TO-LEFT MARK",
    "\u061c": "U+061C ARABIC LETTER MARK",
    "\u200b": "U+200B ZERO WIDTH SPACE",
    "\u200c": "U+200C ZERO WIDTH NON-JOINER",
    "\u200d": "U+200D ZERO WIDTH JOINER",
    "\u2060": "U+2060 WORD JOINER",
    "\ufeff": "U+FEFF ZERO WIDTH NO-BREAK SPACE",
    "\u00ad": "U+00AD SOFT HYPHEN",
    "\u2028": "U+2028 LINE SEPARATOR",
    "\u2029": "U+2029 PARAGRAPH SEPARATOR",
    "\x00": "U+0000 NULL",
    "\t": "U+0009 CHARACTER TABULATION",
    "\n": "U+000A LINE FEED",
    "\r": "U+000D CARRIAGE RETURN",
    "\x1b": "U+001B (Cc)",
    "\x7f": "U+007F (Cc)",
    "\x85": "U+0085 (Cc)",
}


class TestCharacters:
    @pytest.mark.parametrize("char", list(INVISIBLE), ids=[name.split()[0] for name in INVISIBLE.values()])
    def test_control_and_invisible_characters_in_a_name_are_named_with_their_position(self, char):
        name = f"Acme{char}CRM"
        assert single_problem(name=name) == (
            f"connectors.source_definitions[0].name: {name!r} contains {INVISIBLE[char]} at character 5 "
            "(control and invisible formatting characters are not allowed)"
        )

    @pytest.mark.parametrize("field", ["documentationUrl", "dockerImageTag", "sourceDefinitionId"])
    def test_are_refused_in_the_other_fields_too(self, field):
        value = VALID[field][:3] + "\u202e" + VALID[field][3:]
        assert "contains U+202E RIGHT-TO-LEFT OVERRIDE at character 4" in single_problem(**{field: value})

    @pytest.mark.parametrize("name", ["Zoë's Café", "Ωmega", "日本語 CRM", "Acme\u00a0CRM", "Postgres 🐘"])
    def test_visible_unicode_names_are_accepted(self, name):
        assert parse_connectors({"source_definitions": [entry(name=name)]}).source_definitions[0].name == name

    def test_a_quoted_character_cannot_reorder_the_message(self):
        # repr escapes it: the message shows \u202e instead of reversing what follows.
        assert "\u202e" not in single_problem(name="Acme\u202eCRM")


class TestQuote:
    def test_short_values_are_quoted_whole(self):
        assert quote("0.3.40") == "'0.3.40'"
        assert quote("a" * MAX_QUOTED_CHARS) == repr("a" * MAX_QUOTED_CHARS)
        assert quote(12345) == "12345"

    @pytest.mark.parametrize(
        "value",
        ["https://" + "a" * (1 << 20), "\u202e" * 5000, "\U0001f600" * 5000, "\\" * 5000, ["x" * 100] * 100],
        ids=["1-mib-url", "bidi", "emoji", "backslashes", "list"],
    )
    def test_long_values_are_cut_with_their_length(self, value):
        shown = quote(value)
        length = len(value) if isinstance(value, str) else len(repr(value))
        assert shown.endswith(f"… ({length} characters)") or shown.endswith(f"…' ({length} characters)")
        assert len(shown) <= MAX_QUOTED_CHARS + len(f"…' ({length} characters)") + 2

    def test_quote_starts_like_the_value(self):
        assert quote("https://" + "a" * 1000) == f"'https://{'a' * (MAX_QUOTED_CHARS - 8)}…' (1008 characters)"

    def test_every_problem_quotes_values_short(self):
        huge = "x" * 100_000
        section = {
            "source_definitions": [
                {**entry(), "name": huge, "documentationUrl": f"https://{huge}", "sourceDefinitionId": huge},
                entry(dockerRepository=f"ftp://{huge}", dockerImageTag=f"{huge}!"),
                entry(dockerRepository=f"ftp://{huge}", documentationUrl=f"https://{huge[:100]}\u202e"),
                entry(sourceDefinitionId=[huge]),
            ],
            huge: [],
        }
        problems = problems_of(section)
        assert len(problems) == 11, problems
        for problem in problems:  # a path, at most ~80 characters of the value, and what is wrong
            assert len(problem) < 300, problem[:400]

    def test_no_problem_in_configs_formats_a_value_with_repr(self):
        # Every value reaches a message through quote(); !r would echo it whole.
        source = Path(configs.__file__).read_text(encoding="utf-8")
        assert "!r}" not in source


STAGING_AND_PROD = {
    "staging": {"conn_id": "airbyte_staging"},
    "prod": {"conn_id": "airbyte_prod", "promoteFrom": "staging", "soak": "3d", "successfulSyncs": 2},
}


def with_environments(*sources, environments=STAGING_AND_PROD, **section) -> dict:
    """A connectors section with ``environments`` (staging and prod unless given) and these sources."""
    return {"environments": environments, "source_definitions": list(sources), **section}


def environment_problems(settings: dict, **environments) -> list[str]:
    """The problems of a config whose environments are staging and ``settings`` as ``prod`` (and any others)."""
    return problems_of(
        with_environments(entry(), environments={"staging": {"conn_id": "s"}, "prod": settings, **environments})
    )


class TestEnvironmentsSection:
    def test_environments_are_typed_records_each_after_the_one_it_promotes_from(self):
        config = parse_connectors(with_environments(entry(), environments=dict(reversed(STAGING_AND_PROD.items()))))
        assert config.environments == (
            Environment(name="staging", conn_id="airbyte_staging"),
            Environment("prod", "airbyte_prod", promote_from="staging", soak=timedelta(days=3), successful_syncs=2),
        )
        staging, _ = config.environments
        assert (staging.promote_from, staging.soak, staging.successful_syncs) == (None, None, 1)

    def test_order_is_declaration_order_with_each_pulled_after_its_source(self):
        config = parse_connectors(
            with_environments(
                entry(),
                environments={
                    "prod-eu": {"conn_id": "eu", "promoteFrom": "staging"},
                    "dev": {"conn_id": "dev"},
                    "staging": {"conn_id": "staging", "promoteFrom": "dev"},
                    "prod-us": {"conn_id": "us", "promoteFrom": "staging"},
                    "sandbox": {"conn_id": "sandbox"},
                },
            )
        )
        assert [e.name for e in config.environments] == ["dev", "staging", "prod-eu", "prod-us", "sandbox"]

    def test_defaults_with_promote_from_are_no_minimum_time_and_one_successful_sync(self):
        config = parse_connectors(
            with_environments(entry(), environments={"a": {"conn_id": "a"}, "b": {"conn_id": "b", "promoteFrom": "a"}})
        )
        assert config.environments[1] == Environment("b", "b", promote_from="a", soak=timedelta(0), successful_syncs=1)

    @pytest.mark.parametrize(
        ("soak", "expected"),
        [
            ("90s", timedelta(seconds=90)),
            ("30m", timedelta(minutes=30)),
            ("12h", timedelta(hours=12)),
            ("3d", timedelta(days=3)),
            ("365d", timedelta(days=365)),
            ("1s", timedelta(seconds=1)),
        ],
    )
    def test_soak_is_an_integer_and_one_unit(self, soak, expected):
        prod = {"conn_id": "p", "promoteFrom": "staging", "soak": soak}
        config = parse_connectors(with_environments(entry(), environments={"staging": {"conn_id": "s"}, "prod": prod}))
        assert config.environments[1].soak == expected

    @pytest.mark.parametrize(
        ("soak", "problem"),
        [
            ("3 days", "'3 days' is not a duration: an integer and one unit, s, m, h or d (90s, 30m, 12h, 3d)"),
            ("1.5h", "'1.5h' is not a duration"),
            ("1w", "'1w' is not a duration"),
            (
                "3D",
                "'3D' is not a duration: an integer and one unit, s, m, h or d (90s, 30m, 12h, 3d) "
                "(units are lowercase: 3d)",
            ),
            (
                3,
                "must be a duration such as 3d (an integer and one of s, m, h, d), got a number "
                "(add a unit: 3s, 3m, 3h or 3d)",
            ),
            (True, "must be a duration such as 3d (an integer and one of s, m, h, d), got a boolean"),
            (None, "must be a duration such as 3d (an integer and one of s, m, h, d), got nothing (null)"),
            ("0d", "'0d': a soak must be longer than zero (leave soak out for no minimum time)"),
            ("0s", "'0s': a soak must be longer than zero"),
            ("-3d", "'-3d': a soak must be longer than zero"),
            ("366d", "'366d' is more than 365 days"),
            ("99999999d", "'99999999d' is more than 365 days"),
        ],
        ids=[
            "words",
            "fraction",
            "weeks",
            "uppercase",
            "number",
            "boolean",
            "null",
            "zero",
            "zero-seconds",
            "negative",
            "over-a-year",
            "overflow",
        ],
    )
    def test_bad_soak(self, soak, problem):
        problems = environment_problems({"conn_id": "p", "promoteFrom": "staging", "soak": soak})
        assert len(problems) == 1
        assert problems[0].startswith(f"connectors.environments.prod.soak: {problem}"), problems

    def test_soak_and_successful_syncs_need_promote_from(self):
        assert environment_problems({"conn_id": "p", "soak": "3d", "successfulSyncs": 2}) == [
            "connectors.environments.prod.soak: only with promoteFrom (a soak is time spent in the environment "
            "promoted from)",
            "connectors.environments.prod.successfulSyncs: only with promoteFrom (syncs counted in the environment "
            "promoted from)",
        ]

    def test_zero_successful_syncs_is_accepted(self):
        prod = {"conn_id": "p", "promoteFrom": "staging", "successfulSyncs": 0}
        config = parse_connectors(with_environments(entry(), environments={"staging": {"conn_id": "s"}, "prod": prod}))
        assert config.environments[1].successful_syncs == 0

    @pytest.mark.parametrize(
        ("value", "shown"),
        [(-1, "-1"), ("2", "'2'"), (2.5, "2.5"), (True, "True"), (None, "None")],
        ids=["negative", "string", "fraction", "boolean", "null"],
    )
    def test_successful_syncs_is_a_whole_number_0_or_more(self, value, shown):
        problems = environment_problems({"conn_id": "p", "promoteFrom": "staging", "successfulSyncs": value})
        assert problems == [
            f"connectors.environments.prod.successfulSyncs: must be a whole number, 0 or more, got {shown}"
        ]

    @pytest.mark.parametrize(
        ("settings", "problem"),
        [
            ({}, "conn_id: required (the Airflow connection to this environment's Airbyte)"),
            ({"conn_id": None}, "conn_id: required"),
            ({"conn_id": 7}, "conn_id: must be a string, got a number"),
            ({"conn_id": "airbyte prod"}, "conn_id: 'airbyte prod' is not an Airflow connection id (letters, digits"),
            ({"conn_id": "a" * 251}, "conn_id: 'aaaa"),
            (
                {"conn_id": "p", "promoteFrom": "stagin"},
                "promoteFrom: 'stagin' is not an environment (environments: prod, staging)",
            ),
            ({"conn_id": "p", "promoteFrom": "prod"}, "promoteFrom: an environment cannot promote from itself"),
            ({"conn_id": "p", "promoteFrom": ["staging"]}, "promoteFrom: must be an environment name, got a list"),
            (
                {"conn_id": "p", "connId": "p"},
                "connId: unknown key (expected conn_id, promoteFrom, soak, successfulSyncs)",
            ),
            ({"conn_id": "p", "promote_from": "staging"}, "promote_from: unknown key"),
        ],
        ids=[
            "conn-id-missing",
            "conn-id-null",
            "conn-id-number",
            "conn-id-space",
            "conn-id-too-long",
            "promote-from-unknown",
            "promote-from-itself",
            "promote-from-list",
            "unknown-key",
            "snake-case-key",
        ],
    )
    def test_bad_settings(self, settings, problem):
        (found,) = environment_problems(settings)
        assert found.startswith(f"connectors.environments.prod.{problem}"), found

    def test_conn_id_at_airflows_limit_is_accepted(self):
        config = parse_connectors(with_environments(entry(), environments={"a": {"conn_id": "a" * 250}}))
        assert config.environments[0].conn_id == "a" * 250

    def test_an_environment_must_be_a_mapping(self):
        assert environment_problems("airbyte_prod") == [  # type: ignore[arg-type]
            "connectors.environments.prod: must be a mapping with conn_id (and promoteFrom, soak, successfulSyncs), "
            "got a string"
        ]

    @pytest.mark.parametrize("conn_id", ["s", "S"], ids=["same", "differing-in-case"])
    def test_two_environments_cannot_share_a_connection(self, conn_id):
        assert environment_problems({"conn_id": conn_id}) == [
            f"connectors.environments.prod.conn_id: '{conn_id}' is already the connection of "
            "connectors.environments.staging; two environments cannot be the same Airbyte"
        ]

    @pytest.mark.parametrize(
        ("environments", "cycle"),
        [
            (
                {"a": {"conn_id": "a", "promoteFrom": "b"}, "b": {"conn_id": "b", "promoteFrom": "a"}},
                "a.promoteFrom: promotion cycle a → b → a",
            ),
            (
                {
                    "root": {"conn_id": "r"},
                    "tail": {"conn_id": "t", "promoteFrom": "b"},
                    "b": {"conn_id": "b", "promoteFrom": "a"},
                    "a": {"conn_id": "a", "promoteFrom": "c"},
                    "c": {"conn_id": "c", "promoteFrom": "b"},
                },
                "b.promoteFrom: promotion cycle b → c → a → b",
            ),
        ],
        ids=["two", "three-with-a-tail"],
    )
    def test_a_promotion_cycle_is_named_once_in_the_direction_versions_move(self, environments, cycle):
        assert problems_of(with_environments(entry(), environments=environments)) == [
            f"connectors.environments.{cycle}; versions must enter at an environment without promoteFrom: "
            "remove promoteFrom from one of them"
        ]

    @pytest.mark.parametrize("name", ["prod eu", "-prod", "prod.eu", "prød", "p" * 64, 1, True], ids=str)
    def test_an_environment_name_is_a_simple_identifier(self, name):
        problems = problems_of(with_environments(entry(), environments={name: {"conn_id": "x"}}))
        assert len(problems) == 1
        assert problems[0].startswith(
            f"connectors.environments: {quote(name)} is not an environment name (letters, "
        ), problems

    def test_names_of_63_characters_with_digits_dashes_and_underscores_are_accepted(self):
        names = ["p" * 63, "eu-west_1", "2024", "A_b-C"]
        config = parse_connectors(with_environments(entry(), environments={n: {"conn_id": n} for n in names}))
        assert [e.name for e in config.environments] == names

    def test_names_differing_only_in_case_are_refused(self):
        problems = problems_of(
            with_environments(entry(), environments={"prod": {"conn_id": "a"}, "Prod": {"conn_id": "b"}})
        )
        assert problems == [
            "connectors.environments.Prod: differs from prod only in case; give environments distinct names"
        ]

    @pytest.mark.parametrize(
        ("value", "got"),
        [({}, "an empty mapping"), (None, "nothing (null)"), (["staging"], "a list")],
        ids=["empty", "null", "list"],
    )
    def test_the_section_is_a_mapping_of_environments(self, value, got):
        assert problems_of(with_environments(entry(), environments=value)) == [
            "connectors.environments: must be a mapping of environment names to their conn_id (and promoteFrom, soak, "
            f"successfulSyncs), got {got}; without the section the config has one implicit environment"
        ]

    def test_more_than_the_limit_of_environments_is_refused(self):
        environments = {f"e{i}": {"conn_id": f"c{i}"} for i in range(MAX_ENVIRONMENTS + 1)}
        assert problems_of(with_environments(entry(environments=["e0"]), environments=environments)) == [
            f"connectors.environments: {MAX_ENVIRONMENTS + 1} environments; the limit is {MAX_ENVIRONMENTS}"
        ]

    def test_a_misspelt_section_key_suggests_environments(self):
        (problem,) = problems_of({"environment": STAGING_AND_PROD, "source_definitions": [entry()]})
        assert problem == (
            "connectors.environment: unknown key (expected destination_definitions, source_definitions, policy); "
            "did you mean environments?"
        )


class TestEntriesInEnvironments:
    def test_every_entry_applies_everywhere_unless_narrowed_and_takes_its_environments_tag(self):
        config = parse_connectors(
            with_environments(
                entry(dockerImageTag="1.9.2", environmentTags={"prod": "1.8.0"}),
                entry(name="New", dockerRepository="acme/source-new", environments=["staging"]),
            )
        )
        poke, new = config.source_definitions
        assert (poke.environments, poke.environment_tags, poke.docker_image_tag) == (None, {"prod": "1.8.0"}, "1.9.2")
        assert new.environments == frozenset({"staging"})
        staging, prod = config.for_environment("staging"), config.for_environment("prod")
        assert [(d.docker_repository, d.docker_image_tag) for d in staging.source_definitions] == [
            ("airbyte/source-pokeapi", "1.9.2"),
            ("acme/source-new", "0.3.40"),
        ]
        assert [(d.docker_repository, d.docker_image_tag) for d in prod.source_definitions] == [
            ("airbyte/source-pokeapi", "1.8.0")
        ]

    def test_an_environments_config_is_a_plain_config_as_today(self):
        config = parse_connectors(
            with_environments(entry(environmentTags={"prod": "1.8.0"}), destination_definitions=[entry()])
        )
        prod = config.for_environment("prod")
        assert prod.environments == ()
        assert prod == ConnectorsConfig((entry_definition("source", "1.8.0"),), (entry_definition("destination"),))
        assert prod.source_definitions[0].to_api() == {**entry(), "dockerImageTag": "1.8.0"}

    def test_policies_follow_each_entry_into_its_environments(self):
        config = parse_connectors(
            with_environments(
                entry(environments=["staging"], versionPolicy="major"),
                entry(name="Poke prod", environments=["prod"]),
                policy={"versionPolicy": "patch"},
            )
        )
        staging, prod = config.for_environment("staging"), config.for_environment("prod")
        assert staging.policy_of(staging.source_definitions[0]) == Policy("major", "stop", None)
        assert prod.policy_of(prod.source_definitions[0]) == Policy("patch", "stop", None)

    def test_without_environments_nothing_changes(self):
        config = parse_connectors({"source_definitions": [entry()]})
        assert config.environments == ()
        (poke,) = config.source_definitions
        assert (poke.environments, poke.environment_tags) == (None, {})
        assert poke.in_environment("anything") is poke
        with pytest.raises(KeyError, match=r"basic_config has no environment 'prod' \(environments: none\)"):
            config.for_environment("prod")

    def test_asking_for_an_undeclared_environment_names_the_declared_ones(self):
        config = parse_connectors(with_environments(entry()))
        with pytest.raises(KeyError, match=r"no environment 'dev' \(environments: prod, staging\)"):
            config.for_environment("dev")

    @pytest.mark.parametrize(
        ("overrides", "problem"),
        [
            (
                {"environments": []},
                "environments: must be a list of the environments this entry applies in, such as "
                "[staging], got an empty list (leave it out for every environment)",
            ),
            ({"environments": "staging"}, "environments: must be a list of the environments this entry applies in"),
            (
                {"environments": ["staging", "stagin"]},
                "environments[1]: 'stagin' is not an environment (environments: prod, staging)",
            ),
            ({"environments": [1]}, "environments[0]: 1 is not an environment"),
            ({"environments": ["prod", "prod"]}, "environments[1]: 'prod' is listed twice"),
            (
                {"environmentTags": ["prod"]},
                'environmentTags: must be a mapping of environment names to tags such as {prod: "1.8.0"}, got a list',
            ),
            (
                {"environmentTags": {"qa": "1.0"}},
                "environmentTags.qa: 'qa' is not an environment (environments: prod, staging)",
            ),
            (
                {"environments": ["staging"], "environmentTags": {"prod": "1.0"}},
                "environmentTags.prod: the entry applies only in staging (its environments); "
                "add prod there or remove this tag",
            ),
            ({"environmentTags": {"prod": "1.0 beta"}}, "environmentTags.prod: '1.0 beta' is not a Docker tag"),
            (
                {"environmentTags": {"prod": 1.1}},
                "environmentTags.prod: must be a string, got a number (YAML read a "
                'number: put it in quotes, e.g. prod: "1.10")',
            ),
            ({"environmentTags": {"prod": ""}}, "environmentTags.prod: must not be empty"),
            (
                {"environmentTags": {"prod": "1.0\n"}},
                "environmentTags.prod: '1.0\\n' has leading or trailing whitespace",
            ),
            ({"environment": ["prod"]}, "environment: unknown key; did you mean environments?"),
            ({"environment_tags": {"prod": "1.0"}}, "environment_tags: unknown key; did you mean environmentTags?"),
            ({"EnvironmentTags": {"prod": "1.0"}}, "EnvironmentTags: unknown key; did you mean environmentTags?"),
        ],
        ids=[
            "empty",
            "string",
            "unknown",
            "number",
            "twice",
            "tags-list",
            "tag-unknown-environment",
            "tag-narrowed-away",
            "tag-not-docker",
            "tag-number",
            "tag-empty",
            "tag-newline",
            "singular",
            "snake-case-tags",
            "capitalised-tags",
        ],
    )
    def test_bad_entry_environments(self, overrides, problem):
        (found,) = problems_of(with_environments(entry(**overrides)))
        assert found.startswith(f"connectors.source_definitions[0].{problem}"), found

    @pytest.mark.parametrize("key", ["environments", "environmentTags"])
    def test_entry_keys_need_the_section(self, key):
        value = ["prod"] if key == "environments" else {"prod": "1.0"}
        assert problems_of({"source_definitions": [entry(**{key: value})]}) == [
            f"connectors.source_definitions[0].{key}: there is no connectors.environments section; declare the "
            f"environments there or remove {key}"
        ]

    def test_without_the_section_other_unknown_keys_are_still_ignored(self):
        config = parse_connectors({"source_definitions": [entry(environment="prod", environment_tags={})]})
        assert config.source_definitions[0].environments is None

    def test_an_unusable_section_does_not_report_every_entry(self):
        problems = problems_of(with_environments(entry(environments=["prod"]), environments=["staging", "prod"]))
        assert [p.split(":")[0] for p in problems] == ["connectors.environments"]


class TestIdentityPerEnvironment:
    def test_entries_in_different_environments_may_share_an_image(self):
        staging_id, prod_id = "6371b14b-bc68-4236-bfbd-468e8df8e968", "25c5221d-dce2-4163-ade9-739ef790f503"
        config = parse_connectors(
            with_environments(
                entry(environments=["staging"], sourceDefinitionId=staging_id),
                entry(
                    name="PokeAPI (prod)", environments=["prod"], dockerImageTag="0.3.39", sourceDefinitionId=prod_id
                ),
            )
        )
        for name, tag, definition_id in [("staging", "0.3.40", staging_id), ("prod", "0.3.39", prod_id)]:
            (poke,) = config.for_environment(name).source_definitions
            assert (poke.docker_image_tag, poke.definition_id) == (tag, definition_id)

    def test_an_image_twice_in_one_environment_names_where(self):
        problems = problems_of(
            with_environments(entry(environments=["prod"]), entry(name="Other", dockerImageTag="1.0.0"))
        )
        assert problems == [
            "connectors.source_definitions[1].dockerRepository: 'airbyte/source-pokeapi' already used by "
            "connectors.source_definitions[0] (both apply in prod)"
        ]

    def test_an_id_twice_in_one_environment_is_refused(self):
        same = "6371b14b-bc68-4236-bfbd-468e8df8e968"
        problems = problems_of(
            with_environments(
                entry(environments=["staging", "prod"], sourceDefinitionId=same),
                entry(dockerRepository="acme/other", environments=["staging"], sourceDefinitionId=same.upper()),
            )
        )
        assert problems == [
            f"connectors.source_definitions[1].sourceDefinitionId: '{same.upper()}' already used by "
            "connectors.source_definitions[0] (both apply in staging)"
        ]

    def test_duplicates_in_every_environment_read_as_today(self):
        problems = problems_of(with_environments(entry(), entry(name="Other")))
        assert problems == [
            "connectors.source_definitions[1].dockerRepository: 'airbyte/source-pokeapi' already used by "
            "connectors.source_definitions[0]"
        ]


class TestEveryEnvironmentProblemAtOnce:
    def test_section_and_entries_are_all_reported_with_their_paths(self):
        section = with_environments(
            entry(environments=["qa"]),
            entry(dockerRepository="acme/b", environmentTags={"prod": "bad tag"}),
            environments={
                "staging": {"conn_id": "shared", "soak": "3d"},
                "prod": {"conn_id": "shared", "promoteFrom": "prod", "successfulSyncs": -1},
                "dev": {"conn_id": "dev", "promoteFrom": "qa"},
            },
        )
        assert [problem.split(": ")[0] for problem in problems_of(section)] == [
            "connectors.environments.staging.soak",
            "connectors.environments.prod.promoteFrom",
            "connectors.environments.prod.successfulSyncs",
            "connectors.environments.dev.promoteFrom",
            "connectors.environments.prod.conn_id",
            "connectors.source_definitions[0].environments[0]",
            "connectors.source_definitions[1].environmentTags.prod",
        ]


def entry_definition(kind: str, tag: str = "0.3.40") -> DesiredDefinition:
    return DesiredDefinition(
        kind=kind,  # type: ignore[arg-type]
        name="PokeAPI",
        docker_repository="airbyte/source-pokeapi",
        docker_image_tag=tag,
        documentation_url="https://docs.airbyte.com/integrations/sources/pokeapi",
    )
