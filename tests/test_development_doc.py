"""docs/development.md names every route the emulators serve (the Airbyte emulator and the image-registry
stand-in), so its list of resources cannot fall behind.

The routes are found, not listed: every path of Airbyte's spec for each profile, and every path-like string of
an emulator's modules, asked of the emulator (of each profile); what it does not answer 404 (or 405) it serves.
Path patterns (``/metadata/(.+)/latest/oss\\.json``) are read from the source: the page must show a path they
take, or write their named groups as placeholders (``/v2/<name>/tags/list``).
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest
import yaml

from airflow_airbyte_connectors.testing import AirbyteEmulator, ImageRegistryEmulator
from tests.support import PROFILE_SPECS, REPO_ROOT, require_airbyte_files

DEVELOPMENT = REPO_ROOT / "docs" / "development.md"
API = "/api/v1/"
TESTING = REPO_ROOT / "airflow_airbyte_connectors" / "testing"
# The Docker registry stand-in, a server of its own; every other module of testing/ is the Airbyte emulator's.
IMAGE_REGISTRY = TESTING / "image_registry.py"
EMULATOR = sorted(path for path in TESTING.glob("*.py") if path != IMAGE_REGISTRY)
NOT_SERVED = (404, 405)


def inline_patterns(path: Path) -> list[str]:
    """The literal patterns passed to ``re.*`` calls in a module."""
    return [
        node.args[0].value
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and getattr(node.func.value, "id", None) == "re"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ]


@cache
def spec_operations(spec: Path) -> frozenset[str]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader reads the 2 MB spec in a fraction
    return frozenset(
        p.removeprefix("/v1/") for p in yaml.load(spec.read_text(encoding="utf-8"), Loader=loader)["paths"]
    )


@cache
def strings_in_source(modules: tuple[Path, ...] = tuple(EMULATOR)) -> tuple[set[str], set[str]]:
    """Path-like string literals of an emulator (``/registry/oss_registry.json``, ``connections/list``), and the
    patterns its routes match paths with (the literals passed to ``re.*`` that start with ``/``)."""
    literals, patterns = set(), set()
    for path in modules:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            if re.fullmatch(r"/[a-z][a-z0-9_.-]*(?:/[a-z0-9_.-]+)*/?|[a-z_]+(?:/[a-z0-9_.-]+)+", node.value):
                literals.add(node.value)
        patterns.update(p for p in inline_patterns(path) if p.removeprefix("\\A").startswith("/"))
    return literals, patterns


@cache
def served() -> tuple[set[str], set[str]]:
    """The API operations (``source_definitions/list``) and the other paths (``/registry/oss_registry.json``)
    an emulator of some profile answers, asked in-process (each request's answer is all that matters here)."""
    require_airbyte_files()
    literals, _ = strings_in_source()
    operations, paths = set(), set()
    for profile, spec in PROFILE_SPECS.items():
        with AirbyteEmulator(
            profile=profile, registry="builtin", compatibility_matrix={"compatibleConnectors": []}, max_lifetime=120
        ) as emulator:
            written = {s.removeprefix(API) for s in literals if not s.startswith("/") or s.startswith(API)}
            for operation in spec_operations(spec) | written:
                if answers(emulator, API + operation):
                    operations.add(operation)
            paths.update(p for p in literals if p.startswith("/") and not p.startswith(API) and answers(emulator, p))
    return operations, paths


@cache
def served_by_the_image_registry() -> set[str]:
    literals, _ = strings_in_source((IMAGE_REGISTRY,))
    with ImageRegistryEmulator(max_lifetime=120) as registry:
        return {p for p in literals if p.startswith("/") and registry.answer("GET", p, {}, "")[0] not in NOT_SERVED}


def answers(emulator: AirbyteEmulator, path: str) -> bool:
    posted, _ = emulator.handle(path, {}, b"{}")
    got, _ = emulator.handle_get(path)
    return posted not in NOT_SERVED or got not in NOT_SERVED


def named(text: str, route: str) -> bool:
    """``route`` on its own (``workspaces/list`` is not named by ``workspaces/list_by_organization_id``), alone or
    after ``/api/v1/``."""
    # A path may follow a host (``http://127.0.0.1:8000/emulator/...``), an operation ``/api/v1/``.
    before = r"(?<![A-Za-z_])" if route.startswith("/") else rf"(?:(?<![\w/])|(?<={re.escape(API)}))"
    return re.search(rf"{before}{re.escape(route)}(?![\w/])", text) is not None


def shown(text: str, pattern: str) -> bool:
    """A path on the page that ``pattern`` takes, or the pattern with its named groups as ``<placeholders>``."""
    placeholders = re.sub(r"\(\?P<(\w+)>[^()]*\)", r"<\1>", pattern.removeprefix("\\A").removesuffix("\\Z"))
    if "\\" not in placeholders.replace("\\.", "") and named(text, placeholders.replace("\\.", ".")):
        return True
    return any(re.fullmatch(pattern, token) for token in re.findall(r"/[^\s`'\"()]+", text))


def unnamed(text: str) -> list[str]:
    operations, paths = served()
    patterns = strings_in_source()[1] | strings_in_source((IMAGE_REGISTRY,))[1]
    routes = operations | paths | served_by_the_image_registry()
    routes = {r.rstrip("/") or r for r in routes}  # /v2 and /v2/ are one route
    missing = [r for r in sorted(routes) if not (named(text, r) or named(text, r + "/"))]
    return missing + [p for p in sorted(patterns) if not shown(text, p)]


def test_the_routes_are_found():
    operations, paths = served()
    assert {"source_definitions/update", "workspaces/list", "commands/run/spec", "instance_configuration"} <= operations
    assert {"/registry/oss_registry.json", "/emulator/control/sync_jobs"} <= paths
    assert r"/metadata/(.+)/latest/oss\.json" in strings_in_source()[1]
    assert "/token" in served_by_the_image_registry()
    assert r"\A/v2/(?P<name>.+)/tags/list\Z" in strings_in_source((IMAGE_REGISTRY,))[1]


def test_development_md_names_every_route_the_emulator_serves():
    missing = unnamed(DEVELOPMENT.read_text(encoding="utf-8"))
    assert not missing, f"docs/development.md (The Airbyte emulator) does not name: {', '.join(missing)}"


@pytest.mark.parametrize(
    "route", ["sources/search", "/files/platform/v0/platform-compatibility.json", "/metadata/", "/cdn/"], ids=str
)
def test_a_route_left_out_of_the_page_is_reported(route: str):
    text = DEVELOPMENT.read_text(encoding="utf-8")
    without = re.sub(rf"(?<![\w/]){re.escape(route)}[^\s`]*", "", text.replace(API + route, ""))
    assert unnamed(without), f"removing {route} from the page went unnoticed"
