"""The emulator's seeds: the registry shipped with the package, a file, a URL, and the command line's options."""

from __future__ import annotations

import functools
import json
import socket
import threading
import tomllib
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
import yaml

from airflow_airbyte_connectors.config.configs import parse_connectors
from airflow_airbyte_connectors.testing import AirbyteEmulator, SeedError, builtin_registry, load_registry
from airflow_airbyte_connectors.testing.__main__ import build_emulator, build_parser, main
from tests.support import REPO_ROOT

KINDS = ("source", "destination")
SMALL = {
    "sources": [
        {
            "sourceDefinitionId": "11111111-1111-4111-8111-111111111111",
            "name": "Tiny",
            "dockerRepository": "example/source-tiny",
            "dockerImageTag": "1.0.0",
            "documentationUrl": "https://example.com/tiny",
        }
    ],
    "destinations": [],
}


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - keep test output clean
        pass


@pytest.fixture
def http_dir(tmp_path):
    """A folder served over HTTP on 127.0.0.1; yields (folder, base URL). Stopped after the test."""
    folder = tmp_path / "served"
    folder.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(folder)))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# -- the shipped registry ----------------------------------------------------------------------


def test_builtin_registry_loads_with_a_few_dozen_connectors():
    registry = builtin_registry()
    assert 20 <= len(registry["sources"]) <= 40 and 8 <= len(registry["destinations"]) <= 15


@pytest.mark.parametrize("kind", KINDS)
def test_builtin_registry_has_unique_ids_names_and_images(kind):
    entries = builtin_registry()[f"{kind}s"]
    for key in (f"{kind}DefinitionId", "name", "dockerRepository"):
        values = [entry[key] for entry in entries]
        assert len(values) == len(set(values)), key


def test_builtin_registry_is_a_valid_basic_config():
    registry = builtin_registry()
    config = parse_connectors(
        {"source_definitions": registry["sources"], "destination_definitions": registry["destinations"]},
        source="seed_registry.json",
    )
    assert len(config.source_definitions) == len(registry["sources"])
    assert all(d.definition_id for d in config.source_definitions + config.destination_definitions)


def test_builtin_registry_has_every_built_in_connector_of_the_example_config():
    # So the demo's PokeAPI, Postgres, ... are updates of built-in definitions, not creates.
    example = yaml.safe_load((REPO_ROOT / "examples" / "basic_config.yaml").read_text())["connectors"]
    registry = builtin_registry()
    for kind in KINDS:
        shipped = {entry["dockerRepository"]: entry for entry in registry[f"{kind}s"]}
        for wanted in example[f"{kind}_definitions"]:
            if wanted["dockerRepository"].startswith("ghcr.io/acme/"):
                assert wanted["dockerRepository"] not in shipped  # the custom one the demo creates
                continue
            entry = shipped[wanted["dockerRepository"]]
            assert entry["name"] == wanted["name"] and entry["dockerImageTag"] == wanted["dockerImageTag"]
            if f"{kind}DefinitionId" in wanted:
                assert entry[f"{kind}DefinitionId"] == wanted[f"{kind}DefinitionId"]


def test_builtin_registry_ships_in_the_package():
    package_data = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    for seed in ("seed_registry.json", "seed_image_history.json"):
        assert seed in package_data["airflow_airbyte_connectors.testing"]
        assert (REPO_ROOT / "airflow_airbyte_connectors" / "testing" / seed).is_file()


# -- AirbyteEmulator(seed=...) -----------------------------------------------------------------


def test_emulator_seeded_from_builtin():
    emulator = AirbyteEmulator(seed="builtin")
    assert len(emulator.definitions("source")) == len(builtin_registry()["sources"])
    assert len(emulator.definitions("destination")) == len(builtin_registry()["destinations"])


@pytest.mark.parametrize("as_type", [str, Path])
def test_emulator_seeded_from_a_path(tmp_path, as_type):
    path = tmp_path / "registry.json"
    path.write_text(json.dumps(SMALL))
    emulator = AirbyteEmulator(seed=as_type(path))
    assert [d["name"] for d in emulator.definitions("source")] == ["Tiny"]
    assert emulator.definitions("destination") == []


def test_emulator_seeded_from_a_dict_as_before():
    assert [d["name"] for d in AirbyteEmulator(seed=SMALL).definitions("source")] == ["Tiny"]


def test_emulator_seeded_from_a_url(http_dir):
    folder, base = http_dir
    (folder / "registry.json").write_text(json.dumps(SMALL))
    emulator = AirbyteEmulator(seed=f"{base}/registry.json")
    assert [d["dockerRepository"] for d in emulator.definitions("source")] == ["example/source-tiny"]


# -- seeds that cannot be used: one clear line ------------------------------------------------------


def test_url_not_found(http_dir):
    _, base = http_dir
    with pytest.raises(SeedError, match=r"^seed http://127\.0\.0\.1:\d+/missing\.json: the server answered HTTP 404"):
        load_registry(f"{base}/missing.json")


