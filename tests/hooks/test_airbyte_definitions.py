"""The hook against the emulator over real HTTP: connection forms, auth, workspace, errors, no secrets."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
import requests

from airflow_airbyte_connectors.core.sync_jobs import SyncJob
from airflow_airbyte_connectors.hooks import airbyte_definitions
from airflow_airbyte_connectors.hooks.airbyte_definitions import (
    AirbyteApiError,
    AirbyteDefinitionsHook,
    AirbyteNotFoundError,
    OwnerWorkspaceNotFoundError,
    WriteOutcomeUnknownError,
    server_root,
)
from airflow_airbyte_connectors.hooks.airbyte_errors import SpecFailedError, SpecStillRunningError
from airflow_airbyte_connectors.testing import AirbyteEmulator, Faults
from airflow_airbyte_connectors.testing.errors import ApiError
from airflow_airbyte_connectors.testing.local_server import LocalServer
from airflow_airbyte_connectors.testing.trickle import TricklingAirbyte
from tests.support import CLIENT_ID, CLIENT_SECRET, CUSTOM_SOURCE, REGISTRY, add_custom_source, connection_uri


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

    def test_basic_auth_refused_by_airbyte_2_2_says_what_to_use(self, use_emulator):
        emu = use_emulator(profile="2.2", auth="basic")
        with pytest.raises(AirbyteApiError) as caught:
            hook().list_definitions("source")
        message = str(caught.value)
        assert caught.value.status == 401 and "/api/v1/source_definitions/list failed: HTTP 401" in message
        assert "Airbyte 2.2 and later accept no HTTP Basic; use an application's client id and secret" in message
        assert "(abctl local credentials)" in message and CLIENT_SECRET not in message
        assert [(r.operation, r.status) for r in emu.requests] == [("source_definitions/list", 401)]

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
        assert [r.operation for r in emu.requests] == [
            "instance_configuration",
            "workspaces/list_by_organization_id",
            "workspaces/list",
        ]

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


class _DeploymentMetadataAnswers(AirbyteEmulator):
    """deployment/metadata answers ``status`` (Airbyte errors) instead of the instance's id."""

    status = 403

    def _dispatch(self, operation, body):
        if operation == "deployment/metadata":
            raise ApiError(self.status, "Forbidden")
        return super()._dispatch(operation, body)


class TestInstanceIdentity:
    @pytest.mark.parametrize("profile", ["0.63", "1.6", "2.0", "2.2", "2.4"])
    def test_the_deployment_id_names_the_instance_whatever_the_url(self, use_emulator, monkeypatch, profile):
        emu = use_emulator(profile=profile)
        by_ip = hook().instance_id
        monkeypatch.setenv(
            "AIRFLOW_CONN_AIRBYTE_DEFAULT",
            connection_uri(emu, auth="basic" if profile == "0.63" else "bearer", host_suffix="/api/v1/").replace(
                "127.0.0.1", "localhost"
            ),
        )
        assert hook().instance_id == by_ip == f"deployment {emu.deployment_id}"
        assert emu.contract_violations == []

    def test_hooks_of_two_airbytes_ask_their_tokens_and_ids_at_the_same_time(self, emulator, monkeypatch):
        """Environments read their Airbytes at once: no lock shared by every hook is held while one of them asks."""
        at_once = _AtOnce()
        emus = [
            emulator(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, emulator_class=_SlowFirstReads) for _ in "ab"
        ]
        for name, emu in zip("ab", emus, strict=True):
            emu.at_once = at_once
            monkeypatch.setenv(f"AIRFLOW_CONN_AIRBYTE_{name.upper()}", connection_uri(emu))
        hooks = [AirbyteDefinitionsHook(f"airbyte_{name}", read_timeout=5) for name in "ab"]

        with ThreadPoolExecutor(max_workers=2) as pool:
            ids = list(pool.map(lambda h: (h.instance.version, h.instance_id), hooks))

        assert ids == [("2.0.0", f"deployment {emu.deployment_id}") for emu in emus]
        assert at_once.most == {"applications/token": 2, "deployment/metadata": 2, "instance_configuration": 2}

    @pytest.mark.parametrize("status", [403, 404])
    @pytest.mark.allow_contract_violations
    def test_an_airbyte_that_refuses_the_call_is_named_by_its_normalised_url(self, use_emulator, monkeypatch, status):
        emu = use_emulator(emulator_class=_DeploymentMetadataAnswers)
        emu.status = status
        monkeypatch.setenv(
            "AIRFLOW_CONN_AIRBYTE_DEFAULT", connection_uri(emu, host_suffix="/").replace("127.0.0.1", "LOCALHOST")
        )
        assert hook().instance_id == emu.url.replace("127.0.0.1", "localhost")

    @pytest.mark.parametrize("status", [401, 500, 503])
    @pytest.mark.allow_contract_violations
    def test_any_other_failure_raises_rather_than_guess(self, use_emulator, status):
        emu = use_emulator(emulator_class=_DeploymentMetadataAnswers)
        emu.status = status
        # The hook's own read_timeout: the retries of a 500 then end with seconds to spare for the last answer. With
        # 0.5 s the last try had 0.5 s, which a loaded machine missed (a DeadlineError instead of the HTTP error).
        with pytest.raises(AirbyteApiError, match=f"deployment/metadata failed: HTTP {status}"):
            assert hook().instance_id


