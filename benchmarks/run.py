"""Benchmarks: what the pipeline costs, each figure beside the least it could cost, measured in one run.

    make bench        (or: .venv/bin/python benchmarks/run.py)

Prints a table and writes BENCHMARKS.md. Needs ../shared/airbyte/oss-registry-v2.0.0.json.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
REGISTRY = REPO.parent / "shared" / "airbyte" / "oss-registry-v2.0.0.json"
RELEASES = REPO.parent / "shared" / "airbyte" / "oss-registry-releases-b8390e04.json"
WORK = Path(tempfile.mkdtemp(prefix="aac-bench-"))
DAGS = WORK / "dags"
CLIENT_ID, CLIENT_SECRET = "bench-client", "bench-secret-value"

os.environ.update(
    {
        "AIRFLOW_HOME": str(WORK / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "AIRFLOW__AIRBYTE_CONNECTORS__TASK_RETRIES": "0",
        "AIRFLOW__AIRBYTE_CONNECTORS__MAX_WRITES": "1000",
        # The figures are about Airbyte and Airflow; the image check would ask Docker Hub, not reachable here.
        "AIRFLOW__AIRBYTE_CONNECTORS__CHECK_IMAGES": "False",
        "AIRFLOW__AIRBYTE_CONNECTORS__REGISTRY_URL": "",
    }
)
sys.path.insert(0, str(REPO))

TRIVIAL_DAG = """
from airflow.sdk import dag, task


@dag(dag_id="trivial", schedule=None)
def trivial():
    @task
    def noop():
        return None

    noop()


trivial()
"""

MAPPED_DAGS = """
import json, os
from airflow.sdk import BaseOperator, dag
from airflow_airbyte_connectors.operators.airbyte_definition import AirbyteDefinitionOperator

DEFINITIONS = json.loads(os.environ.get("BENCH_MAPPED_DEFINITIONS", "[]"))
# As prepare plans them: each an update of one definition, planned from 0.9.0 (Airbyte already holds 1.0.0).
PLANNED = [
    {
        "kind": "destination",
        "definition": d,
        "planned_action": "update",
        "definition_id": f"00000000-0000-4000-9000-{n:012d}",
        "tag_before": "0.9.0",
    }
    for n, d in enumerate(DEFINITIONS)
]


class NoOp(BaseOperator):
    def __init__(self, *, kind, definition, planned_action, definition_id, tag_before, **kwargs):
        super().__init__(**kwargs)

    def execute(self, context):
        return None


# What Airflow does for any operator like ours, and nothing else: the same template fields (rendered and
# stored for the UI) and a result of the same size kept in XCom.
class NoOpWithResult(NoOp):
    template_fields = ("definition", "workspace_id", "airbyte_conn_id")

    def __init__(self, *, definition, **kwargs):
        super().__init__(definition=definition, **kwargs)
        self.definition, self.workspace_id, self.airbyte_conn_id = definition, None, None

    def execute(self, context):
        return {"kind": "destination", "action": "unchanged", "definitionId": "0" * 36, "name": "Bench 0",
                "dockerRepository": "ghcr.io/bench/destination-0", "tagBefore": "0.9.0", "tagAfter": "1.0.0",
                "dryRun": False, "versionMeaning": ""}


@dag(dag_id="mapped_definitions", schedule=None)
def mapped_definitions():
    AirbyteDefinitionOperator.partial(task_id="apply").expand_kwargs(PLANNED)


@dag(dag_id="mapped_noop", schedule=None)
def mapped_noop():
    NoOp.partial(task_id="apply").expand_kwargs(PLANNED)


@dag(dag_id="mapped_noop_result", schedule=None)
def mapped_noop_result():
    NoOpWithResult.partial(task_id="apply").expand_kwargs(PLANNED)


