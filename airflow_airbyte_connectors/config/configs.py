"""Load ``basic_config`` and validate its ``connectors`` section.

Pure module: no Airflow, no HTTP. Every problem in the file is collected and reported at once, each
with its path in the file (``connectors.source_definitions[3].dockerImageTag: ...``).
"""

from __future__ import annotations

import dataclasses
import os
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO
from uuid import UUID

import yaml

from airflow_airbyte_connectors.config.environments import Environment, listed, parse_environments, unknown_environment
from airflow_airbyte_connectors.config.policies import DEFAULT_POLICY, Policy, parse_entry_policy, parse_section_policy
from airflow_airbyte_connectors.core.files import NotRegularFileError, open_regular_file
from airflow_airbyte_connectors.core.kinds import KINDS, Kind, id_key, list_key
from airflow_airbyte_connectors.core.quoting import MAX_QUOTED_CHARS, quote
from airflow_airbyte_connectors.core.quoting import key_text as _key_text
from airflow_airbyte_connectors.core.quoting import type_name as _type_name

# A basic_config is a small hand- or DAG-written file; anything this large is a mistake (or an attack).
MAX_CONFIG_BYTES = 5 * 1024 * 1024
# YAML aliases let a few lines expand to billions of nodes; a connector list never needs many.
MAX_YAML_ALIASES = 100
# The whole Airbyte registry as a basic_config is under 20,000 YAML nodes and 6 levels deep. Beyond these
# a file is refused during the streaming pre-scan, before any Python objects are built: the pure-Python
# loader recurses (RecursionError) and its scanner is quadratic on deep flow collections, and a 5 MB file
# of `[x,x,...]` is 2.6 million nodes and as many problems.
MAX_YAML_NODES = 100_000
MAX_YAML_DEPTH = 64
# A config this wrong is reported by its first problems; the rest are counted.
MAX_REPORTED_PROBLEMS = 200
# Characters YAML does not allow in a stream (PyYAML's reader refuses them, with an offset, not a line).
_NON_PRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

# Length limits. Airbyte stores a definition's name, repository, tag and documentation URL in varchar(256)
# columns (airbyte-platform, airbyte-db/db-lib/src/main/resources/configs_database/schema_dump.txt:
# actor_definition.name, actor_definition_version.docker_repository / docker_image_tag / documentation_url);
# a longer value fails inside Airbyte. Docker is stricter for images (distribution/reference): a name of
# at most 255 characters, a tag of at most 128.
MAX_NAME_CHARS = 256
MAX_REPOSITORY_CHARS = 255
MAX_TAG_CHARS = 128
MAX_URL_CHARS = 256

# Every pattern is anchored with \A...\Z (``$`` also matches before a trailing newline) and written so that
# no two quantifiers can match the same text; possessive quantifiers (``++``, ``*+``) never give text back.
# Docker reference grammar (distribution/reference): optional registry host (it has a dot or a port, or
# is localhost, else it is the first path component), then lowercase path components separated by "/";
# a tag is up to 128 word characters, dots and dashes.
# A name is at most 255 characters: the lookahead refuses a longer one before the grammar reads it.
_LABEL = r"[a-zA-Z0-9][a-zA-Z0-9-]*+(?<!-)"
_HOST = rf"(?:(?:{_LABEL}(?:(?:\.{_LABEL})++(?::[0-9]++)?+|:[0-9]++)|localhost)/)"
_PATH_COMPONENT = r"[a-z0-9]++(?:(?:[._]|__|-++)[a-z0-9]++)*+"
DOCKER_REPOSITORY_RE = re.compile(
    rf"\A(?=[\s\S]{{1,{MAX_REPOSITORY_CHARS}}}+\Z){_HOST}?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*+\Z"
)
DOCKER_TAG_RE = re.compile(r"\A[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z")
# The host part and the rest are split by their first character, so they cannot both claim the same text.
HTTP_URL_RE = re.compile(r"\Ahttps?://[^\s/?#]++(?:[/?#]\S*+)?+\Z", re.IGNORECASE)
_UUID_RE = re.compile(r"\A[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")
# Refused in every field: control characters (Cc), invisible format characters (Cf: bidi controls such as
# U+202E, zero-width characters, U+FEFF), lone surrogates (Cs) and line/paragraph separators (Zl, Zp). They
# make a name look like another one, or break the plan's one-line-per-change output.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
# Control characters have no Unicode name; these are the ones a config is likely to hold.
_CONTROL_NAMES = {"\t": "CHARACTER TABULATION", "\n": "LINE FEED", "\r": "CARRIAGE RETURN", "\x00": "NULL"}


class ConfigError(ValueError):
    """basic_config is missing, unreadable or invalid. ``problems`` lists every problem with its path."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {problem}" for problem in problems)
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        super().__init__(f"Invalid basic_config {source} ({count}):\n{lines}")


def first_problems(problems: list[str], prefix: str = "") -> list[str]:
    """The first MAX_REPORTED_PROBLEMS of ``problems``, and how many more there are."""
    if len(problems) <= MAX_REPORTED_PROBLEMS:
        return problems
    hidden = len(problems) - MAX_REPORTED_PROBLEMS
    return [*problems[:MAX_REPORTED_PROBLEMS], f"{prefix}{hidden} more problems not shown"]


@dataclass(frozen=True)
class DesiredDefinition:
    """One connector definition as the config declares it."""

    kind: Kind
    name: str
    docker_repository: str
    docker_image_tag: str
    documentation_url: str
    definition_id: str | None = None
    # The environments this entry applies in (its ``environments`` list); None: every environment.
    environments: frozenset[str] | None = None
    # ``environmentTags``: another dockerImageTag in some environments, an exception to docker_image_tag.
    environment_tags: Mapping[str, str] = dataclasses.field(default_factory=dict, hash=False)

    @property
    def id_key(self) -> str:
        return id_key(self.kind)

    def applies_in(self, environment: str) -> bool:
        return self.environments is None or environment in self.environments

    def in_environment(self, environment: str) -> DesiredDefinition:
        """The definition as ``environment`` wants it: that environment's tag, and nothing left to narrow."""
        if self.environments is None and not self.environment_tags:
            return self
        return dataclasses.replace(
            self,
            docker_image_tag=self.environment_tags.get(environment, self.docker_image_tag),
            environments=None,
            environment_tags={},
        )

    def to_api(self) -> dict[str, str]:
        """The definition in Airbyte's field names (also the JSON form used in XCom)."""
        fields = {
            "name": self.name,
            "dockerRepository": self.docker_repository,
            "dockerImageTag": self.docker_image_tag,
            "documentationUrl": self.documentation_url,
        }
        if self.definition_id:
            fields[self.id_key] = self.definition_id
        return fields


@dataclass(frozen=True)
class ConnectorsConfig:
    """The validated ``connectors`` section.

    Policies live beside the definitions, not in them: a policy bounds upgrade proposals only, so planning
    (which compares definitions) cannot see one.
    """

    source_definitions: tuple[DesiredDefinition, ...] = ()
    destination_definitions: tuple[DesiredDefinition, ...] = ()
    # ``connectors.policy``; DEFAULT_POLICY (pin) when the section has none.
    policy: Policy = DEFAULT_POLICY
    # The effective policy of each entry that overrides a key, by (kind, dockerRepository). Entries in different
    # environments may share an image: here the last one's policy wins, for_environment(name) has each one's.
    entry_policies: Mapping[tuple[Kind, str], Policy] = dataclasses.field(default_factory=dict, hash=False)
    # ``connectors.environments`` in promotion order (each after the one it promotes from); () without it.
    environments: tuple[Environment, ...] = ()
    # What each environment wants, by name (see for_environment); built by parse_connectors.
    environment_configs: Mapping[str, ConnectorsConfig] = dataclasses.field(
        default_factory=dict, hash=False, compare=False, repr=False
    )

    def for_environment(self, name: str) -> ConnectorsConfig:
        """What environment ``name`` wants: the entries that apply there, each at that environment's tag, with
        their policies. The result is a config without environments, as one Airbyte is planned today.

        Raises KeyError when the config declares no environment ``name``.
        """
        if name not in self.environment_configs:
            declared = listed({environment.name for environment in self.environments})
            raise KeyError(f"basic_config has no environment {quote(name)} (environments: {declared or 'none'})")
        return self.environment_configs[name]

    def of_kind(self, kind: Kind) -> tuple[DesiredDefinition, ...]:
        return self.source_definitions if kind == "source" else self.destination_definitions

    def policy_of(self, desired: DesiredDefinition) -> Policy:
        """The effective policy of ``desired``: its entry's overrides over the section default."""
        return self.entry_policies.get((desired.kind, desired.docker_repository), self.policy)


