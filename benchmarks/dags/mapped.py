"""Per mapped task (4): the definition operator beside two no-ops, each mapped over the same planned updates."""

import json
import os

from airflow.sdk import BaseOperator, dag

from airflow_airbyte_connectors.config.configs import DesiredDefinition
from airflow_airbyte_connectors.operators.airbyte_definition import AirbyteDefinitionOperator
from airflow_airbyte_connectors.plan.plan_document import PlannedChange
from airflow_airbyte_connectors.plan.planning import Action, Change

DEFINITIONS = json.loads(os.environ.get("BENCH_MAPPED_DEFINITIONS", "[]"))


# As prepare plans them: each an update of one definition, planned from 0.9.0 (Airbyte already holds 1.0.0).
def planned(n: int, d: dict) -> dict:
    desired = DesiredDefinition(
        kind="destination",
        name=d["name"],
        docker_repository=d["dockerRepository"],
        docker_image_tag=d["dockerImageTag"],
        documentation_url=d["documentationUrl"],
    )
    moved = (Change("dockerImageTag", "0.9.0", desired.docker_image_tag),)
    action = Action("update", desired, f"00000000-0000-4000-9000-{n:012d}", moved, tag_before="0.9.0")
    return {"change": PlannedChange.of(action).to_json()}


PLANNED = [planned(n, d) for n, d in enumerate(DEFINITIONS)]


class NoOp(BaseOperator):
    def __init__(self, *, change, **kwargs):
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