mapped_definitions()
mapped_noop()
mapped_noop_result()
"""

results: list[dict[str, Any]] = []


def record(figure: str, measured: str, baseline: str, ratio: float | None, target: str, note: str = "") -> None:
    row = {
        "figure": figure,
        "measured": measured,
        "baseline": baseline,
        "ratio": f"{ratio:.2f}x" if ratio is not None else "-",
        "target": target,
        "note": note,
    }
    results.append(row)
    print(f"{figure:<42} {measured:<34} {baseline:<30} {row['ratio']:<8} {target}", flush=True)


def registry_config() -> dict[str, Any]:
    """All 633 registry definitions as a config. The registry reuses three source names, which a
    basic_config may not: the second of each gets a suffix (identity is the image, not the name)."""
    data = json.loads(REGISTRY.read_text())
    seen: Counter[str] = Counter()
    sources = []
    for entry in data["sources"]:
        seen[entry["name"].casefold()] += 1
        suffix = f" ({seen[entry['name'].casefold()]})" if seen[entry["name"].casefold()] > 1 else ""
        sources.append({**entry, "name": entry["name"] + suffix})
    return {"connectors": {"source_definitions": sources, "destination_definitions": data["destinations"]}}


def start_emulator(seed: Path, *extra: str) -> tuple[subprocess.Popen[str], str]:
    """The emulator in its own process, so that its CPU is not counted as the pipeline's."""
    ready = WORK / f"emulator-{time.monotonic_ns()}.url"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_airbyte_connectors.testing",
            "--seed",
            str(seed),
            "--port",
            "0",
            "--client-id",
            CLIENT_ID,
            "--client-secret",
            CLIENT_SECRET,
            "--max-lifetime",
            "1800",
            "--ready-file",
            str(ready),
            *extra,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    process.stdout.readline()
    url = ready.read_text()
    use_airbyte(url)
    return process, url


def use_airbyte(url: str) -> None:
    """Point the `airbyte_default` connection at the emulator at ``url``."""
    os.environ["AIRFLOW_CONN_AIRBYTE_DEFAULT"] = json.dumps(
        {"conn_type": "airbyte", "host": url, "login": CLIENT_ID, "password": CLIENT_SECRET}
    )


def median_of(runs: int, measure: Callable[[], float]) -> float:
    return statistics.median(measure() for _ in range(runs))


# -- 1. plan at registry scale -------------------------------------------------------------------


