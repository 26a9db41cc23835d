"""Airflow's own floor for the fan-out (5): N mapped tasks that only wait L, at most C at once."""

import os
import time

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
