"""The contract check itself: it accepts what Airbyte's spec allows and names what it does not."""

from __future__ import annotations

import pytest
import requests

from airflow_airbyte_connectors.testing import AirbyteEmulator
from airflow_airbyte_connectors.testing.contract import ContractValidator, ContractViolation
from tests.support import CONFIG_API_SPEC, PROFILE_SPECS

POKE_ID = "6371b14b-bc68-4236-bfbd-468e8df8e968"
WORKSPACE = "b5f5e0a4-1c77-4a5e-9a3e-4f0f5e8a2b11"
READ = {
    "sourceDefinitionId": POKE_ID,
    "name": "PokeAPI",
    "dockerRepository": "airbyte/source-pokeapi",
    "dockerImageTag": "0.3.40",
    "documentationUrl": "https://docs.airbyte.com/integrations/sources/pokeapi",
}


@pytest.fixture(scope="module")
def contract() -> ContractValidator:
    return ContractValidator(CONFIG_API_SPEC)


def check(contract, operation, request_body, status, response_body):
    return contract.check(
        method="POST",
        path=f"/api/v1/{operation}",
        request_body=request_body,
        status=status,
        response_body=response_body,
    )


class TestConforming:
    @pytest.mark.parametrize(
        ("operation", "request_body", "status", "response_body"),
        [
            ("source_definitions/list", None, 200, {"sourceDefinitions": [READ, {**READ, "custom": True}]}),
            (
                "source_definitions/create_custom",
                {
                    "workspaceId": WORKSPACE,
                    "sourceDefinition": {
                        k: READ[k] for k in ("name", "dockerRepository", "dockerImageTag", "documentationUrl")
                    },
                },
                200,
                READ,
            ),
            (
                "source_definitions/update",
                {"sourceDefinitionId": POKE_ID, "dockerImageTag": "0.3.41", "workspaceId": WORKSPACE},
                200,
                READ,
            ),
            ("applications/token", {"client_id": "a", "client_secret": "b"}, 200, {"access_token": "t"}),
            ("source_definitions/get", {"sourceDefinitionId": POKE_ID}, 404, {"errorId": WORKSPACE}),
            (
                "source_definitions/update",
                {"sourceDefinitionId": POKE_ID, "dockerImageTag": "x", "workspaceId": WORKSPACE},
                422,
                {"message": "bad", "validationErrors": [{"propertyPath": "dockerImageTag"}]},
            ),
            (
                "source_definitions/update",
                {"sourceDefinitionId": POKE_ID, "dockerImageTag": "x", "workspaceId": WORKSPACE},
                500,
                {"errorId": WORKSPACE},
            ),
            ("source_definitions/delete", {"sourceDefinitionId": POKE_ID}, 204, None),
            ("workspaces/list", None, 404, {"errorId": WORKSPACE}),
        ],
        ids=[
            "list",
            "create",
            "update",
            "token",
            "404-error-id",
            "422",
            "500-undeclared",
            "delete-204",
            "removed-path-404",
        ],
    )
    def test_allowed(self, contract, operation, request_body, status, response_body):
        assert check(contract, operation, request_body, status, response_body) == []


