"""3. What parsing create_connectors.py costs the dag-processor, beside a trivial DAG and beside a DAG of
the same shape that imports nothing of this package (the floor of the shape)."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from common import HERE, REPO, WORK, install_dags, record

PROBE = HERE / "parse_probe.py"
RUNS = 15
FILES = ("create_connectors", "trivial", "same_shape")


def parse(path: Path, env: dict[str, str]) -> dict[str, Any]:
    """One parse of ``path`` in a fresh interpreter, as the dag-processor parses a file in a new process."""
    out = subprocess.run(
        [sys.executable, str(PROBE), str(path)],
        capture_output=True,
        text=True,
        check=True,
        env={**env, "AIRFLOW__CORE__DAGS_FOLDER": str(path.parent)},
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def bench_parse() -> None:
    folder = install_dags(WORK / "parse_dags", "trivial", "same_shape")
    # Installed: every module read from bytecode, as after `pip install` (pip compiles what it installs),
    # kept in the work folder. From source: a copy of the package without bytecode, first on the path and
    # never compiled to disk, as in an editable install under PYTHONDONTWRITEBYTECODE: compiled on every parse.
    installed = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    installed["PYTHONPYCACHEPREFIX"] = str(WORK / "bytecode")
    source = WORK / "source"
    shutil.copytree(
        REPO / "airflow_airbyte_connectors",
        source / "airflow_airbyte_connectors",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    from_source = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(source)}
    modes = {"installed": installed, "source": from_source}
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {(m, f): [] for m in modes for f in FILES}
    for env in modes.values():
        for name in FILES:
            parse(folder / f"{name}.py", env)  # warm-up: writes the bytecode (installed), fills the disk cache
    # In turn, run by run, so that a drift of the machine's speed reaches every figure alike.
    for _ in range(RUNS):
        for (mode, name), found in runs.items():
            found.append(parse(folder / f"{name}.py", modes[mode]))

    def median(mode: str, name: str) -> float:
        return statistics.median(r["seconds"] for r in runs[mode, name])

    def ratio(mode: str, name: str, baseline: str, key: str = "seconds") -> float:
        """The median of the ratios run by run (each pair measured side by side)."""
        return statistics.median(a[key] / b[key] for a, b in zip(runs[mode, name], runs[mode, baseline], strict=True))

    def cpu(mode: str, name: str, baseline: str) -> str:
        return f"CPU {ratio(mode, name, baseline, 'cpu_seconds'):.2f}x"

    imports = {name: set(runs["installed", name][0]["new_top_level_modules"]) for name in FILES}
    extra = ", ".join(sorted(imports["create_connectors"] - imports["trivial"])) or "none"
    ours, trivial, shape = (median("installed", name) for name in FILES)
    record(
        "3 parse create_connectors.py",
        f"{ours * 1000:.1f} ms",
        f"trivial DAG {trivial * 1000:.1f} ms",
        ratio("installed", "create_connectors", "trivial"),
        "< 1.2x",
        f"{cpu('installed', 'create_connectors', 'trivial')}; imports beyond the trivial DAG's: {extra}",
    )
    record(
        "3' parse, the floor of its shape",
        f"{shape * 1000:.1f} ms",
        f"trivial DAG {trivial * 1000:.1f} ms",
        ratio("installed", "same_shape", "trivial"),
        "-",
        f"{cpu('installed', 'same_shape', 'trivial')}; benchmarks/dags/same_shape.py: same tasks, params, schedule, "
        "no import of the package",
    )
    record(
        "3'' parse create_connectors.py",
        f"{ours * 1000:.1f} ms",
        f"its shape {shape * 1000:.1f} ms",
        ratio("installed", "create_connectors", "same_shape"),
        "-",
        f"{cpu('installed', 'create_connectors', 'same_shape')}; what the package's modules add",
    )
    ours, trivial = median("source", "create_connectors"), median("source", "trivial")
    record(
        "3s parse create_connectors.py, from source",
        f"{ours * 1000:.1f} ms",
        f"trivial DAG {trivial * 1000:.1f} ms",
        ratio("source", "create_connectors", "trivial"),
        "-",
        f"{cpu('source', 'create_connectors', 'trivial')}; the package without bytecode: compiled on every parse",
    )