def custom_in(emu: AirbyteEmulator, workspace_id: str) -> str:
    """Add CUSTOM_SOURCE as a custom definition granted to ``workspace_id``; its ID."""
    return add_custom_source(emu, workspace_id=workspace_id)["sourceDefinitionId"]


class TestOwnerWorkspace:
    """A custom definition's update goes with the workspace that owns it (Airbyte 2.4: any other is a 403)."""

    @pytest.mark.parametrize("profile", ["0.63", "1.6", "2.0", "2.2", "2.4"])
    def test_found_in_another_workspace_and_the_update_passes(self, use_emulator, monkeypatch, profile):
        emu = use_emulator(seed=REGISTRY, profile=profile, workspaces=2)
        owner, configured = emu.workspace_ids
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__WORKSPACE_ID", configured)
        custom_id = custom_in(emu, owner)
        client = hook()
        assert client.owner_workspace_id("source", custom_id) == owner
        # The configured workspace is asked first, then the others.
        lists = [r.body["workspaceId"] for r in emu.requests if r.operation.endswith("list_for_workspace")]
        assert lists == [configured, owner]
        client.update_definition("source", custom_id, docker_image_tag="1.3.0", workspace_id=owner)
        assert client.get_definition("source", custom_id)["dockerImageTag"] == "1.3.0"
        assert emu.contract_violations == []

    def test_the_configured_workspace_that_lists_it_is_the_only_one_read(self, use_emulator, monkeypatch):
        emu = use_emulator(seed=REGISTRY, profile="2.4", workspaces=2)
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__WORKSPACE_ID", emu.workspace_ids[1])
        custom_id = custom_in(emu, emu.workspace_ids[1])
        client = hook()
        assert client.owner_workspace_id("source", custom_id) == emu.workspace_ids[1]
        # A second look-up reads nothing again.
        assert client.owner_workspace_id("source", custom_id) == emu.workspace_ids[1]
        assert [r.operation for r in emu.requests if r.operation != "applications/token"] == [
            "instance_configuration",
            "workspaces/list_by_organization_id",
            "source_definitions/list_for_workspace",
        ]

    def test_one_workspace_needs_no_definition_list(self, use_emulator):
        emu = use_emulator(seed=REGISTRY, profile="2.4")
        custom_id = custom_in(emu, emu.workspace_ids[0])
        assert hook().owner_workspace_id("source", custom_id) == emu.workspace_ids[0]
        assert not [r for r in emu.requests if r.operation.endswith("list_for_workspace")]

    def test_no_workspace_lists_it_names_the_definition_and_the_workspaces_tried(self, use_emulator, monkeypatch):
        emu = use_emulator(seed=REGISTRY, profile="2.4", workspaces=2)
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__WORKSPACE_ID", emu.workspace_ids[0])
        custom_id = custom_in(emu, str(uuid.uuid4()))  # granted to a workspace this instance does not list
        with pytest.raises(OwnerWorkspaceNotFoundError, match=custom_id) as caught:
            hook().owner_workspace_id("source", custom_id)
        assert caught.value.workspaces_tried == emu.workspace_ids
        assert all(w in str(caught.value) for w in emu.workspace_ids)
        assert emu.write_requests() == []


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


