"""The hook against the emulator over real HTTP: connection forms, auth, workspace, errors, no secrets."""

from __future__ import annotations

import pytest

from airflow_airbyte_connectors.hooks.airbyte_definitions import (
    AirbyteApiError,
    AirbyteDefinitionsHook,
    AirbyteNotFoundError,
    WriteOutcomeUnknownError,
    server_root,
)
from airflow_airbyte_connectors.testing import AirbyteEmulator
from airflow_airbyte_connectors.testing.errors import ApiError
from tests.support import CLIENT_SECRET, CUSTOM_SOURCE, REGISTRY


def hook(**kwargs) -> AirbyteDefinitionsHook:
    kwargs.setdefault("read_timeout", 5)
    kwargs.setdefault("write_timeout", 10)
    return AirbyteDefinitionsHook(**kwargs)


class TestServerRoot:
    @pytest.mark.parametrize(
        ("host", "port", "root"),
        [
            ("http://localhost:8000", None, "http://localhost:8000"),
            ("http://localhost:8000/", None, "http://localhost:8000"),
            ("http://localhost:8000/api/public/v1", None, "http://localhost:8000"),
            ("http://localhost:8000/api/public/v1/", None, "http://localhost:8000"),
            ("http://localhost:8000/api/v1", None, "http://localhost:8000"),
            ("https://corp.example/airbyte/api/v1", None, "https://corp.example/airbyte"),
            ("localhost", 8000, "http://localhost:8000"),
            ("http://airbyte.internal", 8001, "http://airbyte.internal:8001"),
        ],
        ids=["root", "slash", "public", "public-slash", "config", "prefix", "bare-host", "port-field"],
    )
    def test_all_forms_name_the_same_server(self, host, port, root):
        assert server_root(host, port) == root

    def test_empty_host_is_a_clear_error(self):
        with pytest.raises(ValueError, match="no host"):
            server_root("")


class TestConnectionForms:
    @pytest.mark.parametrize("suffix", ["", "/api/public/v1", "/api/v1"], ids=["root", "public", "config"])
    def test_host_suffixes_reach_the_config_api(self, use_emulator, suffix):
        emu = use_emulator(seed={"sources": [], "destinations": []}, host_suffix=suffix)
        assert hook().list_definitions("source") == []
        assert [r.path for r in emu.requests] == ["/api/v1/applications/token", "/api/v1/source_definitions/list"]

    def test_no_login_means_no_auth(self, use_emulator):
        emu = use_emulator(auth="none")
        hook().list_definitions("destination")
        assert "authorization" not in emu.requests[0].headers

    def test_basic_auth_for_old_installs(self, use_emulator):
        emu = use_emulator(profile="0.63", auth="basic")
        hook().list_definitions("source")
        assert [r.operation for r in emu.requests] == ["source_definitions/list"]
        assert emu.requests[0].headers["authorization"].startswith("Basic ")

    def test_token_is_fetched_with_json_once_per_process(self, use_emulator):
        emu = use_emulator()
        first, second = hook(), hook()
        first.list_definitions("source")
        second.list_definitions("destination")
        token_calls = [r for r in emu.requests if r.operation == "applications/token"]
        assert len(token_calls) == 1
        assert token_calls[0].headers["content-type"] == "application/json"
        assert token_calls[0].body["client_id"] == "aac-test-client"

    def test_expired_token_is_replaced_once_and_the_call_repeated(self, use_emulator):
        emu = use_emulator()
        client = hook()
        client.list_definitions("source")
        emu.expire_tokens()
        client.list_definitions("source")
        assert [(r.operation, r.status) for r in emu.requests] == [
            ("applications/token", 200),
            ("source_definitions/list", 200),
            ("source_definitions/list", 401),
            ("applications/token", 200),
            ("source_definitions/list", 200),
        ]

    def test_wrong_secret_is_reported_without_the_secret(self, use_emulator, monkeypatch):
        emu = use_emulator()
        monkeypatch.setenv(
            "AIRFLOW_CONN_AIRBYTE_DEFAULT",
            f'{{"conn_type": "airbyte", "host": "{emu.url}", "login": "aac-test-client", '
            '"password": "wrong-secret-123"}',
        )
        with pytest.raises(AirbyteApiError) as caught:
            hook().list_definitions("source")
        message = str(caught.value)
        assert "POST http://127.0.0.1:" in message and "/api/v1/applications/token" in message
        assert "HTTP 401" in message and "client secret" in message
        assert "wrong-secret-123" not in message and CLIENT_SECRET not in message


