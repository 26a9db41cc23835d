"""An Airbyte whose answers trickle in: what a stalled proxy or a saturated link does to a client."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler
from typing import Any

from airflow_airbyte_connectors.testing.server import AirbyteEmulator, _Handler


class TricklingAirbyte(AirbyteEmulator):
    """The emulator, sending the answers of ``operations`` one byte every ``interval`` seconds (0: at once): a
    read timeout (which is per socket read) never fires. A write is applied before its answer starts.

    :param operations: e.g. ``["source_definitions/list"]``; other calls are answered at once.
    :param interval: seconds between two bytes.
    :param from_status_line: trickle from the first byte of the status line (else the status line and headers
        come at once and the body trickles).
    :param content_length: False: no ``Content-Length``; the body ends when the connection closes, as some
        proxies answer (a client cannot know the size before reading).
    """

    def __init__(
        self,
        *args: Any,
        operations: Iterable[str],
        interval: float,
        from_status_line: bool = False,
        content_length: bool = True,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.trickled_operations = frozenset(operations)
        self.interval = interval
        self.from_status_line = from_status_line
        self.content_length = content_length
        self._stopping = threading.Event()

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return type("Handler", (_TricklingHandler,), {"emulator": self})

    def stop(self) -> None:
        self._stopping.set()  # a trickling answer ends with the server
        super().stop()


class _TricklingHandler(_Handler):
    emulator: TricklingAirbyte

    def handle(self) -> None:
        try:
            super().handle()
        except ConnectionResetError:
            return  # the client dropped an answer it would not read (too large, too late)

    def _send(self, status: int, payload: bytes, extra_headers: dict[str, str]) -> None:
        emulator = self.emulator
        if self.path.removeprefix("/api/v1/") not in emulator.trickled_operations:
            return super()._send(status, payload, extra_headers)
        length = f"Content-Length: {len(payload)}\r\n" if emulator.content_length else ""
        extra = "".join(f"{name}: {value}\r\n" for name, value in extra_headers.items())
        head = (
            f"HTTP/1.1 {status} {self.responses[status][0]}\r\nContent-Type: application/json\r\n{length}{extra}"
            "Connection: close\r\n\r\n"
        ).encode()
        self.close_connection = True
        try:
            if not emulator.from_status_line:
                self.wfile.write(head)
                head = b""
            if not emulator.interval:
                self.wfile.write(head + payload)
                return
            for byte in head + payload:
                if emulator._stopping.wait(emulator.interval):
                    return
                self.wfile.write(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            return  # the client gave up
