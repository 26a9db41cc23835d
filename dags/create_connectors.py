"""create_connectors: keep Airbyte's connector definitions in step with basic_config.

Runs after template_configs publishes basic_config (Asset schedule), by hand from the UI (with a
dry-run switch), or with ``airflow dags test create_connectors``.

prepare  -> one AirbyteDefinitionOperator per create/update (mapped) -> report
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import Asset, Param, TriggerRule, dag, task

from airflow_airbyte_connectors import settings
from airflow_airbyte_connectors.operators.airbyte_definition import AirbyteDefinitionOperator


@dag(
    dag_id="create_connectors",
    schedule=[Asset(settings.basic_config_asset_uri())],
    max_active_runs=1,
    catchup=False,
    tags=["airbyte"],
    doc_md=__doc__,
    params={
        "dry_run": Param(
            False,
            type="boolean",
            title="Dry run",
            description="Plan and show what would change in Airbyte, without writing anything.",
        ),
        "max_writes": Param(
            settings.max_writes(),
            type="integer",
            minimum=0,
            title="Most writes allowed",
            description="Safety limit: a plan with more creates and updates than this stops before writing.",
        ),
    },
)
def create_connectors() -> None:
    @task
    def prepare(params: dict[str, Any], ti: Any) -> list[dict[str, Any]]:
        from airflow_airbyte_connectors import pipeline

        prepared = pipeline.prepare(dry_run=bool(params["dry_run"]), max_writes=int(params["max_writes"]))
        ti.xcom_push(key="plan", value=prepared["plan"])
        return prepared["actions"]

    planned = prepare()

    apply = AirbyteDefinitionOperator.partial(
        task_id="apply",
        map_index_template="{{ task.action_label }}",
        max_active_tis_per_dagrun=settings.max_active_writes(),
        retries=settings.task_retries(),
        retry_delay=timedelta(seconds=settings.task_retry_delay()),
    ).expand_kwargs(planned)

    @task(trigger_rule=TriggerRule.ALL_DONE)
    def report(results: list[dict[str, Any]], ti: Any) -> dict[str, Any]:
        from airflow_airbyte_connectors import pipeline

        plan = ti.xcom_pull(task_ids="prepare", key="plan")
        if plan is None:
            raise RuntimeError("prepare did not finish: nothing was planned or written (see its log)")
        # One mapped instance answers with its value, several with a sequence of them.
        pulled = ti.xcom_pull(task_ids="apply", key="duplicates")
        duplicates = [pulled] if isinstance(pulled, dict) else list(pulled or [])
        return pipeline.report(plan, results, duplicates)

    report(apply.output)


create_connectors()
