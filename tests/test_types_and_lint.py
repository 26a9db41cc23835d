"""The package's types are checked (mypy, configured in pyproject.toml) and the tree is lint-clean, in the
test run itself: CI runs the tests, so a type error fails CI like a failing test."""

from __future__ import annotations

import subprocess
import sys
import tomllib

import pytest

from tests.support import REPO_ROOT


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)


def test_mypy_is_strict_on_the_package_and_the_dag_files():
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    assert config["strict"] is True
    assert config["files"] == ["airflow_airbyte_connectors", "dags"]


@pytest.mark.xdist_group("typecheck")
def test_mypy_finds_no_error_in_the_package():
    result = run(sys.executable, "-m", "mypy", "--no-error-summary")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_check_and_format():
    check = run(sys.executable, "-m", "ruff", "check", ".")
    assert check.returncode == 0, check.stdout + check.stderr
    formatted = run(sys.executable, "-m", "ruff", "format", "--check", ".")
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr
