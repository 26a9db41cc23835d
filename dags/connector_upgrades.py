"""connector_upgrades: propose connector version upgrades on purpose, never writing to Airbyte.

Weekly by default (``[airbyte_connectors] upgrades_schedule``), or by hand. For each definition in basic_config
whose version policy allows a move, it finds the newest version within the policy (tag lists and release dates
from the image registry, breaking changes from Airbyte's connector registry) and publishes the proposals: the
Markdown report in the task log and XCom ``report``, and an event of the Asset
``airbyte-connectors://upgrade-proposals`` whose ``extra`` is the upgrades document with the proposals' rows
(docs/upgrades-schema.md), for a DAG of your own to route. A run that could read nothing fails, without an event.
With a connection to Airbyte, no version that its Airbyte version refuses (platform compatibility) is proposed.
Applying one stays a reviewed change of basic_config (``airbyte-connectors bump``), which create_connectors applies.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import Asset, dag, task

from airflow_airbyte_connectors import settings
from airflow_airbyte_connectors.tasks.upgrades import UPGRADES_ASSET_NAME, UPGRADES_ASSET_URI

# Read once; an invalid value falls back to its default here (one warning) and fails the run in its task.
configured = settings.for_upgrades_dag()


@dag(
    dag_id="connector_upgrades",
    schedule=configured["upgrades_schedule"],
    max_active_runs=1,
    catchup=False,
    tags=["airbyte"],
    doc_md=__doc__,
)
def connector_upgrades() -> None:
    @task(
        outlets=[Asset(name=UPGRADES_ASSET_NAME, uri=UPGRADES_ASSET_URI)],
        execution_timeout=timedelta(seconds=configured["prepare_timeout"]),
    )
    def outdated(ti: Any, outlet_events: Any) -> dict[str, Any]:
        from airflow_airbyte_connectors.tasks import upgrades

        return upgrades.run(ti, outlet_events)

    outdated()  # type: ignore[call-arg, misc]  # Airflow passes ti and outlet_events


connector_upgrades()
