"""HeldChangesApproval: a person approves, in Airflow, the changes a run set aside for approval."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk.exceptions import AirflowSkipException

if TYPE_CHECKING:
    from airflow.sdk import Context

# The XCom ``prepare`` pushes: the request's subject and Markdown body, or None when nothing waits.
REQUEST_KEY = "approval"
# The XCom ``prepare`` pushes with the writes that wait for the answer.
GATED_KEY = "gated"
# The XCom this task pushes with the answer, for the report (Reject pushes no return value).
DECISION_KEY = "decision"


class HeldChangesApproval(ApprovalOperator):
    """Airflow's ``ApprovalOperator`` for the changes ``prepare`` set aside (``[airbyte_connectors]
    approval``). It skips itself when nothing waits, so a plan without them never pauses; otherwise the run
    pauses (holding no worker slot) until a person answers in the UI or over the REST API, or the timeout
    answers Reject. It keeps the answer (who, when, which) in XCom ``decision``; on Approve it returns the
    approved writes (XCom ``gated`` of ``prepare``), which the mapped ``apply_approved`` task expands over.

    :param prepare_task_id: the task whose XComs ``approval`` and ``gated`` hold the request and the writes.
    """

    def __init__(self, *, prepare_task_id: str = "prepare", **kwargs: Any):
        self.prepare_task_id = prepare_task_id
        template = f"(ti.xcom_pull(task_ids='{prepare_task_id}', key='{REQUEST_KEY}') or {{}})"
        kwargs.setdefault("subject", "{{ " + template + ".get('subject', '') }}")
        kwargs.setdefault("body", "{{ " + template + ".get('body', '') }}")
        super().__init__(**kwargs)

    def execute(self, context: Context) -> Any:
        if not context["ti"].xcom_pull(task_ids=self.prepare_task_id, key=REQUEST_KEY):
            raise AirflowSkipException("Nothing waits for approval in this run")
        return super().execute(context)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        responded_at = event.get("responded_at")
        context["ti"].xcom_push(
            key=DECISION_KEY,
            value={
                "chosen": list(event.get("chosen_options") or []),
                "by": event.get("responded_by_user"),
                "at": responded_at.isoformat() if hasattr(responded_at, "isoformat") else responded_at,
                "error": event.get("error_type"),
            },
        )
        super().execute_complete(context, event)  # on Reject it skips the writes and stops here
        return context["ti"].xcom_pull(task_ids=self.prepare_task_id, key=GATED_KEY) or []
