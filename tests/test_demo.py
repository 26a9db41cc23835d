"""The README's two commands work from a clone alone: scripts/demo.py, and the tests, run in a copy with no
`../shared` beside it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_airbyte_connectors.testing import BUILTIN, AirbyteEmulator
from tests.support import REPO_ROOT

pytestmark = pytest.mark.e2e

_NOT_COPIED = (
    ".git",
    ".venv",
    ".demo",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".mypy_cache",
    "*.egg-info",
    "logs",
)


def _copy_clone(target: Path) -> None:
    # What a clone has: the files git knows (tracked, plus new ones not ignored), not this checkout's extras.
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO_ROOT,
            check=True,
            capture_output=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        shutil.copytree(REPO_ROOT, target, ignore=shutil.ignore_patterns(*_NOT_COPIED))
        return
    for name in listed.decode().split("\0"):
        source = REPO_ROOT / name
        if name and source.is_file():  # skip files deleted in the working tree
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def test_demo_runs_from_a_clone_with_nothing_beside_it(tmp_path):
    clone = tmp_path / "clone"
    _copy_clone(clone)
    assert not (tmp_path / "shared").exists() and (clone / "scripts" / "demo.py").is_file()

    # The demo sets up its own AIRFLOW_HOME (.demo inside the copy): nothing of this test session's leaks in.
    env = {name: value for name, value in os.environ.items() if not name.startswith("AIRFLOW")}
    env["PYTHONPATH"] = str(clone)
    imported = subprocess.run(
        [sys.executable, "-c", "import airflow_airbyte_connectors as p; print(p.__file__)"],
        cwd=clone,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert Path(imported.strip()).is_relative_to(clone)  # the copy's package, not the checkout's

    done = subprocess.run(
        [sys.executable, "scripts/demo.py"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-5000:]
    assert "Demo OK" in done.stdout
    # Read at a glance: Airflow's bookkeeping goes to log files; what is printed fits a screen or two, in lines a
    # terminal shows (the longer ones wrapped). `make demo` adds its one install line: 80 at most in all.
    lines = output.splitlines()
    assert len(lines) <= 78, f"{len(lines)} lines:\n{output}"
    assert max(len(line) for line in lines) <= 180, max(lines, key=len)
    assert "[DAG TEST]" not in output and "Task instance state updated" not in output and "[warning" not in output
    run_log = clone / ".demo" / "airflow" / "run-1.log"
    assert f"log: {run_log.relative_to(clone)}" in done.stdout and "[DAG TEST]" in run_log.read_text()
    words = " ".join(output.split())  # the text, whatever line it was wrapped at
    assert "=== Run 1: success; 3 write request(s) reached Airbyte ===" in done.stdout
    assert "=== Run 2: success; 0 write request(s) reached Airbyte ===" in done.stdout
    # The plan says what each change means: patches applied, GitHub's breaking change held with its impact.
    assert "major, breaking; held for breaking" in output and "GitHub issues [2.0.0, selects issues]" in words
    assert "\nPlan against Airbyte at http://127.0.0.1:" in done.stdout
    # Each run's report, as its report task logged it.
    assert (
        "\nRun report: 1 created, 2 updated, " in done.stdout and "\nRun report: 0 created, 0 updated, " in done.stdout
    )
    assert "  HELD update source GitHub 1.9.0→2.1.14 major, breaking (breaking): not written" in done.stdout
    assert "FileNotFoundError" not in output and "oss-registry" not in output
    # It ends with what is newer within the example's policies: GitHub's move, Postgres held by the cooldown.
    assert "=== Staying current: airbyte-connectors outdated" in done.stdout
    assert "4 proposals for 7 definitions" in done.stdout and "held back by the 7d cooldown" in done.stdout
    # Then a promotion between two Airbytes: prod waits for staging, and follows once staging ran the version.
    assert "Promotion run 1: success; PokeAPI now staging 0.3.40, prod 0.3.38" in done.stdout
    assert (
        "  WAITING prod: update source PokeAPI 0.3.38→0.3.40 patch — waiting for staging: 0.3.40 is not there yet "
        "(it runs 0.3.38)\n"
    ) in done.stdout
    assert "the 5s soak is over and a sync of 'PokeAPI → Warehouse' succeeded there" in words
    assert "Promotion run 2: success; PokeAPI now staging 0.3.40, prod 0.3.40" in done.stdout
    assert re.search(
        r"\n  OPEN prod: update source PokeAPI 0\.3\.38→0\.3\.40 patch — staging ran it: 0\.3\.40 there for "
        r"[0-9dhms ]+ of 5s; 1 of 1 syncs succeeded\n",
        done.stdout,
    )
    assert (clone / ".demo" / "airflow").is_dir()
    # It ends with what to try next: the CLI on the stand-ins, both DAGs in your Airflow.
    assert lines[-4] == "Try next:" and 'docs/cli.md, "Try it offline"' in lines[-2]
    assert "create_connectors and connector_upgrades" in lines[-1]


def test_make_demo_says_it_installs_before_it_does(tmp_path):
    clone = tmp_path / "clone"
    _copy_clone(clone)
    # -n: what make would run in a clone without .venv, without running it.
    # Without the calling make's variables: under `make test` a sub-make would print "Entering directory" first.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    planned = subprocess.run(
        ["make", "-n", "demo"], cwd=clone, env=env, check=True, capture_output=True, text=True
    ).stdout
    first, second = planned.splitlines()[:2]
    assert first.startswith('echo "Installing Apache Airflow 3.3.2 and this package into .venv (once; about 3 minutes)')
    assert second.endswith("-m venv .venv")


def test_tests_run_from_a_clone_with_nothing_beside_it_and_skip_what_needs_airbyte_files(tmp_path):
    clone = tmp_path / "clone"
    _copy_clone(clone)
    env = {name: value for name, value in os.environ.items() if not name.startswith("AIRFLOW") and name != "CI"}
    env["PYTHONPATH"] = str(clone)
    # Test files that mix both kinds: some tests need Airbyte's files, the others nothing.
    files = ["tests/config/test_configs.py", "tests/testing/test_server.py", "tests/clients/test_connector_registry.py"]

    def pytest_in_clone(**extra_env: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *files]
        return subprocess.run(command, cwd=clone, env={**env, **extra_env}, capture_output=True, text=True, timeout=300)

    done = pytest_in_clone()
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-2000:]
    summary = done.stdout.strip().splitlines()[-1]
    assert " passed" in summary and " skipped" in summary and "failed" not in summary and "error" not in summary
    assert "needs Airbyte's OpenAPI specs and registry snapshots in" in done.stdout

    # CI runs everything: without the files it stops before running any test.
    refused = pytest_in_clone(CI="true")
    assert refused.returncode == pytest.ExitCode.USAGE_ERROR, refused.stdout[-2000:] + refused.stderr[-2000:]
    assert "airbyte is missing: CI runs every test" in refused.stderr


def test_readmes_bare_metal_steps_run_a_dry_run_against_an_airbyte(tmp_path):
    # The README's steps as written, in a shell whose ~ is a fresh directory; installing is done (this checkout's
    # .venv) and `airflow standalone` does not end, so both are left out, and the connection is the emulator's.
    section = (REPO_ROOT / "README.md").read_text().split("### Bare metal\n", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    assert block
    steps = [line for line in block[1].splitlines() if line.strip()]
    assert steps[0].startswith("pip install ") and steps[-1] == "airflow standalone"
    assert any(
        re.match(r"cp dags/create_connectors\.py dags/connector_upgrades\.py \$AIRFLOW_HOME/dags/", s) for s in steps
    )
    connection = next(s for s in steps if s.startswith("export AIRFLOW_CONN_AIRBYTE_DEFAULT="))
    # Started here rather than by the emulator fixture: its contract check needs ../shared, the README does not.
    emu = AirbyteEmulator(seed=BUILTIN, max_lifetime=300).start()
    emu.set_tag("source", "airbyte/source-pokeapi", "0.3.38")
    ours = json.dumps({"conn_type": "airbyte", "host": emu.url})
    script = "\n".join(
        ["set -e", *(f"export AIRFLOW_CONN_AIRBYTE_DEFAULT='{ours}'" if s == connection else s for s in steps[1:-1])]
    )
    env = {name: value for name, value in os.environ.items() if not name.startswith("AIRFLOW")}
    env.update(
        HOME=str(tmp_path),
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]]),
        # Offline here: the plan's image check would ask Docker Hub.
        AIRFLOW__AIRBYTE_CONNECTORS__CHECK_IMAGES="False",
    )
    try:
        done = subprocess.run(
            ["bash", "-c", script], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
        )
    finally:
        emu.stop()
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-5000:]
    assert sorted(p.name for p in (tmp_path / "airflow" / "dags").glob("*.py")) == [
        "connector_upgrades.py",
        "create_connectors.py",
    ]
    assert (
        "(dry run: nothing will be written)" in output
        and "Dry run report: 0 created, 0 updated, 1 would create, 1 would update" in output
    )
    assert emu.write_requests() == []