class TestWorkspace:
    def test_single_workspace_is_discovered_on_current_airbyte(self, use_emulator):
        emu = use_emulator(profile="2.0")
        assert hook().get_workspace_id() == emu.workspace_ids[0]
        assert [r.operation for r in emu.requests][-1] == "workspaces/list_by_organization_id"

    def test_older_airbyte_falls_back_to_workspaces_list(self, use_emulator):
        emu = use_emulator(profile="0.63")
        assert hook().get_workspace_id() == emu.workspace_ids[0]
        assert [r.operation for r in emu.requests] == ["workspaces/list_by_organization_id", "workspaces/list"]

    def test_several_workspaces_is_a_clear_error_listing_them(self, use_emulator):
        emu = use_emulator(workspaces=2)
        with pytest.raises(ValueError, match="has 2 workspaces") as caught:
            hook().get_workspace_id()
        assert all(w in str(caught.value) for w in emu.workspace_ids)
        assert "workspace_id" in str(caught.value)

    def test_configured_workspace_wins_and_needs_no_request(self, use_emulator, monkeypatch):
        emu = use_emulator(workspaces=2)
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__WORKSPACE_ID", emu.workspace_ids[1])
        assert hook().get_workspace_id() == emu.workspace_ids[1]
        assert emu.requests == []

    def test_connection_extra_workspace(self, use_emulator):
        emu = use_emulator(workspaces=2, extra={"workspace_id": "11111111-2222-3333-4444-555555555555"})
        assert hook().get_workspace_id() == "11111111-2222-3333-4444-555555555555"
        assert emu.requests == []


class TestDefinitions:
    def test_create_get_update_round_trip(self, use_emulator):
        emu = use_emulator()
        client = hook()
        workspace = client.get_workspace_id()
        created = client.create_definition("source", CUSTOM_SOURCE, workspace)
        definition_id = created["sourceDefinitionId"]
        assert client.get_definition("source", definition_id)["dockerImageTag"] == "1.2.0"
        updated = client.update_definition("source", definition_id, docker_image_tag="1.3.0", workspace_id=workspace)
        assert updated["sourceDefinitionId"] == definition_id and updated["dockerImageTag"] == "1.3.0"
        (update,) = [r for r in emu.requests if r.operation == "source_definitions/update"]
        assert update.body == {"sourceDefinitionId": definition_id, "dockerImageTag": "1.3.0", "workspaceId": workspace}

    def test_unknown_id_is_a_not_found_error_naming_method_url_status(self, use_emulator):
        use_emulator()
        with pytest.raises(AirbyteNotFoundError) as caught:
            hook().get_definition("destination", "00000000-0000-0000-0000-0000000000aa")
        message = str(caught.value)
        assert message.startswith("POST http://127.0.0.1:")
        assert "/api/v1/destination_definitions/get failed: HTTP 404" in message
        assert "errorId" in message  # Airbyte 2.0 sends only an error ID

    def test_failed_write_is_not_retried(self, use_emulator):
        emu = use_emulator(unpullable_tags=("9.9.9-missing",))
        client = hook()
        with pytest.raises(AirbyteApiError, match="HTTP 500"):
            client.create_definition(
                "source", {**CUSTOM_SOURCE, "dockerImageTag": "9.9.9-missing"}, client.get_workspace_id()
            )
        assert len(emu.write_requests()) == 1

    def test_write_whose_answer_times_out_is_reported_as_unknown_outcome(self, use_emulator):
        emu = use_emulator(write_delay=2.0)
        client = hook(write_timeout=0.5)
        with pytest.raises(WriteOutcomeUnknownError, match="may have applied"):
            client.create_definition("source", CUSTOM_SOURCE, client.get_workspace_id())
        emu.wait_idle()
        assert len(emu.write_requests()) == 1

    def test_test_connection(self, use_emulator):
        use_emulator(seed={"sources": [], "destinations": []})
        ok, message = hook().test_connection()
        assert ok is True
        assert message.startswith("Connected to Airbyte at http://127.0.0.1:")

    def test_tls_verification_is_on_unless_switched_off_with_a_warning(self, use_emulator, caplog):
        use_emulator()
        assert hook().session.verify is True
        assert "verification is OFF" not in caplog.text
        use_emulator(extra={"verify": False})
        assert hook().session.verify is False
        assert "TLS certificate verification is OFF for connection airbyte_default" in caplog.text

    def test_settings_repr_hides_the_secret(self, use_emulator):
        use_emulator()
        assert CLIENT_SECRET not in repr(hook().client_settings)


