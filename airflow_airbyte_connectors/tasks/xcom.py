"""Reading other tasks' XComs into the typed records of plan_document, where the DAG's layout says."""

from __future__ import annotations

from typing import Any, TypeVar

from airflow_airbyte_connectors.plan.approvals import Decision
from airflow_airbyte_connectors.plan.plan_document import Document, PlanDocument
from airflow_airbyte_connectors.tasks.names import TaskLayout, XComKey

T = TypeVar("T", bound=Document)


def plan_of(ti: Any, layout: TaskLayout) -> PlanDocument | None:
    """The plan document ``prepare`` pushed; None when prepare did not finish."""
    pushed = ti.xcom_pull(task_ids=layout["prepare"], key=XComKey.PLAN)
    return PlanDocument.model_validate(pushed) if pushed is not None else None


def mapped_results(ti: Any, layout: TaskLayout, key: str, record: type[T]) -> list[T]:
    """Every value the mapped write tasks pushed under ``key``, in one read per task, as ``record``s.

    Not ``apply.output``: iterating it reads index after index until Airflow answers "not found", which
    the task log records as an error on every run.
    """
    pulled = ti.xcom_pull(task_ids=layout["writes"], key=key)
    # One mapped instance answers with its value, several with a list of them, none with None.
    values = [pulled] if isinstance(pulled, dict) else list(pulled or [])
    return [record.model_validate(value) for value in values if value]


def approval_answer(ti: Any, layout: TaskLayout) -> tuple[Decision | None, str | None]:
    """The approval task's answer and final state; (None, None) when the DAG has no approval task."""
    if layout["approve"] is None:
        return None, None
    states = ti.get_task_states(dag_id=ti.dag_id, task_ids=[layout["approve"]], run_ids=[ti.run_id])
    state = (states.get(ti.run_id) or {}).get(layout["approve"])
    pushed = ti.xcom_pull(task_ids=layout["approve"], key=XComKey.DECISION)
    return (Decision.model_validate(pushed) if pushed else None), getattr(state, "value", state)