def calls(emu, operation: str) -> int:
    return [r.operation for r in emu.requests].count(operation)


class _AirbyteWithHugeLists(AirbyteEmulator):
    """Answers ``source_definitions/list`` with 6000 definitions (about 2 MB)."""

    def _definition_list(self, kind, body):
        (one, *_) = super()._definition_list(kind, body)[f"{kind}Definitions"]
        return {f"{kind}Definitions": [{**one, f"{kind}DefinitionId": str(uuid.uuid4())} for _ in range(6000)]}


class _AirbyteWithHugeTokens(AirbyteEmulator):
    """Hands out a 100 kB token."""

    def handle(self, path, headers, raw_body):
        status, answer = super().handle(path, headers, raw_body)
        if path.endswith("/applications/token"):
            answer = {**answer, "access_token": "x" * 100_000}
        return status, answer


class _AirbyteWithEndlessPages(_AirbyteWithoutSearch):
    """Every ``sources/list`` page is full of sources never seen before, whatever the cursor."""

    def _actor_list(self, kind, body):
        (one,) = super()._actor_list(kind, {"workspaceId": body["workspaceId"]})[f"{kind}s"]
        page = [{**one, f"{kind}Id": str(uuid.uuid4())} for _ in range(body["pageSize"])]
        return {f"{kind}s": page, "page_size": body["pageSize"], "num_connections": len(page)}


