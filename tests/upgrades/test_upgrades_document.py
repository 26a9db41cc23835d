"""The upgrades document: one typed, versioned record for the JSON output and the Asset event, and its schema."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest

from airflow_airbyte_connectors.upgrades.outdated import find_outdated
from airflow_airbyte_connectors.upgrades.upgrades_document import UpgradesDocument, upgrades_json_schema
from tests.support import REPO_ROOT
from tests.upgrades.test_outdated import config_file, registries  # noqa: F401 (fixtures)

DOCS = REPO_ROOT / "docs"


class TestDocument:
    def test_the_json_output_and_the_event_are_one_document(self, registries, config_file):  # noqa: F811
        found = find_outdated(config_file, today=date(2026, 10, 1))
        everything = UpgradesDocument.of(found).to_json()
        event = UpgradesDocument.of(found, rows="proposals").to_json()
        assert everything["schemaVersion"] == event["schemaVersion"] == 1
        assert (everything["rowsIncluded"], len(everything["rows"])) == ("all", 3)
        assert (event["rowsIncluded"], [row["name"] for row in event["rows"]]) == ("proposals", ["GitHub", "HubSpot"])
        # The event's rows are the document's own, and the rest of it is the whole run's.
        assert event["rows"] == [row for row in everything["rows"] if row["proposed"]]
        assert {k: v for k, v in event.items() if k not in ("rows", "rowsIncluded")} == {
            k: v for k, v in everything.items() if k not in ("rows", "rowsIncluded")
        }
        assert UpgradesDocument.model_validate(everything).to_json() == everything
        json.dumps(event)

    def test_an_unknown_field_or_schema_version_is_refused(self, registries, config_file):  # noqa: F811
        data = UpgradesDocument.of(find_outdated(config_file, today=date(2026, 10, 1))).to_json()
        with pytest.raises(ValueError, match="schemaVersion"):
            UpgradesDocument.model_validate({**data, "schemaVersion": 2})
        with pytest.raises(ValueError, match="findings"):
            UpgradesDocument.model_validate({**data, "findings": []})


class TestPublishedSchema:
    def test_the_json_schema_in_docs_is_the_model_s(self):
        published = json.loads((DOCS / "upgrades-schema.json").read_text())
        assert published == upgrades_json_schema(), (
            "docs/upgrades-schema.json is stale: "
            "python -m airflow_airbyte_connectors.upgrades.upgrades_document > docs/upgrades-schema.json"
        )

    def test_the_example_in_docs_is_a_valid_document(self):
        text = (DOCS / "upgrades-schema.md").read_text()
        (example,) = re.findall(r"```json\n(.*?)```", text, flags=re.S)
        document = UpgradesDocument.model_validate(json.loads(example))
        assert document.to_json() == json.loads(example)  # every field shown, in the model's shape
