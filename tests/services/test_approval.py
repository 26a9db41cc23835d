"""A person approves held changes in Airflow (Human-in-the-loop), on real services driven over REST:
approve, reject, no answer in time, nothing to approve, dry run, apply_held, and `approval = always`.
Every case checks the exact writes the Airbyte emulator saw and the report's words."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psutil
import pytest
import yaml

from tests.services import approvals
from tests.services.airflow_services import Airflow, finished, logged_errors, logged_line, running_airflow, wait_for
from tests.services.approvals import (
    DAG_ID,
    answer,
    answered,
    patch_answer,
    task_instance,
    waiting_approval,
    without_approval_race,
)
from tests.support import (
    CLIENT_ID,
    CLIENT_SECRET,
    COPY_DAG_ID,
    COPY_GROUP,
    REGISTRY,
    RELEASES,
    REPO_ROOT,
    registry_entry,
    renamed_copy,
)

pytestmark = pytest.mark.services

GITHUB = {**registry_entry("source", "GitHub"), "dockerImageTag": "2.1.14"}  # 1.8.0 → 2.1.14: major, breaking
POKEAPI = registry_entry("source", "PokeAPI")  # 0.3.38 → 0.3.40: patch, safe
# approval_timeout (seconds) of the stacks whose tests answer: a loaded machine must never let the request lapse
# before the answer (a browser's click once came 15.5 s after the pause). The wait ends at the answer, so a
# long timeout costs nothing; a test that fails to answer fails on its own, shorter, waits.
APPROVAL_TIMEOUT = approvals.ANSWERING_APPROVAL_TIMEOUT
# The one test that lets a request lapse, unanswered, to its default (Reject).
LAPSE_TIMEOUT = 15


def approval_env(airbyte, config: Path, mode: str, approval_timeout: float = APPROVAL_TIMEOUT) -> dict[str, str]:
    """The services' environment: the emulator (with its registry), this basic_config, approval ``mode``."""
    return {
        "AIRFLOW__AIRBYTE_CONNECTORS__BASIC_CONFIG_PATH": str(config),
        "AIRFLOW__AIRBYTE_CONNECTORS__TASK_RETRIES": "0",
        "AIRFLOW__AIRBYTE_CONNECTORS__CHECK_IMAGES": "False",
        "AIRFLOW__AIRBYTE_CONNECTORS__REGISTRY_URL": airbyte.registry_url,
        "AIRFLOW__AIRBYTE_CONNECTORS__APPROVAL": mode,
        "AIRFLOW__AIRBYTE_CONNECTORS__APPROVAL_TIMEOUT": f"{approval_timeout:g}",
        "AIRFLOW__SCHEDULER__TRIGGER_TIMEOUT_CHECK_INTERVAL": "2",
        "AIRFLOW_CONN_AIRBYTE_DEFAULT": json.dumps(
            {"conn_type": "airbyte", "host": airbyte.url, "login": CLIENT_ID, "password": CLIENT_SECRET}
        ),
    }