class TestBounds:
    """Every call ends by its deadline, every answer is read up to a size, every listing ends."""

    @pytest.mark.parametrize("from_status_line", [False, True], ids=["body", "status-line"])
    def test_read_trickling_in_ends_at_its_deadline(self, use_emulator, from_status_line):
        # A byte every 0.2 s: each socket read is well within read_timeout, the whole answer never is.
        emu = use_emulator(
            seed={"sources": [], "destinations": []},
            emulator_class=TricklingAirbyte,
            operations=["source_definitions/list"],
            interval=0.2,
            from_status_line=from_status_line,
        )
        started = time.monotonic()
        with pytest.raises(requests.Timeout, match=r"source_definitions/list: no complete answer within 1 s"):
            hook(read_timeout=1).list_definitions("source")
        # Retries fit the operation's budget (twice read_timeout), not five attempts.
        assert 1 <= calls(emu, "source_definitions/list") <= 2
        assert time.monotonic() - started < 30  # a guard only: the count above is the check

    def test_write_trickling_in_past_its_deadline_is_unknown_outcome_and_not_resent(self, use_emulator):
        emu = use_emulator(
            emulator_class=TricklingAirbyte, operations=["source_definitions/create_custom"], interval=0.2
        )
        client = hook(write_timeout=1)
        with pytest.raises(WriteOutcomeUnknownError, match="no complete answer within 1 s; Airbyte may have applied"):
            client.create_definition("source", CUSTOM_SOURCE, client.get_workspace_id())
        emu.wait_idle()
        assert calls(emu, "source_definitions/create_custom") == 1
        assert [d["name"] for d in emu.definitions("source")].count(CUSTOM_SOURCE["name"]) == 1

    def test_rate_limit_longer_than_the_budget_ends_the_read(self, use_emulator):
        emu = use_emulator(auth="none", faults=Faults(rate_limit_rate=1.0, retry_after=5))
        with pytest.raises(AirbyteApiError, match="HTTP 429"):
            hook(read_timeout=1).list_definitions("source")
        assert calls(emu, "source_definitions/list") == 1  # waiting 5 s would pass the 2 s budget

    @pytest.mark.parametrize("content_length", [True, False], ids=["announced", "unannounced"])
    def test_answer_over_the_size_limit_is_a_clear_error(self, use_emulator, monkeypatch, content_length):
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__MAX_RESPONSE_MB", "1")
        emu = use_emulator(
            seed="builtin",
            emulator_class=type("Huge", (TricklingAirbyte, _AirbyteWithHugeLists), {}),
            operations=["source_definitions/list"],
            interval=0,
            content_length=content_length,
        )
        with pytest.raises(AirbyteApiError) as caught:
            hook().list_definitions("source")
        assert str(caught.value).startswith("POST http://127.0.0.1:")
        assert str(caught.value).endswith(
            "/api/v1/source_definitions/list failed: HTTP 200: answer larger than 1 MB; not read "
            "(the limit is [airbyte_connectors] max_response_mb)"
        )
        assert calls(emu, "source_definitions/list") == 1  # the same answer again would be as large

    def test_token_answer_over_its_limit_is_a_clear_error(self, use_emulator):
        use_emulator(emulator_class=_AirbyteWithHugeTokens)
        with pytest.raises(
            AirbyteApiError, match=r"applications/token failed: HTTP 200: answer larger than 65536 bytes"
        ):
            hook().list_definitions("source")

    @pytest.mark.allow_contract_violations
    def test_paging_that_never_ends_is_stopped_with_a_clear_error(self, use_emulator, monkeypatch):
        # The real bound, 1000 pages of 100, takes a minute against the emulator; the loop is the same.
        monkeypatch.setattr(airbyte_definitions, "_MAX_ACTOR_PAGES", 5)
        emu = use_emulator(seed=REGISTRY, emulator_class=_AirbyteWithEndlessPages)
        github = TestSearchActors().seed(emu, [1])
        emu.clear_requests()
        with pytest.raises(AirbyteApiError) as caught:
            hook().search_actors("source", github)
        assert f"workspace {emu.workspace_ids[0]} still answered full pages of new sources after 5 pages " in str(
            caught.value
        )
        assert "(500 sources); stopped reading: its paging looks broken" in str(caught.value)
        assert calls(emu, "sources/list") == 5


class _Redirecting(LocalServer):
    """A server that answers every POST with a redirect (a proxy sending http to https, say)."""

    def handler_class(self):
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                self.send_response(307)
                self.send_header("Location", "https://user:s3cret@airbyte.example.com/api/v1/source_definitions/list")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                return

        return Handler


def test_a_redirect_is_not_followed_and_says_where_it_pointed(monkeypatch):
    with _Redirecting() as server:
        monkeypatch.setenv("AIRFLOW_CONN_AIRBYTE_DEFAULT", f'{{"conn_type": "airbyte", "host": "{server.url}"}}')
        with pytest.raises(AirbyteApiError) as caught:
            hook().list_definitions("source")
    message = str(caught.value)
    assert "source_definitions/list failed: HTTP 307: redirected to airbyte.example.com; not followed" in message
    assert "s3cret" not in message


