"""Every regular expression in the package finishes quickly on hostile input and none uses ``$``.

The patterns are found, not listed: compiled module-level patterns by importing every module of the
package, and patterns written inline (``re.fullmatch(r"...", path)``) by reading each module's source.
A new pattern is fuzzed without anyone having to remember it.

For each pattern a short string it matches is built from its parse tree; hostile inputs are that string
cut at every position, with a long run of one or two characters inserted there (the text a loop in the
pattern may claim twice) and a tail that makes the match fail, plus random text. A sweep on 2 kB runs
finds the costliest shapes; those are then grown to 1 MiB, where every call must finish in MAX_SECONDS.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import random
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from re import _constants as sre  # the parse tree's opcodes (Python >= 3.11)
from re import _parser

import pytest

import airflow_airbyte_connectors

PACKAGE = Path(airflow_airbyte_connectors.__file__).parent
MiB = 1 << 20
# CPU seconds of one call of one pattern on 1 MiB of input. A backtracking trap costs seconds to hours at
# this size (quadratic: 1.5 s at 20 kB), a linear scan a few milliseconds.
MAX_SECONDS = 0.05
SWEEP_LENGTH = 2048
GROWTH = (16 * 1024, 64 * 1024, 256 * 1024, MiB)  # a trap fails at the first size, before it costs minutes
COSTLIEST = 12  # sweep shapes grown to 1 MiB per pattern
TAILS = ("", "\n", " ", "\x00", "!", '"', "/", ".", "-", "=")
EXTRA_UNITS = ("a", "0", "A", " ", "\\", "é", "a.", "a-", "a/", "a:", "0.", "a=", 'a"', "a ", "\\a")
SEARCHING = {"search", "sub", "subn", "split", "findall", "finditer"}
RE_FUNCTIONS = SEARCHING | {"compile", "match", "fullmatch"}


@dataclass(frozen=True)
class Found:
    where: str
    pattern: re.Pattern[str]
    # How the package calls it: a compiled pattern may be searched anywhere, so it is fuzzed with search,
    # the costliest call (it tries every start position); an inline re.fullmatch(...) with fullmatch.
    call: str

    def run(self, text: str) -> object:
        return getattr(self.pattern, self.call)(text)


def package_modules() -> Iterator[str]:
    yield airflow_airbyte_connectors.__name__
    for module in pkgutil.walk_packages(airflow_airbyte_connectors.__path__, f"{airflow_airbyte_connectors.__name__}."):
        yield module.name


def compiled_patterns() -> dict[int, Found]:
    found: dict[int, Found] = {}
    for name in sorted(package_modules()):
        if name.endswith("__main__"):  # running them starts the CLI or the emulator; their source is read below
            continue
        module = importlib.import_module(name)
        for attribute, value in sorted(vars(module).items()):
            if isinstance(value, re.Pattern) and isinstance(value.pattern, str) and id(value) not in found:
                found[id(value)] = Found(f"{name}.{attribute}", value, "search")
    return found


def inline_patterns() -> tuple[list[Found], list[str]]:
    """Literal patterns passed to re.* calls, and the places where a pattern cannot be read from the source
    (not a literal, and not a module-level ``NAME = re.compile(...)`` that importing finds)."""
    found, unreadable = [], []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        module_level = {id(node.value) for node in tree.body if isinstance(node, ast.Assign)}
        for node in ast.walk(tree):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "re"
                and node.func.attr in RE_FUNCTIONS
                and node.args
            ):
                continue
            where = f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                call = "search" if node.func.attr in SEARCHING | {"compile"} else node.func.attr
                found.append(Found(where, re.compile(first.value), call))
            elif not (node.func.attr == "compile" and id(node) in module_level):
                unreadable.append(where)
    return found, unreadable


def all_patterns() -> list[Found]:
    compiled = compiled_patterns()
    inline, _ = inline_patterns()
    known = {(found.pattern.pattern, found.call) for found in compiled.values()}
    return [*compiled.values(), *(found for found in inline if (found.pattern.pattern, found.call) not in known)]


PATTERNS = all_patterns()


def _in_class(char: str, items: list) -> bool:
    """Whether ``char`` is in a parsed character class ``[...]``."""
    code, hit, negate = ord(char), False, False
    categories: dict[object, Callable[[str], bool]] = {
        sre.CATEGORY_DIGIT: str.isdigit,
        sre.CATEGORY_NOT_DIGIT: lambda c: not c.isdigit(),
        sre.CATEGORY_SPACE: str.isspace,
        sre.CATEGORY_NOT_SPACE: lambda c: not c.isspace(),
        sre.CATEGORY_WORD: lambda c: c.isalnum() or c == "_",
        sre.CATEGORY_NOT_WORD: lambda c: not (c.isalnum() or c == "_"),
    }
    for op, value in items:
        if op is sre.NEGATE:
            negate = True
        elif op is sre.LITERAL:
            hit |= code == value
        elif op is sre.RANGE:
            hit |= value[0] <= code <= value[1]
        elif op is sre.CATEGORY:
            hit |= categories[value](char)
    return hit != negate


CANDIDATES = "a0A-._/:=\"' ~é\\"
ASCII_AND_LATIN = "".join(map(chr, range(0x250)))


def sample(items: _parser.SubPattern | list) -> str:
    """A short string the parsed pattern matches: first branch of each choice, each loop run once."""
    out = []
    for op, value in items:
        if op is sre.LITERAL:
            out.append(chr(value))
        elif op is sre.NOT_LITERAL or op is sre.ANY:
            out.append("a" if value != ord("a") else "b")
        elif op is sre.IN:
            out.append(next((c for c in CANDIDATES + ASCII_AND_LATIN if _in_class(c, value)), ""))
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
            low, _high, body = value
            out.append(sample(body) * max(low, 1))
        elif op is sre.SUBPATTERN:
            out.append(sample(value[-1]))
        elif op is sre.ATOMIC_GROUP:
            out.append(sample(value))
        elif op is sre.BRANCH:
            out.append(sample(value[1][0]))
        # AT (anchors), ASSERT, ASSERT_NOT: no text
    return "".join(out)


def uses_dollar(items: _parser.SubPattern | list) -> bool:
    for op, value in items:
        if op is sre.AT and value in (sre.AT_END, sre.AT_END_LINE):
            return True
        children = []
        if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
            children = [value[2]]
        elif op is sre.SUBPATTERN:
            children = [value[-1]]
        elif op is sre.ATOMIC_GROUP:
            children = [value]
        elif op in (sre.ASSERT, sre.ASSERT_NOT):
            children = [value[1]]
        elif op is sre.BRANCH:
            children = value[1]
        if any(uses_dollar(child) for child in children):
            return True
    return False


def cost(found: Found, text: str, *, tries: int = 3) -> float:
    """CPU seconds one call takes: the pattern's own cost. Wall time would count the time this thread waits
    for a core on a shared machine (a load of 7 on 2 cores made a 25 ms scan take 80 ms); the best of
    ``tries``, taken only once over the bound, absorbs what is left (cache, clock speed), since a pattern
    is never faster than its cheapest try."""
    best = float("inf")
    for _ in range(tries):
        started = time.thread_time()
        found.run(text)
        best = min(best, time.thread_time() - started)
        if best < MAX_SECONDS:
            break
    return best


def shapes(found: Found) -> list[tuple[str, str, str]]:
    """(prefix, repeated unit, tail) for every cut of the pattern's sample."""
    base = sample(_parser.parse(found.pattern.pattern, found.pattern.flags))
    units = dict.fromkeys([*base, *EXTRA_UNITS, *(a + b for a in "a0" for b in dict.fromkeys(base) if not b.isalnum())])
    return [(base[:cut], unit, tail) for cut in range(len(base) + 1) for unit in units for tail in TAILS]