@pytest.fixture
def stack(tmp_path: Path, emulator, request) -> Iterator[tuple[Airflow, Any, Path]]:
    dags = tmp_path / "dags"
    dags.mkdir()
    shutil.copy(REPO_ROOT / "dags" / "create_connectors.py", dags)
    (dags / f"{COPY_DAG_ID}.py").write_text(renamed_copy((REPO_ROOT / "dags" / "create_connectors.py").read_text()))
    airbyte = emulator(seed=REGISTRY, registry=RELEASES, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    config = tmp_path / "configs" / "basic_config.yaml"
    # "held", (mode, users) or {"mode": ..., "users": ..., "approval_timeout": ...}
    settings = getattr(request, "param", "held")
    if isinstance(settings, str):
        settings = {"mode": settings}
    elif isinstance(settings, tuple):
        settings = dict(zip(("mode", "users"), settings, strict=True))
    mode, users = settings["mode"], settings.get("users")
    env = approval_env(airbyte, config, mode, settings.get("approval_timeout", APPROVAL_TIMEOUT))
    login = None
    if users:
        # Real users instead of all-admins: approval_users names who may answer.
        passwords = tmp_path / "passwords.json"
        passwords.write_text(json.dumps({user: f"{user}-password" for user in users["all"]}))
        env.update(
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="False",
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=",".join(f"{user}:admin" for user in users["all"]),
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(passwords),
            AIRFLOW__AIRBYTE_CONNECTORS__APPROVAL_USERS=",".join(users["approvers"]),
        )
        login = (users["all"][0], f"{users['all'][0]}-password")
    approvals.RACED.clear()
    approvals.RETRIED.clear()
    with running_airflow(tmp_path / "airflow", dags, env, lifetime=600, login=login) as airflow:
        wait_for("create_connectors to be parsed", lambda: airflow.api("GET", "dags/create_connectors"))
        airflow.api("PATCH", "dags/create_connectors", json={"is_paused": False})
        yield airflow, airbyte, config
        errors, races = without_approval_race(logged_errors(tmp_path / "airflow"))
        # Airflow's approval race is logged once per answered approval it failed (its retry completed with the
        # answer, or the resumed try had already started and finished with it), never otherwise.
        assert races == len(approvals.RACED), approvals.RACED
        # The one error the users' test causes on purpose: Airflow logs the refused answer.
        refused = "is not a respondent for the task"
        assert [line for line in errors if not (users and refused in line)] == []


def start(
    airflow: Airflow, airbyte, config: Path, sources: list[dict[str, Any]], dag_id: str = DAG_ID, **conf: Any
) -> str:
    """Airbyte with GitHub and PokeAPI behind, this basic_config, and a run triggered by hand."""
    airbyte.set_tag("source", GITHUB["dockerRepository"], "1.8.0")
    airbyte.set_tag("source", POKEAPI["dockerRepository"], "0.3.38")
    airbyte.clear_requests()
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(yaml.safe_dump({"connectors": {"source_definitions": sources, "destination_definitions": []}}))
    return airflow.trigger(dag_id, conf)


def end(airflow: Airflow, run_id: str) -> tuple[str, dict[str, Any]]:
    run = wait_for("the run", lambda: finished(airflow, "create_connectors", run_id), timeout=180)
    return run["state"], airflow.xcom("create_connectors", run_id, "report", "return_value")


def written(airbyte) -> list[str]:
    return sorted(f"{r.body['sourceDefinitionId'][:8]} {r.body['dockerImageTag']}" for r in airbyte.write_requests())


POKE_WRITE = f"{POKEAPI['sourceDefinitionId'][:8]} 0.3.40"
GITHUB_WRITE = f"{GITHUB['sourceDefinitionId'][:8]} 2.1.14"


@pytest.mark.parametrize("stack", ["held"], indirect=True)
def test_held_changes_wait_for_a_person(stack):
    airflow, airbyte, config = stack

    # Approve: the safe patch is written first, without waiting; the held change only after the answer.
    run = start(airflow, airbyte, config, [GITHUB, POKEAPI])
    request = waiting_approval(airflow, run)
    assert written(airbyte) == [POKE_WRITE]  # asked once the safe writes are done
    assert request["subject"] == "Apply 1 held change to Airbyte (1 breaking)?"
    body = request["body"]
    assert "| **update** | source | GitHub | 1.8.0 → 2.1.14 | major, breaking |" in body
    assert "breaking change 2.0.0" in body and "[migration guide](https://docs.airbyte.com/" in body
    assert answer(airflow, run, "Approve")["state"] == "success"
    state, report = end(airflow, run)
    assert state == "success" and written(airbyte) == sorted([POKE_WRITE, GITHUB_WRITE])
    assert report["approval"]["outcome"] == "approved" and report["counts"]["held"] == 0
    assert report["approval"]["summary"].startswith("approved by ")

    # Reject: the held change is not written and is still held.
    run = start(airflow, airbyte, config, [GITHUB, POKEAPI])
    assert answer(airflow, run, "Reject")["state"] == "success"
    state, report = end(airflow, run)
    assert state == "success" and written(airbyte) == [POKE_WRITE]
    assert report["approval"]["outcome"] == "rejected" and report["counts"]["held"] == 1
    assert task_instance(airflow, run, "apply_approved")["state"] == "skipped"  # visible in the grid

    # apply_held given up front does not get past the person: the held change still waits for the answer.
    run = start(airflow, airbyte, config, [GITHUB, POKEAPI], apply_held=True)
    waiting_approval(airflow, run)
    assert written(airbyte) == [POKE_WRITE]
    assert answer(airflow, run, "Approve")["state"] == "success"
    state, report = end(airflow, run)
    assert state == "success" and written(airbyte) == sorted([POKE_WRITE, GITHUB_WRITE])
    assert report["approval"]["outcome"] == "approved"

    # Nothing to approve and a dry run: neither waits.
    for sources, conf, writes in (
        ([POKEAPI], {}, [POKE_WRITE]),
        ([GITHUB, POKEAPI], {"dry_run": True}, []),
    ):
        run = start(airflow, airbyte, config, sources, **conf)
        state, report = end(airflow, run)
        assert state == "success" and written(airbyte) == writes, conf
        assert task_instance(airflow, run, "approve")["state"] == "skipped", conf
        assert report["approval"]["outcome"] == "not_needed", conf


@pytest.mark.parametrize(
    "stack", [pytest.param({"mode": "held", "approval_timeout": LAPSE_TIMEOUT}, id="held-lapse")], indirect=True
)
def test_no_answer_in_time_counts_as_reject(stack):
    """The only stack with a short approval_timeout: nobody answers, the request lapses to its default (Reject),
    the held change is not written, and the report says so."""
    airflow, airbyte, config = stack
    run = start(airflow, airbyte, config, [GITHUB, POKEAPI])
    state, report = end(airflow, run)
    assert state == "success" and written(airbyte) == [POKE_WRITE]
    assert report["approval"]["outcome"] == "lapsed"
    assert f"no answer within approval_timeout ({LAPSE_TIMEOUT} s)" in report["approval"]["summary"]
    # Airflow wrote the default, not a person: it was asked, and it lapsed.
    lapsed = airflow.api("GET", approvals.hitl_path(run))
    assert lapsed["chosen_options"] == ["Reject"] and lapsed["responded_by_user"] is None, lapsed
    assert task_instance(airflow, run, "apply_approved")["state"] == "skipped"


@pytest.mark.parametrize("stack", ["always"], indirect=True)
def test_always_waits_before_the_first_write(stack):
    airflow, airbyte, config = stack
    run = start(airflow, airbyte, config, [POKEAPI])
    request = waiting_approval(airflow, run)
    assert request["subject"] == "Apply 1 change to Airbyte (1 update)?"
    assert airbyte.write_requests() == []
    assert answer(airflow, run, "Approve")["state"] == "success"
    state, report = end(airflow, run)
    assert state == "success" and written(airbyte) == [POKE_WRITE]
    assert report["approval"]["outcome"] == "approved" and report["counts"]["updated"] == 1


@pytest.mark.parametrize("stack", ["held"], indirect=True)
def test_a_renamed_copy_with_its_writes_in_a_task_group(stack):
    """The DAG's tasks find each other by the ids the DAG file hands them, not by literals: a copy under
    another dag_id with its writes in a TaskGroup asks, writes and reports like the original."""
    airflow, airbyte, config = stack
    wait_for("the copy to be parsed", lambda: airflow.api("GET", f"dags/{COPY_DAG_ID}"))
    airflow.api("PATCH", f"dags/{COPY_DAG_ID}", json={"is_paused": False})
    airbyte.set_tag("source", GITHUB["dockerRepository"], "1.8.0")
    airbyte.set_tag("source", POKEAPI["dockerRepository"], "0.3.38")
    airbyte.clear_requests()
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        yaml.safe_dump({"connectors": {"source_definitions": [GITHUB, POKEAPI], "destination_definitions": []}})
    )
    run = airflow.trigger(COPY_DAG_ID, {})
    tasks = {ti["task_id"] for ti in airflow.task_instances(COPY_DAG_ID, run)}
    assert {f"{COPY_GROUP}.apply", f"{COPY_GROUP}.approve", f"{COPY_GROUP}.apply_approved"} <= tasks, tasks
    where = {"dag_id": COPY_DAG_ID, "task_id": f"{COPY_GROUP}.approve"}
    request = waiting_approval(airflow, run, **where)
    assert request["subject"] == "Apply 1 held change to Airbyte (1 breaking)?"
    assert written(airbyte) == [POKE_WRITE]
    assert answer(airflow, run, "Approve", **where)["state"] == "success"
    done = wait_for("the copy's run", lambda: finished(airflow, COPY_DAG_ID, run), timeout=180)
    report = airflow.xcom(COPY_DAG_ID, run, "report", "return_value")
    assert done["state"] == "success" and written(airbyte) == sorted([POKE_WRITE, GITHUB_WRITE])
    assert report["approval"]["outcome"] == "approved" and report["counts"]["updated"] == 2
    assert report["counts"]["failed"] == 0 and report["counts"]["held"] == 0
    changes = airflow.api("GET", "assets/events", params={"source_dag_id": COPY_DAG_ID, "source_run_id": run})
    (event,) = changes["asset_events"]
    assert sorted(c["name"] for c in event["extra"]["changes"]) == ["GitHub", "PokeAPI"]


