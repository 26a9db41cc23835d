"""How the approval's retry reads Airflow's REST API for an answer already given (docs/approvals.md): with the
``airflow_api`` connection's user or the anonymous token, no redirect followed, no credential in messages,
failures named. Real HTTP to a stand-in on loopback; the whole retry is covered by the services tests."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from airflow_airbyte_connectors.operators.approval import AirflowApi, EarlierAnswerUnknown
from airflow_airbyte_connectors.testing.local_server import LocalServer
from tests.support import unused_port


class AirflowStandIn(LocalServer):
    """Answers ``/auth/token`` and ``/api/v2/...`` as scripted by path; records every request."""

    thread_name = "airflow-api-stand-in"

    def __init__(self, answers: dict[str, tuple[int, dict[str, str], Any]]):
        super().__init__(max_lifetime=60)
        self.answers = answers
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                path = self.path.split("?")[0]
                with server._lock:
                    server.requests.append(
                        {
                            "method": self.command,
                            "path": self.path,
                            "auth": self.headers.get("Authorization"),
                            "body": body,
                        }
                    )
                status, headers, payload = server.answers.get(path, (404, {}, {"detail": "not found"}))
                data = json.dumps(payload).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer

            def log_message(self, *args: object) -> None:
                pass

        return Handler


TOKEN = (201, {}, {"access_token": "token-1"})
EVENTS = (200, {}, {"event_logs": [], "total_entries": 0})


@pytest.fixture
def stand_in():
    servers: list[AirflowStandIn] = []

    def start(answers: dict[str, tuple[int, dict[str, str], Any]]) -> AirflowStandIn:
        servers.append(AirflowStandIn(answers).start())
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def connection(monkeypatch, host: str, **extra: Any) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_AIRFLOW_API", json.dumps({"conn_type": "http", "host": host, **extra}))


def test_reads_as_the_connections_user(stand_in, monkeypatch):
    api = stand_in({"/auth/token": TOKEN, "/api/v2/eventLogs": EVENTS})
    connection(monkeypatch, api.url, login="reader", password="reader-secret")
    with AirflowApi("airflow_api") as client:
        assert client.get("eventLogs", params={"event": "state mismatch"}) == EVENTS[2]
    token, read = api.requests
    assert (token["method"], token["path"], token["body"]) == (
        "POST",
        "/auth/token",
        {"username": "reader", "password": "reader-secret"},
    )
    assert (read["method"], read["auth"]) == ("GET", "Bearer token-1")
    assert read["path"] == "/api/v2/eventLogs?event=state+mismatch"


def test_without_a_connection_the_anonymous_token_at_the_base_url(stand_in, monkeypatch):
    api = stand_in({"/auth/token": TOKEN, "/api/v2/eventLogs": EVENTS})
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", api.url)
    with AirflowApi("airflow_api_nowhere") as client:
        client.get("eventLogs")
    assert [(r["method"], r["path"]) for r in api.requests] == [("GET", "/auth/token"), ("GET", "/api/v2/eventLogs")]


def test_follows_no_redirect(stand_in, monkeypatch):
    elsewhere = stand_in({"/auth/token": TOKEN})
    api = stand_in({"/auth/token": (307, {"Location": f"{elsewhere.url}/auth/token"}, {})})
    connection(monkeypatch, api.url, login="reader", password="reader-secret")
    with pytest.raises(EarlierAnswerUnknown, match=r"answered 307 to POST /auth/token"), AirflowApi("airflow_api"):
        pass
    assert elsewhere.requests == []  # the password went to the configured API only


def test_a_server_error_is_tried_three_times_a_refusal_once(stand_in, monkeypatch):
    api = stand_in({"/auth/token": (503, {}, {})})
    connection(monkeypatch, api.url)
    with pytest.raises(EarlierAnswerUnknown, match="answered 503"), AirflowApi("airflow_api"):
        pass
    assert len(api.requests) == 3
    refusing = stand_in({"/auth/token": (403, {}, {})})
    connection(monkeypatch, refusing.url)
    with pytest.raises(EarlierAnswerUnknown, match="answered 403"), AirflowApi("airflow_api"):
        pass
    assert len(refusing.requests) == 1


def test_names_the_api_without_its_credentials(monkeypatch):
    port = unused_port()
    connection(monkeypatch, f"http://reader:url-secret@127.0.0.1:{port}")
    with pytest.raises(EarlierAnswerUnknown) as raised, AirflowApi("airflow_api"):
        pass
    assert str(raised.value) == f"Airflow's REST API at 127.0.0.1:{port} is unreachable (ConnectionError)"
    assert "url-secret" not in str(raised.value) and "reader" not in str(raised.value)


def test_without_a_connection_or_base_url_says_so(monkeypatch):
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "")
    with pytest.raises(EarlierAnswerUnknown, match="no connection 'airflow_api_nowhere' and no \\[api\\] base_url"):
        AirflowApi("airflow_api_nowhere")
