"""The ``publish_changes`` task: announce what the run wrote as an event of the Asset naming this Airbyte's
definitions, for DAGs scheduled on it."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from airflow_airbyte_connectors import settings
from airflow_airbyte_connectors.plan.plan_document import PLAN_SCHEMA_VERSION, PlanDocument, WriteResult
from airflow_airbyte_connectors.tasks import xcom
from airflow_airbyte_connectors.tasks.names import TaskLayout

log = logging.getLogger(__name__)

# What the event's ``extra`` says of each change (documented in docs/plan-schema.md).
EVENT_FIELDS = ("action", "kind", "name", "definition_id", "docker_repository", "tag_before", "tag_after")


def publish_changes(plan: PlanDocument, results: Sequence[WriteResult], outlet_events: Any) -> None:
    """Emit an event when the run created or updated definitions, its ``extra`` listing each change: one event
    per Airbyte (environment) that changed, of the Asset naming its definitions."""
    from airflow.sdk import Asset, AssetAlias

    changed = [r for r in results if r.changed_airbyte]
    if not changed:
        log.info("Nothing was created or updated: no asset event")
        return
    for environment in dict.fromkeys(r.environment for r in changed):
        info = plan.environment(environment)
        url, asset_uri = (
            (info.airbyte_url, info.definitions_asset) if info else (plan.airbyte_url, plan.definitions_asset)
        )
        changes = [
            r.model_dump(mode="json", by_alias=True, include=set(EVENT_FIELDS))
            for r in changed
            if r.environment == environment
        ]
        extra: dict[str, Any] = {
            "airbyte": url,
            "changes": changes,
            "plan": {"schemaVersion": PLAN_SCHEMA_VERSION, "configDigest": plan.config_digest},
        }
        if environment is not None:
            extra["environment"] = environment
        asset = Asset(asset_uri or "")
        outlet_events[AssetAlias(settings.DEFINITIONS_ASSET_ALIAS)].add(asset, extra=extra)
        log.info(
            "Announcing %d changes%s as an event of %s",
            len(changes),
            f" in {environment}" if environment else "",
            asset.uri,
        )


def run(ti: Any, layout: TaskLayout, outlet_events: Any) -> None:
    """The task: read the plan and the write results where ``layout`` says, and publish."""
    plan = xcom.plan_of(ti, layout)
    if plan is not None:
        publish_changes(plan, xcom.mapped_results(ti, layout, "return_value", WriteResult), outlet_events)
