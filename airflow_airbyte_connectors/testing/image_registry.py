"""An image registry stand-in (Docker Registry HTTP API v2, manifests and anonymous tokens only).

A real HTTP server on 127.0.0.1 for the image pre-flight's tests: it knows a set of ``(name, tag)``,
answers ``HEAD``/``GET /v2/<name>/manifests/<tag>`` with 200 or 404, and with ``require_token`` asks
for a Bearer token the way Docker Hub does (401 + ``WWW-Authenticate``, anonymous ``GET /token``).
Faults are attributes that can be switched while it runs: ``rate_limited``, ``server_error``,
``forbidden``, ``basic_auth``, ``delay``, ``token_delay``, ``trickle``,
``garbage_token``, ``token_status``, ``realm`` (a token service elsewhere) and ``redirect_to``
(manifest requests sent on to ``<redirect_to>/moved/v2/...``; this registry serves ``/moved/...`` too,
or with ``redirect_loop`` sends those on again).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from airflow_airbyte_connectors.testing.local_server import LocalServer

MANIFEST_LIST_TYPE = "application/vnd.docker.distribution.manifest.list.v2+json"
_MANIFEST_PATH = re.compile(r"\A/v2/(?P<name>.+)/manifests/(?P<reference>[^/]++)\Z")


@dataclass(frozen=True)
class RegistryRequest:
    method: str
    path: str  # without the query string
    status: int
    query: dict[str, str]
    authorized: bool  # an Authorization header was sent (its value is not kept)


class ImageRegistryEmulator(LocalServer):
    """A registry holding ``images`` (``"name:tag"`` strings or ``(name, tag)`` pairs), on 127.0.0.1.

    :param require_token: answer 401 with a Bearer challenge unless a token it issued for the
        repository's ``pull`` scope is presented; tokens come from ``GET /token``.
    :param private: repositories whose tokens grant nothing (still 401 with a token, like Docker Hub
        for a private or non-existent repository).
    :param service: the ``service`` named in the challenge.
    :param max_lifetime: the server stops itself after this many seconds.
    """

    thread_name = "image-registry"

    def __init__(
        self,
        images: Iterable[str | tuple[str, str]] = (),
        *,
        require_token: bool = False,
        private: Iterable[str] = (),
        service: str = "registry.test",
        rate_limited: bool = False,
        server_error: bool = False,
        forbidden: bool = False,
        basic_auth: bool = False,
        garbage_token: bool = False,
        token_status: int = 200,
        realm: str | None = None,
        redirect_to: str | None = None,
        redirect_loop: bool = False,
        delay: float = 0.0,
        token_delay: float = 0.0,
        trickle: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        max_lifetime: float | None = 120.0,
    ):
        self.require_token = require_token
        self.private = set(private)
        self.service = service
        # Switches tests flip while the server runs.
        self.rate_limited = rate_limited
        self.server_error = server_error
        self.forbidden = forbidden
        self.basic_auth = basic_auth  # wants credentials, as a private registry does: 401 with a Basic challenge
        self.garbage_token = garbage_token
        self.token_status = token_status  # anything but 200: the token service refuses, saying internal things
        self.realm = realm  # the challenge's token service; None: this registry's own /token
        self.redirect_to = redirect_to
        self.redirect_loop = redirect_loop
        self.delay = delay
        self.token_delay = token_delay
        # Seconds between bytes of an answer: each read is quick, the answer never ends (a client's
        # per-read timeout does not fire).
        self.trickle = trickle
        super().__init__(host=host, port=port, max_lifetime=max_lifetime)
        self._images: set[tuple[str, str]] = set()
        for image in images:
            self.add_image(*(image.rsplit(":", 1) if isinstance(image, str) else image))
        self._tokens: dict[str, str] = {}  # token -> scope
        self._requests: list[RegistryRequest] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    # -- life cycle ----------------------------------------------------------------------------

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return type("Handler", (_Handler,), {"registry": self})

    def start(self) -> ImageRegistryEmulator:
        self._stopping.clear()
        return super().start()

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers sleeping out a delay
        super().stop()

    # -- contents and inspection -----------------------------------------------------------------

    def add_image(self, name: str, tag: str) -> None:
        self._images.add((name, tag))

    def remove_image(self, name: str, tag: str) -> None:
        self._images.discard((name, tag))

    @property
    def requests(self) -> list[RegistryRequest]:
        with self._lock:
            return list(self._requests)

    def count(self, method: str, path_prefix: str = "/") -> int:
        """How many ``method`` requests had a path starting with ``path_prefix``."""
        return sum(1 for r in self.requests if r.method == method and r.path.startswith(path_prefix))

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    @property
    def tokens_issued(self) -> list[str]:
        """Every token handed out so far (tests scan logs and results for them)."""
        with self._lock:
            return list(self._tokens)

    # -- answers -----------------------------------------------------------------------------------

    def answer(
        self, method: str, path: str, query: dict[str, str], authorization: str
    ) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body) for one request; the body is dropped for HEAD by the handler."""
        if path == "/token" and method == "GET":
            return self._token(query)
        moved = path.startswith("/moved/")
        path = path.removeprefix("/moved")
        if self.redirect_to and (self.redirect_loop or not moved) and path.startswith("/v2/"):
            return 307, {"Location": f"{self.redirect_to}/moved{path}"}, b""
        match = _MANIFEST_PATH.fullmatch(path)
        image: tuple[str, str] | None  # (name, reference); None: the version check at /v2/
        if path in ("/v2", "/v2/"):
            image = None
        elif match and method in ("GET", "HEAD"):
            image = (match["name"], match["reference"])
        else:
            return 404, {"Content-Type": "application/json"}, _errors("NOT_FOUND", "no such endpoint")
        if self.rate_limited:
            return 429, {"Retry-After": "60"}, _errors("TOOMANYREQUESTS", "rate limit exceeded")
        if self.server_error:
            return 500, {}, _errors("UNKNOWN", "internal error")
        if self.forbidden:
            return 403, {}, _errors("DENIED", "requested access to the resource is denied")
        if self.basic_auth:
            return 401, {"WWW-Authenticate": 'Basic realm="registry"'}, _errors("UNAUTHORIZED", "credentials needed")
        name = image[0] if image else None
        if self.require_token and not self._authorized(authorization, name):
            scope = f',scope="repository:{name}:pull"' if name else ""
            challenge = f'Bearer realm="{self.realm or self.url + "/token"}",service="{self.service}"{scope}'
            return 401, {"WWW-Authenticate": challenge}, _errors("UNAUTHORIZED", "authentication required")
        if image is None:
            return 200, {"Docker-Distribution-API-Version": "registry/2.0"}, b"{}"
        if image not in self._images:
            return 404, {}, _errors("MANIFEST_UNKNOWN", "manifest unknown")
        body = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST_LIST_TYPE, "manifests": []}).encode()
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        return 200, {"Content-Type": MANIFEST_LIST_TYPE, "Docker-Content-Digest": digest}, body

    def record(self, request: RegistryRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    def _token(self, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if self.token_status != 200:
            return self.token_status, {}, b'{"details": "upstream 10.0.0.7:6379 refused"}'
        if self.garbage_token:
            # A captive portal or proxy error page instead of the token service.
            return 200, {"Content-Type": "text/html"}, b"<html><body>Service Unavailable</body></html>"
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = query.get("scope", "")
        answer = {"token": token, "access_token": token, "expires_in": 300}
        return 200, {"Content-Type": "application/json"}, json.dumps(answer).encode()

    def _authorized(self, authorization: str, name: str | None) -> bool:
        if not authorization.startswith("Bearer "):
            return False
        with self._lock:
            scope = self._tokens.get(authorization.removeprefix("Bearer "))
        if scope is None:
            return False
        if name is None:  # the /v2/ version check needs a token, any scope
            return True
        # A token grants pull on the repository it was asked for, and nothing on a private one.
        return name not in self.private and f"repository:{name}:pull" in scope.split(" ")


def _errors(code: str, message: str) -> bytes:
    return json.dumps({"errors": [{"code": code, "message": message}]}).encode()


class _Handler(BaseHTTPRequestHandler):
    registry: ImageRegistryEmulator
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without TCP_NODELAY the body waits for the client's delayed
    # ACK (about 40 ms a request on Linux), which no real server adds.
    disable_nagle_algorithm = True

    def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
        self._handle()

    def do_GET(self) -> None:  # noqa: N802
        self._handle()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET  # noqa: N815

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)  # not used, but read so the connection stays usable
        parts = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        authorization = self.headers.get("Authorization", "")
        status, headers, body = self.registry.answer(self.command, parts.path, query, authorization)
        # Recorded on arrival, so a client that gave up waiting is still counted.
        self.registry.record(RegistryRequest(self.command, parts.path, status, query, bool(authorization)))
        self.registry.sleep(self.registry.token_delay if parts.path == "/token" else self.registry.delay)
        try:
            if self.registry.trickle > 0:
                return self._trickle(status, headers)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client timed out and left

    def _trickle(self, status: int, headers: dict[str, str]) -> None:
        head = f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        head += "Content-Length: 0\r\nConnection: close\r\n\r\n"
        self.close_connection = True
        for byte in head.encode():
            if self.registry._stopping.is_set():
                return
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
            self.registry.sleep(self.registry.trickle)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep test output quiet
        return