@pytest.mark.parametrize("stack", [("held", {"all": ["bob", "alice"], "approvers": ["alice"]})], indirect=True)
def test_only_approval_users_may_answer(stack):
    airflow, airbyte, config = stack  # logged in as bob, an admin who is not among approval_users
    run = start(airflow, airbyte, config, [GITHUB, POKEAPI])
    waiting_approval(airflow, run)
    path = f"dags/create_connectors/dagRuns/{quote(run, safe='')}/taskInstances/approve/-1/hitlDetails"
    refused = airflow.session.patch(f"{airflow.url}/api/v2/{path}", json={"chosen_options": ["Approve"]}, timeout=30)
    assert refused.status_code == 403, refused.text
    # The safe patch was written before the approval was asked; the refused answer wrote nothing more.
    assert written(airbyte) == [POKE_WRITE]
    assert task_instance(airflow, run, "approve")["state"] == "awaiting_input"

    alice = Airflow(airflow.url)
    alice.service_logs = airflow.service_logs  # she answers once the scheduler has processed the pause, as in its logs
    alice.login("alice", "alice-password")
    assert answer(alice, run, "Approve")["state"] == "success"
    state, report = end(airflow, run)
    assert state == "success" and written(airbyte) == sorted([POKE_WRITE, GITHUB_WRITE])
    assert report["approval"]["outcome"] == "approved" and report["approval"]["by"] == "alice"


