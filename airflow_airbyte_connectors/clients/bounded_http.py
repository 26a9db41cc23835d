"""The one HTTP layer: every request the package sends goes through :func:`send`, every repeat through a
:class:`RetryPolicy`, and no other module imports ``requests`` (tests/clients/test_bounded_http.py checks both).

requests' timeout is per socket read: a server sending a byte every few seconds keeps a call open for ever, and
``response.json()`` reads whatever size arrives. :func:`send` bounds both (one deadline for connecting, sending,
the status line, the headers and every byte of the answer; a size cap) and follows a redirect only as its
:class:`Redirects` policy says: a request's credentials go nowhere the caller did not name.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import requests
import tenacity
import urllib3
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict

log = logging.getLogger(__name__)
T = TypeVar("T")

# requests' failures under the names callers tell apart; they import nothing of requests themselves.
Session = requests.Session
RequestError = requests.RequestException
ConnectFailed = requests.ConnectionError  # includes the connect timeout and TLS errors
ConnectTimeout = requests.ConnectTimeout  # nothing was sent
Timeout = requests.Timeout
TLSError = requests.exceptions.SSLError
InvalidURL = requests.exceptions.InvalidURL

_CHUNK = 64 * 1024
# The caller waits this long past the deadline: the call's own timeouts (connect, per read) fire first and
# say precisely what happened (e.g. a connect timeout: nothing was sent).
DEADLINE_GRACE = 1.0
_REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})
_PORTS = {"http": 80, "https": 443}


class DeadlineError(requests.ReadTimeout):
    """The answer did not arrive in full by the deadline (a request may have been sent)."""


class TooLargeError(Exception):
    """The answer is larger than the limit; it was not read."""

    def __init__(self, limit: int, status: int | None = None):
        self.limit = limit
        self.status = status
        super().__init__(f"answer larger than {describe_size(limit)}; not read")


class RedirectRefusedError(Exception):
    """A redirect :class:`Redirects` does not allow: ``kind`` is ``other_origin`` (``host`` names where, at most
    100 characters; ``same_host``: another port or scheme of the same host), ``unusable`` (user info, another
    scheme, https to http) or ``too_many``."""

    def __init__(self, kind: str, host: str = "", same_host: bool = False):
        self.kind = kind
        self.host = host
        self.same_host = same_host
        super().__init__(f"redirect not followed ({kind})")


@dataclass(frozen=True)
class Redirects:
    """Which redirects :func:`send` follows, at most ``hops`` of them (0: none; the 3xx is the answer).

    A redirect is followed with the request's headers only to the first URL's origin (scheme, host and port);
    to a host of ``other_hosts`` without ``Authorization``; anywhere else :class:`RedirectRefusedError`."""

    hops: int = 0
    other_hosts: frozenset[str] = frozenset()


NO_REDIRECTS = Redirects()
SAME_ORIGIN = Redirects(hops=3)


@dataclass(frozen=True)
class Answer:
    """A whole answer, read within its deadline and size limit. ``url``: where it came from (after redirects)."""

    url: str
    status: int
    reason: str
    headers: Mapping[str, str]
    body: bytes


def new_session(*, pool: int = 10, headers: Mapping[str, str] | None = None) -> requests.Session:
    """A session whose connection pool holds ``pool`` connections per host (one per thread that shares it)."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=pool, pool_maxsize=pool)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    if headers:
        session.headers.update(headers)
    return session


def send(
    session: requests.Session,
    method: str,
    url: str,
    *,
    timeout: float,
    limit: int,
    deadline: float | None = None,
    error_limit: int = 0,
    connect_timeout: float | None = None,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, Any] | None = None,
    json: Any = None,
    redirects: Redirects = NO_REDIRECTS,
) -> Answer:
    """One request and its whole answer by ``deadline`` (``time.monotonic()``; default: ``timeout`` from now).

    A 2xx answer over ``limit`` bytes: :class:`TooLargeError`; any other is cut at ``error_limit`` bytes (0: not
    read). Too late: :class:`DeadlineError`, which names ``timeout``. Nothing sent yet: :data:`ConnectTimeout` or a
    :data:`ConnectFailed` for a refused connection; anything else may have reached the server."""
    end = time.monotonic() + timeout if deadline is None else deadline

    def late() -> DeadlineError:
        return DeadlineError(f"{method} {url}: no complete answer within {timeout:g} s")

    def call() -> Answer:
        try:
            return follow()
        except urllib3.exceptions.TimeoutError:
            raise requests.ReadTimeout(f"{method} {url}: no answer in time") from None
        except urllib3.exceptions.HTTPError as exc:  # what requests did not wrap; its text may quote the URL
            raise requests.ConnectionError(type(exc).__name__) from None

    def follow() -> Answer:
        current, sent_headers, query = url, dict(headers or {}), params
        for _ in range(redirects.hops + 1):
            remaining = end - time.monotonic()
            if remaining <= 0:
                raise late()
            connect = min(connect_timeout or remaining, remaining)
            # Redirects are never requests': it would read a redirect's body whole and take the headers anywhere.
            with session.request(
                method,
                current,
                json=json,
                params=query,
                headers=sent_headers,
                stream=True,
                timeout=(connect, remaining),
                allow_redirects=False,
            ) as response:
                location = response.headers.get("Location")
                if redirects.hops and response.status_code in _REDIRECT_STATUS and location:
                    target = urljoin(current, location)
                    sent_headers = _redirect_headers(url, current, target, redirects, sent_headers)
                    current, query = target, None  # the Location carries its own query
                    continue
                return _answer(response, current, end, limit, error_limit, late, head=method == "HEAD")
        raise RedirectRefusedError("too_many")

    return call_by(end, call, late)


