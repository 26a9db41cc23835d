"""What every benchmark group shares: the work folder, Airflow's environment, the emulator, the result rows."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
REGISTRY = REPO.parent / "shared" / "airbyte" / "oss-registry-v2.0.0.json"
RELEASES = REPO.parent / "shared" / "airbyte" / "oss-registry-releases-b8390e04.json"
# The benchmarks' own DAGs, copied beside create_connectors.py into the DAGs folder of the run.
BENCH_DAGS = HERE / "dags"
WORK = Path(tempfile.mkdtemp(prefix="aac-bench-"))
DAGS = WORK / "dags"
CLIENT_ID, CLIENT_SECRET = "bench-client", "bench-secret-value"

# Set before anything imports Airflow: it reads its configuration once.
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
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

results: list[dict[str, Any]] = []


def record(figure: str, measured: str, baseline: str, ratio: float | None, target: str, note: str = "") -> None:
    row = {
        "figure": figure,
        "measured": measured,
        "baseline": baseline,
        "ratio": "-" if ratio is None else f"{ratio:.2f}x" if ratio >= 0.01 else f"{ratio:.0e}x",
        "target": target,
        "note": note,
    }
    results.append(row)
    print(f"{figure:<42} {measured:<34} {baseline:<30} {row['ratio']:<8} {target}", flush=True)


def install_dags(folder: Path, *names: str) -> Path:
    """``folder`` with the project's DAG and the named benchmark DAGs (``benchmarks/dags/<name>.py``)."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "dags" / "create_connectors.py", folder)
    for name in names:
        shutil.copy(BENCH_DAGS / f"{name}.py", folder)
    return folder


def synthetic_definitions(n: int, name: str, repository: str, tag: str) -> list[dict[str, Any]]:
    """``n`` definitions named ``<name> <i>`` with the image ``<repository>-<i>:<tag>``."""
    return [
        {
            "name": f"{name} {i}",
            "dockerRepository": f"{repository}-{i}",
            "dockerImageTag": tag,
            "documentationUrl": "https://bench.example/docs",
        }
        for i in range(n)
    ]


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
    assert process.stdout is not None
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


def timed(action: Callable[[], Any]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started