def hostile(prefix: str, unit: str, tail: str, length: int) -> str:
    return prefix + unit * (length // len(unit)) + tail


class TestDiscovery:
    def test_the_known_patterns_are_found(self):
        # A pattern imported by another module may be found under that module's name first.
        found = {id(found.pattern) for found in PATTERNS}
        for expected in (
            "airflow_airbyte_connectors.config.configs.HTTP_URL_RE",
            "airflow_airbyte_connectors.config.configs.DOCKER_REPOSITORY_RE",
            "airflow_airbyte_connectors.core.versions._SEMVER",
            "airflow_airbyte_connectors.clients.connector_registry._JSON_STRING",
        ):
            module, attribute = expected.rsplit(".", 1)
            assert id(getattr(importlib.import_module(module), attribute)) in found, expected
        assert any(found.where.startswith("airflow_airbyte_connectors/testing/server.py:") for found in PATTERNS)

    def test_every_pattern_can_be_read(self):
        _, unreadable = inline_patterns()
        assert not unreadable, f"compile these patterns at module level so this test fuzzes them: {unreadable}"

    def test_a_sample_is_built_for_every_pattern(self):
        for found in PATTERNS:
            text = sample(_parser.parse(found.pattern.pattern, found.pattern.flags))
            assert found.pattern.search(text), f"{found.where}: sample {text!r} does not match"


@pytest.mark.parametrize("found", PATTERNS, ids=[found.where for found in PATTERNS])
class TestEveryPattern:
    def test_no_dollar(self, found: Found):
        """``$`` also matches before a trailing newline: ``dockerImageTag: "1.0.0\\n"`` would pass."""
        assert not uses_dollar(_parser.parse(found.pattern.pattern, found.pattern.flags)), (
            f"{found.where}: use \\Z (or fullmatch), not $"
        )

    def test_hostile_input_of_1_mib_is_fast(self, found: Found):
        swept = []
        for prefix, unit, tail in shapes(found):
            seconds = cost(found, hostile(prefix, unit, tail, SWEEP_LENGTH))
            assert seconds < MAX_SECONDS, f"{found.where}: {seconds:.3f} s on {SWEEP_LENGTH} characters of {unit!r}"
            swept.append((seconds, prefix, unit, tail))
        swept.sort(reverse=True)
        for _, prefix, unit, tail in swept[:COSTLIEST]:
            for length in GROWTH:
                seconds = cost(found, hostile(prefix, unit, tail, length))
                assert seconds < MAX_SECONDS, (
                    f"{found.where}: {seconds:.3f} s on {prefix!r} + {length} characters of {unit!r} + {tail!r}"
                )

    def test_random_input_of_1_mib_is_fast(self, found: Found):
        rng = random.Random(found.where)
        base = sample(_parser.parse(found.pattern.pattern, found.pattern.flags))
        alphabet = "".join(dict.fromkeys(base + CANDIDATES + "\n\x00"))
        for _ in range(3):
            text = base + "".join(rng.choices(alphabet, k=MiB))
            seconds = cost(found, text)
            assert seconds < MAX_SECONDS, f"{found.where}: {seconds:.3f} s on 1 MiB of random text"


# Version-shaped text, and the same shape with letters: a pattern that takes the first and refuses the second
# reads versions. Such a pattern belongs in versions.py, the one grammar of versions.
VERSIONS = ("1.2.3", "v1.2.3", "0.63.9", "1.2.3-rc.1")
VERSIONS_MODULE = ("airflow_airbyte_connectors.core.versions.", "airflow_airbyte_connectors/core/versions.py:")


def reads_versions(pattern: re.Pattern[str]) -> bool:
    return any(pattern.fullmatch(text) and not pattern.fullmatch(re.sub("[0-9]", "a", text)) for text in VERSIONS)


class TestOneVersionGrammar:
    def test_only_versions_py_has_version_patterns(self):
        elsewhere = [
            found.where
            for found in PATTERNS
            if reads_versions(found.pattern) and not found.where.startswith(VERSIONS_MODULE)
        ]
        assert not elsewhere, (
            f"parse versions with airflow_airbyte_connectors.core.versions, not a pattern of its own: {elsewhere}"
        )

    @pytest.mark.parametrize(
        ("pattern", "expected"),
        [
            (r"\A[0-9]++\.[0-9]++\.[0-9]++\Z", True),
            (r"v?(\d{1,18})\.(\d{1,18})\.(\d{1,18})", True),
            (r"\A[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z", False),  # a Docker tag: any text of its alphabet
            (r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}\Z", False),
        ],
        ids=["x.y.z", "v-prefix", "docker-tag", "date"],
    )
    def test_a_version_pattern_is_recognised(self, pattern: str, expected: bool):
        assert reads_versions(re.compile(pattern)) is expected