def _redirect_headers(
    first: str, current: str, target: str, redirects: Redirects, headers: dict[str, str]
) -> dict[str, str]:
    """The headers a redirect to ``target`` is followed with, or :class:`RedirectRefusedError`."""
    there = urlsplit(target)
    try:
        host = (there.hostname or "").lower()
    except ValueError:
        host = ""
    if "@" in there.netloc or there.scheme not in ("http", "https"):
        raise RedirectRefusedError("unusable", host[:100])
    if (urlsplit(current).scheme, there.scheme) == ("https", "http"):
        raise RedirectRefusedError("unusable", host[:100])
    if same_origin(first, target):
        return headers
    if host in redirects.other_hosts:
        return {key: value for key, value in headers.items() if key.lower() != "authorization"}
    same_host = host == (urlsplit(first).hostname or "").lower()
    raise RedirectRefusedError("other_origin", (there.netloc if same_host else host)[:100], same_host)


def _answer(
    response: requests.Response,
    url: str,
    deadline: float,
    limit: int,
    error_limit: int,
    late: Callable[[], BaseException],
    *,
    head: bool,
) -> Answer:
    failed = not 200 <= response.status_code < 300
    content = b""
    if not head and (not failed or error_limit > 0):
        try:
            content = read_body(
                response, deadline=deadline, limit=error_limit if failed else limit, late=late, truncate=failed
            )
        except TooLargeError as exc:
            raise TooLargeError(exc.limit, response.status_code) from None
    headers = CaseInsensitiveDict(response.headers)
    return Answer(url, response.status_code, response.reason or "", headers, content)


def same_origin(url: str, target: str) -> bool:
    """``target`` has ``url``'s scheme, host and port, and no user info: a request's credentials may go there."""
    here, there = urlsplit(url), urlsplit(target)
    try:
        origin = (there.scheme, (there.hostname or "").lower(), there.port or _PORTS.get(there.scheme))
        return "@" not in there.netloc and origin == (
            here.scheme,
            (here.hostname or "").lower(),
            here.port or _PORTS.get(here.scheme),
        )
    except ValueError:  # a port that is not a number
        return False


@dataclass(frozen=True)
class RetryPolicy:
    """When a call is repeated: ``retry(exception)`` says whether a failure may be; at most ``attempts`` tries,
    and none started after ``budget`` seconds (None: no such bound). Between tries exponential backoff
    (``backoff`` seconds, twice that, ... up to 8 s), or the ``retry_after`` seconds a failure carries, up to
    ``retry_after_cap``.

    Reads retry transient failures; a write retries only what provably never reached the server."""

    retry: Callable[[BaseException], bool]
    attempts: int = 3
    budget: float | None = None
    retry_after_cap: float = 60.0
    backoff: float = 0.5
    what: str = "HTTP call"

    def run(self, call: Callable[..., T], *args: Any) -> T:
        stop: tenacity.stop.stop_base = tenacity.stop_after_attempt(max(1, self.attempts))
        if self.budget is not None:
            stop = stop | tenacity.stop_before_delay(self.budget)
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(self.retry),
            stop=stop,
            wait=self._wait,
            before_sleep=self._log,
            reraise=True,
        )
        return retrying(call, *args)

    def _wait(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return min(float(retry_after), self.retry_after_cap)
        return tenacity.wait_exponential(multiplier=self.backoff, max=8)(state)

    def _log(self, state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning("%s failed (attempt %d of %d), retrying: %s", self.what, state.attempt_number, self.attempts, exc)


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
