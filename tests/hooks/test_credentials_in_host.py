"""A connection host with ``user:password@`` against the emulator over real HTTP: the credentials authenticate
(HTTP Basic), and the hook's URL, errors and repr are without them."""

from __future__ import annotations

import json

import pytest

from airflow_airbyte_connectors.hooks.airbyte_definitions import (
    AirbyteApiError,
    AirbyteDefinitionsHook,
    AirbyteNotFoundError,
    host_credentials,
    server_root,
)

USER = "ops-user"
PASSWORD = "s3cret-in-host-7f2a"


def use_host(monkeypatch, host: str, **fields) -> AirbyteDefinitionsHook:
    monkeypatch.setenv("AIRFLOW_CONN_AIRBYTE_DEFAULT", json.dumps({"conn_type": "airbyte", "host": host, **fields}))
    return AirbyteDefinitionsHook(read_timeout=5, write_timeout=10)


def with_credentials(url: str, user: str = USER, password: str = PASSWORD) -> str:
    return url.replace("http://", f"http://{user}:{password}@")


@pytest.fixture
def basic_airbyte(emulator):
    return emulator(seed={"sources": [], "destinations": []}, profile="0.63", client_id=USER, client_secret=PASSWORD)


@pytest.mark.parametrize(
    ("host", "root"),
    [
        ("http://u:p@localhost:8000/api/v1", "http://localhost:8000"),
        ("u:p@airbyte.internal", "http://airbyte.internal:8001"),
        ("https://u@corp.example/airbyte", "https://corp.example:8001/airbyte"),
    ],
    ids=["full", "bare-host", "user-only"],
)
def test_server_root_leaves_the_credentials_out(host, root):
    assert server_root(host, 8001) == root


@pytest.mark.parametrize(
    "host",
    [
        f"http://{USER}:{PASSWORD}@airbyte:99999",
        f"http://{USER}:{PASSWORD}@[::1",
        f"http://{USER}:pa/{PASSWORD}@airbyte:8000",
        f"http://{USER}:1234/{PASSWORD}@airbyte:8000",
        f"http://{USER}:pa?{PASSWORD}@airbyte:8000",
        f"http://{USER}:{PASSWORD}\uff03@airbyte:8000",
        f"{USER}:{PASSWORD}@air byte",
    ],
    ids=["bad-port", "ipv6-unclosed", "slash", "digits-slash", "question-mark", "fullwidth-hash", "space"],
)
def test_a_host_that_cannot_be_read_for_sure_is_refused_without_quoting_it(monkeypatch, host):
    with pytest.raises(ValueError, match="host is not a valid URL") as caught:
        server_root(host, 8001)
    assert PASSWORD not in str(caught.value)
    assert host_credentials(host) is None
    with pytest.raises(ValueError, match="host is not a valid URL") as caught:
        use_host(monkeypatch, host).client_settings  # noqa: B018
    assert PASSWORD not in str(caught.value)


def test_credentials_are_percent_decoded():
    assert host_credentials("http://ops%40corp:p%3Ass%2Fw@h:1") == ("ops@corp", "p:ss/w")
    assert host_credentials("http://h:1/x@y") is None


def test_they_authenticate_and_the_hook_shows_a_url_without_them(monkeypatch, basic_airbyte):
    hook = use_host(monkeypatch, with_credentials(basic_airbyte.url))
    assert hook.list_definitions("source") == []
    assert basic_airbyte.requests[0].headers["authorization"].startswith("Basic ")
    assert hook.client_settings.root_url == basic_airbyte.url
    assert hook.client_settings.auth_type == "basic"
    assert PASSWORD not in repr(hook.client_settings)
    ok, message = hook.test_connection()
    assert ok and message.startswith(f"Connected to Airbyte at {basic_airbyte.url}:")


def test_error_names_the_url_without_them(monkeypatch, basic_airbyte):
    hook = use_host(monkeypatch, with_credentials(basic_airbyte.url))
    with pytest.raises(AirbyteNotFoundError) as caught:
        hook.get_definition("source", "00000000-0000-0000-0000-00000000beef")
    assert caught.value.url == f"{basic_airbyte.url}/api/v1/source_definitions/get"
    assert USER not in str(caught.value) and PASSWORD not in str(caught.value)


def test_wrong_credentials_are_refused_without_repeating_them(monkeypatch, basic_airbyte):
    hook = use_host(monkeypatch, with_credentials(basic_airbyte.url, password="wrong-pass-9c1"))
    with pytest.raises(AirbyteApiError) as caught:
        hook.list_definitions("source")
    assert caught.value.status == 401
    assert "wrong-pass-9c1" not in str(caught.value) and f"{USER}:" not in str(caught.value)


def test_an_error_built_from_a_url_with_them_drops_them():
    error = AirbyteApiError("POST", f"http://{USER}:{PASSWORD}@airbyte:8000/api/v1/x", 500, "boom")
    assert error.url == "http://airbyte:8000/api/v1/x"
    assert str(error) == "POST http://airbyte:8000/api/v1/x failed: HTTP 500: boom"


def test_credentials_in_the_host_and_a_login_is_refused_without_repeating_them(monkeypatch, basic_airbyte):
    hook = use_host(monkeypatch, with_credentials(basic_airbyte.url), login="client", password="other-secret-3d")
    with pytest.raises(ValueError, match="carries credentials") as caught:
        hook.list_definitions("source")
    assert PASSWORD not in str(caught.value) and "other-secret-3d" not in str(caught.value)
    assert basic_airbyte.requests == []
