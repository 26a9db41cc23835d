"""HeldChangesApproval: a person approves, in Airflow, the changes a run set aside for approval."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk.exceptions import AirflowSkipException

from airflow_airbyte_connectors.clients.bounded_http import RequestError, RetryPolicy, TooLargeError, new_session, send
from airflow_airbyte_connectors.tasks.names import PREPARE, XComKey

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_airbyte_connectors.plan.plan_document import PlanDocument

# The optional Airflow connection to Airflow's own REST API (host: its base URL; login and password of a user
# who may read the DAG's task instances, audit log and required actions). Without it: ``[api] base_url``
# and the anonymous token, which only an all-admins SimpleAuthManager grants.
API_CONN_ID = "airflow_api"
# The audit-log event Airflow's scheduler writes when it fails a task whose state it did not expect
# (docs/approvals.md: how it fails an answered approval).
STATE_MISMATCH = "state mismatch"
API_TIMEOUT = 10
# An event-log page of one entry or one task's required action: a few KB.
API_ANSWER_LIMIT = 1024 * 1024


class EarlierAnswerUnknown(Exception):
    """Airflow's REST API could not say whether the approval was answered before."""

    def __init__(self, message: str, transient: bool = False):
        super().__init__(message)
        self.transient = transient  # worth another try (unreachable, 5xx)


class HeldChangesApproval(ApprovalOperator):
    """Airflow's ``ApprovalOperator`` for the changes ``prepare`` set aside (``[airbyte_connectors]
    approval``). It skips itself when nothing waits, so a plan without them never pauses; otherwise the run
    pauses (holding no worker slot) until a person answers in the UI or over the REST API, or the timeout
    answers Reject. It keeps the answer (who, when, which) in XCom ``decision``; on Approve it returns the
    approved writes: the plan document's changes its approval request names by ``changeId``, which the mapped
    ``apply_approved`` task expands over.

    Answered once is answered: when Airflow 3.3's scheduler failed the answered try (docs/approvals.md), the
    retry completes with the answer Airflow kept instead of asking again.

    :param prepare_task_id: the task whose XCom ``plan`` (the plan document: its ``approval`` request and the
        changes it names) this task reads.
    :param api_conn_id: the connection to Airflow's REST API the retry reads the earlier answer with.
    """

    def __init__(self, *, prepare_task_id: str = PREPARE, api_conn_id: str = API_CONN_ID, **kwargs: Any):
        self.prepare_task_id = prepare_task_id
        self.api_conn_id = api_conn_id
        request = (
            f"((ti.xcom_pull(task_ids='{prepare_task_id}', key='{XComKey.PLAN}') or {{}}).get('approval') or {{}})"
        )
        kwargs.setdefault("subject", "{{ " + request + ".get('subject') or '' }}")
        kwargs.setdefault("body", "{{ " + request + ".get('body') or '' }}")
        super().__init__(**kwargs)

    def execute(self, context: Context) -> Any:
        ti = context["ti"]
        plan = self._plan(ti)
        if plan is None or not plan.approval.changes:
            raise AirflowSkipException("Nothing waits for approval in this run")
        if ti.try_number > 1:
            # Asking again would first erase the answer Airflow still keeps for this task instance.
            try:
                event = self.earlier_answer(context)
            except EarlierAnswerUnknown as error:
                self.log.warning("Asking again: %s", error)
            else:
                if event is not None:
                    who = (event["responded_by_user"] or {}).get("name") or "the timeout's default"
                    self.log.info(
                        "Already answered %s by %s at %s before Airflow failed try %d (%s): not asking again",
                        event["chosen_options"],
                        who,
                        event["responded_at"].isoformat(),
                        ti.try_number - 1,
                        STATE_MISMATCH,
                    )
                    return self.execute_complete(context, event)
        self.log.warning("Waiting for a person.\n%s", how_to_answer(ti))
        return super().execute(context)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        responded_at = event.get("responded_at")
        context["ti"].xcom_push(
            key=XComKey.DECISION,
            value={
                "chosen": list(event.get("chosen_options") or []),
                "by": event.get("responded_by_user"),
                "at": responded_at.isoformat() if isinstance(responded_at, datetime) else responded_at,
                "error": event.get("error_type"),
            },
        )
        super().execute_complete(context, event)  # on Reject it skips the writes and stops here
        plan = self._plan(context["ti"])
        return plan.writes(plan.approval.changes) if plan is not None else []

    def _plan(self, ti: Any) -> PlanDocument | None:
        """The plan document prepare pushed (None: prepare did not finish); the approved writes are its changes
        that the approval request names by change_id."""
        from airflow_airbyte_connectors.plan.plan_document import PlanDocument

        pushed = ti.xcom_pull(task_ids=self.prepare_task_id, key=XComKey.PLAN)
        return PlanDocument.model_validate(pushed) if pushed is not None else None

    def earlier_answer(self, context: Context) -> dict[str, Any] | None:
        """The answer to this task instance's request, as Airflow resumes with it, when the scheduler failed
        the previous try after it was answered (its audit log says ``state mismatch`` for that try); None when
        it did not (any other failure, or a cleared task: asked again as Airflow does)."""
        ti = context["ti"]
        path = (
            f"dags/{quote(ti.dag_id, safe='')}/dagRuns/{quote(ti.run_id, safe='')}"
            f"/taskInstances/{quote(ti.task_id, safe='')}/{ti.map_index}/hitlDetails"
        )
        with AirflowApi(self.api_conn_id) as api:
            mismatches = api.get(
                "eventLogs",
                params={
                    "dag_id": ti.dag_id,
                    "task_id": ti.task_id,
                    "run_id": ti.run_id,
                    "map_index": ti.map_index,
                    "try_number": ti.try_number - 1,
                    "event": STATE_MISMATCH,
                    "limit": 1,
                },
            )
            if not mismatches.get("total_entries"):
                return None
            detail = api.get(path)
        if not detail.get("response_received") or str(detail["task_instance"]["id"]) != str(ti.id):
            return None
        return {
            "chosen_options": list(detail["chosen_options"]),
            "params_input": detail.get("params_input") or {},
            "responded_at": datetime.fromisoformat(detail["responded_at"]),
            "responded_by_user": detail.get("responded_by_user"),
            "timedout": False,
        }


