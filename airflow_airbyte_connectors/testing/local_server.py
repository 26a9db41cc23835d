"""The life cycle the test servers share: a threaded HTTP server on loopback that stops by itself."""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that goes away mid-request (its deadline passed, it closed a kept-alive connection) is the
        client's business: no traceback on stderr. Anything else is printed as ``socketserver`` does."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class LocalServer:
    """Base of the emulators: ``start``/``stop``, a context manager, ``url``, and a ``max_lifetime`` after
    which the server stops itself, so a killed test cannot leave it running."""

    thread_name = "local-server"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, max_lifetime: float | None = None):
        self.max_lifetime = max_lifetime
        self._host = host
        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self._timer: threading.Timer | None = None

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        """The request handler, bound to this server's state."""
        raise NotImplementedError

    def start(self) -> Self:
        self._server = _Server((self._host, self._port), self.handler_class())
        threading.Thread(target=self._server.serve_forever, args=(0.05,), name=self.thread_name, daemon=True).start()
        if self.max_lifetime:
            self._timer = threading.Timer(self.max_lifetime, self.stop)
            self._timer.daemon = True
            self._timer.start()
        return self

    def stop(self) -> None:
        if self._timer:
            self._timer.cancel()
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server, f"{type(self).__name__} is not running"
        host, port = self._server.server_address[:2]
        assert isinstance(host, str), host  # typed for every socket family; an IP server's host is a str
        return f"http://{host}:{port}"
