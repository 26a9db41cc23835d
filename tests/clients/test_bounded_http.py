"""The one HTTP layer: nothing talks HTTP past it, and its deadline, size cap, redirect policy and retry policy
hold, over real HTTP to the registry stand-in."""

from __future__ import annotations

import ast
import time
from pathlib import Path

import pytest

import airflow_airbyte_connectors
from airflow_airbyte_connectors.clients.bounded_http import (
    NO_REDIRECTS,
    SAME_ORIGIN,
    ConnectFailed,
    DeadlineError,
    RedirectRefusedError,
    Redirects,
    RetryPolicy,
    TooLargeError,
    new_session,
    send,
)
from airflow_airbyte_connectors.hooks.airbyte_errors import is_retryable_read, was_never_sent
from airflow_airbyte_connectors.testing import ImageRegistryEmulator
from tests.support import unused_port

PACKAGE = Path(airflow_airbyte_connectors.__file__).parent
DAGS = PACKAGE.parent / "dags"
LAYER = PACKAGE / "clients" / "bounded_http.py"
# HTTP client libraries, and urllib.request's ways to send a request.
HTTP_MODULES = ("requests", "urllib3", "http.client", "httpx", "aiohttp")
URLLIB_SENDERS = {"urlopen", "Request", "build_opener", "OpenerDirector"}
# tenacity's ways to repeat a call on a failure: only RetryPolicy uses them.
RETRY_ON_FAILURE = {"retry_if_exception", "retry_if_exception_type", "retry_if_not_exception_type", "retry"}
REPO = "airbyte/source-x"
TAGS = f"/v2/{REPO}/tags/list"


def runtime_modules() -> list[Path]:
    """Every module that runs in Airflow or the CLI; ``testing/`` is the stand-ins' side (servers, seeds)."""
    modules = [path for path in PACKAGE.rglob("*.py") if "testing" not in path.relative_to(PACKAGE).parts]
    return sorted(modules + list(DAGS.rglob("*.py")))


def sends_http(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name.startswith(HTTP_MODULES)]
            found += [alias.name for alias in node.names if alias.name == "urllib.request"]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.startswith(HTTP_MODULES):
                found.append(node.module)
            if node.module == "urllib.request":
                found += [f"urllib.request.{a.name}" for a in node.names if a.name in URLLIB_SENDERS]
    return found


def retries_on_failure(tree: ast.AST) -> list[str]:
    return [
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "tenacity"
        if node.attr in RETRY_ON_FAILURE
    ]


class TestOneLayer:
    def test_only_the_layer_imports_an_http_client(self):
        bypassing = {
            str(path.relative_to(PACKAGE.parent)): found
            for path in runtime_modules()
            if path != LAYER and (found := sends_http(ast.parse(path.read_text(encoding="utf-8"))))
        }
        assert bypassing == {}, "send requests through clients/bounded_http.send"

    def test_only_the_layer_repeats_a_failed_call(self):
        repeating = {
            str(path.relative_to(PACKAGE.parent)): found
            for path in runtime_modules()
            if path != LAYER and (found := retries_on_failure(ast.parse(path.read_text(encoding="utf-8"))))
        }
        assert repeating == {}, "repeat calls through clients/bounded_http.RetryPolicy"

    def test_the_checks_see_a_bypass(self):
        # The checks themselves: what a module talking HTTP on its own, or retrying on its own, looks like.
        assert sends_http(ast.parse("import requests\nrequests.get('http://x')")) == ["requests"]
        assert sends_http(ast.parse("from urllib.request import urlopen")) == ["urllib.request.urlopen"]
        assert sends_http(ast.parse("from urllib.request import url2pathname")) == []
        assert retries_on_failure(ast.parse("@tenacity.retry(retry=tenacity.retry_if_exception(f))\ndef g(): ...")) == [
            "retry",
            "retry_if_exception",
        ]


@pytest.fixture
def registry():
    with ImageRegistryEmulator([(REPO, f"1.{minor}.0") for minor in range(50)], max_lifetime=60) as r:
        yield r


@pytest.fixture
def session():
    with new_session(pool=2) as s:
        yield s