def bench_registry_plan() -> None:
    import yaml

    from airflow_airbyte_connectors import pipeline
    from airflow_airbyte_connectors.configs import get_configs
    from airflow_airbyte_connectors.hooks import airbyte_definitions
    from airflow_airbyte_connectors.planning import make_plan, with_holds, with_version_changes
    from airflow_airbyte_connectors.releases import parse_registry
    from airflow_airbyte_connectors.testing import AirbyteEmulator

    config_path = WORK / "registry_config.yaml"
    config_path.write_text(yaml.safe_dump(registry_config(), sort_keys=False))
    desired = get_configs("connectors", path=config_path)
    with AirbyteEmulator(
        seed=REGISTRY,
        registry=RELEASES,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        older_fraction=0.1,
        missing_fraction=0.01,
        rng_seed=1,
    ) as emu:
        use_airbyte(emu.url)
        os.environ["AIRFLOW__AIRBYTE_CONNECTORS__REGISTRY_URL"] = emu.registry_url
        current = {kind: emu.definitions(kind) for kind in ("source", "destination")}
        releases_document = json.loads(RELEASES.read_text())

        def plan_cpu() -> float:
            started = time.process_time()
            make_plan(desired, current)
            return time.process_time() - started

        def meaning_cpu() -> float:
            # Everything the plan adds with the registry: parse its releases, classify, hold.
            started = time.process_time()
            with_holds(
                with_version_changes(make_plan(desired, current), parse_registry(releases_document), registry="read"),
                frozenset({"breaking", "downgrade"}),
            )
            return time.process_time() - started

        cpu = median_of(21, plan_cpu)
        meaning = median_of(21, meaning_cpu)
        validate = median_of(5, lambda: _timed(lambda: get_configs("connectors", path=config_path)))
        airbyte_definitions._token_cache.clear()
        emu.clear_requests()
        started = time.perf_counter()
        prepared = pipeline.prepare(config_path=str(config_path), max_writes=1000)
        wall = time.perf_counter() - started
        operations = [r.operation for r in emu.requests]
        # Baseline: the same prepare with its impact reads sent one at a time.
        at_once, pipeline.IMPACT_READS_AT_ONCE = pipeline.IMPACT_READS_AT_ONCE, 1
        airbyte_definitions._token_cache.clear()
        started = time.perf_counter()
        pipeline.prepare(config_path=str(config_path), max_writes=1000)
        sequential_wall = time.perf_counter() - started
        pipeline.IMPACT_READS_AT_ONCE = at_once
        # Memory in a second pass: tracemalloc slows Python down several times.
        tracemalloc.start()
        pipeline.prepare(config_path=str(config_path), max_writes=1000)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        # A config Airbyte is already in step with: no update, so no registry or impact read.
        in_step = WORK / "in_step_config.yaml"
        in_step.write_text(
            yaml.safe_dump({"connectors": {f"{k}_definitions": emu.definitions(k) for k in ("source", "destination")}})
        )
        airbyte_definitions._token_cache.clear()
        emu.clear_requests()
        pipeline.prepare(config_path=str(in_step), max_writes=1000)
        quiet = [r.operation for r in emu.requests]
        os.environ["AIRFLOW__AIRBYTE_CONNECTORS__REGISTRY_URL"] = ""
    minimum = [
        "applications/token",
        "source_definitions/list",
        "destination_definitions/list",
        "workspaces/list_by_organization_id",
    ]
    counts = prepared["plan"]["counts"]
    changed = counts["update"] + counts["held"]
    record("1a planning 633 definitions (CPU)", f"{cpu * 1000:.1f} ms", "target 50 ms", cpu / 0.050, "< 1.0x")
    record(
        "1f plan + meaning, full registry releases (CPU)",
        f"{meaning * 1000:.1f} ms",
        f"plan alone {cpu * 1000:.1f} ms",
        meaning / cpu,
        "-",
        "parse 647 connectors' releases, classify, hold",
    )
    record("1b loading + validating 633 (YAML)", f"{validate * 1000:.1f} ms", "-", None, "-")
    record(
        "1c prepare wall (633, auth on)",
        f"{wall:.2f} s",
        f"impact reads one at a time {sequential_wall:.2f} s",
        wall / sequential_wall,
        "-",
        f"plan: {counts['create']} create, {counts['update']} update; "
        f"{pipeline.IMPACT_READS_AT_ONCE} impact reads at once",
    )
    record("1d prepare peak memory (tracemalloc)", f"{peak / 1e6:.1f} MB", "-", None, "-")
    by_operation = Counter(operations)
    # With updates: the minimum, one registry read, and per changed definition one search (plus the
    # connections of the workspaces of sources it crosses a stream-scoped breaking change for).
    expected = len(minimum) + 1 + changed
    record(
        "1e prepare requests, with updates",
        f"{len(operations)}: " + ", ".join(f"{n}x {op}" for op, n in by_operation.most_common()),
        f"4 + 1 registry + {changed} changed = {expected}",
        len(operations) / expected,
        "= 1.0x",
        f"{counts['update']} updates, {counts['held']} held",
    )
    without = ["applications/token", "source_definitions/list", "destination_definitions/list"]
    record(
        "1g prepare requests, nothing to update",
        f"{len(quiet)}: {', '.join(quiet)}",
        f"minimum {len(without)}",
        len(quiet) / len(without),
        "= 1.0x",
        "no registry or impact read" if sorted(quiet) == sorted(without) else "",
    )