def get_configs(name: str, *, path: str | os.PathLike[str], raw: bytes | None = None) -> Any:
    """Return section ``name`` of the basic_config file at ``path``.

    For ``connectors`` the result is a validated :class:`ConnectorsConfig`; other sections are
    returned as loaded. Raises :class:`ConfigError` naming every problem found. ``raw``: the file's bytes
    when the caller has read them already (:func:`read_basic_config`), so the file is read once.
    """
    source = str(path)
    document = parse_basic_config(read_basic_config(path) if raw is None else raw, source=source)
    if name not in document:
        keys = sorted(map(_key_text, document))
        shown = ", ".join(keys[:10]) + (f" and {len(keys) - 10} more" if len(keys) > 10 else "")
        raise ConfigError(source, [f"{name}: section missing (top-level keys: {shown})"])
    section = document[name]
    if name == "connectors":
        return parse_connectors(section, source=source)
    return section


def read_basic_config(path: str | os.PathLike[str]) -> bytes:
    """The file's bytes, bounded by :data:`MAX_CONFIG_BYTES`. Only a regular file is read (a FIFO would block)."""
    source = str(path)
    try:
        with open_regular_file(path) as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > MAX_CONFIG_BYTES:
                raise ConfigError(source, [f"file is {size} bytes; the limit is {MAX_CONFIG_BYTES} bytes"])
            # A file growing while it is read is bounded by the read itself.
            raw = _read_at_most(handle, MAX_CONFIG_BYTES)
        if raw is None:
            raise ConfigError(source, [f"file is over {MAX_CONFIG_BYTES} bytes; the limit is {MAX_CONFIG_BYTES} bytes"])
    except ConfigError:
        raise
    except NotRegularFileError as exc:
        raise ConfigError(source, [f"{exc.reason}, expected a YAML file"]) from None
    except FileNotFoundError:
        raise ConfigError(source, ["file not found"]) from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        raise ConfigError(source, [f"cannot read file: {getattr(exc, 'strerror', None) or exc}"]) from None
    return raw


