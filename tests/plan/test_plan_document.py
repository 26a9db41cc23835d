"""The plan document: one typed, versioned record every consumer reads, and its published schema."""

from __future__ import annotations

import json
import re

import pytest

from airflow_airbyte_connectors.plan.plan_document import PlanDocument, WriteResult
from airflow_airbyte_connectors.plan.planning import Plan
from tests.plan import test_plan_output as plans
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
            "changeId",
            "environment",
            "label",
            "action",
            "kind",
            "name",
            "dockerRepository",
            "tagBefore",
            "tagAfter",
            "definitionId",
            "documentationUrl",
            "nameBefore",
            "documentationUrlBefore",
            "changes",
            "versionChange",
            "versionMeaning",
            "holdReasons",
            "impact",
            "gate",
            "workspaceId",
            "ownerNotFound",
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


class TestChangeId:
    """Each change has an id the approval, the write tasks and the report match on: the same for the same change
    when the next run plans it again, different for two changes of one plan however alike their labels."""

    def test_the_same_change_planned_again_has_the_same_id(self, mixed_plan):
        ids = [c["changeId"] for c in plan_json(mixed_plan)["changes"]]
        again = [c["changeId"] for c in plan_json(plans.build_plan(**self.mixed_inputs()))["changes"]]
        assert ids == again and len(set(ids)) == 3 and all(re.fullmatch(r"[0-9a-f]{12}", i) for i in ids)

    def mixed_inputs(self) -> dict:
        entry, current = plans.entry, plans.current
        return {
            "sources": [
                entry("Acme CRM", "ghcr.io/acme/source-acme-crm", "1.2.0"),
                entry("PokeAPI", "airbyte/source-pokeapi", "0.3.40"),
                entry("Acme Billing", "ghcr.io/acme/source-billing", "2.0"),
            ],
            "current_sources": [
                current("source", POKEAPI_ID, "PokeAPI", "airbyte/source-pokeapi", "0.3.38"),
                current("source", CUSTOM_ID, "Billing (old name)", "ghcr.io/acme/source-billing", "2.0", custom=True),
            ],
        }

    def test_another_target_is_another_change(self):
        inputs = self.mixed_inputs()
        before = {c["name"]: c["changeId"] for c in plan_json(plans.build_plan(**inputs))["changes"]}
        inputs["sources"][1] = plans.entry("PokeAPI", "airbyte/source-pokeapi", "0.3.41")
        after = {c["name"]: c["changeId"] for c in plan_json(plans.build_plan(**inputs))["changes"]}
        assert after["PokeAPI"] != before["PokeAPI"] and after["Acme CRM"] == before["Acme CRM"]

    def test_changes_with_equal_labels_have_different_ids(self):
        # One name for two images (Airbyte's registry reuses a few): two creates labelled alike.
        twins = plans.build_plan(
            sources=[
                plans.entry("Acme", "ghcr.io/acme/source-one", "1.0.0"),
                plans.entry("Acme", "ghcr.io/acme/source-two", "1.0.0"),
            ]
        )
        one, two = plan_json(twins)["changes"]
        assert one["label"] == two["label"] == "create source Acme 1.0.0"
        assert one["changeId"] != two["changeId"]

    def test_the_same_change_in_two_environments_has_two_ids(self, mixed_plan):
        from airflow_airbyte_connectors.plan.plan_document import EnvironmentInfo
        from airflow_airbyte_connectors.plan.planning import with_environment

        infos = [EnvironmentInfo(name="staging", conn_id="airbyte_staging"), EnvironmentInfo(name="prod", conn_id="p")]
        document = PlanDocument.of_environments(
            [(info, with_environment(mixed_plan, info.name)) for info in infos], infos, dry_run=False
        )
        ids = [c.change_id for c in document.changes]
        assert len(set(ids)) == len(ids) == 6
        # Each write goes to its own environment's Airbyte, with its own change.
        writes = document.writes([ids[0], ids[3]])
        assert [(w["airbyte_conn_id"], w["change"]["changeId"]) for w in writes] == [
            ("airbyte_staging", ids[0]),
            ("p", ids[3]),
        ]
        assert all(w["dry_run"] is False for w in writes)


class TestPublishedSchema:
    DOCS = REPO_ROOT / "docs"

    def test_the_json_schema_in_docs_is_the_model_s(self):
        published = json.loads((self.DOCS / "plan-schema.json").read_text())
        assert published == PlanDocument.model_json_schema(by_alias=True), (
            "docs/plan-schema.json is stale: "
            "python -m airflow_airbyte_connectors.plan.plan_document > docs/plan-schema.json"
        )

    def test_the_example_in_docs_is_a_valid_document(self):
        text = (self.DOCS / "plan-schema.md").read_text()
        (example,) = re.findall(r"```json\n(.*?)```", text, flags=re.S)
        document = PlanDocument.model_validate(json.loads(example))
        assert document.to_json() == json.loads(example)  # every field shown, in the model's shape


class TestEnvironments:
    def test_one_document_names_each_environment_and_adds_up_their_counts(self, mixed_plan):
        from airflow_airbyte_connectors.plan.plan_document import EnvironmentInfo
        from airflow_airbyte_connectors.plan.planning import with_environment

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
