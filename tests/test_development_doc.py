"""docs/development.md names every route the Airbyte emulator serves, so its list of resources cannot fall behind.

The routes are found, not listed: every path of Airbyte's spec for each profile, and every path-like string of
the emulator's modules, asked of an emulator of each profile; what it does not answer 404 (or 405) it serves.
Path patterns (``/metadata/(.+)/latest/oss\\.json``) are read from its source: the page must show a path they take.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest
import yaml

from airflow_airbyte_connectors.testing import AirbyteEmulator
from tests.support import PROFILE_SPECS, REPO_ROOT, require_airbyte_files

DEVELOPMENT = REPO_ROOT / "docs" / "development.md"
API = "/api/v1/"
# The Airbyte emulator's modules; image_registry.py is the Docker registry stand-in, a server of its own.
EMULATOR = sorted(
    path
    for path in (REPO_ROOT / "airflow_airbyte_connectors" / "testing").glob("*.py")
    if path.name != "image_registry.py"
)
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
def strings_in_source() -> tuple[set[str], set[str]]:
    """Path-like string literals of the emulator (``/registry/oss_registry.json``, ``connections/list``), and the
    patterns its routes match paths with (the literals passed to ``re.*`` that start with ``/``)."""
    literals, patterns = set(), set()
    for path in EMULATOR:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            if re.fullmatch(r"/?[a-z_]+(?:/[a-z0-9_.-]+)+", node.value):
                literals.add(node.value)
        patterns.update(p for p in inline_patterns(path) if p.startswith("/"))
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


def answers(emulator: AirbyteEmulator, path: str) -> bool:
    posted, _ = emulator.handle(path, {}, b"{}")
    got, _ = emulator.handle_get(path)
    return posted not in NOT_SERVED or got not in NOT_SERVED


def named(text: str, route: str) -> bool:
    """``route`` on its own (``workspaces/list`` is not named by ``workspaces/list_by_organization_id``), alone or
    after ``/api/v1/``."""
    before = "" if route.startswith("/") else rf"(?:(?<![\w/])|(?<={re.escape(API)}))"  # a path may follow a host
    return re.search(rf"{before}{re.escape(route)}(?![\w/])", text) is not None


def unnamed(text: str) -> list[str]:
    operations, paths = served()
    _, patterns = strings_in_source()
    missing = [route for route in sorted(operations | paths) if not named(text, route)]
    tokens = re.findall(r"/[^\s`'\"()]+", text)
    missing += [p for p in sorted(patterns) if not any(re.fullmatch(p, token) for token in tokens)]
    return missing


def test_the_routes_are_found():
    operations, paths = served()
    assert {"source_definitions/update", "workspaces/list", "commands/run/spec", "instance_configuration"} <= operations
    assert {"/registry/oss_registry.json", "/emulator/control/sync_jobs"} <= paths
    assert r"/metadata/(.+)/latest/oss\.json" in strings_in_source()[1]


def test_development_md_names_every_route_the_emulator_serves():
    missing = unnamed(DEVELOPMENT.read_text(encoding="utf-8"))
    assert not missing, f"docs/development.md (The Airbyte emulator) does not name: {', '.join(missing)}"


@pytest.mark.parametrize(
    "route", ["sources/search", "/files/platform/v0/platform-compatibility.json", "/metadata/"], ids=str
)
def test_a_route_left_out_of_the_page_is_reported(route: str):
    text = DEVELOPMENT.read_text(encoding="utf-8")
    without = re.sub(rf"(?<![\w/]){re.escape(route)}[^\s`]*", "", text.replace(API + route, ""))
    assert unnamed(without), f"removing {route} from the page went unnoticed"
