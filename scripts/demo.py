"""The main job on the Airbyte emulator: `airflow dags test create_connectors`, twice.

The emulator is seeded from the small connector registry the package ships (no file outside the clone),
which also serves as Airbyte's connector registry (GitHub's 2.0.0 breaking change). It starts as an Airbyte
with an older PokeAPI and Postgres destination (patch updates), GitHub at 1.9.0 with two sources (one syncs
an impacted stream), and without the custom "Acme CRM" source. The first run prints the plan, updates the
two, creates the custom one and holds GitHub (major, breaking: it waits for apply_held); the second run
writes nothing. Then `airbyte-connectors outdated` proposes upgrades within the config's policies, from an image
registry stand-in. Last, a promotion between two more emulators, staging and prod (docs/environments.md): a first
run moves staging to PokeAPI's new version while prod waits for it; once staging has run it for the soak with a
successful sync, a second run moves prod. Exits non-zero if any step does otherwise.

Airflow's own output goes to log files under .demo/airflow/; what is printed is the plan, each run's report, the
outdated table and the promotion's verdicts, in lines of at most WIDTH characters.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import textwrap
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from airflow_airbyte_connectors.records.promotion_records import VersionsSeen
from airflow_airbyte_connectors.testing import BUILTIN, AirbyteEmulator, ImageRegistryEmulator

REPO = Path(__file__).resolve().parent.parent
CONN_ID = "airbyte_default"
DEMO_HOME = REPO / ".demo" / "airflow"
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
WIDTH = 180  # the plan's table rows fit; longer lines (Airflow's report, breaking-change texts) are wrapped
# A line of Airflow's log starts a message: "2026-12-07T20:39:17.403177Z [info     ] Plan against ...".
LOG_LINE = re.compile(r"\A\d{4}-\d\d-\d\dT\S+ \[\s*\w+\s*\] ")
# ... and its last line ends with the logger and the source line: "  [airflow_airbyte_connectors.x] loc=x.py:1".
LOGGER = re.compile(r"\s+\[[\w.]+\](?: \w+=\S+)*\Z")
OLDER = {
    ("source", "airbyte/source-pokeapi"): "0.3.38",
    ("destination", "airbyte/destination-postgres"): "2.4.1",
    ("source", "airbyte/source-github"): "1.9.0",
}
# What the image registry stand-in publishes for `outdated`: tag and build day (GitHub's are its real
# release days; the others are days before today, so that the 7-day cooldown holds some back).
TODAY = date.today()
PUBLISHED: dict[str, list[tuple[str, date]]] = {
    "airbyte/source-pokeapi": [("0.3.40", TODAY - timedelta(days=200)), ("0.3.41", TODAY - timedelta(days=90))],
    "airbyte/source-postgres": [("3.7.0", TODAY - timedelta(days=120)), ("3.7.1", TODAY - timedelta(days=2))],
    "airbyte/source-faker": [("6.2.24", TODAY - timedelta(days=60)), ("6.2.25", TODAY - timedelta(days=30))],
    "airbyte/source-github": [
        ("2.1.14", date(2026, 3, 9)),
        ("2.1.42", date(2026, 8, 25)),
        ("2.2.0", date(2026, 8, 27)),
        ("2.7.1", date(2026, 9, 21)),
    ],
    "airbyte/destination-postgres": [
        ("2.4.7", TODAY - timedelta(days=300)),
        ("2.5.0", TODAY - timedelta(days=60)),
        ("3.0.0", TODAY - timedelta(days=20)),
    ],
    "airbyte/destination-dev-null": [("0.8.4", TODAY - timedelta(days=400))],
}
# The promotion at the end: one basic_config for two Airbytes; prod takes a version once staging has run it.
POKEAPI = "airbyte/source-pokeapi"
SOAK = timedelta(seconds=5)
ENVIRONMENTS_CONFIG = f"""\
connectors:
  environments:
    staging:
      conn_id: airbyte_staging
    prod:
      conn_id: airbyte_prod
      promoteFrom: staging
      soak: {int(SOAK.total_seconds())}s
      successfulSyncs: 1
  source_definitions:
    - name: PokeAPI
      dockerRepository: {POKEAPI}
      dockerImageTag: "0.3.40"
      documentationUrl: https://docs.airbyte.com/integrations/sources/pokeapi
  destination_definitions: []
