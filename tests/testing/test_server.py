"""The emulator behaves like Airbyte where the project depends on it (real HTTP, no mocks)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import requests

from airflow_airbyte_connectors.testing import AirbyteEmulator
from airflow_airbyte_connectors.testing.server import older_tag
from tests.support import REGISTRY, require_airbyte_files

NEW = {
    "name": "Acme",
    "dockerRepository": "acme/source-acme",
    "dockerImageTag": "1.0.0",
    "documentationUrl": "https://acme.example/docs",
}


def post(emu: AirbyteEmulator, operation: str, body=None, token: str | None = None, **kwargs) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(f"{emu.url}/api/v1/{operation}", json=body, headers=headers, timeout=10, **kwargs)


@pytest.fixture
def emu(emulator):
    return emulator(seed=REGISTRY)


class TestSeeding:
    def test_registry_snapshot_is_loaded(self, emu):
        assert len(emu.definitions("source")) == 578 and len(emu.definitions("destination")) == 55
        pokeapi = post(emu, "source_definitions/get", {"sourceDefinitionId": "6371b14b-bc68-4236-bfbd-468e8df8e968"})
        assert pokeapi.json()["dockerImageTag"] == "0.3.40" and pokeapi.json()["custom"] is False

    def test_older_and_missing_fractions_are_deterministic(self, emulator):
        first = emulator(seed=REGISTRY, older_fraction=0.1, missing_fraction=0.02, rng_seed=7)
        again = emulator(seed=REGISTRY, older_fraction=0.1, missing_fraction=0.02, rng_seed=7)
        assert first.definitions("source") == again.definitions("source")
        assert 540 < len(first.definitions("source")) < 578

    @pytest.mark.parametrize(
        ("tag", "older"), [("0.3.40", "0.3.39"), ("1.0.0", "0.0.0"), ("2.0", "1.0"), ("0.0.0", "0.0.0-old")]
    )
    def test_older_tag(self, tag, older):
        assert older_tag(tag) == older


class TestDefinitions:
    def test_create_gives_a_new_id_each_time_even_for_the_same_body(self, emu):
        workspace = emu.workspace_ids[0]
        ids = {
            post(emu, "source_definitions/create_custom", {"workspaceId": workspace, "sourceDefinition": NEW}).json()[
                "sourceDefinitionId"
            ]
            for _ in range(2)
        }
        assert len(ids) == 2
        assert sum(d["dockerRepository"] == "acme/source-acme" for d in emu.definitions("source")) == 2

    def test_create_without_workspace_is_422(self, emu):
        answer = post(emu, "source_definitions/create_custom", {"sourceDefinition": NEW})
        assert answer.status_code == 422 and answer.json()["validationErrors"][0]["propertyPath"] == "workspaceId"

    def test_update_keeps_id_and_changes_only_what_airbyte_changes(self, emu):
        workspace = emu.workspace_ids[0]
        created = post(
            emu, "source_definitions/create_custom", {"workspaceId": workspace, "sourceDefinition": NEW}
        ).json()
        updated = post(
            emu,
            "source_definitions/update",
            {
                "sourceDefinitionId": created["sourceDefinitionId"],
                "dockerImageTag": "1.1.0",
                "workspaceId": workspace,
                "name": "Acme v2",
                "dockerRepository": "evil/other",
                "documentationUrl": "https://other.example",
            },
        ).json()
        assert updated == {**created, "dockerImageTag": "1.1.0", "name": "Acme v2"}

    def test_built_in_definitions_are_not_renamed(self, emu):
        pokeapi_id = "6371b14b-bc68-4236-bfbd-468e8df8e968"
        answer = post(
            emu,
            "source_definitions/update",
            {
                "sourceDefinitionId": pokeapi_id,
                "dockerImageTag": "0.3.41",
                "workspaceId": emu.workspace_ids[0],
                "name": "Pokemon",
            },
        )
        assert answer.json()["name"] == "PokeAPI" and answer.json()["dockerImageTag"] == "0.3.41"

    def test_unknown_id_is_404_with_error_id_only_on_2_0(self, emu):
        answer = post(
            emu, "destination_definitions/get", {"destinationDefinitionId": "00000000-0000-0000-0000-000000000001"}
        )
        assert answer.status_code == 404 and list(answer.json()) == ["errorId"]

    def test_deleted_definition_is_still_returned_by_get_but_not_listed(self, emu):
        pokeapi_id = "6371b14b-bc68-4236-bfbd-468e8df8e968"
        assert post(emu, "source_definitions/delete", {"sourceDefinitionId": pokeapi_id}).status_code == 204
        assert post(emu, "source_definitions/get", {"sourceDefinitionId": pokeapi_id}).status_code == 200
        listed = post(emu, "source_definitions/list").json()["sourceDefinitions"]
        assert pokeapi_id not in {d["sourceDefinitionId"] for d in listed}

    def test_unpullable_tag_fails_with_500_and_changes_nothing(self, emulator):
        emu = emulator(seed=REGISTRY, unpullable_tags={"9.9.9"})
        pokeapi_id = "6371b14b-bc68-4236-bfbd-468e8df8e968"
        answer = post(
            emu,
            "source_definitions/update",
            {"sourceDefinitionId": pokeapi_id, "dockerImageTag": "9.9.9", "workspaceId": emu.workspace_ids[0]},
        )
        assert answer.status_code == 500
        assert (
            post(emu, "source_definitions/get", {"sourceDefinitionId": pokeapi_id}).json()["dockerImageTag"] == "0.3.40"
        )

    def test_requests_are_recorded_with_operation_body_and_status(self, emu):
        post(emu, "source_definitions/get", {"sourceDefinitionId": "6371b14b-bc68-4236-bfbd-468e8df8e968"})
        (recorded,) = emu.requests
        assert (recorded.method, recorded.operation, recorded.status) == ("POST", "source_definitions/get", 200)
        assert recorded.body == {"sourceDefinitionId": "6371b14b-bc68-4236-bfbd-468e8df8e968"}
        assert emu.write_requests() == []


class TestRouting:
    def test_only_airbyte_actions_are_endpoints(self, emu):
        # _definition_of is a helper beside the _definition_<action> endpoints: a 404, not a crash.
        operation = "source_definitions/of"
        answer = post(emu, operation, {})
        assert answer.status_code == 404 and set(answer.json()) == {"errorId"}
        emu.wait_idle(timeout=5)
        assert emu.requests[-1].operation == operation and emu.requests[-1].status == 404


class TestProfiles:
    @pytest.mark.allow_contract_violations  # the current spec requires workspaceId: that is the point
    @pytest.mark.parametrize(
        ("profile", "status"), [("0.63", 200), ("1.6", 200), ("2.0", 400), ("2.2", 400), ("2.4", 400)]
    )
    def test_update_without_workspace(self, emulator, profile, status):
        emu = emulator(seed=REGISTRY, profile=profile)
        answer = post(
            emu,
            "source_definitions/update",
            {"sourceDefinitionId": "6371b14b-bc68-4236-bfbd-468e8df8e968", "dockerImageTag": "0.3.41"},
        )
        assert answer.status_code == status

    @pytest.mark.parametrize(
        ("profile", "listed", "by_org"),
        [("0.63", 200, 404), ("1.6", 200, 404), ("2.0", 404, 200), ("2.2", 404, 200), ("2.4", 404, 200)],
    )
    def test_workspace_endpoints(self, emulator, profile, listed, by_org):
        emu = emulator(profile=profile)
        assert post(emu, "workspaces/list").status_code == listed
        answer = post(
            emu, "workspaces/list_by_organization_id", {"organizationId": "00000000-0000-0000-0000-000000000000"}
        )
        assert answer.status_code == by_org
        if by_org == 200:
            assert [w["workspaceId"] for w in answer.json()["workspaces"]] == emu.workspace_ids

    def test_error_bodies_carry_a_message_before_2_0(self, emulator):
        emu = emulator(profile="1.6")
        answer = post(emu, "source_definitions/get", {"sourceDefinitionId": "00000000-0000-0000-0000-000000000001"})
        assert answer.status_code == 404 and "Could not find" in answer.json()["message"]


class TestAuth:
    def test_bearer_token_flow_and_expiry(self, emulator):
        emu = emulator(client_id="id", client_secret="secret", token_lifetime=1)
        assert post(emu, "source_definitions/list").status_code == 401
        assert post(emu, "applications/token", {"client_id": "id", "client_secret": "wrong"}).status_code == 401
        token = post(emu, "applications/token", {"client_id": "id", "client_secret": "secret"}).json()["access_token"]
        assert post(emu, "source_definitions/list", token=token).status_code == 200
        time.sleep(1.1)
        assert post(emu, "source_definitions/list", token=token).status_code == 401

    @pytest.mark.allow_contract_violations  # a form body is what the airbyte-api SDK wrongly sends
    def test_form_encoded_token_request_is_refused(self, emulator):
        emu = emulator(client_id="id", client_secret="secret")
        answer = requests.post(
            f"{emu.url}/api/v1/applications/token", data={"client_id": "id", "client_secret": "secret"}, timeout=10
        )
        assert answer.status_code == 415

    def test_basic_auth_on_0_63(self, emulator):
        emu = emulator(profile="0.63", client_id="airbyte", client_secret="password")
        assert post(emu, "source_definitions/list").status_code == 401
        assert (
            requests.post(
                f"{emu.url}/api/v1/source_definitions/list", auth=("airbyte", "password"), timeout=10
            ).status_code
            == 200
        )
        assert post(emu, "applications/token", {"client_id": "airbyte", "client_secret": "password"}).status_code == 401

    @pytest.mark.parametrize(("profile", "status"), [("1.6", 200), ("2.0", 200), ("2.2", 401), ("2.4", 401)])
    def test_basic_auth_beside_tokens_until_2_2(self, emulator, profile, status):
        emu = emulator(profile=profile, client_id="id", client_secret="secret")
        answer = requests.post(f"{emu.url}/api/v1/source_definitions/list", auth=("id", "secret"), timeout=10)
        assert answer.status_code == status
        token = post(emu, "applications/token", {"client_id": "id", "client_secret": "secret"}).json()["access_token"]
        assert post(emu, "source_definitions/list", token=token).status_code == 200

    def test_no_secret_or_token_is_echoed(self, emulator):
        emu = emulator(client_id="id", client_secret="s3cr3t-value")
        token = post(emu, "applications/token", {"client_id": "id", "client_secret": "s3cr3t-value"}).json()[
            "access_token"
        ]
        emu.expire_tokens()
        answer = post(emu, "source_definitions/list", token=token)
        assert answer.status_code == 401 and token not in answer.text and "s3cr3t-value" not in answer.text


class TestSingleScope:
    """2.4 (CVE-2026-80049): a request whose resources span workspaces or organizations is refused with 403."""

    @pytest.fixture
    def two_workspaces(self, emulator):
        def start(profile: str, **kwargs) -> tuple[AirbyteEmulator, str, str]:
            emu = emulator(seed=REGISTRY, profile=profile, workspaces=2, **kwargs)
            custom = emu.add_definition(
                "source",
                name=NEW["name"],
                docker_repository=NEW["dockerRepository"],
                docker_image_tag="1.0.0",
                documentation_url=NEW["documentationUrl"],
                custom=True,
                workspace_id=emu.workspace_ids[0],
            )
            return emu, custom["sourceDefinitionId"], emu.issue_token() if emu.auth_enabled else ""

        return start

    @pytest.mark.parametrize(("profile", "status"), [("2.2", 200), ("2.4", 403)])
    def test_updating_a_custom_definition_with_another_workspace(self, two_workspaces, profile, status):
        emu, custom_id, token = two_workspaces(profile, client_id="id", client_secret="secret")
        body = {"sourceDefinitionId": custom_id, "dockerImageTag": "1.1.0", "workspaceId": emu.workspace_ids[1]}
        answer = post(emu, "source_definitions/update", body, token=token)
        assert answer.status_code == status
        if status == 403:
            assert "more than one workspace or organization" in answer.json()["detail"]
        expected = "1.1.0" if status == 200 else "1.0.0"
        assert (
            post(emu, "source_definitions/get", {"sourceDefinitionId": custom_id}, token=token).json()["dockerImageTag"]
            == expected
        )

    def test_one_workspace_and_built_ins_pass_on_2_4(self, two_workspaces):
        emu, custom_id, token = two_workspaces("2.4", client_id="id", client_secret="secret")
        own = {"sourceDefinitionId": custom_id, "dockerImageTag": "1.1.0", "workspaceId": emu.workspace_ids[0]}
        assert post(emu, "source_definitions/update", own, token=token).status_code == 200
        pokeapi = "6371b14b-bc68-4236-bfbd-468e8df8e968"  # built-in: belongs to no workspace
        for workspace in emu.workspace_ids:
            body = {"sourceDefinitionId": pokeapi, "dockerImageTag": "0.3.41", "workspaceId": workspace}
            assert post(emu, "source_definitions/update", body, token=token).status_code == 200

    def test_created_custom_belongs_to_its_workspace(self, two_workspaces):
        emu, _, token = two_workspaces("2.4", client_id="id", client_secret="secret")
        create = {"workspaceId": emu.workspace_ids[1], "sourceDefinition": NEW}
        created = post(emu, "source_definitions/create_custom", create, token=token).json()["sourceDefinitionId"]
        body = {"sourceDefinitionId": created, "dockerImageTag": "1.1.0", "workspaceId": emu.workspace_ids[0]}
        assert post(emu, "source_definitions/update", body, token=token).status_code == 403

    def test_without_auth_there_is_no_check(self, two_workspaces):
        emu, custom_id, _ = two_workspaces("2.4")
        body = {"sourceDefinitionId": custom_id, "dockerImageTag": "1.1.0", "workspaceId": emu.workspace_ids[1]}
        assert post(emu, "source_definitions/update", body).status_code == 200


class TestListForWorkspace:
    """``list_for_workspace`` answers the built-ins and only the custom definitions granted to the workspace."""

    @pytest.mark.parametrize("profile", ["0.63", "1.6", "2.0", "2.2", "2.4"])
    def test_custom_definitions_show_only_in_their_workspace(self, emulator, profile):
        emu = emulator(seed=REGISTRY, profile=profile, workspaces=2)
        first, second = emu.workspace_ids
        created = post(emu, "source_definitions/create_custom", {"workspaceId": first, "sourceDefinition": NEW})
        custom_id = created.json()["sourceDefinitionId"]
        built_ins = {d["sourceDefinitionId"] for d in emu.definitions("source") if not d["custom"]}

        def listed(workspace: str) -> set[str]:
            answer = post(emu, "source_definitions/list_for_workspace", {"workspaceId": workspace})
            assert answer.status_code == 200
            return {d["sourceDefinitionId"] for d in answer.json()["sourceDefinitions"]}

        assert listed(first) == built_ins | {custom_id}
        assert listed(second) == built_ins

    def test_deleted_custom_definition_is_not_listed(self, emulator):
        emu = emulator(seed=REGISTRY, workspaces=2)
        workspace = emu.workspace_ids[1]
        created = post(emu, "source_definitions/create_custom", {"workspaceId": workspace, "sourceDefinition": NEW})
        custom_id = created.json()["sourceDefinitionId"]
        emu.delete_definition("source", custom_id)
        answer = post(emu, "source_definitions/list_for_workspace", {"workspaceId": workspace}).json()
        assert custom_id not in {d["sourceDefinitionId"] for d in answer["sourceDefinitions"]}


class TestCommandLine:
    def test_starts_on_loopback_answers_and_stops_by_itself(self, tmp_path):
        require_airbyte_files()
        ready = tmp_path / "url"
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "airflow_airbyte_connectors.testing",
                "--seed",
                str(REGISTRY),
                "--port",
                "0",
                "--max-lifetime",
                "20",
                "--ready-file",
                str(ready),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            line = process.stdout.readline()
            assert "listening on http://127.0.0.1:" in line
            url = ready.read_text()
            listed = requests.post(f"{url}/api/v1/destination_definitions/list", timeout=10).json()
            assert len(listed["destinationDefinitions"]) == 55
        finally:
            os.kill(process.pid, signal.SIGTERM)
            assert process.wait(timeout=10) == 0

    def test_max_lifetime_stops_it(self):
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "airflow_airbyte_connectors.testing", "--port", "0", "--max-lifetime", "1"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 0 and time.monotonic() - started < 20


class TestPlatformCompatibilityServed:
    """The matrix ``update`` enforces is served where connectors.airbyte.com serves it, for offline runs."""

    def test_the_matrix_update_enforces(self, emulator):
        from airflow_airbyte_connectors.clients.connector_registry import read_platform_compatibility
        from airflow_airbyte_connectors.core.compatibility import refusal

        pokeapi_id = "6371b14b-bc68-4236-bfbd-468e8df8e968"
        rule = {"connectorVersion": "9.9.9", "airbyteVersion": ">=9.0.0"}
        entry = {"connectorName": "source-pokeapi", "connectorType": "source", "connectorDefinitionId": pokeapi_id}
        emu = emulator(
            seed=REGISTRY, compatibility_matrix={"compatibleConnectors": [{**entry, "compatibilityMatrix": [rule]}]}
        )
        matrix, findings = read_platform_compatibility(emu.platform_compatibility_url)
        assert findings == [] and matrix is not None
        assert "Compatible Airbyte Version(s): >=9.0.0" in (
            refusal(matrix, pokeapi_id, "9.9.9", "2.0.0", "community") or ""
        )

    def test_without_a_matrix_every_version_is_compatible(self, emu):
        assert requests.get(emu.platform_compatibility_url, timeout=10).json() == {"compatibleConnectors": []}


class TestClientsThatGoAway:
    def test_a_reset_mid_request_prints_no_traceback(self, capfd):
        """A client whose deadline passed resets its connection: the emulator's output stays clean (the demo
        prints what the servers say), and it serves the next request."""
        import socket
        import struct

        with AirbyteEmulator() as emu:
            host, port = emu.url.removeprefix("http://").split(":")
            for _ in range(3):
                client = socket.create_connection((host, int(port)))
                client.sendall(
                    b"POST /api/v1/source_definitions/list HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"
                )
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = reset
                client.close()
            assert post(emu, "source_definitions/list").status_code == 200
        assert "Traceback" not in capfd.readouterr().err
