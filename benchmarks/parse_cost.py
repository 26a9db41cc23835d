"""3. What parsing create_connectors.py costs the dag-processor, beside a trivial DAG and beside a DAG of
the same shape that imports nothing of this package (the floor of the shape)."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from common import HERE, WORK, install_dags, record

PROBE = HERE / "parse_probe.py"
RUNS = 9


def parse(path: Path) -> dict[str, Any]:
    """One parse of ``path`` in a fresh interpreter, as the dag-processor parses a file it has not seen."""
    out = subprocess.run(
        [sys.executable, str(PROBE), str(path)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "AIRFLOW__CORE__DAGS_FOLDER": str(path.parent)},
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def bench_parse() -> None:
    folder = install_dags(WORK / "parse_dags", "trivial", "same_shape")
    files = {name: folder / f"{name}.py" for name in ("create_connectors", "trivial", "same_shape")}
    # In turn, run by run, so that a drift of the machine's speed reaches all three alike.
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in files}
    for _ in range(RUNS):
        for name, path in files.items():
            runs[name].append(parse(path))
    seconds = {name: statistics.median(r["seconds"] for r in found) for name, found in runs.items()}
    imports = {name: set(found[0]["new_top_level_modules"]) for name, found in runs.items()}
    ours, trivial, shape = seconds["create_connectors"], seconds["trivial"], seconds["same_shape"]
    extra = sorted(imports["create_connectors"] - imports["trivial"])
    record(
        "3 parse create_connectors.py",
        f"{ours * 1000:.1f} ms",
        f"trivial DAG {trivial * 1000:.1f} ms",
        ours / trivial,
        "< 1.2x",
        f"imports beyond the trivial DAG's: {', '.join(extra) or 'none'}",
    )
    record(
        "3' parse create_connectors.py",
        f"{ours * 1000:.1f} ms",
        f"same shape, no import of the package {shape * 1000:.1f} ms",
        ours / shape,
        "< 1.2x",
        f"the shape alone is {shape / trivial:.2f}x the trivial DAG",
    )
