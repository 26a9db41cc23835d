"""Answering create_connectors' approval over Airflow's REST API, as a person on duty would."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from tests.services.airflow_services import Airflow, logged_line, wait_for

DAG_ID = "create_connectors"
TASK_ID = "approve"
# approval_timeout (seconds) for every stack whose tests answer approvals: far beyond what a loaded machine can
# take between the pause and the answer (a lapsed request turns a late answer into 409 and a Reject). The wait
# ends at the answer, so it costs nothing when things go well.
ANSWERING_APPROVAL_TIMEOUT = 600


def task_instance(
    airflow: Airflow, run_id: str, task_id: str, map_index: int = -1, *, dag_id: str = DAG_ID
) -> dict[str, Any]:
    path = f"dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}"
    return airflow.api("GET", path if map_index < 0 else f"{path}/{map_index}")


def hitl_path(run_id: str, dag_id: str = DAG_ID, task_id: str = TASK_ID) -> str:
    return f"dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{quote(task_id, safe='')}/-1/hitlDetails"


def waiting_approval(
    airflow: Airflow,
    run_id: str,
    timeout: float = 120,
    every: float = 1.0,
    *,
    dag_id: str = DAG_ID,
    task_id: str = TASK_ID,
) -> dict[str, Any]:
    """The approval request once the run is paused on it (rendered subject and body)."""
    wait_for(
        "the approval to wait for a person",
        lambda: task_instance(airflow, run_id, task_id, dag_id=dag_id)["state"] == "awaiting_input",
        timeout=timeout,
        every=every,
    )
    return airflow.api("GET", hitl_path(run_id, dag_id, task_id))


def pause_processed(airflow: Airflow, ti: dict[str, Any], timeout: float = 120) -> str:
    """Wait for the scheduler's line that it processed the executor's event for the paused try: from then on
    an answer cannot meet that event (the race in docs/approvals.md)."""
    return logged_line(
        airflow.service_logs / "scheduler.log",
        "TaskInstance Finished:",
        f"ti_id={ti['id']},",
        "state=awaiting_input,",
        "executor_state=success,",
        f"try_number={ti['try_number']},",
        timeout=timeout,
    )


# Runs whose answered approval met Airflow's race (its audit log has a `state mismatch` for `approve`): the retry
# completed with the same answer, or the resumed try had already started and finished with it. The services'
# fixtures compare them with the race's lines in the logs, which are then expected and nothing else is.
RACED: list[str] = []
# Those of them whose approval Airflow failed before it resumed: a retry completed with the earlier answer.
RETRIED: list[str] = []
RACE_LINE = "reported that the task instance <TaskInstance: "
RACE_TASK = re.compile(r"<TaskInstance: \S+approve ")
# What follows a race: LocalExecutor's line when the resumed approval finds its task already failed, and, when
# the resumed try was already running, the supervisor's and the task's lines as Airflow stops it (task log and
# scheduler log: up to twice a race each).
RACE_FOLLOW_UPS = (
    "Workload execution failed.",
    "Server indicated the task shouldn't be running anymore",
    "Task killed!",
)


def answered(
    airflow: Airflow,
    run_id: str,
    give_answer: Callable[[], Any],
    timeout: float = 120,
    *,
    at_once: bool = False,
    dag_id: str = DAG_ID,
    task_id: str = TASK_ID,
) -> dict[str, Any]:
    """Wait for the approval, then for the scheduler to have processed its pause (``at_once``: not), then
    ``give_answer`` (REST or a click); return the approval task instance once it has finished. Fails if the
    person is asked again."""
    waiting_approval(airflow, run_id, timeout, every=0.05 if at_once else 1.0, dag_id=dag_id, task_id=task_id)
    asked = task_instance(airflow, run_id, task_id, dag_id=dag_id)
    if not at_once:
        pause_processed(airflow, asked, timeout)
    give_answer()

    def settled() -> dict[str, Any] | None:
        ti = task_instance(airflow, run_id, task_id, dag_id=dag_id)
        if ti["state"] == "awaiting_input" and ti["try_number"] > asked["try_number"]:
            raise AssertionError(f"{run_id}: the person was asked again (try {ti['try_number']})")
        return ti if ti["state"] in ("success", "failed", "skipped") else None

    done = wait_for("the approval task to finish", settled, timeout=timeout, every=0.2)
    if done["try_number"] > asked["try_number"]:
        RETRIED.append(run_id)
    if run_id in RETRIED or state_mismatches(airflow, run_id, dag_id=dag_id, task_id=task_id):
        RACED.append(run_id)
    return done


def state_mismatches(airflow: Airflow, run_id: str, *, dag_id: str = DAG_ID, task_id: str = TASK_ID) -> int:
    """How often the scheduler failed ``approve`` of this run for a state it did not expect (the race)."""
    events = airflow.api(
        "GET",
        "eventLogs",
        params={"dag_id": dag_id, "task_id": task_id, "run_id": run_id, "event": "state mismatch", "limit": 10},
    )
    return int(events.get("total_entries") or 0)


def answer(
    airflow: Airflow, run_id: str, option: str, timeout: float = 120, *, dag_id: str = DAG_ID, task_id: str = TASK_ID
) -> dict[str, Any]:
    """Answer ``Approve`` or ``Reject`` over REST (see ``answered``)."""
    give = lambda: patch_answer(airflow, run_id, option, dag_id=dag_id, task_id=task_id)  # noqa: E731
    return answered(airflow, run_id, give, timeout, dag_id=dag_id, task_id=task_id)


def patch_answer(
    airflow: Airflow, run_id: str, option: str, *, dag_id: str = DAG_ID, task_id: str = TASK_ID
) -> dict[str, Any]:
    """The person's answer over REST, as Airflow stored it (who, when, which). Fails, with Airflow's status and
    words, unless Airflow took it (2xx): a 409 means the request was already answered, e.g. it lapsed to its
    default first."""
    url = f"{airflow.url}/api/v2/{hitl_path(run_id, dag_id, task_id)}"
    given = airflow.session.patch(url, json={"chosen_options": [option], "params_input": {}}, timeout=30)
    # An AssertionError, not requests' HTTPError: wait_for() retries on those, and an answer is given once.
    assert_answer_taken(given.status_code, given.text, f"{option} for {dag_id}.{task_id} of {run_id} over REST")
    return given.json()


def assert_answer_taken(status: int, body: str, what: str) -> None:
    """Fail unless Airflow accepted an answer (HTTP 2xx), saying what was answered, its status and body."""
    if not 200 <= status < 300:
        raise AssertionError(f"Airflow refused the answer {what}: HTTP {status} {body[:1000]}")


def without_approval_race(errors: list[str]) -> tuple[list[str], int]:
    """The logged error lines other than the approval race's, and how many races they show."""
    races = sum(1 for line in errors if RACE_LINE in line and RACE_TASK.search(line))
    others, follow_ups = [], dict.fromkeys(RACE_FOLLOW_UPS, 0)
    for line in errors:
        if RACE_LINE in line and RACE_TASK.search(line):
            continue
        marker = next((m for m in RACE_FOLLOW_UPS if m in line), None)
        if marker is not None and follow_ups[marker] < 2 * races:
            follow_ups[marker] += 1
        else:
            others.append(line)
    return others, races
