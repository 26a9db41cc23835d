"""Answering create_connectors' approval over Airflow's REST API, as a person on duty would."""

from __future__ import annotations

import time
from collections.abc import Callable
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


# Runs whose approval Airflow failed after it was answered and asked again (the race above); the services'
# fixtures compare them with the race's lines in the logs, which are then expected and nothing else is.
RETRIED: list[str] = []
RACE_LINE = "reported that the task instance <TaskInstance: create_connectors.approve "
# What LocalExecutor logs when the resumed approval finds its task already failed by the race.
RACE_FOLLOW_UP = "Workload execution failed."


def answered(airflow: Airflow, run_id: str, give_answer: Callable[[], None], timeout: float = 120) -> dict[str, Any]:
    """Wait for the approval, ``give_answer`` (REST or a click), and return the approval task instance once it
    has finished; if Airflow fails the answered task and its retry asks again, answer the new request too."""
    for _ in range(3):
        waiting_approval(airflow, run_id, timeout)
        asked_in = task_instance(airflow, run_id, "approve")["try_number"]
        time.sleep(SETTLE_SECONDS)
        give_answer()

        def settled(asked_in: int = asked_in) -> dict[str, Any] | None:
            ti = task_instance(airflow, run_id, "approve")
            if ti["state"] in ("success", "failed", "skipped") or ti["try_number"] > asked_in:
                return ti
            return None

        done = wait_for("the approval task to finish", settled, timeout=timeout)
        if done["state"] in ("success", "failed", "skipped"):
            return done
        RETRIED.append(run_id)
    raise AssertionError("Airflow failed the answered approval three times")


def answer(airflow: Airflow, run_id: str, option: str, timeout: float = 120) -> dict[str, Any]:
    """Answer ``Approve`` or ``Reject`` over REST (see ``answered``)."""
    path = f"dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}/taskInstances/approve/-1/hitlDetails"
    return answered(
        airflow,
        run_id,
        lambda: airflow.api("PATCH", path, json={"chosen_options": [option], "params_input": {}}),
        timeout,
    )


def without_approval_race(errors: list[str]) -> tuple[list[str], int]:
    """The logged error lines other than the approval race's, and how many races they show."""
    others, races, follow_ups = [], 0, 0
    for line in errors:
        if RACE_LINE in line:
            races += 1
        elif RACE_FOLLOW_UP in line and follow_ups < races:
            follow_ups += 1
        else:
            others.append(line)
    return others, races
