"""Per mapped task (4): the definition operator beside two no-ops, each mapped over the same planned updates."""

import json
import os

from airflow.sdk import BaseOperator, dag

from airflow_airbyte_connectors.operators.airbyte_definition import AirbyteDefinitionOperator

DEFINITIONS = json.loads(os.environ.get("BENCH_MAPPED_DEFINITIONS", "[]"))
# As prepare plans them: each an update of one definition, planned from 0.9.0 (Airbyte already holds 1.0.0).
PLANNED = [
    {
        "kind": "destination",
        "definition": d,
        "planned_action": "update",
        "definition_id": f"00000000-0000-4000-9000-{n:012d}",
        "tag_before": "0.9.0",
    }
    for n, d in enumerate(DEFINITIONS)
]


class NoOp(BaseOperator):
    def __init__(self, *, kind, definition, planned_action, definition_id, tag_before, **kwargs):
        super().__init__(**kwargs)

    def execute(self, context):
        return None


# What Airflow does for any operator that reports what it did, and nothing else: a result of the same size
# kept in XCom.
class NoOpWithResult(NoOp):
    def execute(self, context):
        return {
            "kind": "destination",
            "action": "unchanged",
            "definitionId": "0" * 36,
            "name": "Bench 0",
            "dockerRepository": "ghcr.io/bench/destination-0",
            "tagBefore": "0.9.0",
            "tagAfter": "1.0.0",
            "dryRun": False,
            "versionMeaning": "",
        }


@dag(dag_id="mapped_definitions", schedule=None)
def mapped_definitions():
    AirbyteDefinitionOperator.partial(task_id="apply").expand_kwargs(PLANNED)


@dag(dag_id="mapped_noop", schedule=None)
def mapped_noop():
    NoOp.partial(task_id="apply").expand_kwargs(PLANNED)


@dag(dag_id="mapped_noop_result", schedule=None)
def mapped_noop_result():
    NoOpWithResult.partial(task_id="apply").expand_kwargs(PLANNED)


mapped_definitions()
mapped_noop()
mapped_noop_result()