class _AirbyteWithoutSearch(AirbyteEmulator):
    """An Airbyte without ``sources/search`` / ``destinations/search``."""

    def _actor_search(self, kind, body):
        raise ApiError(404, f"No such endpoint: {kind}s/search")


def only_the_missing_search_breaks_the_contract(emu) -> None:
    """The spec has sources/search; this Airbyte answers 404 for it. Everything else must follow the spec."""
    assert emu.contract_violations
    assert all("/sources/search response 404" in violation for violation in emu.contract_violations)


class TestSearchActors:
    GITHUB = "airbyte/source-github"
    POKEAPI = "airbyte/source-pokeapi"

    def seed(self, emu, github: list[int], pokeapi: int = 0) -> str:
        """``github[i]`` GitHub sources in workspace i, ``pokeapi`` PokeAPI ones in the first, interleaved."""
        for workspace, count in zip(emu.workspace_ids, github, strict=True):
            for i in range(count):
                emu.add_source(self.GITHUB, name=f"GitHub {i}", workspace_id=workspace)
                if workspace == emu.workspace_ids[0] and i < pokeapi:
                    emu.add_source(self.POKEAPI, name=f"PokeAPI {i}", workspace_id=workspace)
        return next(d["sourceDefinitionId"] for d in emu.definitions("source") if d["dockerRepository"] == self.GITHUB)

    def test_one_search_across_workspaces(self, use_emulator):
        emu = use_emulator(seed=REGISTRY, workspaces=2)
        github = self.seed(emu, [30, 3], pokeapi=10)
        emu.clear_requests()
        assert len(hook().search_actors("source", github)) == 33
        assert [r.operation for r in emu.requests if r.operation != "applications/token"] == ["sources/search"]

    @pytest.mark.allow_contract_violations
    def test_without_search_every_page_of_every_workspace_is_read(self, use_emulator):
        # Airbyte 1.8+ pages sources/list by cursor.
        emu = use_emulator(seed=REGISTRY, workspaces=2, emulator_class=_AirbyteWithoutSearch)
        github = self.seed(emu, [150, 3], pokeapi=80)
        emu.clear_requests()
        found = hook().search_actors("source", github)
        assert len(found) == 153 and len({a["sourceId"] for a in found}) == 153
        lists = [r for r in emu.requests if r.operation == "sources/list"]
        # 230 sources in the first workspace: pages of 100, 100 and 30; the second has one page.
        assert [len(r.response["sources"]) for r in lists] == [100, 100, 30, 3]
        only_the_missing_search_breaks_the_contract(emu)

    @pytest.mark.allow_contract_violations
    def test_without_search_on_an_airbyte_that_does_not_page(self, use_emulator):
        emu = use_emulator(seed=REGISTRY, profile="0.63", emulator_class=_AirbyteWithoutSearch)
        github = self.seed(emu, [150], pokeapi=20)
        emu.clear_requests()
        found = hook().search_actors("source", github)
        assert len(found) == 150 and len({a["sourceId"] for a in found}) == 150
        # Everything at once, cursor ignored: the second answer brings nothing new and ends the listing.
        lists = [r for r in emu.requests if r.operation == "sources/list"]
        assert [len(r.response["sources"]) for r in lists] == [170, 170]
        only_the_missing_search_breaks_the_contract(emu)
