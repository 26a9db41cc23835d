"""Rewrite ``dockerImageTag`` values in basic_config's text, changing no other byte.

Pure module: no Airflow, no HTTP. The file is read with the same PyYAML parser that ``create_connectors``
uses: its composer gives each scalar's start and end offset and its quoting style, so the new tag is spliced
into the original text and nothing is re-emitted. Comments, key order, blank lines, indentation, flow or
block style, line endings and the other quotes stay as they are. A round-trip emitter (ruamel.yaml) was not
needed: it re-emits the document, reads YAML 1.2 where ``create_connectors`` reads 1.1 (``yes``, ``1_0``),
and its tree gives where a value starts but not where it ends.
"""

from __future__ import annotations

import difflib
import fcntl
import os
import re
import stat
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from airflow_airbyte_connectors.config.configs import (
    DOCKER_TAG_RE,
    MAX_CONFIG_BYTES,
    ConfigError,
    first_problems,
    parse_basic_config,
    read_basic_config,
)
from airflow_airbyte_connectors.core.files import NotRegularFileError, open_regular_file
from airflow_airbyte_connectors.core.kinds import KINDS, Kind, list_key
from airflow_airbyte_connectors.core.quoting import quote

TAG_FIELD = "dockerImageTag"
REPOSITORY_FIELD = "dockerRepository"

# The parser create_connectors reads with (libyaml where available): the pure-Python one refuses some files
# that libyaml reads, such as a tab before a comment. libyaml's offsets skip a leading byte order mark.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BOM = "\ufeff"
_STR_TAG = "tag:yaml.org,2002:str"
# YAML 1.2's core schema reads these as numbers, booleans or null (``1e3``, ``0o17``, ``.5``) where PyYAML's
# YAML 1.1 reads a string: a tag that another tool could read as a number is quoted too.
_YAML12_NOT_STRING = re.compile(
    # Anchored and possessive: linear on any input (tests/test_regexes.py fuzzes every pattern on 1 MiB).
    r"\A(?:[-+]?+(?:[0-9]++(?:\.[0-9]*+)?+|\.[0-9]++)(?:[eE][-+]?+[0-9]++)?+|0o[0-7]++|0x[0-9a-fA-F]++"
    r"|[-+]?+\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)|true|True|TRUE|false|False|FALSE|null|Null|NULL|~)\Z"
)
# An explicit tag before the value (``!!str 2.0``) stays; only the value after it is replaced. It starts a
# token (the lookbehind), so a search cannot restart inside a run of ``!``.
_EXPLICIT_TAG = re.compile(r"(?<!\S)!\S*+[ \t]++")


@dataclass(frozen=True)
class TagChange:
    """Change one entry's ``dockerImageTag`` from ``old_tag`` to ``new_tag``.

    The entry is named by ``position`` (0-based, as in ``connectors.source_definitions[3]``), by
    ``docker_repository``, or by both (then both must name the same entry).
    """

    kind: Kind
    old_tag: str
    new_tag: str
    position: int | None = None
    docker_repository: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.position is None and self.docker_repository is None:
            raise ValueError("a TagChange names its entry by position or docker_repository")

    def describe(self) -> str:
        """``connectors.source_definitions[3]`` or ``connectors.source_definitions (airbyte/source-x)``."""
        base = f"connectors.{list_key(self.kind)}"
        if self.position is not None:
            return f"{base}[{self.position}]"
        return f"{base} (dockerRepository {quote(self.docker_repository)})"


class BumpError(ConfigError):
    """A change cannot be made; ``problems`` names each one with its place in the file. Nothing was changed.

    A :class:`ConfigError`, so whatever reports config problems reports these too; only the headline differs.
    """

    def __str__(self) -> str:
        return super().__str__().replace("Invalid basic_config", "Cannot change tags in", 1)


@dataclass(frozen=True)
class _Splice:
    start: int
    end: int
    text: str
    path: tuple[Any, ...]
    new_tag: str


