"""create_connectors: keep Airbyte's connector definitions in step with basic_config.

Runs after template_configs publishes basic_config (Asset schedule), by hand from the UI (with a
dry-run switch), or with ``airflow dags test create_connectors``.

prepare -> apply: one AirbyteDefinitionOperator per create/update (mapped) -> publish_changes -> report
          apply -> approve (a person, when [airbyte_connectors] approval asks for it) -> apply_approved (mapped)

With ``[airbyte_connectors] reconcile_schedule`` set, it also runs on that cron schedule, putting back what
was changed in Airbyte behind the config's back. With basic_config's ``connectors.environments`` it keeps
several Airbytes in step, and where one promotes from another it also runs on ``promotion_schedule``
(default hourly), so a version whose soak ended moves on without a person.

A run that created or updated something emits an event of the Asset
``airbyte://<host>:<port>/connector-definitions`` (one per Airbyte) listing the changes, for DAGs that come next.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

from airflow.sdk import (
    Asset,
    AssetAlias,
    AssetOrTimeSchedule,
    CronTriggerTimetable,
    MultipleCronTriggerTimetable,
    Param,
    TriggerRule,
    dag,
    task,
)

from airflow_airbyte_connectors import settings
from airflow_airbyte_connectors.operators.airbyte_definition import AirbyteDefinitionOperator
from airflow_airbyte_connectors.tasks import names

if TYPE_CHECKING:
    from airflow.sdk.definitions.xcom_arg import PlainXComArg

# Read once; an invalid value falls back to its default here (one warning) and fails the run in prepare.
configured = settings.for_dag()


def schedule() -> Any:
    """The basic_config Asset, or that Asset or the reconcile and promotion crons, whichever comes first."""
    basic_config = Asset(configured["basic_config_asset_uri"])
    crons = [cron for cron in (configured["reconcile_schedule"], configured["promotion_schedule"]) if cron]
    if not crons:
        return [basic_config]
    if len(crons) == 1:
        timetable: Any = CronTriggerTimetable(crons[0], timezone="UTC")
    else:
        timetable = MultipleCronTriggerTimetable(*crons, timezone="UTC")
    return AssetOrTimeSchedule(timetable=timetable, assets=basic_config)


@dag(
    dag_id="create_connectors",
    schedule=schedule(),
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
        "apply_held": Param(
            False,
            type="boolean",
            title="Also apply held changes",
            description="Write the updates that [airbyte_connectors] hold_changes holds (breaking changes, "
            "downgrades, ...) in this run too. The plan in the prepare log says what each one means. "
            "Ignored when [airbyte_connectors] approval is on: then a person approves them.",
        ),
        "max_writes": Param(
            # A max_writes above the limit is refused by prepare, naming both; the DAG still imports.
            min(configured["max_writes"], configured["max_writes_limit"]),
            type="integer",
            minimum=0,
            maximum=configured["max_writes_limit"],
            title="Most writes allowed",
            description="Safety limit: a plan with more creates, updates and held changes than this stops "
            "before writing. At most [airbyte_connectors] max_writes_limit.",
        ),
    },
)
def create_connectors() -> None:
    # Every task but the approval has an execution_timeout: a stuck one fails instead of holding the only
    # active run (max_active_runs=1).
    @task(task_id=names.PREPARE, execution_timeout=timedelta(seconds=configured["prepare_timeout"]))
    def prepare(params: dict[str, Any], ti: Any) -> list[dict[str, Any]]:
        from airflow_airbyte_connectors.tasks import prepare as preparing

        prepared = preparing.prepare(
            dry_run=bool(params["dry_run"]),
            max_writes=int(params["max_writes"]),
            apply_held=bool(params.get("apply_held", False)),
            remember_digest=True,
            check_pending_creates=True,
        )
        ti.xcom_push(key=names.XComKey.PLAN, value=prepared.document.to_json())
        return prepared.actions

    planned = cast("PlainXComArg", prepare())  # type: ignore[call-arg, misc]  # Airflow passes params and ti
    writes = dict(
        map_index_template="{{ task.action_label }}",
        max_active_tis_per_dagrun=configured["max_active_writes"],
        retries=configured["task_retries"],
        retry_delay=timedelta(seconds=configured["task_retry_delay"]),
        execution_timeout=timedelta(seconds=configured["apply_timeout"]),
    )
    applied = [AirbyteDefinitionOperator.partial(task_id=names.APPLY, **writes).expand_kwargs(planned)]
    approve = None

    if configured["approval"] != "never":
        # Imported only when used: the dag-processor pays for what this file imports on every parse.
        from airflow_airbyte_connectors.operators.approval import HeldChangesApproval

        approve = HeldChangesApproval(
            task_id=names.APPROVE,
            prepare_task_id=planned.operator.task_id,
            response_timeout=timedelta(seconds=configured["approval_timeout"]),
            defaults="Reject",  # no answer in time is a Reject: a forgotten approval cannot block later runs
            assigned_users=[{"id": user, "name": user} for user in configured["approval_users"]] or None,
            # Airflow 3.3 can fail an answered approval (a scheduler race): the retry completes with the
            # answer already given instead of asking again (docs/approvals.md).
            retries=1,
            retry_delay=timedelta(seconds=5),
            # Asked once the safe writes are done, also when one failed: the approved writes then never run
            # beside them, so max_active_writes holds for the whole run.
            trigger_rule=TriggerRule.ALL_DONE,
        )
        # Approve returns the approved writes; Reject skips them.
        gated = AirbyteDefinitionOperator.partial(task_id=names.APPLY_APPROVED, **writes).expand_kwargs(approve.output)
        [planned, applied[0]] >> approve  # reads prepare's plan; asked after the safe writes
        applied.append(gated)

    # Where the reading tasks find the others' XComs, whatever their ids (a TaskGroup prefixes them).
    layout = names.TaskLayout(
        prepare=planned.operator.task_id,
        writes=[a.task_id for a in applied],
        approve=approve.task_id if approve is not None else None,
    )
    finishing = timedelta(seconds=configured["report_timeout"])

    @task(
        task_id=names.PUBLISH_CHANGES,
        trigger_rule=TriggerRule.ALL_DONE,
        outlets=[AssetAlias(settings.DEFINITIONS_ASSET_ALIAS)],
        execution_timeout=finishing,
    )
    def publish_changes(layout: names.TaskLayout, ti: Any, outlet_events: Any) -> None:
        """Announce what was written, also when some other write failed: those changes happened."""
        from airflow_airbyte_connectors.tasks import publish as publishing

        publishing.run(ti, layout, outlet_events)

    @task(task_id=names.REPORT, trigger_rule=TriggerRule.ALL_DONE, execution_timeout=finishing)
    def report(layout: names.TaskLayout, ti: Any, dag_run: Any) -> dict[str, Any]:
        from airflow_airbyte_connectors.tasks import report as reporting

        triggered_by = getattr(dag_run, "triggering_user_name", None)
        return reporting.run(ti, layout, triggered_by)

    applied >> publish_changes(layout) >> report(layout)  # type: ignore[call-arg, misc]  # Airflow passes the rest


create_connectors()
