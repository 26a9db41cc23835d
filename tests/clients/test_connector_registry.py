"""Reading the connector registry over real HTTP (a loopback server), from file:// URIs and from paths:
answers, retries, bounds, and every failure as one finding, never an exception."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler

import pytest

from airflow_airbyte_connectors.clients import connector_registry
from airflow_airbyte_connectors.clients.connector_registry import read_connector_registry
from airflow_airbyte_connectors.testing.local_server import LocalServer
from airflow_airbyte_connectors.testing.registry_api import REGISTRY_PATH
from airflow_airbyte_connectors.testing.trickle import TricklingAirbyte
from tests.support import SHARED_AIRBYTE, require_airbyte_files, unused_port

REGISTRY_FILE = SHARED_AIRBYTE / "oss-registry-releases-b8390e04.json"
MB = 1024 * 1024


@dataclass
class Answer:
    status: int = 200
    body: bytes | Iterable[bytes] = b"{}"
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),)
    delay: float = 0.0  # before the status line
    chunk_delay: float = 0.0  # between body chunks
    length: bool = True  # send Content-Length (only for a bytes body)


class RegistryServer(LocalServer):
    """Plays connectors.airbyte.com: each request takes the next scripted answer; the last one repeats."""

    thread_name = "registry-stand-in"

    def __init__(self, *answers: Answer):
        super().__init__(max_lifetime=60)
        self.answers = list(answers) or [Answer()]
        self.requests = 0
        self._lock = threading.Lock()

    def next_answer(self) -> Answer:
        with self._lock:
            self.requests += 1
            return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                answer = server.next_answer()
                time.sleep(answer.delay)
                try:
                    self.send_response(answer.status)
                    for name, value in answer.headers:
                        self.send_header(name, value)
                    chunks = [answer.body] if isinstance(answer.body, bytes) else answer.body
                    if isinstance(answer.body, bytes) and answer.length:
                        self.send_header("Content-Length", str(len(answer.body)))
                    self.end_headers()
                    for chunk in chunks:
                        self.wfile.write(chunk)
                        self.wfile.flush()
                        time.sleep(answer.chunk_delay)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped reading, as it should for an oversized or slow answer

            def log_message(self, *args: object) -> None:
                pass

        return Handler


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch):
    monkeypatch.setattr(connector_registry, "BACKOFF_MULTIPLIER", 0.01)


@pytest.fixture
def serve():
    servers: list[RegistryServer] = []

    def start(*answers: Answer) -> RegistryServer:
        server = RegistryServer(*answers).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def registry_bytes() -> bytes:
    return REGISTRY_FILE.read_bytes()


def only_finding(result) -> str:
    releases, findings = result
    assert releases is None
    (finding,) = findings
    assert "\n" not in finding and "Traceback" not in finding
    return finding


class TestHttp:
    def test_200(self, serve):
        server = serve(Answer(body=registry_bytes()))
        releases, findings = read_connector_registry(server.url + "/registries/v0/oss_registry.json", timeout=5)
        assert findings == []
        assert releases.connector_count == 647
        assert [c.version for c in releases.breaking_changes("source", None, "airbyte/source-github")] == ["2.0.0"]

    def test_chunked_without_length(self, serve):
        body = registry_bytes()
        server = serve(Answer(body=(body[i : i + 65536] for i in range(0, len(body), 65536))))
        releases, findings = read_connector_registry(server.url, timeout=5)
        assert findings == [] and releases.connector_count == 647

    def test_credentials_in_the_url_are_not_shown(self, serve, caplog):
        server = serve(Answer(status=503, body=b""))
        url = server.url.replace("http://", "http://mirror-user:s3cret-pw@")
        finding = only_finding(read_connector_registry(url, timeout=5, attempts=2))
        assert "s3cret-pw" not in finding and "s3cret-pw" not in caplog.text
        assert "mirror-user" not in finding and "mirror-user" not in caplog.text
        assert finding.startswith(f"connector registry {server.url}: HTTP 503")

    @pytest.mark.parametrize(
        "url",
        [
            "http://mirror-user:s3cret-pw@127.0.0.1:99999/x.json",
            "http://mirror-user:s3cret-pw@127.0.0.1:port/x.json",
            "http://mirror-user:s3cret-pw@[::1/x.json",
            "http://mirror-user:pa/s3cret-pw@127.0.0.1:1/x.json",
            "http://mirror-user:s3cret-pw\uff03@127.0.0.1:1/x.json",
            "http://mirror-user:s3cret-pw@bad host/x.json",
            "http://mirror-user:s3cret-pw@127.0.0.1:1/x\n.json",
        ],
        ids=["port-out-of-range", "port-not-a-number", "ipv6-unclosed", "slash", "fullwidth-hash", "space", "newline"],
    )
    def test_credentials_in_a_url_that_cannot_be_parsed_are_not_shown(self, caplog, url):
        finding = only_finding(read_connector_registry(url, timeout=2, attempts=2))
        assert "s3cret-pw" not in finding and "s3cret-pw" not in caplog.text
        assert "mirror-user" not in finding and "mirror-user" not in caplog.text

    def test_tls_error_says_why_without_the_url(self, serve):
        server = serve(Answer())
        url = server.url.replace("http://", "https://mirror-user:s3cret-pw@")
        finding = only_finding(read_connector_registry(url, timeout=5, attempts=1))
        # A TLS handshake with a plain-HTTP server: OpenSSL's reason, not the exception's text with the URL.
        prefix = f"connector registry {server.url.replace('http://', 'https://')}: TLS error: [SSL: "
        assert finding.startswith(prefix) and "WRONG_VERSION_NUMBER" in finding, finding
        assert "s3cret-pw" not in finding and "mirror-user" not in finding

    def test_404_is_not_retried(self, serve):
        server = serve(Answer(status=404, body=b"Not Found"))
        finding = only_finding(read_connector_registry(server.url + "/x.json", timeout=5))
        assert finding == f"connector registry {server.url}/x.json: HTTP 404 Not Found"
        assert server.requests == 1

    def test_500_then_200_retries(self, serve):
        server = serve(Answer(status=500, body=b"oops"), Answer(body=registry_bytes()))
        releases, findings = read_connector_registry(server.url, timeout=5)
        assert findings == [] and releases.connector_count == 647
        assert server.requests == 2

    def test_429_every_time(self, serve):
        server = serve(Answer(status=429, body=b""))
        finding = only_finding(read_connector_registry(server.url, timeout=5, attempts=3))
        assert finding.endswith(": HTTP 429 Too Many Requests (3 attempts)")
        assert server.requests == 3

    def test_429_retry_after_then_200(self, serve):
        server = serve(Answer(status=429, body=b"", headers=(("Retry-After", "0"),)), Answer(body=registry_bytes()))
        releases, findings = read_connector_registry(server.url, timeout=5)
        assert findings == [] and server.requests == 2

    def test_503_every_time(self, serve):
        server = serve(Answer(status=503, body=b""))
        finding = only_finding(read_connector_registry(server.url, timeout=5, attempts=2))
        assert "HTTP 503" in finding and "(2 attempts)" in finding

    def test_slow_answer_is_bounded(self, serve):
        server = serve(Answer(delay=3.0, body=registry_bytes()))
        started = time.monotonic()
        finding = only_finding(read_connector_registry(server.url, timeout=0.3, attempts=2))
        assert time.monotonic() - started < 2.0
        assert finding.endswith("no answer within 0.3 s (2 attempts)")

    def test_trickling_answer_is_bounded(self, serve):
        # Each byte arrives within the socket timeout, but the whole answer never does in time.
        server = serve(Answer(body=(b" " for _ in range(100)), chunk_delay=0.05))
        started = time.monotonic()
        finding = only_finding(read_connector_registry(server.url, timeout=0.5, attempts=1))
        assert time.monotonic() - started < 2.0
        assert finding.endswith("no complete answer within 0.5 s (1 attempt)")

    def test_trickling_status_line_and_headers_are_bounded(self, emulator):
        # A byte every 0.1 s from the status line on: each socket read is within the timeout, the call is not.
        emu = emulator(
            registry="builtin",
            emulator_class=TricklingAirbyte,
            operations=[REGISTRY_PATH],
            interval=0.1,
            from_status_line=True,
        )
        started = time.monotonic()
        finding = only_finding(read_connector_registry(emu.registry_url, timeout=0.5, attempts=1))
        assert time.monotonic() - started < 3.0
        assert finding == f"connector registry {emu.registry_url}: no complete answer within 0.5 s (1 attempt)"

    def test_connection_refused(self):
        url = f"http://127.0.0.1:{unused_port()}/oss_registry.json"
        finding = only_finding(read_connector_registry(url, timeout=2))
        assert finding == f"connector registry {url}: connection refused (3 attempts)"

    def test_50_mb_body_stops_at_the_limit(self, serve):
        # Generated at run time, streamed without Content-Length: the client must stop reading by itself.
        block = b" " * MB
        server = serve(Answer(body=(block for _ in range(50))))
        finding = only_finding(read_connector_registry(server.url, timeout=10))
        assert finding.endswith(": larger than 32 MB; not read")

    def test_content_length_over_the_limit_refused_before_reading(self, serve):
        server = serve(Answer(body=b" " * 2048))
        finding = only_finding(read_connector_registry(server.url, timeout=5, max_bytes=1024))
        assert finding.endswith(": larger than 1024 bytes; not read")

    @pytest.mark.parametrize(
        ("body", "text"),
        [
            (
                b"<!DOCTYPE html>\n<html><body>Sign in</body></html>",
                "not JSON (it starts with '<!DOCTYPE html>' ...: an HTML page)",
            ),
            (b'{"sources": [{"dockerRepository": "airbyte/source-github", "rele', "truncated JSON"),
            (b'{"sources": []} x', "not valid JSON: Extra data at line 1, column 17"),
            (b'{"sources": [{"name": "cut {[ here', "truncated JSON: it ends after 34 bytes with 3 object(s)"),
            (b"", "empty answer, expected JSON"),
            (b"\xff\xfe{\x00}\x00", "not UTF-8 text"),
            (gzip.compress(b"{}"), "not JSON (gzip-compressed data)"),
            (b"[" * 100_000, "JSON nested too deeply"),
            (b'{"sources": 3}', "not a connector registry: 'sources' must be a list, got int"),
            (b"[]", "not a connector registry: expected an object"),
        ],
        ids=[
            "html",
            "truncated",
            "extra-data",
            "truncated-in-string",
            "empty",
            "utf-16",
            "gzip",
            "deep",
            "sources-int",
            "list",
        ],
    )
    def test_bad_body(self, serve, body, text):
        server = serve(Answer(body=body))
        finding = only_finding(read_connector_registry(server.url, timeout=5))
        assert text in finding
        assert server.requests == 1  # a bad body is not retried

    def test_gzip_content_encoding(self, serve):
        server = serve(Answer(body=gzip.compress(registry_bytes()), headers=(("Content-Encoding", "gzip"),)))
        releases, findings = read_connector_registry(server.url, timeout=5)
        assert findings == [] and releases.connector_count == 647

    def test_gzip_bomb_stops_at_the_limit(self, serve):
        # 64 MB of spaces compress to about 64 KB; the limit applies to what is decompressed.
        bomb = gzip.compress(b" " * (64 * MB), compresslevel=9)
        server = serve(Answer(body=bomb, headers=(("Content-Encoding", "gzip"),)))
        assert only_finding(read_connector_registry(server.url, timeout=10)).endswith("larger than 32 MB; not read")

    def test_answer_cut_short_is_retried(self, serve):
        body = registry_bytes()
        short = Answer(body=body[:1000], headers=(("Content-Length", str(len(body))),), length=False)
        server = serve(short, Answer(body=body))
        releases, findings = read_connector_registry(server.url, timeout=5)
        assert findings == [] and releases.connector_count == 647
        assert server.requests == 2

    def test_answer_cut_short_every_time(self, serve):
        short = Answer(body=b'{"sources": [', headers=(("Content-Length", "5000"),), length=False)
        server = serve(short)
        finding = only_finding(read_connector_registry(server.url, timeout=5, attempts=2))
        assert finding.endswith(": connection broken during the answer (2 attempts)")

    def test_entry_findings_stay_with_the_releases(self, serve):
        document = {"sources": [{"dockerRepository": "a/b", "releases": {"breakingChanges": {"v3": {}}}}]}
        server = serve(Answer(body=json.dumps(document).encode()))
        releases, findings = read_connector_registry(server.url, timeout=5)
        assert findings == []
        assert releases.findings == (
            "source a/b (sources[0]): releases.breakingChanges['v3']: the key is not a version X.Y.Z; skipped",
        )


class TestFiles:
    @pytest.fixture(autouse=True)
    def _airbyte_files(self):
        require_airbyte_files()

    def test_plain_path(self):
        releases, findings = read_connector_registry(str(REGISTRY_FILE))
        assert findings == [] and releases.connector_count == 647

    def test_file_uri(self):
        releases, findings = read_connector_registry(REGISTRY_FILE.resolve().as_uri())
        assert findings == [] and releases.connector_count == 647

    def test_metadata_form_file(self):
        releases, findings = read_connector_registry(str(SHARED_AIRBYTE / "registry-releases.json"))
        assert findings == [] and releases.connector_count == 64

    def test_missing(self, tmp_path):
        missing = tmp_path / "nope.json"
        assert only_finding(read_connector_registry(str(missing))) == f"connector registry {missing}: file not found"

    def test_directory(self, tmp_path):
        assert only_finding(read_connector_registry(str(tmp_path))).endswith("is a directory, expected a JSON file")

    @pytest.mark.parametrize("as_uri", [False, True], ids=["path", "file-uri"])
    def test_fifo_is_refused_unopened(self, tmp_path, as_uri):
        # Opening a FIFO blocks until a writer comes; none comes here. A child process, so a hang fails.
        pipe = tmp_path / "oss_registry.json"
        os.mkfifo(pipe)
        location = pipe.as_uri() if as_uri else str(pipe)
        finding = read_in_child(location)
        assert finding == f"connector registry {location}: is a FIFO (named pipe), expected a JSON file"

    def test_large_file(self, tmp_path):
        big = tmp_path / "big.json"
        with big.open("wb") as handle:
            handle.truncate(50 * MB)  # sparse: nothing is written, the reader still sees 50 MB
        assert only_finding(read_connector_registry(str(big))).endswith("larger than 32 MB; not read")

    def test_truncated_file(self, tmp_path):
        cut = tmp_path / "cut.json"
        cut.write_bytes(registry_bytes()[:100_000])
        assert "truncated JSON" in only_finding(read_connector_registry(cut.as_uri()))

    @pytest.mark.parametrize(
        "content",
        [
            b"root:x:0:0:root:/root:/bin/bash\nAWS_SECRET_ACCESS_KEY=fake-secret-7f3a9c\n",
            b"  fake-secret-7f3a9c  ",
            b'{"fake-secret-7f3a9c": "fake-secret-7f3a9c"}',
            b"fake-secret-7f3a9c \xff\xfe",
            b"\xfffake-secret-7f3a9c",
        ],
        ids=["passwd-and-env", "bare-word", "json-not-a-registry", "not-utf8", "first-byte-not-utf8"],
    )
    def test_content_of_a_file_that_is_not_a_registry_is_not_quoted(self, tmp_path, caplog, content):
        secret = tmp_path / "secrets.env"
        secret.write_bytes(content)
        finding = only_finding(read_connector_registry(str(secret)))
        assert "fake-secret" not in finding and "fake-secret" not in caplog.text
        assert "root:" not in finding and "\\x" not in finding
        assert finding.startswith(f"connector registry {secret}: not ")

    @pytest.mark.parametrize(
        ("location", "text"),
        [
            ("ftp://example.com/oss_registry.json", "unsupported scheme 'ftp'"),
            ("file://otherhost/oss_registry.json", "a file:// URI with a host is not supported"),
        ],
        ids=["ftp", "file-host"],
    )
    def test_unsupported_locations(self, location, text):
        assert text in only_finding(read_connector_registry(location))


def read_in_child(location: str) -> str:
    """The one finding of reading ``location`` in a child process that must end within 20 s."""
    code = (
        "import sys; from airflow_airbyte_connectors.clients.connector_registry import read_connector_registry; "
        "releases, findings = read_connector_registry(sys.argv[1]); print(findings[0])"
    )
    done = subprocess.run([sys.executable, "-c", code, location], capture_output=True, text=True, timeout=20)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()