class TestInstance:
    def test_version_edition_and_default_organization_come_from_instance_configuration(self, use_emulator):
        organization = "5d4a0b6e-3f60-4e43-9f62-1b3cc0e6b5a1"
        emu = use_emulator(organization_id=organization, airbyte_version="2.0.3")
        the_hook = hook()
        assert the_hook.get_workspace_id() == emu.workspace_ids[0]  # found in the non-zero organization
        assert (the_hook.instance.version, the_hook.instance.edition) == ("2.0.3", "community")
        assert the_hook.instance.default_organization_id == organization
        assert the_hook.instance.default_workspace_id == emu.workspace_ids[0]
        listed = [r for r in emu.requests if r.operation == "workspaces/list_by_organization_id"]
        assert [r.body for r in listed] == [{"organizationId": organization}]
        assert [r.method for r in emu.requests if r.operation == "instance_configuration"] == ["GET"]

    @pytest.mark.allow_contract_violations  # a server older than the spec's instance_configuration
    def test_an_airbyte_without_it_is_an_unknown_version(self, use_emulator):
        emu = use_emulator(emulator_class=WithoutInstanceConfiguration)
        the_hook = hook()
        assert the_hook.instance.version is None and the_hook.instance.default_organization_id is None
        assert the_hook.get_workspace_id() == emu.workspace_ids[0]  # the zero UUID, Airbyte OSS's organization


class WithoutInstanceConfiguration(AirbyteEmulator):
    def handle_get(self, path: str):
        if path == "/api/v1/instance_configuration":
            return 404, {"message": "Not found"}
        return super().handle_get(path)


class TestCreateTakesSpec:
    @pytest.mark.parametrize(
        ("version", "takes"),
        [("0.63.9", False), ("2.0.3", False), ("2.1.0", True), ("2.4.0", True), ("dev", False), (None, False)],
    )
    def test_from_airbyte_2_1_on(self, version, takes):
        assert airbyte_definitions.InstanceInfo(version=version).create_takes_spec is takes


class TestConnectorSpec:
    """``commands/run/spec`` then ``commands/status`` until done, then ``commands/output/spec``."""

    REPOSITORY, TAG = CUSTOM_SOURCE["dockerRepository"], CUSTOM_SOURCE["dockerImageTag"]

    def spec(self, emu: AirbyteEmulator, command_id: str = "spec-1", **kwargs) -> dict:
        return hook(**kwargs).connector_spec(command_id, emu.workspace_ids[0], self.REPOSITORY, self.TAG)

    def test_the_spec_of_the_image(self, use_emulator):
        emu = use_emulator(profile="2.2", write_delay=0.5)
        assert self.spec(emu)["connectionSpecification"]["type"] == "object"
        operations = [r.operation for r in emu.requests if r.operation.startswith("commands/")]
        assert operations[0] == "commands/run/spec" and operations[-1] == "commands/output/spec"
        assert set(operations[1:-1]) == {"commands/status"}
        (started,) = [r.body for r in emu.requests if r.operation == "commands/run/spec"]
        assert started == {
            "id": "spec-1",
            "workspace_id": emu.workspace_ids[0],
            "docker_image": self.REPOSITORY,
            "docker_image_tag": self.TAG,
        }

    @pytest.mark.parametrize(
        ("tags", "reason"),
        [
            ("unpullable_tags", f"Failed to pull container image {REPOSITORY}:{TAG} (config_error, airbyte_platform)"),
            ("crashing_tags", f"{REPOSITORY}:{TAG} exited with code 1 while reading its spec (system_error, source)"),
        ],
        ids=["image-missing", "connector-crash"],
    )
    def test_a_failed_spec_says_airbytes_failure_reason(self, use_emulator, tags, reason):
        emu = use_emulator(profile="2.2", **{tags: [self.TAG]})
        with pytest.raises(SpecFailedError) as failed:
            self.spec(emu)
        assert str(failed.value).endswith(f"the SPEC of {self.REPOSITORY}:{self.TAG} failed: {reason}")

    def test_a_spec_still_running_after_write_timeout_is_waited_for_by_the_next_try(self, use_emulator):
        emu = use_emulator(profile="2.2", write_delay=3)
        with pytest.raises(SpecStillRunningError, match=r"\(command spec-1\) had not finished after 0.5 s"):
            self.spec(emu, write_timeout=0.5)
        # The next try starts the same command (a no-op in Airbyte) and waits for it: one SPEC in all.
        assert self.spec(emu, write_timeout=10)["connectionSpecification"]
        assert emu.spec_commands == ["spec-1"]
        assert len([r for r in emu.requests if r.operation == "commands/run/spec"]) == 2


