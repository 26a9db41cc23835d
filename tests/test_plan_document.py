"""The plan document: one typed, versioned record every consumer reads, and its published schema."""

from __future__ import annotations

import json
import re

import pytest

from airflow_airbyte_connectors.plan_document import PlanDocument, WriteResult
from airflow_airbyte_connectors.planning import Plan
from tests import test_plan_output as plans
from tests.support import REPO_ROOT

CUSTOM_ID, POKEAPI_ID = plans.CUSTOM_ID, plans.POKEAPI_ID
mixed_plan, conflict_plan = plans.mixed_plan, plans.conflict_plan  # fixtures


def plan_json(plan: Plan) -> dict:
    return PlanDocument.of(plan, dry_run=True).to_json()


class TestJson:
    def test_document(self, mixed_plan):
        document = plan_json(mixed_plan)
        assert json.loads(json.dumps(document)) == document  # JSON-able as it is
        assert document["schemaVersion"] == 4
        assert document["counts"] == {
            "create": 1,
            "update": 2,
            "blocked": 0,
            "held": 0,
            "pending": 0,
            "waiting": 0,
            "unchanged": 1,
            "unmanaged": 1,
            "findings": 0,
            "conflicts": 0,
        }
        assert list(document) == [
            "schemaVersion",
            "dryRun",
            "airbyteUrl",
            "definitionsAsset",
            "airbyte",
            "configDigest",
            "configUnchanged",
            "counts",
            "changes",
            "held",
            "blocked",
            "pending",
            "waiting",
            "unchanged",
            "findings",
            "unmanaged",
            "approval",
            "environments",
        ]
        assert document["unmanaged"] == 1
        assert document["unchanged"] == [
            {
                "environment": None,
                "kind": "destination",
                "name": "Postgres",
                "dockerRepository": "airbyte/destination-postgres",
                "dockerImageTag": "2.4.7",
                "definitionId": None,
            }
        ]

    @pytest.mark.parametrize(
        ("name", "expected"),
        [
            (
                "Acme CRM",
                {
                    "action": "create",
                    "tagBefore": None,
                    "tagAfter": "1.2.0",
                    "definitionId": None,
                    "changes": [],
                },
            ),
            (
                "PokeAPI",
                {
                    "action": "update",
                    "tagBefore": "0.3.38",
                    "tagAfter": "0.3.40",
                    "definitionId": POKEAPI_ID,
                    "changes": [{"field": "dockerImageTag", "before": "0.3.38", "after": "0.3.40"}],
                },
            ),
            (
                "Acme Billing",
                {
                    "action": "update",
                    "tagBefore": "2.0",
                    "tagAfter": "2.0",
                    "definitionId": CUSTOM_ID,
                    "changes": [{"field": "name", "before": "Billing (old name)", "after": "Acme Billing"}],
                },
            ),
        ],
        ids=["create", "version_update", "rename_only"],
    )
    def test_change(self, mixed_plan, name, expected):
        change = next(c for c in plan_json(mixed_plan)["changes"] if c["name"] == name)
        assert set(change) == {
            "environment",
            "label",
            "action",
            "kind",
            "name",
            "dockerRepository",
            "tagBefore",
            "tagAfter",
            "definitionId",
            "changes",
            "versionChange",
            "holdReasons",
            "impact",
            "gate",
        }
        assert change["kind"] == "source"
        assert {k: change[k] for k in expected} == expected

    def test_findings(self, conflict_plan):
        document = plan_json(conflict_plan)
        assert document["counts"]["conflicts"] == 1 and document["changes"] == []
        (finding,) = document["findings"]
        assert finding["category"] == "ambiguous" and finding["kind"] == "source" and finding["name"] == "PokeAPI"
        assert POKEAPI_ID in finding["message"] and CUSTOM_ID in finding["message"]


class TestReadBack:
    """What a task reads back from XCom is the document that was written, and nothing else is accepted."""

    def test_round_trip(self, mixed_plan):
        document = PlanDocument.of(mixed_plan, dry_run=False, airbyte_url="http://airbyte:8001/api/v1")
        assert PlanDocument.model_validate(json.loads(json.dumps(document.to_json()))) == document

    def test_an_unknown_field_or_schema_version_is_refused(self, mixed_plan):
        data = plan_json(mixed_plan)
        with pytest.raises(ValueError, match="schemaVersion"):
            PlanDocument.model_validate({**data, "schemaVersion": 1})
        with pytest.raises(ValueError, match="creates"):
            PlanDocument.model_validate({**data, "creates": []})

    def test_a_write_result_names_what_it_did(self):
        result = WriteResult.model_validate(
            {
                "kind": "source",
                "action": "updated",
                "definitionId": "x",
                "name": "GitHub",
                "tagBefore": "1.8.0",
                "tagAfter": "1.9.0",
                "confirmed": "after retry",
            }
        )
        assert result.changed_airbyte and result.label == "source GitHub 1.8.0→1.9.0"
        with pytest.raises(ValueError, match="action"):
            WriteResult.model_validate({**result.to_json(), "action": "deleted"})


class TestPublishedSchema:
    DOCS = REPO_ROOT / "docs"

    def test_the_json_schema_in_docs_is_the_model_s(self):
        published = json.loads((self.DOCS / "plan-schema.json").read_text())
        assert published == PlanDocument.model_json_schema(by_alias=True), (
            "docs/plan-schema.json is stale: python -m airflow_airbyte_connectors.plan_document > docs/plan-schema.json"
        )

    def test_the_example_in_docs_is_a_valid_document(self):
        text = (self.DOCS / "plan-schema.md").read_text()
        (example,) = re.findall(r"```json\n(.*?)```", text, flags=re.S)
        document = PlanDocument.model_validate(json.loads(example))
        assert document.to_json() == json.loads(example)  # every field shown, in the model's shape


class TestEnvironments:
    def test_one_document_names_each_environment_and_adds_up_their_counts(self, mixed_plan):
        from airflow_airbyte_connectors.plan_document import EnvironmentInfo
        from airflow_airbyte_connectors.planning import with_environment

        infos = [
            EnvironmentInfo(name="staging", conn_id="airbyte_staging", airbyte_url="http://staging/api/v1"),
            EnvironmentInfo(name="prod", conn_id="airbyte_prod", promote_from="staging", soak_seconds=3600),
            EnvironmentInfo(name="eu", conn_id="airbyte_eu", promote_from="prod", error="cannot reach Airbyte"),
        ]
        planned = [(info, with_environment(mixed_plan, info.name)) for info in infos[:2]]
        document = PlanDocument.of_environments(planned, infos, dry_run=True).to_json()

        assert document["schemaVersion"] == 4 and document["airbyteUrl"] is None
        one = PlanDocument.of(mixed_plan, dry_run=True).counts
        assert (
            document["counts"]["update"] == 2 * one.update
            and document["unmanaged"] == 2 * mixed_plan.summary()["unmanaged"]
        )
        assert [c["environment"] for c in document["changes"]] == ["staging"] * 3 + ["prod"] * 3
        assert all(c["label"].startswith(f"{c['environment']}: ") for c in document["changes"])
        assert {u["environment"] for u in document["unchanged"]} == {"staging", "prod"}
        assert [(e["name"], e["counts"] is not None, e["error"]) for e in document["environments"]] == [
            ("staging", True, None),
            ("prod", True, None),
            ("eu", False, "cannot reach Airbyte"),
        ]
        read_back = PlanDocument.model_validate(document)
        assert [e.name for e in read_back.failed_environments] == ["eu"]
        assert read_back.environment("prod").soak_seconds == 3600