def parse_basic_config(raw: bytes, *, source: str) -> dict[Any, Any]:
    """Safely parse basic_config's bytes (UTF-8 YAML); the top level must be a mapping."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = _line_and_column(raw, exc.start)
        utf16 = "; it looks like UTF-16, save it as UTF-8" if raw.startswith((b"\xff\xfe", b"\xfe\xff")) else ""
        raise ConfigError(
            source,
            [f"not UTF-8 text (line {line}, column {column}: byte {quote(raw[exc.start : exc.start + 1])}){utf16}"],
        ) from None
    if (bad := _NON_PRINTABLE.search(text)) is not None:
        line, column = _line_and_column(text, bad.start())
        raise ConfigError(
            source,
            [f"YAML syntax: line {line}, column {column}: control character U+{ord(bad.group()):04X} is not allowed"],
        )
    try:
        document = _safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(source, [f"YAML syntax: {_describe_yaml_error(exc)}"]) from None
    if document is None:
        raise ConfigError(source, ["file is empty"])
    if not isinstance(document, dict):
        raise ConfigError(source, [f"top level must be a mapping, got {_type_name(document)}"])
    return document


def parse_connectors(section: Any, *, source: str = "basic_config") -> ConnectorsConfig:
    """Validate the ``connectors`` section; raise :class:`ConfigError` with every problem."""
    problems: list[str] = []
    if not isinstance(section, dict):
        raise ConfigError(
            source,
            [
                f"connectors: must be a mapping with source_definitions and/or "
                f"destination_definitions, got {_type_name(section)}"
            ],
        )
    expected = {list_key(kind) for kind in KINDS}
    for key in section:
        if key not in expected and key not in ("policy", "environments"):
            meant = "; did you mean environments?" if _loose(key) in _ENVIRONMENTS_MISSPELLED else ""
            problems.append(
                f"connectors.{_key_text(key)}: unknown key (expected {', '.join([*sorted(expected), 'policy'])}){meant}"
            )
    if not expected & set(section):
        problems.append("connectors: neither source_definitions nor destination_definitions is present")
    policy = parse_section_policy(section["policy"], "connectors.policy", problems) if "policy" in section else None
    has_environments = "environments" in section
    environments, declared = (
        parse_environments(section["environments"], "connectors.environments", problems)
        if has_environments
        else ((), None)
    )
    # Where each entry applies, for the identity checks: every environment, or the implicit one.
    everywhere = frozenset(declared or ()) if has_environments else _IMPLICIT_ENVIRONMENT

    parsed: dict[Kind, list[DesiredDefinition]] = {}
    overrides: list[tuple[DesiredDefinition, Policy]] = []
    for kind in KINDS:
        entries = section.get(list_key(kind), [])
        base = f"connectors.{list_key(kind)}"
        if not isinstance(entries, list):
            problems.append(f"{base}: must be a list (use [] for none), got {_type_name(entries)}")
            entries = []
        parsed[kind] = []
        applies_in: list[frozenset[str] | None] = []
        for index, entry in enumerate(entries):
            path = f"{base}[{index}]"
            definition = _parse_entry(kind, entry, path, problems)
            scope = _parse_scope(entry, path, has_environments, declared, problems)
            if scope is not None:
                applies_in.append(scope[0] or everywhere)
            else:  # its environments have a problem: left out of the identity checks, unless there is one
                applies_in.append(None if has_environments else everywhere)
            if definition is not None and scope is not None:
                definition = dataclasses.replace(definition, environments=scope[0], environment_tags=scope[1])
            if isinstance(entry, dict):
                override = parse_entry_policy(entry, path, problems, base=policy or DEFAULT_POLICY)
                if definition is not None and override is not None:
                    overrides.append((definition, override))
            if definition is not None:
                parsed[kind].append(definition)
        _check_unique(kind, entries, base, applies_in, everywhere if has_environments else None, problems)

    if problems:
        raise ConfigError(source, first_problems(problems, "connectors: "))
    config = ConnectorsConfig(
        tuple(parsed["source"]),
        tuple(parsed["destination"]),
        policy or DEFAULT_POLICY,
        {(definition.kind, definition.docker_repository): override for definition, override in overrides},
        environments,
    )
    views = {environment.name: _narrowed(config, overrides, environment.name) for environment in environments}
    return dataclasses.replace(config, environment_configs=views)


# Identity checks treat a config without environments as one environment with this name.
_IMPLICIT_ENVIRONMENT = frozenset({""})
_ENVIRONMENTS_MISSPELLED = {"env", "envs", "environment", "environments"}
# Near misses of an entry's environment keys, named when the config has environments: ignoring one would
# apply the entry everywhere, at its base tag. (Without the section, entries keep ignoring unknown keys.)
_SCOPE_MISSPELLED = {
    "environment": "environments",
    "environments": "environments",
    "environmenttag": "environmentTags",
    "environmenttags": "environmentTags",
}


def _loose(key: Any) -> str:
    return key.lower().replace("_", "").replace("-", "") if isinstance(key, str) else ""


def _narrowed(
    config: ConnectorsConfig, overrides: list[tuple[DesiredDefinition, Policy]], environment: str
) -> ConnectorsConfig:
    """What ``environment`` wants: the entries that apply there, at its tag, with their policies."""

    def wanted(definitions: tuple[DesiredDefinition, ...]) -> tuple[DesiredDefinition, ...]:
        return tuple(d.in_environment(environment) for d in definitions if d.applies_in(environment))

    policies = {(d.kind, d.docker_repository): p for d, p in overrides if d.applies_in(environment)}
    return ConnectorsConfig(
        wanted(config.source_definitions), wanted(config.destination_definitions), config.policy, policies
    )


def _parse_scope(
    entry: Any, path: str, has_environments: bool, declared: frozenset[str] | None, problems: list[str]
) -> tuple[frozenset[str] | None, dict[str, str]] | None:
    """An entry's ``environments`` (None: every environment) and ``environmentTags``; None on a problem.

    ``declared`` is None when the section is unusable: names are then not checked (its problem is reported).
    """
    if not isinstance(entry, dict):
        return None
    before = len(problems)
    for key in entry if has_environments else ():
        meant = _SCOPE_MISSPELLED.get(_loose(key))
        if meant is not None and key != meant:
            problems.append(f"{path}.{_key_text(key)}: unknown key; did you mean {meant}?")
    present = [key for key in ("environments", "environmentTags") if key in entry]
    if present and not has_environments:
        for key in present:
            problems.append(
                f"{path}.{key}: there is no connectors.environments section; declare the environments there "
                f"or remove {key}"
            )
        return None

    narrowed = _parse_entry_environments(entry, path, declared, problems) if "environments" in entry else None
    tags: dict[str, str] = {}
    value = entry.get("environmentTags")
    if "environmentTags" in entry and not isinstance(value, dict):
        problems.append(
            f"{path}.environmentTags: must be a mapping of environment names to tags such as "
            f'{{prod: "1.8.0"}}, got {_type_name(value)}'
        )
    elif isinstance(value, dict):
        for name, tag in value.items():
            tag_path = f"{path}.environmentTags.{_key_text(name)}"
            if not isinstance(name, str) or (declared is not None and name not in declared):
                problems.append(f"{tag_path}: {unknown_environment(name, declared)}")
            elif narrowed is not None and name not in narrowed:
                problems.append(
                    f"{tag_path}: the entry applies only in {listed(narrowed)} (its environments); "
                    f"add {name} there or remove this tag"
                )
            elif problem := _value_problem("dockerImageTag", tag, written_as=name):
                problems.append(f"{tag_path}: {problem}")
            else:
                tags[name] = tag
    if len(problems) > before:
        return None
    return narrowed, tags


def _parse_entry_environments(
    entry: dict[Any, Any], path: str, declared: frozenset[str] | None, problems: list[str]
) -> frozenset[str] | None:
    """An entry's ``environments``: a non-empty list of declared environment names, each once."""
    value = entry["environments"]
    if not isinstance(value, list) or not value:
        got = "an empty list" if isinstance(value, list) else _type_name(value)
        problems.append(
            f"{path}.environments: must be a list of the environments this entry applies in, such as [staging], "
            f"got {got} (leave it out for every environment)"
        )
        return None
    names: set[str] = set()
    for index, name in enumerate(value):
        name_path = f"{path}.environments[{index}]"
        if not isinstance(name, str) or (declared is not None and name not in declared):
            problems.append(f"{name_path}: {unknown_environment(name, declared)}")
        elif name in names:
            problems.append(f"{name_path}: {quote(name)} is listed twice")
        else:
            names.add(name)
    return frozenset(names)


