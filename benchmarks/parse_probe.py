"""Parse one DAG file as the dag-processor does and print the seconds it took (wall and CPU), as JSON.

    python benchmarks/parse_probe.py PATH/TO/DAG.py

Airflow itself is imported before the clock starts: the figure is what the file adds to a parse.
"""

import json
import sys
import time

import airflow.sdk  # noqa: F401  (imported before the clock starts)
from airflow.dag_processing.dagbag import DagBag

before = set(sys.modules)
started, started_cpu = time.perf_counter(), time.process_time()
bag = DagBag(dag_folder=sys.argv[1])
elapsed, cpu = time.perf_counter() - started, time.process_time() - started_cpu
assert not bag.import_errors, bag.import_errors
new = sorted({m.split(".")[0] for m in set(sys.modules) - before if not m.startswith("unusual_prefix_")})
print(json.dumps({"seconds": elapsed, "cpu_seconds": cpu, "new_top_level_modules": new}))
