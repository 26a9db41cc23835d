"""Under `approval = never` (the default) nothing waits for a person: `airflow dags test` with a held
change finishes by itself. It runs under a hard limit that uses SIGINT and then SIGKILL, because a waiting
`dags test` ignores SIGTERM."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.dags.test_create_connectors import config, with_tag
from tests.support import REGISTRY, RELEASES, registry_entry

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("airflow_db")]

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
LIMIT = 240  # seconds; a run takes about 15


def test_dags_test_with_a_held_change_does_not_wait(use_emulator, write_config):
    airbyte = use_emulator(seed=REGISTRY, registry=RELEASES)
    github, pokeapi = registry_entry("source", "GitHub"), registry_entry("source", "PokeAPI")
    airbyte.set_tag("source", github["dockerRepository"], "1.8.0")
    airbyte.set_tag("source", pokeapi["dockerRepository"], "0.3.38")
    write_config(config([with_tag(github, "2.1.14"), pokeapi]))
    env = {**os.environ, "AIRFLOW__AIRBYTE_CONNECTORS__REGISTRY_URL": airbyte.registry_url}
    env.pop("AIRFLOW__AIRBYTE_CONNECTORS__APPROVAL", None)  # the default: never
    logical_date = datetime.now(UTC).isoformat(timespec="seconds")

    done = subprocess.run(
        [
            "timeout",
            "--signal=INT",
            "--kill-after=10",
            str(LIMIT),
            AIRFLOW,
            "dags",
            "test",
            "create_connectors",
            logical_date,
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, f"dags test did not finish by itself (exit {done.returncode})"
    state = subprocess.run(
        [AIRFLOW, "dags", "state", "create_connectors", logical_date], env=env, capture_output=True, text=True
    ).stdout.split()[-1]
    assert state == "success"
    assert [r.body["dockerImageTag"] for r in airbyte.write_requests()] == [pokeapi["dockerImageTag"]]
    output = done.stdout + done.stderr
    assert "Waiting for Human-in-the-loop input" not in output
    assert "HELD update source GitHub 1.8.0→2.1.14 major, breaking (breaking)" in output
