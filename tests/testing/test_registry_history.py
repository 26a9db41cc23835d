"""A connector registry made from release histories: chosen tags, breaking changes of several versions, served."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest
import requests

from airflow_airbyte_connectors.clients.connector_registry import read_connector_registry
from airflow_airbyte_connectors.core.releases import parse_registry
from airflow_airbyte_connectors.testing.registry import ConnectorRegistry, registry_from_history
from tests.support import RELEASES, SHARED_AIRBYTE

GITHUB, HUBSPOT = "airbyte/source-github", "airbyte/source-hubspot"


@cache
def history() -> dict[str, Any]:
    return json.loads((SHARED_AIRBYTE / "connector-version-history.json").read_text(encoding="utf-8"))


def entries(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["dockerRepository"]: e for kind in ("sources", "destinations") for e in document[kind]}


def test_every_connector_at_its_registry_snapshot_tag_with_its_breaking_changes():
    made = entries(registry_from_history(history()))
    assert len(made) == 13
    assert made["airbyte/destination-postgres"]["destinationDefinitionId"] == "25c5221d-dce2-4163-ade9-739ef790f503"
    assert (made[GITHUB]["dockerImageTag"], list(made[GITHUB]["releases"]["breakingChanges"])) == ("2.1.14", ["2.0.0"])
    assert list(made[HUBSPOT]["releases"]["breakingChanges"]) == ["2.0.0", "3.0.0", "4.0.0", "5.0.0", "6.0.0"]
    # A made-up text's deadline follows the version's release date (HubSpot 5.0.0: 2025-05-12).
    assert made[HUBSPOT]["releases"]["breakingChanges"]["5.0.0"]["upgradeDeadline"] == "2025-06-11"


def test_chosen_tags_and_breaking_versions_with_real_texts():
    base = json.loads(RELEASES.read_text(encoding="utf-8"))
    made = entries(
        registry_from_history(history(), tags={GITHUB: "2.7.1"}, base=base, breaking={GITHUB: ["2.0.0", "3.0.0"]})
    )
    github = made[GITHUB]
    assert (github["name"], github["dockerImageTag"]) == ("GitHub", "2.7.1")
    changes = github["releases"]["breakingChanges"]
    assert changes["2.0.0"]["upgradeDeadline"] == "2025-11-21"  # the registry's own text
    assert changes["3.0.0"]["message"].startswith("airbyte/source-github 3.0.0")


def test_the_project_reads_it_without_findings():
    releases = parse_registry(registry_from_history(history()))
    assert releases.findings == ()


def test_served_and_moved_while_running(emulator):
    emu = emulator(registry=registry_from_history(history()))
    latest = f"{emu.url}/metadata/{GITHUB}/latest/oss.json"
    assert requests.get(latest, timeout=5).json()["dockerImageTag"] == "2.1.14"
    emu.set_registry_image_tag(GITHUB, "2.7.1")
    assert requests.get(latest, timeout=5).json()["dockerImageTag"] == "2.7.1"
    read, findings = read_connector_registry(emu.registry_url, timeout=5)
    assert findings == [] and read is not None
    document = requests.get(emu.registry_url, timeout=5).json()
    assert entries(document)[GITHUB]["dockerImageTag"] == "2.7.1"


def test_moving_an_unknown_repository_is_refused():
    with pytest.raises(KeyError, match="airbyte/source-nope is not in the registry"):
        ConnectorRegistry({"sources": [], "destinations": []}).set_image_tag("airbyte/source-nope", "1.0.0")