class TestSend:
    def test_whole_answer(self, registry, session):
        answer = send(session, "GET", f"{registry.url}{TAGS}", timeout=5, limit=64 * 1024)
        assert (answer.status, answer.url) == (200, f"{registry.url}{TAGS}")
        assert b'"1.49.0"' in answer.body

    def test_trickling_answer_is_cut_at_the_deadline(self, registry, session):
        registry.trickle = 0.1  # a byte every 0.1 s: no per-read timeout ever fires
        started = time.monotonic()
        with pytest.raises(DeadlineError, match="no complete answer within 0.5 s"):
            send(session, "GET", f"{registry.url}{TAGS}", timeout=0.5, limit=64 * 1024)
        assert time.monotonic() - started < 0.5 * 6  # a guard: the deadline and the 1 s grace

    def test_answer_over_the_limit_is_not_read(self, registry, session):
        with pytest.raises(TooLargeError, match="answer larger than 100 bytes; not read") as raised:
            send(session, "GET", f"{registry.url}{TAGS}", timeout=5, limit=100)
        assert raised.value.status == 200

    def test_error_answer_is_cut_at_its_own_limit(self, registry, session):
        answer = send(session, "GET", f"{registry.url}/v2/nope/tags/list", timeout=5, limit=100, error_limit=7)
        assert (answer.status, len(answer.body)) == (404, 7)
        assert send(session, "GET", f"{registry.url}/v2/nope/tags/list", timeout=5, limit=100).body == b""

    def test_head_reads_no_body(self, registry, session):
        answer = send(session, "HEAD", f"{registry.url}/v2/{REPO}/manifests/1.0.0", timeout=5, limit=1)
        assert (answer.status, answer.body) == (200, b"")

    def test_refused_connection(self, session):
        with pytest.raises(ConnectFailed):
            send(session, "GET", f"http://127.0.0.1:{unused_port()}/x", timeout=2, limit=100)


def as_localhost(url: str) -> str:
    return url.replace("://127.0.0.1:", "://localhost:")


class TestRedirects:
    def test_none_followed_by_default(self, registry, session):
        registry.redirect_to = registry.url
        answer = send(session, "GET", f"{registry.url}{TAGS}", timeout=5, limit=100, redirects=NO_REDIRECTS)
        assert answer.status == 307 and f"/moved{TAGS}" in answer.headers["Location"]
        assert [r.path for r in registry.requests] == [TAGS]

    def test_same_origin_followed_with_the_headers(self, registry, session):
        registry.redirect_to = registry.url
        headers = {"Authorization": "Bearer t"}
        answer = send(
            session, "GET", f"{registry.url}{TAGS}", timeout=5, limit=64 * 1024, headers=headers, redirects=SAME_ORIGIN
        )
        assert (answer.status, answer.url) == (200, f"{registry.url}/moved{TAGS}")
        assert [(r.path, r.authorized) for r in registry.requests] == [(TAGS, True), (f"/moved{TAGS}", True)]

    def test_another_port_of_the_same_host_is_another_origin(self, registry, session):
        with ImageRegistryEmulator(max_lifetime=60) as elsewhere:
            registry.redirect_to = elsewhere.url
            with pytest.raises(RedirectRefusedError) as raised:
                send(session, "GET", f"{registry.url}{TAGS}", timeout=5, limit=100, redirects=SAME_ORIGIN)
            assert elsewhere.requests == []
        assert (raised.value.kind, raised.value.same_host) == ("other_origin", True)

    def test_a_named_host_gets_no_authorization(self, registry, session):
        registry.redirect_to = as_localhost(registry.url)
        policy = Redirects(hops=3, other_hosts=frozenset({"localhost"}))
        headers = {"Authorization": "Bearer t"}
        answer = send(
            session, "GET", f"{registry.url}{TAGS}", timeout=5, limit=64 * 1024, headers=headers, redirects=policy
        )
        assert answer.status == 200
        assert [(r.path, r.authorized) for r in registry.requests] == [(TAGS, True), (f"/moved{TAGS}", False)]

    def test_a_few_hops_only(self, registry, session):
        registry.redirect_to, registry.redirect_loop = registry.url, True
        with pytest.raises(RedirectRefusedError) as raised:
            send(session, "GET", f"{registry.url}{TAGS}", timeout=5, limit=100, redirects=SAME_ORIGIN)
        assert raised.value.kind == "too_many"
        assert len(registry.requests) == SAME_ORIGIN.hops + 1


class TestRetryPolicy:
    """Reads are repeated on transient failures; a write only when it provably never left."""

    @staticmethod
    def tries(policy: RetryPolicy, failure: BaseException) -> int:
        count = 0

        def call() -> None:
            nonlocal count
            count += 1
            raise failure

        with pytest.raises(type(failure)):
            policy.run(call)
        return count

    def test_a_read_is_repeated_after_a_lost_answer(self):
        policy = RetryPolicy(is_retryable_read, attempts=3, backoff=0.001)
        assert self.tries(policy, DeadlineError("late")) == 3

    def test_a_write_whose_answer_was_lost_is_not_repeated(self):
        policy = RetryPolicy(was_never_sent, attempts=3, backoff=0.001)
        assert self.tries(policy, DeadlineError("late")) == 1

    def test_a_write_that_never_connected_is_repeated(self, session):
        policy = RetryPolicy(was_never_sent, attempts=3, backoff=0.001)
        try:
            send(session, "POST", f"http://127.0.0.1:{unused_port()}/x", timeout=2, limit=100, json={})
        except ConnectFailed as refused:
            failure = refused
        assert self.tries(policy, failure) == 3

    def test_budget_stops_the_repeats(self):
        policy = RetryPolicy(is_retryable_read, attempts=10, budget=0.0, backoff=0.001)
        assert self.tries(policy, DeadlineError("late")) == 1