def test_url_nobody_listens():
    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(SeedError, match=r"cannot fetch"):
        load_registry(f"http://127.0.0.1:{port}/registry.json", timeout=5)


def test_url_that_never_answers_times_out():
    with socket.socket() as silent:  # accepts connections (backlog) but never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        with pytest.raises(SeedError, match=r"cannot fetch .*timed out"):
            load_registry(f"http://127.0.0.1:{silent.getsockname()[1]}/registry.json", timeout=0.5)


def test_url_answering_something_else(http_dir):
    folder, base = http_dir
    (folder / "page.html").write_text("<html>not a registry</html>")
    (folder / "list.json").write_text("[1, 2]")
    with pytest.raises(SeedError, match=r"page\.html: not JSON \(line 1, column 1"):
        load_registry(f"{base}/page.html")
    with pytest.raises(SeedError, match=r"list\.json: not a connector registry"):
        load_registry(f"{base}/list.json")


def test_file_problems(tmp_path):
    with pytest.raises(SeedError, match=r"cannot read the file \(No such file or directory\)"):
        load_registry(tmp_path / "absent.json")
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"sources": [{"name": "No image"}]}))
    with pytest.raises(SeedError, match=r"sources\[0\] lacks sourceDefinitionId, dockerRepository, dockerImageTag"):
        AirbyteEmulator(seed=broken)


# -- the command line ------------------------------------------------------------------------------


def _seeded(*argv: str) -> AirbyteEmulator:
    return build_emulator(build_parser().parse_args(["--port", "0", *argv]))


def test_cli_default_is_the_builtin_seed_and_none_is_empty():
    assert len(_seeded().definitions("source")) == len(builtin_registry()["sources"])
    empty = _seeded("--seed", "none")
    assert empty.definitions("source") == [] and empty.definitions("destination") == []


def test_cli_seed_from_path_and_url(tmp_path, http_dir):
    path = tmp_path / "registry.json"
    path.write_text(json.dumps(SMALL))
    folder, base = http_dir
    (folder / "registry.json").write_text(json.dumps(SMALL))
    for seed in (str(path), f"{base}/registry.json"):
        assert [d["name"] for d in _seeded("--seed", seed).definitions("source")] == ["Tiny"], seed


def test_cli_set_tag_and_remove():
    emulator = _seeded(
        "--set-tag",
        "source:airbyte/source-pokeapi=0.3.38",
        "--set-tag",
        "destination:airbyte/destination-postgres=2.4.1",
        "--remove",
        "destination:airbyte/destination-dev-null",
    )
    sources = {d["dockerRepository"]: d["dockerImageTag"] for d in emulator.definitions("source")}
    destinations = {d["dockerRepository"]: d["dockerImageTag"] for d in emulator.definitions("destination")}
    assert sources["airbyte/source-pokeapi"] == "0.3.38" and sources["airbyte/source-postgres"] == "3.7.0"
    assert destinations["airbyte/destination-postgres"] == "2.4.1"
    assert "airbyte/destination-dev-null" not in destinations
    assert len(destinations) == len(builtin_registry()["destinations"]) - 1


def test_cli_serves_the_registry_it_is_seeded_from_unless_told_otherwise(tmp_path):
    path = tmp_path / "registry.json"
    path.write_text(json.dumps(SMALL))
    for argv, served in [
        ((), [e["name"] for e in builtin_registry()["sources"]]),
        (("--seed", str(path)), ["Tiny"]),
        (("--registry", str(path)), ["Tiny"]),
    ]:
        with _seeded(*argv) as emulator:
            answer = requests.get(emulator.registry_url, timeout=10)
            assert answer.status_code == 200 and [e["name"] for e in answer.json()["sources"]] == served, argv
    with _seeded("--registry", "none") as emulator:
        assert requests.get(emulator.registry_url, timeout=10).status_code == 404


def test_cli_registry(tmp_path):
    path = tmp_path / "registry.json"
    path.write_text(json.dumps(SMALL))
    emulator = _seeded("--registry", str(path), "--registry-unreachable")
    assert emulator.registry_unreachable is True
    assert _seeded().registry_unreachable is False


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--seed", "http://127.0.0.1:1/registry.json"], "airbyte-emulator: seed http://127.0.0.1:1/registry.json: "),
        (["--set-tag", "source:example/unknown=1.0"], "airbyte-emulator: no source definition uses example/unknown"),
        (["--remove", "destination:example/unknown"], "airbyte-emulator: no destination definition uses"),
    ],
)
def test_cli_unusable_seed_is_one_line_and_exit_2(capsys, argv, message):
    assert main(["--port", "0", "--max-lifetime", "1", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("value", ["pokeapi=1", "connector:airbyte/source-pokeapi=1", "source:airbyte/x="])
def test_cli_set_tag_format_is_checked(capsys, value):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["--set-tag", value])
    assert exit_.value.code == 2 and "KIND:REPOSITORY" in capsys.readouterr().err