def _timed(action: Callable[[], Any]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


# -- 2. no-op run, 4. per-mapped-task overhead (dag.test, in-process) ----------------------------


def bench_dag_runs() -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils import db

    from airflow_airbyte_connectors.testing import AirbyteEmulator

    db.resetdb()
    config = WORK / "configs" / "basic_config.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "examples" / "basic_config.yaml", config)
    os.environ["AIRFLOW__AIRBYTE_CONNECTORS__BASIC_CONFIG_PATH"] = str(config)

    # An Airbyte where the example config is already applied: every run is a no-op.
    seed = WORK / "noop_seed.json"
    registry = json.loads(REGISTRY.read_text())
    # At the example's versions (it may name a later release than the registry snapshot).
    example = yaml.safe_load(config.read_text())["connectors"]
    for kind in ("source", "destination"):
        tags = {e["dockerRepository"]: e["dockerImageTag"] for e in example[f"{kind}_definitions"]}
        for entry in registry[f"{kind}s"]:
            entry["dockerImageTag"] = tags.get(entry["dockerRepository"], entry["dockerImageTag"])
    custom = {
        "sourceDefinitionId": "00000000-0000-4000-8000-000000000001",
        "name": "Acme CRM",
        "dockerRepository": "ghcr.io/acme/source-acme-crm",
        "dockerImageTag": "1.2.0",
        "documentationUrl": "https://acme.example.com/docs/airbyte/source-acme-crm",
        "custom": True,
    }
    mapped = [
        {
            "name": f"Bench {n}",
            "dockerRepository": f"ghcr.io/bench/destination-{n}",
            "dockerImageTag": "1.0.0",
            "documentationUrl": "https://bench.example/docs",
        }
        for n in range(20)
    ]
    seed.write_text(
        json.dumps(
            {
                "sources": [*registry["sources"], custom],
                "destinations": [
                    *registry["destinations"],
                    *(
                        {**m, "destinationDefinitionId": f"00000000-0000-4000-9000-{n:012d}", "custom": True}
                        for n, m in enumerate(mapped)
                    ),
                ],
            }
        )
    )
    os.environ["BENCH_MAPPED_DEFINITIONS"] = json.dumps(mapped)

    def run(dag_id: str, conf: dict[str, Any] | None = None) -> tuple[float, float, str]:
        started, cpu = time.perf_counter(), time.process_time()
        dagrun = DagBag(dag_folder=str(DAGS)).get_dag(dag_id).test(run_conf=conf)
        return time.perf_counter() - started, time.process_time() - cpu, str(dagrun.state)

    # No-op run: the emulator in this process, so its request log can be read.
    with AirbyteEmulator(seed=seed, client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as emu:
        use_airbyte(emu.url)
        for dag_id in ("trivial", "create_connectors"):
            run(dag_id)  # warm-up: the first dag.test in a process pays one-off start-up
        emu.clear_requests()
        noop = [run("create_connectors") for _ in range(3)]
        operations = Counter(r.operation for r in emu.requests)
        writes = len(emu.write_requests())
        trivial = [run("trivial") for _ in range(3)]
        per_write = requests_per_update_write(emu, mapped[0], "00000000-0000-4000-9000-000000000000")
    assert {state for *_, state in noop + trivial} == {"success"}
    noop_wall = statistics.median(w for w, _, _ in noop)
    trivial_wall = statistics.median(w for w, _, _ in trivial)
    record(
        "2a no-op run wall (dag.test)",
        f"{noop_wall:.2f} s",
        f"trivial DAG {trivial_wall:.2f} s",
        noop_wall / trivial_wall,
        "< 1.5x",
        "4 tasks vs 1; dag.test idles 1 s before it marks an empty mapped task skipped",
    )
    record(
        "2b no-op run requests, per run",
        ", ".join(f"{count // 3} {op}" for op, count in sorted(operations.items())),
        "one list per kind, 0 writes",
        None,
        "0 writes",
        f"{writes} writes in 3 runs",
    )

    record(
        "4c requests per update write",
        f"{len(per_write)}: {', '.join(per_write)}",
        "before: the whole list of its kind, then the write",
        None,
        "1 read + 1 write",
        "a token once per process besides; a planned update reads only its own definition",
    )

    # Per mapped task: the emulator in its own process, so that its CPU is not counted.
    emulator, _ = start_emulator(seed)
    try:
        for dag_id in ("mapped_definitions", "mapped_noop", "mapped_noop_result"):
            run(dag_id)
        mapped_runs = [run("mapped_definitions") for _ in range(3)]
        noop_runs = [run("mapped_noop") for _ in range(3)]
        result_runs = [run("mapped_noop_result") for _ in range(3)]
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)
    assert {state for *_, state in mapped_runs + noop_runs + result_runs} == {"success"}
    n = len(mapped)
    wall_op = statistics.median(w for w, _, _ in mapped_runs) / n
    wall_noop = statistics.median(w for w, _, _ in noop_runs) / n
    cpu_op = statistics.median(c for _, c, _ in mapped_runs) / n
    cpu_noop = statistics.median(c for _, c, _ in noop_runs) / n
    wall_result = statistics.median(w for w, _, _ in result_runs) / n
    record(
        "4a per mapped task, wall (dag.test)",
        f"{wall_op * 1000:.0f} ms",
        f"no-op {wall_noop * 1000:.0f} ms",
        wall_op / wall_noop,
        "< 1.2x",
        f"{n} mapped planned updates, each: get its one definition, compare -> already made",
    )
    record(
        "4a' per mapped task, wall (dag.test)",
        f"{wall_op * 1000:.0f} ms",
        f"no-op with its template fields and result {wall_result * 1000:.0f} ms",
        wall_op / wall_result,
        "< 1.2x",
        "the same, against a no-op whose template fields Airflow renders and stores and whose result it keeps",
    )
    record(
        "4b per mapped task, CPU (dag.test)",
        f"{cpu_op * 1000:.0f} ms",
        f"no-op {cpu_noop * 1000:.0f} ms",
        cpu_op / cpu_noop,
        "< 1.2x",
        "client side; emulator in its own process",
    )


def requests_per_update_write(emu: Any, definition: dict[str, Any], definition_id: str) -> list[str]:
    """The requests one planned update sends (the token is fetched before, as a mapped task's first call)."""
    from airflow_airbyte_connectors.hooks.airbyte_definitions import AirbyteDefinitionsHook
    from airflow_airbyte_connectors.operators.airbyte_definition import AirbyteDefinitionOperator

    AirbyteDefinitionsHook().get_workspace_id()  # token and workspace, as prepare does before the writes
    emu.set_tag("destination", definition["dockerRepository"], "0.9.0")
    emu.clear_requests()
    result = AirbyteDefinitionOperator(
        task_id="apply",
        kind="destination",
        definition=definition,
        planned_action="update",
        definition_id=definition_id,
        tag_before="0.9.0",
        workspace_id=emu.workspace_ids[0],
    ).execute(context={})
    assert result["action"] == "updated", result
    return [r.operation for r in emu.requests]


# -- 3. parse cost ---------------------------------------------------------------------------------

PARSE_PROBE = r"""
import json, sys, time
import airflow.sdk
from airflow.dag_processing.dagbag import DagBag
before = set(sys.modules)
started = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1])
elapsed = time.perf_counter() - started
assert not bag.import_errors, bag.import_errors
new = sorted({m.split(".")[0] for m in set(sys.modules) - before if not m.startswith("unusual_prefix_")})
print(json.dumps({"seconds": elapsed, "new_top_level_modules": new}))
"""


def bench_parse() -> None:
    probe = WORK / "parse_probe.py"
    probe.write_text(PARSE_PROBE)

    def parse(path: Path) -> dict[str, Any]:
        out = subprocess.run(
            [sys.executable, str(probe), str(path)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "AIRFLOW__CORE__DAGS_FOLDER": str(path.parent)},
        ).stdout
        return json.loads(out.strip().splitlines()[-1])

    ours = [parse(DAGS / "create_connectors.py") for _ in range(7)]
    trivial = [parse(DAGS / "trivial.py") for _ in range(7)]
    ours_s = statistics.median(r["seconds"] for r in ours)
    trivial_s = statistics.median(r["seconds"] for r in trivial)
    extra = sorted(set(ours[0]["new_top_level_modules"]) - set(trivial[0]["new_top_level_modules"]))
    record(
        "3 parse create_connectors.py",
        f"{ours_s * 1000:.1f} ms",
        f"trivial DAG {trivial_s * 1000:.1f} ms",
        ours_s / trivial_s,
        "< 1.2x",
        f"imports beyond the trivial DAG's: {', '.join(extra) or 'none'}",
    )


# -- 5. fan-out under the real scheduler ---------------------------------------------------------


NOOP_FAN_DAG = """
import os, time
from airflow.sdk import dag, task

N = int(os.environ.get("BENCH_FAN_N", "0"))
L = float(os.environ.get("BENCH_FAN_L", "1"))
C = int(os.environ.get("BENCH_FAN_C", "4"))


@dag(dag_id="fan_noop", schedule=None)
def fan_noop():
    @task(max_active_tis_per_dagrun=C)
    def work(i):
        time.sleep(L)  # the same wait as one Airbyte write, nothing else

    work.expand(i=list(range(N)))


fan_noop()
"""


def bench_fan_out(n: int = 40, latency: float = 1.0) -> None:
    """The apply phase of n updates of latency L under LocalExecutor and CeleryExecutor, each beside a mapped
    fan-out of n tasks that only sleep L on the same executor (Airflow's own floor)."""
    import yaml

    from airflow_airbyte_connectors import settings
    from tests.services.airflow_services import running_airflow
    from tests.services.production_stack import missing_requirements, production_stack

    concurrency = settings.max_active_writes()
    definitions = [
        {
            "name": f"Fan {i}",
            "dockerRepository": f"ghcr.io/bench/source-fan-{i}",
            "dockerImageTag": "1.0.0",
            "documentationUrl": "https://bench.example/docs",
        }
        for i in range(n)
    ]
    seed = WORK / "fan_seed.json"
    seed.write_text(
        json.dumps(
            {
                "sources": [
                    {
                        **d,
                        "dockerImageTag": "0.9.0",
                        "custom": True,
                        "sourceDefinitionId": f"00000000-0000-4000-a000-{i:012d}",
                    }
                    for i, d in enumerate(definitions)
                ],
                "destinations": [],
            }
        )
    )
    config = WORK / "fan" / "basic_config.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(yaml.safe_dump({"connectors": {"source_definitions": definitions}}))
    dags = WORK / "fan_dags"
    dags.mkdir(exist_ok=True)
    shutil.copy(REPO / "dags" / "create_connectors.py", dags)
    (dags / "fan_noop.py").write_text(NOOP_FAN_DAG)
    ideal = n * latency / concurrency
    stacks = {"LocalExecutor": lambda home, env: running_airflow(home, dags, env, lifetime=900)}
    if missing_requirements() is None:
        stacks["CeleryExecutor"] = lambda home, env: production_stack(home, dags, env, lifetime=900)
    for executor, stack in stacks.items():
        emulator, _ = start_emulator(seed, "--write-delay", str(latency))
        try:
            env = {
                "AIRFLOW__AIRBYTE_CONNECTORS__BASIC_CONFIG_PATH": str(config),
                "AIRFLOW__AIRBYTE_CONNECTORS__MAX_WRITES": "1000",
                "AIRFLOW__AIRBYTE_CONNECTORS__TASK_RETRIES": "0",
                "AIRFLOW__AIRBYTE_CONNECTORS__CHECK_IMAGES": "False",
                "AIRFLOW__AIRBYTE_CONNECTORS__REGISTRY_URL": "",
                "AIRFLOW__API__MAXIMUM_PAGE_LIMIT": "1000",
                "AIRFLOW_CONN_AIRBYTE_DEFAULT": os.environ["AIRFLOW_CONN_AIRBYTE_DEFAULT"],
                "BENCH_FAN_N": str(n),
                "BENCH_FAN_L": str(latency),
                "BENCH_FAN_C": str(concurrency),
            }
            with stack(WORK / f"fan_{executor}", env) as running:
                airflow = getattr(running, "airflow", running)
                ours = _mapped_phase(airflow, "create_connectors", "apply", n)
                floor = _mapped_phase(airflow, "fan_noop", "work", n)
        finally:
            emulator.terminate()
            emulator.wait(timeout=10)
        record(
            f"5 fan-out {n} updates, L={latency:g}s, C={concurrency}, {executor}",
            f"{ours:.0f} s (apply phase)",
            f"no-op fan-out {floor:.0f} s; ideal {ideal:.0f} s",
            ours / floor,
            "< 1.5x",
            f"{ours / ideal:.2f}x ideal N*L/C",
        )


def _mapped_phase(airflow: Any, dag_id: str, task_id: str, n: int) -> float:
    """Trigger ``dag_id`` and return the seconds from the first of its n mapped tasks' start to the last end."""
    from tests.services.airflow_services import finished, wait_for

    wait_for(f"{dag_id} to be parsed", lambda: airflow.api("GET", f"dags/{dag_id}"))
    airflow.api("PATCH", f"dags/{dag_id}", json={"is_paused": False})
    run_id = airflow.trigger(dag_id)
    run = wait_for(f"the {dag_id} run", lambda: finished(airflow, dag_id, run_id), timeout=900, every=2)
    tis = [ti for ti in airflow.task_instances(dag_id, run_id, limit=1000) if ti["task_id"] == task_id]
    assert run["state"] == "success" and len(tis) == n, (dag_id, run["state"], len(tis))
    starts = [datetime.fromisoformat(ti["start_date"]) for ti in tis]
    ends = [datetime.fromisoformat(ti["end_date"]) for ti in tis]
    return (max(ends) - min(starts)).total_seconds()


# -- 6. growth ----------------------------------------------------------------------------------


def bench_growth() -> None:
    from airflow_airbyte_connectors.configs import parse_connectors
    from airflow_airbyte_connectors.planning import make_plan

    per_definition = {}
    for n in (1_000, 10_000, 50_000):
        entries = [
            {
                "name": f"Synthetic {i}",
                "dockerRepository": f"synthetic/source-{i}",
                "dockerImageTag": "1.0.1",
                "documentationUrl": "https://synthetic.example/docs",
            }
            for i in range(n)
        ]
        current = [
            {
                "sourceDefinitionId": f"00000000-0000-4000-b000-{i:012d}",
                **e,
                "dockerImageTag": "1.0.0" if i % 10 == 0 else "1.0.1",
            }
            for i, e in enumerate(entries)
        ]
        started = time.perf_counter()
        desired = parse_connectors({"source_definitions": entries})
        validated = time.perf_counter()
        plan = make_plan(desired, {"source": current, "destination": []})
        planned = time.perf_counter()
        # Memory in a second pass: tracemalloc slows Python down several times.
        tracemalloc.start()
        make_plan(parse_connectors({"source_definitions": entries}), {"source": current, "destination": []})
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert len(plan.updates) == n // 10
        per_definition[n] = (planned - started) / n
        record(
            f"6 growth n={n:,}",
            f"validate {validated - started:.2f} s + plan {planned - validated:.2f} s",
            f"peak {peak / 1e6:.0f} MB",
            per_definition[n] / per_definition[1_000],
            "~1.0x per definition",
            f"{per_definition[n] * 1e6:.0f} us per definition",
        )


def write_report(started: datetime, elapsed: float) -> None:
    lines = [
        "# Benchmarks",
        "",
        f"Command: `make bench` (`.venv/bin/python benchmarks/run.py`). Run {started:%Y-%m-%d %H:%M} UTC, "
        f"{elapsed / 60:.1f} minutes.",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}; Airflow {_version('apache-airflow')}.",
        "",
        "Each figure is set beside its baseline, measured in the same run. Ratios are measured / baseline.",
        "",
        "| figure | measured | baseline | ratio | target | note |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['figure']} | {r['measured']} | {r['baseline']} | {r['ratio']} | {r['target']} | {r['note']} |"
        for r in results
    ]
    lines += [
        "",
        "## Reading the figures",
        "",
        "- **1e, 1g, 2b**: request counts are also asserted in the test suite (`tests/test_pipeline.py`,",
        "  `tests/dags/test_change_meaning.py`, the no-op runs in `tests/dags/test_create_connectors.py`). With",
        "  updates, prepare reads the connector registry once and searches the sources/destinations of each",
        "  changed definition (one request each, a few at a time: 1c's baseline sends them one after another);",
        "  with nothing to update it makes neither read.",
        "- **1f**: what knowing each change's meaning costs on top of planning: parsing the releases of the",
        "  registry's 647 connectors, classifying every update and applying the holds.",
        "- **2a**: `dag.test()` runs tasks one after another in-process and sleeps 1 s in its loop before it",
        "  marks a mapped task with nothing to map as skipped (profiled: `time.sleep` 1.0 s of the run); the",
        "  rest is three more tasks than the trivial DAG (prepare reads two lists of 0.05 MB and 0.8 MB;",
        "  publish_changes; report).",
        "- **3**: the extra parse time is the operator class and the provider's config section, read at parse",
        "  time for the Asset URI and the task limits; the config, planning and HTTP modules are imported only",
        "  inside tasks.",
        "- **4**: each mapped task lists its kind again before writing (the protection against duplicates and",
        "  stale plans) and pushes a small result to XCom; the no-op operator does neither.",
        "- **5**: the same fan-out on each executor beside Airflow's own floor, a mapped fan-out of N tasks",
        "  that only sleep L with the same concurrency: the ratio is what this project adds per write (reading",
        "  the definitions again, the write itself, the XCom result). Under LocalExecutor every mapped task is",
        "  its own process; under Celery the worker runs them with `--concurrency 8` (CeleryExecutor is measured",
        "  where Postgres and Redis are installed, as in CI). Raising `max_active_writes` shortens the phase",
        "  when Airbyte can take the load.",
        "- **6**: time per definition stays within the same few tens of microseconds from 1,000 to 50,000",
        "  definitions (its ratio moves with the machine's noise, not with n): growth is linear.",
    ]
    (REPO / "BENCHMARKS.md").write_text("\n".join(lines) + "\n")


def _version(distribution: str) -> str:
    from importlib.metadata import version

    return version(distribution)


def main() -> None:
    started_at, started = datetime.now(UTC), time.perf_counter()
    DAGS.mkdir(parents=True)
    shutil.copy(REPO / "dags" / "create_connectors.py", DAGS)
    (DAGS / "trivial.py").write_text(TRIVIAL_DAG)
    (DAGS / "mapped.py").write_text(MAPPED_DAGS)
    print(f"{'figure':<42} {'measured':<34} {'baseline':<30} {'ratio':<8} target")
    bench_registry_plan()
    bench_growth()
    bench_parse()
    bench_dag_runs()
    bench_fan_out()
    write_report(started_at, time.perf_counter() - started)
    shutil.rmtree(WORK, ignore_errors=True)
    print("\nwrote BENCHMARKS.md")


if __name__ == "__main__":
    main()