CONNECTION = "7c0e5d2a-0000-4000-8000-000000000001"


def seed_syncs(emu: AirbyteEmulator, count: int, connection: str = CONNECTION) -> float:
    """``count`` syncs a minute apart, the newest a minute ago, IDs increasing with time; returns the oldest's time."""
    oldest = time.time() - 60 * count
    for minute in range(count):
        emu.add_sync_job(connection, "succeeded" if minute % 3 else "failed", created_at=oldest + 60 * minute)
    return oldest


class _AirbyteIgnoringRowOffset(AirbyteEmulator):
    """Answers every ``jobs/list`` page with the first one."""

    def _jobs_list(self, body):
        return super()._jobs_list({**body, "pagination": {**body.get("pagination", {}), "rowOffset": 0}})


class _AirbyteSyncingWhileRead(AirbyteEmulator):
    """A new sync starts before each page after the first: every later page starts with a job already read."""

    def _jobs_list(self, body):
        if body.get("pagination", {}).get("rowOffset"):
            self.add_sync_job(body["configId"], "running")
        return super()._jobs_list(body)


class _AirbyteFailingEveryOtherJobList(AirbyteEmulator):
    """Every other ``jobs/list`` answers 503, as a gateway in front of a busy Airbyte does."""

    job_lists = 0

    def _jobs_list(self, body):
        self.job_lists += 1
        if self.job_lists % 2:
            raise ApiError(503, "Service Unavailable")
        return super()._jobs_list(body)