def apply_tags(text: str, changes: Iterable[TagChange], *, source: str = "basic_config") -> str:
    """``text`` with only the named ``dockerImageTag`` scalars replaced.

    The new value keeps the old one's quoting ('single', "double" or plain). A plain value that YAML would
    read as something other than a string (``2.0``, ``1e3``, ``true``) is written in double quotes instead.
    Raises :class:`BumpError`, naming every problem, when the text is not a valid basic_config, uses anchors
    or aliases, or when an entry is missing, ambiguous, holds another tag than ``old_tag``, or its tag is not
    a one-line scalar; or when a new tag is not a Docker tag.
    """
    changes = list(changes)
    try:
        before = parse_basic_config(text.encode("utf-8", "surrogatepass"), source=source)
    except ConfigError as exc:
        raise BumpError(source, exc.problems) from None
    problems = _anchor_problems(text)
    if problems:
        raise _refusal(source, problems)
    root = yaml.compose(text, Loader=_LOADER)
    splices: list[_Splice] = []
    for change in changes:
        splice = _locate(text, root, change, problems)
        if splice is not None:
            splices.append(splice)
    seen: dict[int, _Splice] = {}
    for splice in splices:
        if splice.start in seen:
            problems.append(
                f"{_path_text(splice.path)}: changed twice (to {quote(seen[splice.start].new_tag)} and "
                f"{quote(splice.new_tag)})"
            )
        seen[splice.start] = splice
    if problems:
        raise _refusal(source, problems)

    pieces: list[str] = []
    cursor = 0
    for splice in sorted(splices, key=lambda item: item.start):
        pieces += [text[cursor : splice.start], splice.text]
        cursor = splice.end
    result = "".join(pieces) + text[cursor:]
    _verify(before, result, splices, source)
    return result


def unified_diff(old: str, new: str, path: str | os.PathLike[str]) -> str:
    """A unified diff from ``old`` to ``new`` that ``git apply`` and ``patch -p1`` accept ("" when equal).

    Line endings are kept (a CRLF file gives CRLF lines); a last line without a newline is marked as git does.
    """
    name = Path(path).as_posix().lstrip("/")
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), fromfile=f"a/{name}", tofile=f"b/{name}"
    )
    out: list[str] = []
    for line in lines:
        if line.endswith(("\n", "\r")):
            out.append(line)
        else:
            out.append(f"{line}\n\\ No newline at end of file\n")
    return "".join(out)


def read_config_text(path: str | os.PathLike[str]) -> str:
    """The file's text exactly as stored: bounded like every basic_config read, line endings untouched."""
    raw = read_basic_config(path)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        # parse_basic_config names the offending byte with its line and column.
        parse_basic_config(raw, source=str(path))
        raise