def how_to_answer(ti: Any) -> str:
    """Where a person answers: the UI page, and the REST call (for people running ``airflow dags test``)."""
    from airflow.sdk.configuration import conf

    base = (conf.get("api", "base_url", fallback="") or "http://localhost:8080").rstrip("/")
    dag, run, task = (quote(str(value), safe="") for value in (ti.dag_id, ti.run_id, ti.task_id))
    api = f"{base}/api/v2/dags/{dag}/dagRuns/{run}/taskInstances/{task}/{ti.map_index}/hitlDetails"
    return (
        f"  Answer in the UI: {base}/dags/{dag}/runs/{ti.run_id}/tasks/{task}/required_actions\n"
        f'  or over the REST API: PATCH {api} with {{"chosen_options": ["Approve"]}} (or ["Reject"])'
    )


class AirflowApi:
    """Reads from Airflow's REST API with a token for the connection's user (see ``API_CONN_ID``)."""

    def __init__(self, conn_id: str):
        from airflow.sdk import BaseHook
        from airflow.sdk.configuration import conf
        from airflow.sdk.exceptions import AirflowNotFoundException

        try:
            conn = BaseHook.get_connection(conn_id)
        except AirflowNotFoundException:
            conn = None
        if conn is not None and conn.host:
            host = conn.host if "://" in conn.host else f"{conn.schema or 'http'}://{conn.host}"
            base = f"{host.rstrip('/')}:{conn.port}" if conn.port else host.rstrip("/")
        else:
            base = (conf.get("api", "base_url", fallback="") or "").rstrip("/")
        if not base:
            raise EarlierAnswerUnknown(f"no connection {conn_id!r} and no [api] base_url to read the answer from")
        self.base = base
        where = urlsplit(base)
        self.where = f"Airflow's REST API at {where.hostname}{f':{where.port}' if where.port else ''}"  # no userinfo
        self.login = (conn.login, conn.password or "") if conn is not None and conn.login else None
        self.session = new_session(pool=1)
        self.retry = RetryPolicy(lambda e: isinstance(e, EarlierAnswerUnknown) and e.transient, what=self.where)

    def __enter__(self) -> AirflowApi:
        if self.login:
            username, password = self.login
            answer = self._send("POST", "/auth/token", json={"username": username, "password": password})
        else:
            answer = self._send("GET", "/auth/token")
        self.session.headers["Authorization"] = f"Bearer {answer['access_token']}"
        return self

    def __exit__(self, *exc: object) -> None:
        self.session.close()

    def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._send("GET", f"/api/v2/{path}", params=params)

    def _send(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return self.retry.run(self._send_once, method, path, kwargs)

    def _send_once(self, method: str, path: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        # Never follows a redirect: the token and the password go to this base URL only.
        try:
            answer = send(
                self.session, method, f"{self.base}{path}", timeout=API_TIMEOUT, limit=API_ANSWER_LIMIT, **kwargs
            )
        except TooLargeError as error:
            raise EarlierAnswerUnknown(f"{self.where} answered {method} {path} with {error}") from None
        except RequestError as error:
            raise EarlierAnswerUnknown(f"{self.where} is unreachable ({type(error).__name__})", True) from None
        if not 200 <= answer.status < 300:
            raise EarlierAnswerUnknown(
                f"{self.where} answered {answer.status} to {method} {path}", answer.status >= 500
            )
        try:
            parsed: dict[str, Any] = json.loads(answer.body)
            return parsed
        except ValueError:
            raise EarlierAnswerUnknown(f"{self.where} answered {method} {path} with something not JSON") from None