_REQUIRED_FIELDS = ("name", "dockerRepository", "dockerImageTag", "documentationUrl")


def _parse_entry(kind: Kind, entry: Any, path: str, problems: list[str]) -> DesiredDefinition | None:
    if not isinstance(entry, dict):
        problems.append(f"{path}: must be a mapping with {', '.join(_REQUIRED_FIELDS)}, got {_type_name(entry)}")
        return None
    before = len(problems)
    values: dict[str, str] = {}
    for field in _REQUIRED_FIELDS:
        value = entry.get(field)
        if field not in entry or value is None:
            problems.append(f"{path}.{field}: required")
        elif problem := _value_problem(field, value):
            problems.append(f"{path}.{field}: {problem}")
        else:
            values[field] = value

    definition_id = entry.get(id_key(kind))
    if definition_id is not None:
        if not isinstance(definition_id, str) or not _UUID_RE.fullmatch(definition_id):
            problem = _text_problem(definition_id) if isinstance(definition_id, str) else None
            problems.append(f"{path}.{id_key(kind)}: {problem or f'{quote(definition_id)} is not a UUID'}")
        else:
            definition_id = str(UUID(definition_id))

    if len(problems) > before:
        return None
    return DesiredDefinition(
        kind=kind,
        name=values["name"],
        docker_repository=values["dockerRepository"],
        docker_image_tag=values["dockerImageTag"],
        documentation_url=values["documentationUrl"],
        definition_id=definition_id,
    )


