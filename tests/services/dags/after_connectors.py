"""A stand-in for the DAG that comes after create_connectors (e.g. one that creates sources): scheduled on
the Asset naming the Airbyte instance's definitions, it reads what changed from the triggering events."""

from __future__ import annotations

import os
from typing import Any

from airflow.sdk import Asset, dag, task

# Users write the URI as it is (airbyte://<host>:<port>/connector-definitions); the test passes its own.
DEFINITIONS = Asset(os.environ.get("AIRBYTE_DEFINITIONS_ASSET", "airbyte://localhost:8000/connector-definitions"))


@dag(dag_id="after_connectors", schedule=[DEFINITIONS], catchup=False, tags=["test"])
def after_connectors() -> None:
    @task
    def read_changes(triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        return [change for event in triggering_asset_events[DEFINITIONS] for change in event.extra["changes"]]

    read_changes()


after_connectors()
