"""HTTP calls with an overall deadline and answers with a size limit.

requests' timeout is per socket read: a server sending a byte every few seconds keeps a call open for ever, and
``response.json()`` reads whatever size arrives. These helpers bound both, for the Airbyte hook.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
import urllib3
from requests.structures import CaseInsensitiveDict

T = TypeVar("T")

_CHUNK = 64 * 1024
# The caller waits this long past the deadline: the call's own timeouts (connect, per read) fire first and
# say precisely what happened (e.g. a connect timeout: nothing was sent).
DEADLINE_GRACE = 1.0


class DeadlineError(requests.ReadTimeout):
    """The answer did not arrive in full by the deadline (a request may have been sent)."""


class TooLargeError(Exception):
    """The answer is larger than the limit; it was not read."""

    def __init__(self, limit: int, status: int | None = None):
        self.limit = limit
        self.status = status
        super().__init__(f"answer larger than {describe_size(limit)}; not read")


@dataclass(frozen=True)
class Answer:
    """A whole answer, read within its deadline and size limit."""

    url: str
    status: int
    reason: str
    headers: Mapping[str, str]
    body: bytes


def describe_size(size: int) -> str:
    mb = 1024 * 1024
    return f"{size // mb} MB" if size % mb == 0 else f"{size} bytes"


def call_by(deadline: float, call: Callable[[], T], late: Callable[[], BaseException]) -> T:
    """``call()`` in a thread of its own, waited for until ``deadline`` (``time.monotonic()``); after it,
    ``late()`` is raised and the thread is left to end by itself.

    A thread, because no timeout of requests covers a server that trickles the status line and headers."""
    outcome: dict[str, T] = {}
    failure: list[BaseException] = []
    finished = threading.Event()

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # handed to the waiting caller
            failure.append(exc)
        finally:
            finished.set()

    threading.Thread(target=run, name="bounded-http-call", daemon=True).start()
    if not finished.wait(max(deadline - time.monotonic(), 0.0) + DEADLINE_GRACE):
        raise late()
    if failure:
        raise failure[0]
    return outcome["value"]


def post_json(
    session: requests.Session,
    url: str,
    body: Any,
    *,
    headers: Mapping[str, str],
    timeout: float,
    deadline: float,
    connect_timeout: float,
    limit: int,
    error_limit: int,
    method: str = "POST",
) -> Answer:
    """POST ``body`` as JSON (with ``method="GET"``: GET, no body) and read the whole answer by ``deadline``
    (``time.monotonic()``): connecting, sending and every byte of the answer. A successful answer over ``limit``
    bytes: :class:`TooLargeError`; any other (3xx, 4xx, 5xx) is cut at ``error_limit`` bytes. Too late:
    :class:`DeadlineError`, which names ``timeout``."""

    def late() -> DeadlineError:
        return DeadlineError(f"{method} {url}: no complete answer within {timeout:g} s")

    def call() -> Answer:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise late()
        connect = min(connect_timeout, remaining)
        # No redirects: requests would read a redirect's body whole, and an API call is not meant to move.
        with session.request(
            method,
            url,
            json=body if method == "POST" else None,
            headers=headers,
            stream=True,
            timeout=(connect, remaining),
            allow_redirects=False,
        ) as response:
            failed = response.status_code >= 300
            try:
                content = read_body(
                    response, deadline=deadline, limit=error_limit if failed else limit, late=late, truncate=failed
                )
            except TooLargeError as exc:
                raise TooLargeError(exc.limit, response.status_code) from None
            headers_copy = CaseInsensitiveDict(response.headers)
            return Answer(url, response.status_code, response.reason or "", headers_copy, content)

    return call_by(deadline, call, late)


def read_body(
    response: requests.Response, *, deadline: float, limit: int, late: Callable[[], BaseException], truncate: bool
) -> bytes:
    """The body of a ``stream=True`` response, read as it arrives.

    More than ``limit`` bytes: :class:`TooLargeError`, or (``truncate``) the first ``limit`` bytes. Past
    ``deadline``: ``late()``. Cut off or undecodable: ``requests.ConnectionError``."""
    length = response.headers.get("Content-Length", "")
    if not truncate and length.isdigit() and int(length) > limit:
        raise TooLargeError(limit)
    body = bytearray()
    arriving = chunks(response)
    while True:
        try:
            chunk = next(arriving, None)
        except (urllib3.exceptions.ReadTimeoutError, requests.Timeout):
            raise requests.ReadTimeout(f"{response.url}: answer stalled") from None
        except (urllib3.exceptions.HTTPError, requests.RequestException) as exc:
            raise requests.ConnectionError(f"{response.url}: answer broken off ({type(exc).__name__})") from None
        if chunk is None:
            return bytes(body)
        body += chunk
        if len(body) > limit:
            if truncate:
                return bytes(body[:limit])
            raise TooLargeError(limit)
        if time.monotonic() > deadline:
            raise late()


def chunks(response: requests.Response) -> Iterator[bytes]:
    """``read1`` returns whatever has arrived, so the deadline is checked while a server trickles bytes;
    ``iter_content`` would wait for a whole chunk."""
    raw = response.raw
    if not hasattr(raw, "read1"):  # urllib3 < 2.3
        yield from response.iter_content(_CHUNK)
        return
    while chunk := raw.read1(_CHUNK, decode_content=True):
        yield chunk