# Per field: (longest value, the pattern it must match, what the problem says when it does not).
_FIELD_RULES: dict[str, tuple[int, re.Pattern[str] | None, str]] = {
    "name": (MAX_NAME_CHARS, None, ""),
    "dockerRepository": (
        MAX_REPOSITORY_CHARS,
        DOCKER_REPOSITORY_RE,
        "is not a Docker image name (lowercase, e.g. airbyte/source-pokeapi; no scheme, no tag)",
    ),
    "dockerImageTag": (
        MAX_TAG_CHARS,
        DOCKER_TAG_RE,
        "is not a Docker tag (letters, digits, '_', '.', '-'; at most 128; e.g. 0.3.40)",
    ),
    "documentationUrl": (MAX_URL_CHARS, HTTP_URL_RE, "is not an http(s) URL"),
}


def _value_problem(field: str, value: Any, *, written_as: str | None = None) -> str | None:
    """What is wrong with a value given for a required string field; ``written_as``: its key in the file."""
    if not isinstance(value, str):
        # YAML reads 1.10 as the number 1.1: the text as written is gone, so show how to write it.
        key = written_as or field
        if isinstance(value, bool):  # before int: bool is an int
            hint = f' (YAML reads yes/no/on/off/true/false as a boolean: put it in quotes, e.g. {key}: "yes")'
        elif isinstance(value, int | float):
            hint = f' (YAML read a number: put it in quotes, e.g. {key}: "1.10")'
        else:
            hint = ""
        return f"must be a string, got {_type_name(value)}{hint}"
    if not value.strip():
        return "must not be empty"
    return _field_problem(field, value)


def _field_problem(field: str, value: str) -> str | None:
    """What is wrong with a required field's text: whitespace around it, length, characters, then form."""
    limit, pattern, mistake = _FIELD_RULES[field]
    if len(value) > limit and value == value.strip():  # before the scan: a 1 MB value is not read through
        return f"{quote(value)} is too long: the limit is {limit} characters"
    if problem := _text_problem(value):
        return problem
    if pattern is not None and not pattern.fullmatch(value):
        return f"{quote(value)} {mistake}"
    return None


def _text_problem(value: str) -> str | None:
    """Leading or trailing whitespace, or a control or invisible character anywhere, named by code point."""
    if value != value.strip():
        where, char = ("starts", value[0]) if value[0].isspace() else ("ends", value[-1])
        return f"{quote(value)} has leading or trailing whitespace ({where} with {_describe(char)})"
    if value.isprintable():  # C-speed: no Cc, Cf, Cs, Zl or Zp in it
        return None
    for position, char in enumerate(value, start=1):
        if unicodedata.category(char) in _INVISIBLE_CATEGORIES:
            return (
                f"{quote(value)} contains {_describe(char)} at character {position} "
                "(control and invisible formatting characters are not allowed)"
            )
    return None


def _describe(char: str) -> str:
    """``U+202E RIGHT-TO-LEFT OVERRIDE``."""
    name = _CONTROL_NAMES.get(char) or unicodedata.name(char, "") or f"({unicodedata.category(char)})"
    return f"U+{ord(char):04X} {name}"


def _check_unique(
    kind: Kind,
    entries: list[Any],
    base: str,
    applies_in: list[frozenset[str] | None],
    everywhere: frozenset[str] | None,
    problems: list[str],
) -> None:
    """Within one kind and one environment, a repository or an ID may appear once: otherwise identity is
    ambiguous. Entries in different environments may share them (each Airbyte sees one of them).

    ``applies_in``: each entry's environments (None: left out, its environments have a problem);
    ``everywhere``: all the config's environments, None without the section.

    Names may repeat (Airbyte's own registry reuses a few with different images); identity is by ID,
    then image, and the plan notes the repetition.
    """
    for field in ("dockerRepository", id_key(kind)):
        # value -> the first entries using it, and where; they are in different environments from each other.
        seen: dict[str, list[tuple[int, frozenset[str]]]] = {}
        for index, entry in enumerate(entries):
            here = applies_in[index]
            if here is None or not isinstance(entry, dict) or not isinstance(entry.get(field), str):
                continue
            value = entry[field].strip()
            if field == id_key(kind) and _is_uuid(value):
                value = str(UUID(value))
            clashes = [
                f"{base}[{other}]{_where(there & here, everywhere)}"
                for other, there in seen.get(value, [])
                if there & here
            ]
            if clashes:
                problems.append(f"{base}[{index}].{field}: {quote(entry[field])} already used by {', '.join(clashes)}")
            else:
                seen.setdefault(value, []).append((index, here))


