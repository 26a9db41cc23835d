from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from airflow_airbyte_connectors import configs
from airflow_airbyte_connectors.configs import (
    MAX_QUOTED_CHARS,
    ConfigError,
    ConnectorsConfig,
    get_configs,
    parse_connectors,
    quote,
)
from tests.support import registry, require_airbyte_files

DATA = Path(__file__).parent / "data" / "configs"


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
