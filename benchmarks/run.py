"""Benchmarks: what the pipeline costs, each figure beside the least it could cost, measured in one run.

    make bench        (or: .venv/bin/python benchmarks/run.py)
    .venv/bin/python benchmarks/run.py parse dag_runs      (some groups only: printed, BENCHMARKS.md kept)

Prints a table and writes BENCHMARKS.md (the table, then reading.md). Needs
../shared/airbyte/oss-registry-v2.0.0.json. The groups live beside this file, their DAGs in dags/.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import version

from common import HERE, REPO, WORK, results
from creates import bench_creates
from dag_runs import bench_dag_runs
from environments import bench_environments
from fan_out import bench_fan_out
from parse_cost import bench_parse
from plan_scale import bench_growth, bench_registry_plan
from upgrades import bench_outdated, bench_outdated_hostile

# In the order of a full run.
GROUPS: dict[str, Callable[[], None]] = {
    "registry_plan": bench_registry_plan,
    "growth": bench_growth,
    "parse": bench_parse,
    "dag_runs": bench_dag_runs,
    "fan_out": bench_fan_out,
    "outdated": bench_outdated,
    "outdated_hostile": bench_outdated_hostile,
    "creates": bench_creates,
    "environments": bench_environments,
}


def write_report(started: datetime, elapsed: float) -> None:
    lines = [
        "# Benchmarks",
        "",
        f"Command: `make bench` (`.venv/bin/python benchmarks/run.py`). Run {started:%Y-%m-%d %H:%M} UTC, "
        f"{elapsed / 60:.1f} minutes.",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}; Airflow {version('apache-airflow')}.",
        "",
        "Each figure is set beside its baseline, measured in the same run. Ratios are measured / baseline.",
        "",
        "| figure | measured | baseline | ratio | target | note |",
        "|---|---|---|---|---|---|",
        *(
            f"| {r['figure']} | {r['measured']} | {r['baseline']} | {r['ratio']} | {r['target']} | {r['note']} |"
            for r in results
        ),
        "",
    ]
    (REPO / "BENCHMARKS.md").write_text("\n".join(lines) + "\n" + (HERE / "reading.md").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("groups", nargs="*", metavar="GROUP", help=f"any of {', '.join(GROUPS)}; default all")
    started_at, started = datetime.now(UTC), time.perf_counter()
    try:  # the work folder goes also when the arguments are refused
        chosen = parser.parse_args().groups or list(GROUPS)
        if unknown := sorted(set(chosen) - set(GROUPS)):
            parser.error(f"unknown group {', '.join(unknown)}: choose from {', '.join(GROUPS)}")
        print(f"{'figure':<42} {'measured':<34} {'baseline':<30} {'ratio':<8} target")
        for name in GROUPS:
            if name in chosen:
                GROUPS[name]()
        if set(chosen) == set(GROUPS):
            write_report(started_at, time.perf_counter() - started)
            print("\nwrote BENCHMARKS.md")
    finally:
        shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