def _where(shared: frozenset[str], everywhere: frozenset[str] | None) -> str:
    """`` (both apply in prod)`` when two entries meet in only some of the environments."""
    return f" (both apply in {listed(shared)})" if everywhere is not None and shared != everywhere else ""


def _is_uuid(value: str) -> bool:
    try:
        UUID(value)
    except ValueError:
        return False
    return True


def _read_at_most(handle: BinaryIO, limit: int) -> bytes | None:
    """The whole content, or None when it is longer than ``limit`` (reads at most ``limit`` + 64 KiB)."""
    chunks: list[bytes] = []
    total = 0
    while chunk := handle.read(64 * 1024):
        total += len(chunk)
        if total > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _line_and_column(text: str | bytes, offset: int) -> tuple[int, int]:
    newline = "\n" if isinstance(text, str) else b"\n"
    # str with str, bytes with bytes; mypy cannot pair the two unions, hence the ignore.
    return text.count(newline, 0, offset) + 1, offset - (text.rfind(newline, 0, offset) + 1) + 1  # type: ignore[arg-type]


def _describe_yaml_error(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    if context:  # e.g. "expected a single document in the stream, but found another document"
        problem = f"{context}, {problem}"
    if len(problem) > 2 * MAX_QUOTED_CHARS:  # PyYAML quotes an unknown tag or alias whole
        problem = f"{problem[: 2 * MAX_QUOTED_CHARS]}… ({len(problem)} characters)"
    if mark is not None:
        return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
    return problem


# libyaml's safe loader where available: about 7x faster than the pure-Python one on large configs.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _position(event: yaml.Event) -> tuple[int, int]:
    """1-based line and column where a parser event starts (0, 0 when the parser gave no mark)."""
    mark = event.start_mark
    return (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)


def _safe_load(text: str) -> Any:
    """Safe YAML loading that refuses alias-heavy documents (billion laughs) before building them."""
    aliases = nodes = depth = 0
    for event in yaml.parse(text, Loader=_SAFE_LOADER):
        line, column = _position(event)
        if isinstance(event, yaml.NodeEvent):  # scalars, aliases, collection starts
            nodes += 1
            if nodes > MAX_YAML_NODES:
                raise yaml.YAMLError(
                    f"line {line}: more than {MAX_YAML_NODES} YAML nodes; basic_config is not this large"
                )
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_YAML_DEPTH:
                raise yaml.YAMLError(f"line {line}, column {column}: nested more than {MAX_YAML_DEPTH} levels deep")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        if isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_YAML_ALIASES:
                raise yaml.YAMLError(
                    f"line {line}: more than {MAX_YAML_ALIASES} aliases; "
                    "basic_config does not need YAML anchors at this scale"
                )
    loader = _SAFE_LOADER(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _refuse_duplicate_keys(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _refuse_duplicate_keys(root: yaml.Node) -> None:
    """YAML keeps the last of two equal keys silently; in a config that hides a mistake, so name it."""
    seen_nodes: set[int] = set()
    pending = [root]
    while pending:
        node = pending.pop()
        if id(node) in seen_nodes:  # aliases share nodes: visit each once
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first_line: dict[str, int] = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    if key.value in first_line:
                        raise yaml.YAMLError(
                            f"line {key.start_mark.line + 1}, column {key.start_mark.column + 1}: key "
                            f"{quote(key.value)} repeats the one on line {first_line[key.value]}"
                        )
                    first_line[key.value] = key.start_mark.line + 1
                pending.extend((key, value))
        elif isinstance(node, yaml.SequenceNode):
            pending.extend(node.value)