class TestViolations:
    @pytest.mark.parametrize(
        ("operation", "request_body", "status", "response_body", "expected"),
        [
            (
                "source_definitions/list",
                None,
                200,
                {"sourceDefinitions": [READ, {k: v for k, v in READ.items() if k != "dockerImageTag"}]},
                "POST /api/v1/source_definitions/list response 200: "
                "sourceDefinitions.1: 'dockerImageTag' is a required property",
            ),
            (
                "source_definitions/update",
                {"sourceDefinitionId": POKE_ID, "dockerImageTag": "1"},
                200,
                READ,
                "POST /api/v1/source_definitions/update request: body: 'workspaceId' is a required property",
            ),
            (
                "source_definitions/create_custom",
                {"workspaceId": WORKSPACE, "sourceDefinition": {"name": "x"}},
                200,
                READ,
                "request: sourceDefinition: 'dockerRepository' is a required property",
            ),
            (
                "source_definitions/get",
                {"sourceDefinitionId": POKE_ID},
                200,
                {**READ, "dockerImageTag": 123},
                "response 200: dockerImageTag: 123 is not of type 'string'",
            ),
            (
                "source_definitions/update",
                {"sourceDefinitionId": POKE_ID, "dockerImageTag": "x", "workspaceId": WORKSPACE},
                422,
                {"message": "bad"},
                "response 422: body: 'validationErrors' is a required property",
            ),
            ("source_definitions/rename", {}, 200, {}, "POST /api/v1/source_definitions/rename: no such operation"),
        ],
        ids=[
            "response-missing-required",
            "request-missing-required",
            "nested-missing",
            "wrong-type",
            "422-without-validation-errors",
            "unknown-path",
        ],
    )
    def test_named_with_operation_and_field(self, contract, operation, request_body, status, response_body, expected):
        violations = check(contract, operation, request_body, status, response_body)
        assert any(expected in v for v in violations), violations

    def test_assert_ok_raises_with_every_violation(self, contract):
        with pytest.raises(ContractViolation, match=r"'name' is a required property[\s\S]*'dockerRepository'"):
            contract.assert_ok(
                method="POST",
                path="/api/v1/source_definitions/get",
                request_body={"sourceDefinitionId": POKE_ID},
                status=200,
                response_body={"sourceDefinitionId": POKE_ID, "dockerImageTag": "1"},
            )

    def test_older_release_lacks_newer_endpoints(self):
        old = ContractValidator(PROFILE_SPECS["1.6"])
        assert check(old, "workspaces/list", None, 200, {"workspaces": []}) == []
        violations = check(
            old,
            "workspaces/list_by_organization_id",
            {"organizationId": "00000000-0000-0000-0000-000000000000"},
            200,
            {"workspaces": []},
        )
        assert violations == ["POST /api/v1/workspaces/list_by_organization_id: no such operation in the spec"]


class _EmulatorWithBrokenAnswers(AirbyteEmulator):
    """A server that leaves a required field out of `get`: the contract check must notice."""

    def _definition_get(self, kind, body):
        answer = super()._definition_get(kind, body)
        answer.pop("dockerImageTag")
        return answer


class TestThroughTheEmulator:
    def test_broken_answer_and_broken_request_are_caught(self, contract):
        with _EmulatorWithBrokenAnswers(contract=contract, max_lifetime=60) as emu:
            read = emu.add_definition(
                "source", name="A", docker_repository="a/b", docker_image_tag="1", documentation_url="https://a.example"
            )
            requests.post(
                f"{emu.url}/api/v1/source_definitions/get",
                json={"sourceDefinitionId": read["sourceDefinitionId"]},
                timeout=10,
            )
            requests.post(
                f"{emu.url}/api/v1/source_definitions/update",
                json={"sourceDefinitionId": read["sourceDefinitionId"], "dockerImageTag": 2},
                timeout=10,
            )
            emu.wait_idle()
            violations = emu.contract_violations
        assert (
            "POST /api/v1/source_definitions/get response 200: body: 'dockerImageTag' is a required property"
            in violations
        )
        assert any(
            "source_definitions/update request: dockerImageTag: 2 is not of type 'string'" in v for v in violations
        )
        assert any(
            "source_definitions/update request: body: 'workspaceId' is a required property" in v for v in violations
        )


class TestExcerptFallback:
    """The 0.63/1.6 excerpts hold only definition endpoints; other resources are judged by the main spec."""

    def test_resources_an_excerpt_lacks_are_checked_against_the_main_spec(self):
        old = ContractValidator(PROFILE_SPECS["1.6"])
        body = {"sourceDefinitionId": POKE_ID}
        assert check(old, "sources/search", body, 200, {"sources": []}) == []
        violations = check(old, "sources/search", body, 200, {"sources": [{"sourceId": POKE_ID}]})
        assert any("'workspaceId' is a required property" in v for v in violations), violations

    def test_stream_schema_is_accepted_as_airbyte_sends_it(self):
        # The spec requires `json_schema` but only declares `jsonSchema` (additionalProperties false).
        main = ContractValidator(CONFIG_API_SPEC)
        stream = {
            "stream": {"name": "issues", "jsonSchema": {}},
            "config": {"syncMode": "full_refresh", "destinationSyncMode": "append", "selected": True},
        }
        connection = {
            "connectionId": POKE_ID,
            "name": "c",
            "sourceId": POKE_ID,
            "destinationId": POKE_ID,
            "status": "active",
            "breakingChange": False,
            "syncCatalog": {"streams": [stream]},
        }
        answer = {"connections": [connection]}
        assert check(main, "connections/list", {"workspaceId": WORKSPACE}, 200, answer) == []

    def test_a_path_neither_spec_has_stays_unknown(self):
        old = ContractValidator(PROFILE_SPECS["0.63"])
        assert check(old, "sources/rename", {}, 200, {}) == [
            "POST /api/v1/sources/rename: no such operation in the spec"
        ]