class TestSyncJobs:
    @pytest.mark.parametrize("profile", ["0.63", "1.6", "2.0", "2.2", "2.4"])
    def test_newest_first_only_this_connections_syncs_typed(self, use_emulator, profile):
        emu = use_emulator(profile=profile)
        oldest = seed_syncs(emu, 3)
        emu.add_sync_job(CONNECTION, "succeeded", config_type="reset_connection")
        emu.add_sync_job("7c0e5d2a-0000-4000-8000-000000000002", "succeeded")
        emu.clear_requests()
        jobs = hook().list_sync_jobs(CONNECTION)
        assert [(job.job_id, job.status) for job in jobs] == [(3, "succeeded"), (2, "succeeded"), (1, "failed")]
        assert jobs[-1] == SyncJob(
            job_id=1,
            connection_id=CONNECTION,
            status="failed",
            created_at=datetime.fromtimestamp(int(oldest), tz=UTC),
            updated_at=datetime.fromtimestamp(int(oldest), tz=UTC),
        )
        (listed,) = [r.body for r in emu.requests if r.operation == "jobs/list"]
        assert listed == {
            "configTypes": ["sync"],
            "configId": CONNECTION,
            "pagination": {"pageSize": 50, "rowOffset": 0},
        }

    @pytest.mark.parametrize(
        ("since_minute", "limit", "found", "pages"),
        [(280, 100, 20, 1), (180, 200, 120, 3), (None, 120, 120, 3), (None, 5, 5, 1), (None, 1000, 300, 7)],
        ids=["since-on-page-1", "since-on-page-3", "limit-120", "limit-5", "whole-history"],
    )
    def test_reads_only_the_pages_it_needs(self, use_emulator, since_minute, limit, found, pages):
        emu = use_emulator()
        oldest = seed_syncs(emu, 300)
        since = None if since_minute is None else datetime.fromtimestamp(oldest + 60 * since_minute - 1, tz=UTC)
        emu.clear_requests()
        jobs = hook().list_sync_jobs(CONNECTION, since=since, limit=limit)
        assert [job.job_id for job in jobs] == list(range(300, 300 - found, -1))
        assert calls(emu, "jobs/list") == pages  # a page of 50 (or of limit, if smaller) at a time

    def test_a_job_created_at_since_is_kept(self, use_emulator):
        emu = use_emulator()
        oldest = seed_syncs(emu, 10)
        since = datetime.fromtimestamp(int(oldest) + 60 * 7, tz=UTC)
        assert [job.job_id for job in hook().list_sync_jobs(CONNECTION, since=since)] == [10, 9, 8]

    def test_syncs_started_while_reading_are_not_counted_twice(self, use_emulator):
        emu = use_emulator(emulator_class=_AirbyteSyncingWhileRead)
        seed_syncs(emu, 120)
        jobs = hook().list_sync_jobs(CONNECTION)
        # Pages 2 and 3 each start with the last job of the page before; the new ones are newer than the first page.
        assert [job.job_id for job in jobs] == list(range(120, 20, -1))
        assert calls(emu, "jobs/list") == 3

    def test_each_page_is_retried_like_other_reads(self, use_emulator):
        emu = use_emulator(emulator_class=_AirbyteFailingEveryOtherJobList)
        seed_syncs(emu, 120)
        jobs = hook().list_sync_jobs(CONNECTION, limit=1000)
        assert [job.job_id for job in jobs] == list(range(120, 0, -1))
        answered = [r.status for r in emu.requests if r.operation == "jobs/list"]
        assert answered == [503, 200] * 3

    def test_paging_that_never_ends_is_stopped_with_a_clear_error(self, use_emulator, monkeypatch):
        monkeypatch.setattr(airbyte_definitions, "_MAX_JOB_PAGES", 5)
        emu = use_emulator(emulator_class=_AirbyteIgnoringRowOffset)
        seed_syncs(emu, 60)
        emu.clear_requests()
        with pytest.raises(AirbyteApiError) as caught:
            hook().list_sync_jobs(CONNECTION)
        assert str(caught.value).endswith(
            f"/api/v1/jobs/list failed: HTTP 200: connection {CONNECTION} still answered full pages of sync jobs "
            "after 5 pages (50 jobs, 100 asked for); stopped reading: its paging looks broken"
        )
        assert calls(emu, "jobs/list") == 5

    @pytest.mark.parametrize(
        ("arguments", "message"),
        [
            ({"since": datetime(2026, 1, 1)}, "since must be timezone-aware"),
            ({"limit": 0}, "limit must be from 1 to 10000, not 0"),
            ({"limit": 10_001}, "limit must be from 1 to 10000, not 10001"),
        ],
        ids=["naive-since", "limit-0", "limit-too-large"],
    )
    def test_refuses_arguments_it_cannot_honour_before_any_request(self, use_emulator, arguments, message):
        emu = use_emulator()
        with pytest.raises(ValueError, match=message):
            hook().list_sync_jobs(CONNECTION, **arguments)
        assert emu.requests == []


class _AtOnce:
    """The most requests of each operation answered at the same time, across emulators."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now: Counter[str] = Counter()
        self.most: Counter[str] = Counter()


class _SlowFirstReads(AirbyteEmulator):
    """A token, ``instance_configuration`` and ``deployment/metadata`` each take 0.3 s, counted in ``at_once``."""

    at_once: _AtOnce

    def _slowly(self, operation: str, answer: Callable[[], Any]) -> Any:
        with self.at_once.lock:
            self.at_once.now[operation] += 1
            self.at_once.most[operation] = max(self.at_once.most[operation], self.at_once.now[operation])
        try:
            time.sleep(0.3)
            return answer()
        finally:
            with self.at_once.lock:
                self.at_once.now[operation] -= 1

    def handle(self, path, headers, raw_body):
        operation = path.removeprefix("/api/v1/")
        if operation in ("applications/token", "deployment/metadata"):
            return self._slowly(operation, lambda: super(_SlowFirstReads, self).handle(path, headers, raw_body))
        return super().handle(path, headers, raw_body)

    def handle_get(self, path):
        if path == "/api/v1/instance_configuration":
            return self._slowly("instance_configuration", lambda: super(_SlowFirstReads, self).handle_get(path))
        return super().handle_get(path)
