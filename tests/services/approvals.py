"""Answering create_connectors' approval over Airflow's REST API, as a person on duty would."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

from tests.services.airflow_services import Airflow, wait_for

DAG_ID = "create_connectors"
# Airflow 3.3.2 can fail an approval answered right after it paused (a scheduler race, see the HITL notes):
# answer only once the task has been waiting this long.
SETTLE_SECONDS = 3.0


def task_instance(airflow: Airflow, run_id: str, task_id: str, map_index: int = -1) -> dict[str, Any]:
    path = f"dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}"
    return airflow.api("GET", path if map_index < 0 else f"{path}/{map_index}")


def waiting_approval(airflow: Airflow, run_id: str, timeout: float = 120) -> dict[str, Any]:
    """The approval request once the run is paused on it (rendered subject and body)."""
    wait_for(
        "the approval to wait for a person",
        lambda: task_instance(airflow, run_id, "approve")["state"] == "awaiting_input",
        timeout=timeout,
    )
    path = f"dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}/taskInstances/approve/-1/hitlDetails"
    return airflow.api("GET", path)


def answer(airflow: Airflow, run_id: str, option: str, timeout: float = 120) -> dict[str, Any]:
    """Answer ``Approve`` or ``Reject``; if Airflow fails the answered task and its retry asks again, answer
    the new request too. Returns the approval task instance once it has finished."""
    path = f"dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}/taskInstances/approve/-1/hitlDetails"
    for _ in range(3):
        waiting_approval(airflow, run_id, timeout)
        asked_in = task_instance(airflow, run_id, "approve")["try_number"]
        time.sleep(SETTLE_SECONDS)
        airflow.api("PATCH", path, json={"chosen_options": [option], "params_input": {}})

        def settled(asked_in: int = asked_in) -> dict[str, Any] | None:
            ti = task_instance(airflow, run_id, "approve")
            if ti["state"] in ("success", "failed", "skipped"):
                return ti
            # Failed by Airflow after the answer, and asked again by the retry.
            return ti if ti["try_number"] > asked_in else None

        done = wait_for("the approval task to finish", settled, timeout=timeout)
        if done["state"] in ("success", "failed", "skipped"):
            return done
    raise AssertionError("Airflow failed the answered approval three times")