def write_config_text(path: str | os.PathLike[str], text: str, *, expected: str) -> None:
    """Replace the file's content with ``text`` at once (no half-written config), if it still is ``expected``
    (the text :func:`read_config_text` gave); else :class:`BumpError` and nothing is changed.

    A symlink is written through (the link stays a link); the file keeps its mode, and its owner and group
    when running as root. A file that is read-only by its mode is refused, even for root. Two bumps at once
    never lose an edit: the file is locked (``flock``) and compared with ``expected`` right before it is
    replaced.
    """
    source = str(path)
    target = Path(os.path.realpath(path))
    try:
        with open_regular_file(target) as current:
            try:
                fcntl.flock(current.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # released when closed
            except BlockingIOError:
                raise BumpError(source, ["another bump is writing this file; run bump again"]) from None
            info = os.fstat(current.fileno())
            if not _writable(target, info):
                mode = stat.S_IMODE(info.st_mode)
                raise BumpError(source, [f"the file is read-only (mode {mode:04o}); nothing changed"])
            on_disk = current.read(MAX_CONFIG_BYTES + 1)
            # Replaced (another bump, an editor) or edited since it was read: writing would lose that edit.
            now = os.stat(target)
            replaced = (now.st_dev, now.st_ino) != (info.st_dev, info.st_ino)
            if replaced or on_disk != expected.encode("utf-8", "surrogatepass"):
                raise BumpError(source, ["the file changed since read; run bump again"])
            _replace(target, text.encode("utf-8", "surrogatepass"), info)
    except ConfigError:
        raise
    except NotRegularFileError as exc:
        raise BumpError(source, [f"{exc.reason}, expected a YAML file"]) from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        raise BumpError(source, [f"cannot write file: {getattr(exc, 'strerror', None) or exc}"]) from None


def _writable(target: Path, info: os.stat_result) -> bool:
    """Writable by its mode: root may write any file, but a file nobody may write is meant to stay as it is."""
    if os.geteuid() == 0:
        return bool(info.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    return os.access(target, os.W_OK)


def _replace(target: Path, content: bytes, info: os.stat_result) -> None:
    """A new file with ``content``, the old one's mode and (as root) owner, moved over ``target``."""
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(content)
            stream.flush()
            if os.geteuid() == 0:  # the new file is root's; only root may give it back (others own theirs)
                os.fchown(stream.fileno(), info.st_uid, info.st_gid)
            os.fchmod(stream.fileno(), stat.S_IMODE(info.st_mode))  # after chown, which may clear set-id bits
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _refusal(source: str, problems: list[str]) -> BumpError:
    """The error naming ``problems``: the first ones of a long list, and how many more there are."""
    return BumpError(source, first_problems(problems))


def _anchor_problems(text: str) -> list[str]:
    """An anchored value is shared by its aliases: changing it in one place would change it in others."""
    problems = []
    for event in yaml.parse(text, Loader=_LOADER):
        line = event.start_mark.line + 1 if event.start_mark is not None else 0
        if isinstance(event, yaml.AliasEvent):
            problems.append(f"line {line}: alias *{event.anchor}; tags are changed only in files without anchors")
        elif isinstance(event, yaml.NodeEvent) and event.anchor is not None:
            problems.append(f"line {line}: anchor &{event.anchor}; tags are changed only in files without anchors")
    return problems


def _locate(text: str, root: yaml.Node | None, change: TagChange, problems: list[str]) -> _Splice | None:
    """Where ``change``'s tag value is in ``text`` and what replaces it; None (and a problem) when it cannot be."""
    base = f"connectors.{list_key(change.kind)}"
    if not DOCKER_TAG_RE.fullmatch(change.new_tag):
        problems.append(f"{change.describe()}: new tag {quote(change.new_tag)} is not a Docker tag")
        return None
    connectors = _value(root, "connectors")
    entries = _value(connectors, list_key(change.kind)) if connectors is not None else None
    if not isinstance(entries, yaml.SequenceNode):
        problems.append(f"{base}: no such list in the file")
        return None
    position = change.position
    if change.docker_repository is not None:
        matches = [
            index
            for index, entry in enumerate(entries.value)
            if _scalar_value(_value(entry, REPOSITORY_FIELD)) == change.docker_repository
        ]
        if not matches:
            problems.append(f"{base}: no entry with dockerRepository {quote(change.docker_repository)}")
            return None
        if position is None and len(matches) > 1:
            where = ", ".join(f"[{index}]" for index in matches)
            problems.append(
                f"{base}: {len(matches)} entries with dockerRepository {quote(change.docker_repository)} "
                f"({where}); name the entry by position"
            )
            return None
        if position is not None and position not in matches:
            problems.append(f"{base}[{position}]: dockerRepository is not {quote(change.docker_repository)}")
            return None
        position = matches[0] if position is None else position
    assert position is not None  # TagChange names its entry one way or the other
    if not 0 <= position < len(entries.value):
        problems.append(f"{base}[{position}]: no such entry (the list has {len(entries.value)})")
        return None
    path = ("connectors", list_key(change.kind), position, TAG_FIELD)
    node = _value(entries.value[position], TAG_FIELD)
    where = _path_text(path)
    if not isinstance(node, yaml.ScalarNode):
        problems.append(f"{where}: {'missing' if node is None else 'not a single value'}")
        return None
    where = f"{where} (line {node.start_mark.line + 1})"
    if node.style in ("|", ">") or node.start_mark.line != node.end_mark.line:
        problems.append(f"{where}: the value spans several lines; write it on one line to change it")
        return None
    if node.tag != _STR_TAG:
        read_as = node.tag.rsplit(":", 1)[-1]
        problems.append(f"{where}: YAML reads {quote(node.value)} as {read_as}, not a string; put it in quotes")
        return None
    if node.value != change.old_tag:
        problems.append(f"{where}: is {quote(node.value)}, expected {quote(change.old_tag)}; nothing changed")
        return None
    shift = 1 if text.startswith(_BOM) and _LOADER is not yaml.SafeLoader else 0
    start, end = node.start_mark.index + shift, node.end_mark.index + shift
    if not _spans_value(text[start:end], node):  # never splice at an offset that does not hold the value
        problems.append(f"{where}: the value's place in the text could not be found exactly; edit it by hand")
        return None
    explicit = _EXPLICIT_TAG.match(text, start, end)
    if explicit is not None:  # ``!!str 1.0``: the string tag keeps any value a string
        return _Splice(
            explicit.end(), end, _written(change.new_tag, node.style, quote_if_ambiguous=False), path, change.new_tag
        )
    return _Splice(start, end, _written(change.new_tag, node.style, quote_if_ambiguous=True), path, change.new_tag)


def _spans_value(span: str, node: yaml.ScalarNode) -> bool:
    """Whether ``span`` is the one-line scalar ``node`` as written: plain, quoted, or after an explicit tag."""
    if node.style in ("'", '"'):
        return len(span) >= 2 and span[-1] == node.style and span[0] in (node.style, "!")
    return span == node.value or (span.startswith("!") and span.endswith(node.value))


def _written(tag: str, style: str | None, *, quote_if_ambiguous: bool) -> str:
    """``tag`` as YAML in ``style``; a Docker tag holds no quote or backslash, so no escaping is needed."""
    if style == "'":
        return f"'{tag}'"
    if style == '"' or (quote_if_ambiguous and _reads_as_non_string(tag)):
        return f'"{tag}"'
    return tag


def _reads_as_non_string(value: str) -> bool:
    resolved = yaml.resolver.Resolver().resolve(yaml.ScalarNode, value, (True, False))  # type: ignore[no-untyped-call]
    return resolved != _STR_TAG or _YAML12_NOT_STRING.fullmatch(value) is not None


def _value(mapping: yaml.Node | None, key: str) -> yaml.Node | None:
    """The value under ``key`` in a mapping node (duplicate keys were refused when the text was parsed)."""
    if not isinstance(mapping, yaml.MappingNode):
        return None
    for key_node, value in mapping.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            found: yaml.Node = value
            return found
    return None


def _scalar_value(node: yaml.Node | None) -> str | None:
    return node.value if isinstance(node, yaml.ScalarNode) else None


def _path_text(path: tuple[Any, ...]) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path).lstrip(".")


def _verify(before: dict[Any, Any], result: str, splices: list[_Splice], source: str) -> None:
    """Read the new text back: it must be the old document with exactly the new tags, as strings."""
    try:
        after = parse_basic_config(result.encode("utf-8", "surrogatepass"), source=source)
    except ConfigError as exc:
        raise BumpError(source, [f"the changed text does not read back: {'; '.join(exc.problems)}"]) from None
    expected = before
    for splice in splices:
        expected = _replaced(expected, splice.path, splice.new_tag)
    if after != expected:
        raise BumpError(source, ["the changed text reads back differently from the intended change; nothing changed"])


def _replaced(document: Any, path: tuple[Any, ...], value: str) -> Any:
    """A copy of ``document`` with ``value`` at ``path``; the parts not on the path are shared, not copied."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(document, list):
        return [_replaced(item, rest, value) if index == head else item for index, item in enumerate(document)]
    return {key: _replaced(item, rest, value) if key == head else item for key, item in document.items()}
