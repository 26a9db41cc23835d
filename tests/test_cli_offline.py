"""docs/cli.md's "Try it offline" recipe works as written: its commands are read from the doc and run, so the doc
cannot drift from what the commands do."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from tests.support import REPO_ROOT

HEADING = "## Try it offline\n"


def recipe() -> list[list[str]]:
    """The words of each command in the section's first ``bash`` block (comments dropped)."""
    section = (REPO_ROOT / "docs" / "cli.md").read_text().split(HEADING, 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    assert block, "docs/cli.md: no bash block under 'Try it offline'"
    return [words for line in block[1].splitlines() if (words := shlex.split(line, comments=True))]


def test_the_offline_recipe_runs_as_written(tmp_path):
    # The commands the package installs, as after `. .venv/bin/activate`; nothing of this session's Airflow.
    env = {name: value for name, value in os.environ.items() if not name.startswith("AIRFLOW")}
    env.update(AIRFLOW_HOME=str(tmp_path), PATH=os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]]))
    servers: list[subprocess.Popen[str]] = []
    ran: dict[str, subprocess.CompletedProcess[str]] = {}
    try:
        for words in recipe():
            if words[-1] == "&":
                server = subprocess.Popen(
                    words[:-1], cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
                )
                servers.append(server)
                assert server.stdout is not None and server.stderr is not None
                ready = server.stdout.readline()  # the line it prints once listening; "" if it ended instead
                assert re.search(r" listening on http://127\.0\.0\.1:\d+$", ready), (words, ready, server.stderr.read())
            elif words[0] == "export":
                name, _, value = words[1].partition("=")
                env[name] = value
            else:
                command = " ".join(words[:2])
                ran[command] = subprocess.run(
                    words, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
                )
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)
    assert len(servers) == 2 and set(ran) == {
        "airbyte-connectors outdated",
        "airbyte-connectors plan",
        "airbyte-connectors bump",
    }

    # What the doc says each command shows.
    outdated = ran["airbyte-connectors outdated"]
    assert outdated.returncode == 2, outdated.stdout + outdated.stderr
    assert re.search(r"\nsource +GitHub +2\.1\.14 .* 2\.7\.1 +minor ", outdated.stdout), outdated.stdout
    assert re.search(r"\nsource +Sample Data +6\.2\.24 .* 6\.2\.38 +patch ", outdated.stdout), outdated.stdout
    assert "destination Postgres: also available: 3.0.10 (major" in outdated.stdout
    bump = ran["airbyte-connectors bump"]
    assert bump.returncode == 0, bump.stdout + bump.stderr
    assert "+      dockerImageTag: 2.7.1\n" in bump.stdout and "+      dockerImageTag: 6.2.38\n" in bump.stdout
    plan = ran["airbyte-connectors plan"]
    assert plan.returncode == 2, plan.stdout + plan.stderr
    assert "0.3.38 → 0.3.40" in plan.stdout and "Acme CRM" in plan.stdout, plan.stdout
    assert "error" not in outdated.stderr + bump.stderr + plan.stderr
