"""The ``outdated`` task of ``connector_upgrades``: the same proposals as ``airbyte-connectors outdated``,
published as the run's report (Markdown, in its log and XCom ``report``) and as an event of the upgrades Asset
whose ``extra`` is the upgrades document with the proposals' rows only (docs/upgrades-schema.md), for a team's
own DAG to route (Slack, a ticket). Never writes to Airbyte. A run that could read nothing fails, without an event.
With a connection, no version that Airbyte's version refuses (its platform-compatibility matrix) is proposed."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from airflow_airbyte_connectors import settings
from airflow_airbyte_connectors.tasks.names import XComKey

log = logging.getLogger(__name__)

# The Asset a connector_upgrades run announces its proposals on.
UPGRADES_ASSET_NAME = "airbyte_connector_upgrades"
UPGRADES_ASSET_URI = "airbyte-connectors://upgrade-proposals"


def run(ti: Any, outlet_events: Any, *, today: date | None = None) -> dict[str, Any]:
    from airflow.sdk import Asset

    from airflow_airbyte_connectors.upgrades.outdated import find_outdated
    from airflow_airbyte_connectors.upgrades.outdated_output import outdated_markdown
    from airflow_airbyte_connectors.upgrades.upgrades_document import UpgradesDocument

    settings.validate()
    found = find_outdated(settings.basic_config_path(), today=today or date.today(), hook=_airbyte())
    markdown = outdated_markdown(found)
    log.info("Connector upgrades:\n%s", markdown)
    ti.xcom_push(key=XComKey.REPORT, value=markdown)
    if found.nothing_read:
        # No event: a consumer must not take "no proposals" from a run that knew nothing.
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException("nothing could be read: " + "; ".join(found.problems))
    summary = UpgradesDocument.of(found).to_json()
    # The same document, with the proposals' rows only: an event's extra stays small whatever the config's size.
    extra = UpgradesDocument.of(found, rows="proposals").to_json()
    outlet_events[Asset(name=UPGRADES_ASSET_NAME, uri=UPGRADES_ASSET_URI)].extra = extra
    if found.problems:
        # Each problem is in the report's notes (logged above): said once.
        log.warning("The proposals are incomplete: %d problem(s), listed in the report's notes", len(found.problems))
    return summary


def _airbyte() -> Any:
    """The Airbyte hook when ``[airbyte_connectors] conn_id`` names a connection; None (registries only) when not."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    from airflow_airbyte_connectors.hooks.airbyte_definitions import AirbyteDefinitionsHook

    conn_id = settings.conn_id()
    try:
        BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        log.info("No connection %r: proposals without what Airbyte runs", conn_id)
        return None
    return AirbyteDefinitionsHook(conn_id)
