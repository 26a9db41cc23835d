"""An image registry stand-in (Docker Registry HTTP API v2: tags, manifests, blobs and anonymous tokens).

A real HTTP server on 127.0.0.1 for the image clients' tests: it holds images (:mod:`.image_content`: an OCI
index per tag with linux/arm64 and linux/amd64 manifests and config blobs with ``created``), answers
``HEAD``/``GET /v2/<name>/manifests/<tag or digest>``, ``GET /v2/<name>/blobs/<digest>`` and
``GET /v2/<name>/tags/list`` (``n``/``last`` pagination, ``n`` capped at ``page_cap``, a ``Link`` header to the
next page: relative, or absolute on ``link_base``), and with ``require_token`` asks for a Bearer token the way
Docker Hub does (401 + ``WWW-Authenticate``, anonymous ``GET /token``). ``blob_redirect`` sends blob reads on
to ``<blob_redirect>/cdn/blobs/<digest>`` (served here too, without a token), as Docker Hub sends them to a CDN.
Faults are attributes that can be switched while it runs: ``rate_limited`` (or ``rate_limited_reads``, for
some kinds of read only), ``server_error``,
``forbidden``, ``basic_auth``, ``delay``, ``token_delay``, ``trickle``,
``garbage_token``, ``token_status``, ``realm`` (a token service elsewhere) and ``redirect_to``
(``/v2/`` requests sent on to ``<redirect_to>/moved/v2/...`` once they have their token; this registry serves
``/moved/...`` too, or with ``redirect_loop`` sends those on again), ``corrupt_blobs``, ``endless_tags`` (every
tag-list page about that many bytes of release tags, with a link to one more page: a hostile registry; with
``endless_pages`` the list ends after that many pages).
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from airflow_airbyte_connectors.testing.image_content import DEFAULT_CREATED, Created, ImageContent, digest_of
from airflow_airbyte_connectors.testing.local_server import LocalServer
from airflow_airbyte_connectors.testing.seeds import BUILTIN, SeedError

_MANIFEST_PATH = re.compile(r"\A/v2/(?P<name>.+)/manifests/(?P<reference>[^/]++)\Z")
_TAGS_PATH = re.compile(r"\A/v2/(?P<name>.+)/tags/list\Z")
_BLOB_PATH = re.compile(r"\A/v2/(?P<name>.+)/blobs/(?P<digest>sha256:[0-9a-f]{64})\Z")
_CDN_PATH = re.compile(r"\A/cdn/blobs/(?P<digest>sha256:[0-9a-f]{64})\Z")


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
        rate_limited_reads: Iterable[str] = (),
        server_error: bool = False,
        forbidden: bool = False,
        basic_auth: bool = False,
        garbage_token: bool = False,
        token_status: int = 200,
        realm: str | None = None,
        redirect_to: str | None = None,
        redirect_loop: bool = False,
        page_cap: int | None = None,
        link_base: str | None = None,
        blob_redirect: str | None = None,
        corrupt_blobs: bool = False,
        endless_tags: int = 0,
        endless_pages: int | None = None,
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
        self.rate_limited_reads = frozenset(rate_limited_reads)  # only these: "manifest", "blob", "tags"
        self.server_error = server_error
        self.forbidden = forbidden
        self.basic_auth = basic_auth  # wants credentials, as a private registry does: 401 with a Basic challenge
        self.garbage_token = garbage_token
        self.token_status = token_status  # anything but 200: the token service refuses, saying internal things
        self.realm = realm  # the challenge's token service; None: this registry's own /token
        self.redirect_to = redirect_to
        self.redirect_loop = redirect_loop
        self.page_cap = page_cap  # tags/list answers at most this many tags a page, whatever n asks
        self.link_base = link_base  # None: relative Link headers; else absolute ones on this origin
        self.blob_redirect = blob_redirect
        self.corrupt_blobs = corrupt_blobs  # blobs served with a byte more than their digest says
        self.endless_tags = endless_tags
        self.endless_pages = endless_pages
        self._endless_page: bytes = b""
        self.delay = delay
        self.token_delay = token_delay
        # Seconds between bytes of an answer: each read is quick, the answer never ends (a client's
        # per-read timeout does not fire).
        self.trickle = trickle
        super().__init__(host=host, port=port, max_lifetime=max_lifetime)
        self.content = ImageContent()
        for image in images:
            self.add_image(*(image.rsplit(":", 1) if isinstance(image, str) else image))
        self._tokens: dict[str, str] = {}  # token -> scope
        self._spent: list[str] = []  # tokens expired
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

    def add_image(self, name: str, tag: str, created: Created = DEFAULT_CREATED, *, multi_arch: bool = True) -> None:
        """Publish ``name:tag`` (see :meth:`.ImageContent.add` for ``created`` and ``multi_arch``)."""
        self.content.add(name, tag, created, multi_arch=multi_arch)

    def remove_image(self, name: str, tag: str) -> None:
        self.content.remove(name, tag)

    def seed_history(self, history: Mapping[str, Any], repositories: Iterable[str] | None = None) -> int:
        """Publish a release history's versions with their dates; returns how many tags."""
        return self.content.seed_history(history, repositories)

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

    def expire_tokens(self) -> None:
        """Every token issued so far stops being accepted (as Docker Hub's do after five minutes)."""
        with self._lock:
            self._spent += list(self._tokens)
            self._tokens.clear()

    @property
    def tokens_issued(self) -> list[str]:
        """Every token handed out so far (tests scan logs and results for them)."""
        with self._lock:
            return list(self._tokens) + list(self._spent)

    # -- answers -----------------------------------------------------------------------------------

    def answer(
        self, method: str, path: str, query: dict[str, str], authorization: str
    ) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body) for one request; the body is dropped for HEAD by the handler."""
        if path == "/token" and method == "GET":
            return self._token(query)
        moved = path.startswith("/moved/")
        path = path.removeprefix("/moved")
        route = _route(path, method)
        # Sent on after the token check, as a registry that moves content does: the request carries its token.
        challenged = self.require_token and route is not None and not self._authorized(authorization, route[1])
        if self.redirect_to and (self.redirect_loop or not moved) and path.startswith("/v2/") and not challenged:
            return 307, {"Location": f"{self.redirect_to}/moved{path}"}, b""
        if (cdn := _CDN_PATH.fullmatch(path)) and method == "GET":
            blob = self.content.any_blob(cdn["digest"])
            return (200, {"Content-Type": "application/octet-stream"}, blob) if blob else _not_found("BLOB_UNKNOWN")
        if route is None:
            return 404, {"Content-Type": "application/json"}, _errors("NOT_FOUND", "no such endpoint")
        if self.rate_limited or route[0] in self.rate_limited_reads:
            return 429, {"Retry-After": "60"}, _errors("TOOMANYREQUESTS", "rate limit exceeded")
        if self.server_error:
            return 500, {}, _errors("UNKNOWN", "internal error")
        if self.forbidden:
            return 403, {}, _errors("DENIED", "requested access to the resource is denied")
        if self.basic_auth:
            return 401, {"WWW-Authenticate": 'Basic realm="registry"'}, _errors("UNAUTHORIZED", "credentials needed")
        kind, name, reference = route
        if self.require_token and not self._authorized(authorization, name):
            scope = f',scope="repository:{name}:pull"' if name else ""
            challenge = f'Bearer realm="{self.realm or self.url + "/token"}",service="{self.service}"{scope}'
            return 401, {"WWW-Authenticate": challenge}, _errors("UNAUTHORIZED", "authentication required")
        if kind == "version":
            return 200, {"Docker-Distribution-API-Version": "registry/2.0"}, b"{}"
        assert name is not None
        if kind == "tags":
            return self._tags_page(name, query)
        if kind == "blob":
            if self.blob_redirect and self.content.blob(name, reference):
                return 307, {"Location": f"{self.blob_redirect}/cdn/blobs/{reference}"}, b""
            blob = self.content.blob(name, reference)
            blob = blob + b" " if blob and self.corrupt_blobs else blob
            return (200, {"Content-Type": "application/octet-stream"}, blob) if blob else _not_found("BLOB_UNKNOWN")
        found = self.content.manifest(name, reference)
        if found is None:
            return _not_found("MANIFEST_UNKNOWN")
        media_type, body = found
        return 200, {"Content-Type": media_type, "Docker-Content-Digest": digest_of(body)}, body

    def _tags_page(self, name: str, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if self.endless_tags:
            page = int(query.get("page") or 0) + 1
            headers = {"Content-Type": "application/json"}
            if self.endless_pages is None or page < self.endless_pages:
                headers["Link"] = f'</v2/{name}/tags/list?page={page}>; rel="next"'
            return 200, headers, self._endless(name)
        if not self.content.has_repository(name):
            return 404, {}, _errors("NAME_UNKNOWN", "repository name not known to registry")
        asked = query.get("n", "")
        if asked and not asked.isdigit():
            return 400, {}, _errors("PAGINATION_NUMBER_INVALID", "invalid number of results requested")
        n = int(asked) if asked else None
        if self.page_cap is not None:
            n = self.page_cap if n is None else min(n, self.page_cap)
        tags, more = self.content.page(name, n, query.get("last") or None)
        headers = {"Content-Type": "application/json"}
        if more and tags:
            target = f"/v2/{name}/tags/list?" + urlencode({"n": n if n is not None else len(tags), "last": tags[-1]})
            headers["Link"] = f'<{(self.link_base or "") + target}>; rel="next"'
        return 200, headers, json.dumps({"name": name, "tags": tags}).encode()

    def _endless(self, name: str) -> bytes:
        """About ``endless_tags`` bytes of distinct release tags (``"0.1.234", ``: about 11 bytes each), made once."""
        with self._lock:
            if len(self._endless_page) < self.endless_tags:
                count = max(1, self.endless_tags // 11)
                tags = [f"{i // 1000000}.{i // 1000 % 1000}.{i % 1000}" for i in range(count)]
                self._endless_page = json.dumps({"name": name, "tags": tags}).encode()
            return self._endless_page

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


def load_history(source: str | Path) -> dict[str, Any]:
    """A release history to publish (``{"connectors": [{"dockerRepository", "versions": [{"version", "date"}]}]}``,
    the shape of ``connector-version-history.json``): ``"builtin"`` (the example basic_config's connectors,
    shipped with the package) or a JSON file's path. Raises :class:`.SeedError` naming the file and the reason."""
    if source == BUILTIN:
        text, where = resources.files(__package__).joinpath("seed_image_history.json").read_text("utf-8"), BUILTIN
    else:
        where = str(source)
        try:
            text = Path(source).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SeedError(
                f"history {where}: cannot read the file ({getattr(exc, 'strerror', None) or exc})"
            ) from None
    try:
        history: dict[str, Any] = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SeedError(f"history {where}: not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    connectors = history.get("connectors") if isinstance(history, dict) else None
    if not isinstance(connectors, list) or not all(
        isinstance(c, dict) and c.get("dockerRepository") and isinstance(c.get("versions"), list) for c in connectors
    ):
        raise SeedError(f"history {where}: expected connectors, each with dockerRepository and a list of versions")
    return history


def _errors(code: str, message: str) -> bytes:
    return json.dumps({"errors": [{"code": code, "message": message}]}).encode()


def _not_found(code: str) -> tuple[int, dict[str, str], bytes]:
    return 404, {"Content-Type": "application/json"}, _errors(code, code.lower().replace("_", " "))


def _route(path: str, method: str) -> tuple[str, str | None, str] | None:
    """(kind, repository name, reference or digest) of a registry API path; None: no such endpoint."""
    if path in ("/v2", "/v2/"):
        return "version", None, ""
    if method not in ("GET", "HEAD"):
        return None
    if match := _MANIFEST_PATH.fullmatch(path):
        return "manifest", match["name"], match["reference"]
    if match := _TAGS_PATH.fullmatch(path):
        return "tags", match["name"], ""
    if match := _BLOB_PATH.fullmatch(path):
        return "blob", match["name"], match["digest"]
    return None


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