"""
# A run's state and prepare's plan, and the Variables named, as JSON: `airflow dags test` exits 0 even when the
# run failed, and the plan (with each gate's reason) is in XCom.
READ_RUN = """
import json, sys
from datetime import datetime
from sqlalchemy import select
from airflow.models.dagrun import DagRun
from airflow.models.variable import Variable
from airflow.models.xcom import XComModel
from airflow.utils.session import create_session

logical_date, *keys = sys.argv[1:]
with create_session() as session:
    when = datetime.fromisoformat(logical_date)
    run = session.scalar(select(DagRun).where(DagRun.dag_id == "create_connectors", DagRun.logical_date == when))
    rows = session.scalars(XComModel.get_many(run_id=run.run_id, dag_ids=run.dag_id, task_ids="prepare", key="plan"))
    plan = next((XComModel.deserialize_value(row) for row in rows), None)
    found = {v.key: v.val for v in session.scalars(select(Variable).where(Variable.key.in_(keys)))}
print(json.dumps({"state": str(run.state), "plan": plan, "variables": found}))
"""


def main() -> int:
    shutil.rmtree(DEMO_HOME, ignore_errors=True)
    (DEMO_HOME / "configs").mkdir(parents=True)
    config = DEMO_HOME / "configs" / "basic_config.yaml"
    shutil.copy(REPO / "examples" / "basic_config.yaml", config)

    client_secret = secrets.token_urlsafe(24)
    with AirbyteEmulator(
        seed=BUILTIN, registry=BUILTIN, client_id="demo-client", client_secret=client_secret, max_lifetime=900
    ) as emu:
        for (kind, repository), tag in OLDER.items():
            emu.set_tag(kind, repository, tag)
        warehouse = emu.add_destination("airbyte/destination-postgres", name="Warehouse")
        issues = emu.add_source("airbyte/source-github", name="GitHub issues")
        ci = emu.add_source("airbyte/source-github", name="GitHub CI")
        emu.add_connection(issues, warehouse, {"issues": True, "pull_requests": True})
        emu.add_connection(ci, warehouse, {"workflow_runs": True, "issues": False})
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(DEMO_HOME),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__AIRBYTE_CONNECTORS__BASIC_CONFIG_PATH": str(config),
            # The demo machine may be offline: do not ask Docker Hub whether the images exist.
            "AIRFLOW__AIRBYTE_CONNECTORS__CHECK_IMAGES": "False",
            "AIRFLOW__AIRBYTE_CONNECTORS__REGISTRY_URL": emu.registry_url,
            "AIRFLOW__AIRBYTE_CONNECTORS__PLATFORM_COMPATIBILITY_URL": emu.platform_compatibility_url,
            "AIRFLOW_CONN_AIRBYTE_DEFAULT": json.dumps(
                {"conn_type": "airbyte", "host": emu.url, "login": "demo-client", "password": client_secret}
            ),
        }
        home = DEMO_HOME.relative_to(REPO)
        say(
            f"Airbyte emulator at {emu.url}: PokeAPI and the Postgres destination a patch behind, GitHub 1.9.0 "
            f"with two sources, no Acme CRM\nbasic_config: {config.relative_to(REPO)}; "
            f"Airflow's own output: {home}/*.log"
        )
        with (DEMO_HOME / "db-migrate.log").open("w") as out:
            subprocess.run([AIRFLOW, "db", "migrate"], env=env, check=True, stdout=out, stderr=subprocess.STDOUT)

        failures = []
        for number, expectation in ((1, "converge Airbyte"), (2, "change nothing")):
            log = DEMO_HOME / f"run-{number}.log"
            say(
                f"\n=== Run {number}: airflow dags test create_connectors (should {expectation}; "
                f"log: {log.relative_to(REPO)}) ==="
            )
            emu.clear_requests()
            logical_date = datetime.now(UTC).isoformat(timespec="seconds")
            with log.open("w") as out:
                command = [AIRFLOW, "dags", "test", "create_connectors", logical_date]
                subprocess.run(command, env=env, check=True, stdout=out, stderr=subprocess.STDOUT)
            logged = log.read_text()
            for plan in messages(logged, "Plan against "):
                # The whole plan once; after that its counts line says enough.
                say("\n".join(plan) if number == 1 else "The plan: " + next(x for x in plan if " to create, " in x))
            for report in messages(logged, "Run report: "):
                say("\n".join(report))
            state = run_state(env, logical_date)
            writes = [f"{r.operation} -> {r.status}" for r in emu.write_requests()]
            say(f"=== Run {number}: {state}; {len(writes)} write request(s) reached Airbyte ===")
            for line in writes:
                say(f"    {line}")
            if state != "success":
                failures.append(f"run {number} ended {state} (see {log.relative_to(REPO)})")
            if number == 2 and writes:
                failures.append("run 2 sent writes although nothing had changed")
        if not show_outdated(env, config):
            failures.append("airbyte-connectors outdated failed")
        failures += show_promotion(env, client_secret)
    if failures:
        print("\nDEMO FAILED: " + "; ".join(failures), file=sys.stderr)
        return 1
    say(
        "\nDemo OK: run 1 applied the safe changes and held GitHub's breaking change; run 2 changed nothing; outdated "
        "proposed upgrades within each policy; prod followed staging."
    )
    say("Try next:\n" + "\n".join(f"  {where:<38}{what}" for where, what in TRY_NEXT.items()))
    return 0


TRY_NEXT = {
    f"{DEMO_HOME.relative_to(REPO)}/run-1.log": "Airflow's whole log of run 1: prepare, each write, the report",
    'docs/cli.md, "Try it offline"': "airbyte-connectors plan, outdated and bump on the stand-ins, no Airflow",
    'README.md, "Install in your Airflow"': "both DAGs, create_connectors and connector_upgrades, in your Airflow",
}


def say(text: str) -> None:
    """Print ``text``, each line at most WIDTH characters: a longer one goes on in lines indented under it."""
    for line in text.splitlines() or [""]:
        indent = " " * (len(line) - len(line.lstrip()) + 4)
        wrapped = textwrap.wrap(line, WIDTH, subsequent_indent=indent, break_on_hyphens=False) or [""]
        print("\n".join(wrapped) if len(line) > WIDTH else line, flush=True)


def messages(log: str, start: str) -> list[list[str]]:
    """The lines of each message in an Airflow log whose text starts with ``start``, without their log prefix and
    logger suffix."""
    found: list[list[str]] = []
    current: list[str] | None = None
    for line in log.splitlines():
        if prefix := LOG_LINE.match(line):
            text = line[prefix.end() :]
            current = [text] if text.startswith(start) else None
            if current is not None:
                found.append(current)
        elif current is not None:
            current.append(line)
    return [[*lines[:-1], LOGGER.sub("", lines[-1])] for lines in found]


def show_outdated(env: dict[str, str], config: Path) -> bool:
    """Staying current: what is newer for each definition, within its policy (exit 2: there are proposals)."""
    with ImageRegistryEmulator(require_token=True, max_lifetime=300) as images:
        for repository, published in PUBLISHED.items():
            for tag, built in published:
                images.add_image(repository, tag, built)
        say("\n=== Staying current: airbyte-connectors outdated (what is newer, within each policy) ===")
        outdated = subprocess.run(
            [
                sys.executable,
                "-m",
                "airflow_airbyte_connectors",
                "outdated",
                str(config),
                "--conn-id",
                "airbyte_default",
            ],
            env={
                **env,
                "AIRFLOW__AIRBYTE_CONNECTORS__DOCKER_HUB_URL": images.url,
                "AIRFLOW__AIRBYTE_CONNECTORS__IMAGE_TOKEN_HOSTS": "",
            },
            capture_output=True,
            text=True,
        )
        say(outdated.stdout + outdated.stderr)
    return outdated.returncode in (0, 2)


def show_promotion(env: dict[str, str], client_secret: str) -> list[str]:
    """Two Airbytes kept by one basic_config (docs/environments.md): staging takes PokeAPI 0.3.40 at once; prod
    waits until staging has run it for the soak with a successful sync. Returns what went otherwise."""
    config = DEMO_HOME / "configs" / "environments_config.yaml"
    config.write_text(ENVIRONMENTS_CONFIG)
    auth = {"client_id": "demo-client", "client_secret": client_secret, "max_lifetime": 900}
    with AirbyteEmulator(seed=BUILTIN, **auth) as staging, AirbyteEmulator(seed=BUILTIN, **auth) as prod:
        airbytes = {"staging": staging, "prod": prod}
        for emu in airbytes.values():
            emu.set_tag("source", POKEAPI, "0.3.38")
        source = staging.add_source(POKEAPI, name="PokeAPI")
        warehouse = staging.add_destination("airbyte/destination-postgres", name="Warehouse")
        connection = staging.add_connection(source, warehouse, ["pokemon"], name="PokeAPI → Warehouse")
        env = {**env, "AIRFLOW__AIRBYTE_CONNECTORS__BASIC_CONFIG_PATH": str(config)}
        for name, emu in airbytes.items():
            env[f"AIRFLOW_CONN_AIRBYTE_{name.upper()}"] = json.dumps(
                {"conn_type": "airbyte", "host": emu.url, "login": "demo-client", "password": client_secret}
            )
        record = VersionsSeen(f"deployment {staging.deployment_id}").key("source", POKEAPI)
        say(
            f"\n=== Promotion: two more Airbytes, staging and prod; prod promotes from staging (soak {SOAK.seconds}s, "
            f"1 successful sync): {config.relative_to(REPO)} ==="
        )
        failures = []
        first = promotion_run(1, env, airbytes, record)
        if first["state"] != "success" or first["tags"] != {"staging": "0.3.40", "prod": "0.3.38"}:
            failures.append("promotion run 1 did not move staging alone")
        if not first["gates"] or not all(g.startswith("WAITING prod: ") for g in first["gates"]):
            failures.append("promotion run 1: prod did not wait for staging")
        if record not in first["variables"]:
            return [*failures, "promotion run 1 recorded no version for staging"]

        # Staging runs 0.3.40 since it was written: a sync succeeds there, and the soak passes.
        since = datetime.fromisoformat(json.loads(first["variables"][record])["since"])
        staging.add_sync_job(connection, "succeeded")
        time.sleep(max(0.0, (since + SOAK - datetime.now(UTC)).total_seconds()))
        say(
            f"Staging has run 0.3.40 since {since:%H:%M:%S} UTC (Airflow Variable {record}); "
            f"the {SOAK.seconds}s soak is over and a sync of 'PokeAPI → Warehouse' succeeded there"
        )
        second = promotion_run(2, env, airbytes, record)
        if second["state"] != "success" or second["tags"] != {"staging": "0.3.40", "prod": "0.3.40"}:
            failures.append("promotion run 2 did not move prod")
        if not second["gates"] or not all(g.startswith("OPEN prod: ") for g in second["gates"]):
            failures.append("promotion run 2: prod's gate did not open")
    return failures


def promotion_run(number: int, env: dict[str, str], airbytes: dict[str, AirbyteEmulator], *keys: str) -> dict[str, Any]:
    """Run create_connectors (its log to a file); print the gate's verdicts and each Airbyte's PokeAPI tag."""
    logical_date = datetime.now(UTC).isoformat(timespec="seconds")
    log = DEMO_HOME / f"promotion-run-{number}.log"
    with log.open("w") as out:
        command = [AIRFLOW, "dags", "test", "create_connectors", logical_date]
        subprocess.run(command, env=env, check=True, stdout=out, stderr=subprocess.STDOUT)
    answer = subprocess.run(
        [sys.executable, "-c", READ_RUN, logical_date, *keys], env=env, check=True, capture_output=True, text=True
    )
    run = json.loads(answer.stdout.strip().splitlines()[-1])
    plan = run["plan"] or {}
    judged = [c for c in plan.get("changes", []) + plan.get("waiting", []) if c.get("gate")]
    # As the report task logs them: the gate's state, the change, why.
    run["gates"] = [f"{c['gate']['state'].upper()} {c['label']} — {c['gate']['reason']}" for c in judged]
    run["tags"] = {
        name: next(d["dockerImageTag"] for d in emu.definitions("source") if d["dockerRepository"] == POKEAPI)
        for name, emu in airbytes.items()
    }
    now = ", ".join(f"{name} {tag}" for name, tag in run["tags"].items())
    say(f"Promotion run {number}: {run['state']}; PokeAPI now {now} (log: {log.relative_to(REPO)})")
    for line in run["gates"]:
        say(f"  {line}")
    return run


def run_state(env: dict[str, str], logical_date: str) -> str:
    # `airflow dags test` exits 0 even when the run failed, so ask for the run's state.
    answer = subprocess.run(
        [AIRFLOW, "dags", "state", "create_connectors", logical_date],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    lines = [line.strip() for line in answer.splitlines() if line.strip()]
    return lines[-1] if lines else "unknown"


if __name__ == "__main__":
    sys.exit(main())
