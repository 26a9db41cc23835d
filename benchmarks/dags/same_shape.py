"""The shape of create_connectors and nothing of this package: the floor of its parse cost (3').

The same tasks, mapped writes, params, Asset schedule, timeouts and decorators as dags/create_connectors.py,
with its settings as constants and a bare operator with the definition operator's arguments. Only the
module-level code that runs on a parse is kept; the task bodies are empty.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import (
    Asset,
    AssetAlias,
    AssetOrTimeSchedule,
    BaseOperator,
    CronTriggerTimetable,
    Param,
    TriggerRule,
    dag,
    task,
)

# The defaults of [airbyte_connectors], as create_connectors reads them on a parse.
BASIC_CONFIG_ASSET_URI = "file:///opt/airflow/configs/basic_config.yaml"
RECONCILE_SCHEDULE = None
MAX_WRITES, MAX_WRITES_LIMIT, MAX_ACTIVE_WRITES, TASK_RETRIES = 50, 1000, 4, 0
PREPARE_TIMEOUT, APPLY_TIMEOUT, REPORT_TIMEOUT, TASK_RETRY_DELAY = 1800.0, 1200.0, 600.0, 60.0
DEFINITIONS_ASSET_ALIAS = "airbyte_connector_definitions"


class WriteOperator(BaseOperator):
    """What the dag-processor sees of the definition operator: its arguments."""

    ui_color = "#cfe8ff"

    def __init__(
        self,
        *,
        change: dict[str, Any] | None = None,
        kind: str | None = None,
        definition: dict[str, Any] | None = None,
        airbyte_conn_id: str | None = None,
        workspace_id: str | None = None,
        dry_run: bool = False,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.change, self.kind, self.definition = change, kind, definition
        self.airbyte_conn_id, self.workspace_id, self.plan_only = airbyte_conn_id, workspace_id, dry_run

    @property
    def action_label(self) -> str:
        return str((self.change or {}).get("label", ""))

    def execute(self, context: Any) -> None:
        return None


# The basic_config Asset, or that Asset or the reconcile cron.
SCHEDULE: Any = (
    [Asset(BASIC_CONFIG_ASSET_URI)]
    if RECONCILE_SCHEDULE is None
    else AssetOrTimeSchedule(
        timetable=CronTriggerTimetable(RECONCILE_SCHEDULE, timezone="UTC"), assets=Asset(BASIC_CONFIG_ASSET_URI)
    )
)


@dag(
    "same_shape",
    doc_md=__doc__,
    tags=["airbyte"],
    schedule=SCHEDULE,
    catchup=False,
    max_active_runs=1,
    # The same three Params (types, bounds, defaults); their words do not change what a parse costs.
    params={
        "dry_run": Param(False, type="boolean", title="Dry run", description="Plan only."),
        "apply_held": Param(False, type="boolean", title="Also apply held changes", description="Held too."),
        "max_writes": Param(
            min(MAX_WRITES, MAX_WRITES_LIMIT),
            type="integer",
            minimum=0,
            maximum=MAX_WRITES_LIMIT,
            title="Most writes allowed",
            description="Safety limit.",
        ),
    },
)
def same_shape() -> None:
    @task(task_id="prepare", execution_timeout=timedelta(seconds=PREPARE_TIMEOUT))
    def prepare(params: dict[str, Any], ti: Any, run_id: str) -> list[dict[str, Any]]:
        return []

    planned = prepare()
    writes = dict(
        map_index_template="{{ task.action_label }}",
        max_active_tis_per_dagrun=MAX_ACTIVE_WRITES,
        retries=TASK_RETRIES,
        retry_delay=timedelta(seconds=TASK_RETRY_DELAY),
        execution_timeout=timedelta(seconds=APPLY_TIMEOUT),
    )
    applied = [WriteOperator.partial(task_id="apply", **writes).expand_kwargs(planned)]
    # Where the reading tasks find the others' XComs: a plain dict, as the DAG hands its task layout on.
    layout = {"prepare": planned.operator.task_id, "writes": [a.task_id for a in applied], "approve": None}
    finishing = timedelta(seconds=REPORT_TIMEOUT)

    @task(
        task_id="publish_changes",
        trigger_rule=TriggerRule.ALL_DONE,
        outlets=[AssetAlias(DEFINITIONS_ASSET_ALIAS)],
        execution_timeout=finishing,
    )
    def publish_changes(layout: dict[str, Any], ti: Any, outlet_events: Any) -> None:
        return None

    @task(task_id="report", trigger_rule=TriggerRule.ALL_DONE, execution_timeout=finishing)
    def report(layout: dict[str, Any], ti: Any, dag_run: Any) -> dict[str, Any]:
        return {}

    applied >> publish_changes(layout) >> report(layout)


same_shape()