def approval_worker(airflow: Airflow, run_id: str) -> psutil.Process:
    """The LocalExecutor worker process that supervises the approval's first try, once it has started."""
    started = wait_for(
        "the approval to start", lambda: task_instance(airflow, run_id, "approve")["pid"], timeout=180, every=0.05
    )
    return psutil.Process(started).parent()


def answer_in_the_race_window(airflow: Airflow, run_id: str, worker: psutil.Process) -> dict[str, Any] | None:
    """Approve the paused approval so that the scheduler reads the paused try's end only after the answer has
    put the task back in line, which is how Airflow 3.3.2 fails an answered approval (docs/approvals.md): the
    try's worker is held (SIGSTOP) before it can report, the scheduler is held while it idles between loops,
    then the answer is given and the worker reports; the scheduler's next loop queues the task before it
    reads that report. The answer as Airflow stored it; None (nothing answered) when the scheduler had
    already read the report."""
    ti = task_instance(airflow, run_id, "approve")
    scheduler = psutil.Process(airflow.processes["scheduler"].pid).children()[0]  # it runs under `timeout`
    log = airflow.service_logs / "scheduler.log"
    worker.suspend()
    try:
        wait_for(
            "the scheduler to idle", lambda: "nanosleep" in Path(f"/proc/{scheduler.pid}/wchan").read_text(), every=0.01
        )
        scheduler.suspend()
        try:
            if any(
                f"ti_id={ti['id']}," in line and "state=awaiting_input," in line
                for line in log.read_text().splitlines()
            ):
                return None  # the pause was processed already: no race to provoke
            given = patch_answer(airflow, run_id, "Approve")
            worker.resume()
            logged_line(log, "Workload finished", ti["id"])
            return given
        finally:
            scheduler.resume()
    finally:
        worker.resume()


@pytest.mark.parametrize("stack", ["held"], indirect=True)
def test_an_answer_at_the_worst_moment_is_asked_once(stack):
    """Answered as soon as the approval waits, in the race window: Airflow fails the answered try, and the
    retry completes with the same answer. Nobody is asked again, the run succeeds, the approved write is made
    once, and the person's answer reaches the decision and the report."""
    airflow, airbyte, config = stack
    for _ in range(6):
        run = start(airflow, airbyte, config, [GITHUB, POKEAPI])
        worker = approval_worker(airflow, run)
        given: dict[str, Any] = {}

        def in_the_window(run: str = run, worker: psutil.Process = worker, given: dict[str, Any] = given) -> None:
            given.update(answer_in_the_race_window(airflow, run, worker) or patch_answer(airflow, run, "Approve"))

        assert answered(airflow, run, in_the_window, at_once=True)["state"] == "success"
        state, report = end(airflow, run)
        assert state == "success" and written(airbyte) == sorted([POKE_WRITE, GITHUB_WRITE])
        # Asked once: the request still holds the one answer given, which reached the decision and the report.
        path = f"dags/create_connectors/dagRuns/{quote(run, safe='')}/taskInstances/approve/-1/hitlDetails"
        kept = airflow.api("GET", path)
        assert kept["chosen_options"] == ["Approve"] and kept["responded_at"] == given["responded_at"]
        decision = airflow.xcom("create_connectors", run, "approve", "decision")
        assert decision["chosen"] == ["Approve"] and decision["by"] == given["responded_by"]
        assert report["approval"]["outcome"] == "approved" and report["approval"]["by"] == given["responded_by"]["name"]
        if len(approvals.RACED) >= 3 and approvals.RETRIED:
            break
    # Three answers met the race (the fixture matches them with the scheduler's lines), and at least one retry
    # completed with the earlier answer instead of asking again: the protection was used.
    assert len(approvals.RACED) >= 3 and approvals.RETRIED, (approvals.RACED, approvals.RETRIED)
