"""Every malformed basic_config in the corpus fails with a message naming the problem and its place,
quickly, in bounded memory, and before anything is sent to Airbyte."""

from __future__ import annotations

import re
import time
import tracemalloc
from pathlib import Path

import pytest

from airflow_airbyte_connectors.configs import ConfigError, get_configs

CORPUS = Path(__file__).parent / "data" / "bad_configs"
CASES = sorted(CORPUS.glob("*.yaml"))
MAX_SECONDS = 2.0
MAX_PEAK_BYTES = 50 * 1024 * 1024


def expectations(case: Path) -> list[str]:
    sidecar = case.with_suffix(".expect")
    if sidecar.exists():
        return [line for line in sidecar.read_text().splitlines() if line.strip()]
    return [line.removeprefix("# expect: ") for line in case.read_text().splitlines() if line.startswith("# expect: ")]


def load_measured(path: Path) -> tuple[ConfigError, float, int]:
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(ConfigError) as caught:
            get_configs("connectors", path=path)
    finally:
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return caught.value, elapsed, peak


def test_corpus_is_large_enough():
    assert len(CASES) >= 30
    assert all(expectations(case) for case in CASES), "every case says what its error must say"


@pytest.mark.parametrize("case", CASES, ids=[case.stem for case in CASES])
def test_each_malformed_file_is_named_and_located(case: Path):
    error, elapsed, peak = load_measured(case)
    for pattern in expectations(case):
        assert re.search(pattern, str(error)), f"{pattern!r} not in:\n{error}"
    assert str(case) in str(error)
    assert elapsed < MAX_SECONDS and peak < MAX_PEAK_BYTES


def test_many_problems_are_all_reported_at_once():
    error, _, _ = load_measured(CORPUS / "many_problems.yaml")
    assert len(error.problems) == len(expectations(CORPUS / "many_problems.yaml")) - 1  # one line is the count


class TestGeneratedCases:
    def test_50_mb_file_is_refused_without_parsing(self, tmp_path):
        path = tmp_path / "basic_config.yaml"
        with path.open("w") as handle:
            handle.write("connectors:\n  source_definitions:\n")
            entry = "    - {name: x, dockerRepository: a/b, dockerImageTag: '1', documentationUrl: 'https://x'}\n"
            handle.write(entry * (50 * 1024 * 1024 // len(entry)))
        error, elapsed, peak = load_measured(path)
        assert re.search(r"file is \d+ bytes; the limit is 5242880 bytes", str(error))
        assert elapsed < MAX_SECONDS and peak < MAX_PEAK_BYTES

    def test_missing_file(self, tmp_path):
        error, _, _ = load_measured(tmp_path / "basic_config.yaml")
        assert "basic_config.yaml (1 problem):\n  - file not found" in str(error)

    def test_directory_instead_of_file(self, tmp_path):
        error, _, _ = load_measured(tmp_path)
        assert "is a directory, expected a YAML file" in str(error)

    def test_symlink_loop(self, tmp_path):
        loop = tmp_path / "basic_config.yaml"
        loop.symlink_to(loop)
        error, _, _ = load_measured(loop)
        assert "cannot read file" in str(error)


def test_no_request_reaches_airbyte_for_any_bad_input(use_emulator):
    """prepare (the DAG's first task) stops at the config: not even a read is sent, let alone a write."""
    from airflow_airbyte_connectors import pipeline

    emu = use_emulator()
    for case in CASES:
        with pytest.raises(ConfigError):
            pipeline.prepare(config_path=str(case))
    assert emu.requests == []
