"""Read Airbyte's connector registry (``oss_registry.json`` or one entry of it) for its breaking changes, and
its platform-compatibility matrix (``platform-compatibility.json``) with the same bounded reader.

The only module that reads them. Plain ``requests``, no Airflow. A registry that cannot be read
never raises: the result is ``(None, [finding])`` with one short sentence, and the caller decides what an unknown
breaking-change list means (``versions.classify(..., None)`` treats major changes as breaking).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit
from urllib.request import url2pathname

from airflow_airbyte_connectors.clients.bounded_http import (
    ConnectFailed,
    DeadlineError,
    InvalidURL,
    RequestError,
    RetryPolicy,
    Timeout,
    TLSError,
    TooLargeError,
    new_session,
    send,
)
from airflow_airbyte_connectors.clients.connection_errors import describe_connection_error
from airflow_airbyte_connectors.core.compatibility import CompatibilityFormatError, CompatibilityMatrix, parse_matrix
from airflow_airbyte_connectors.core.files import NotRegularFileError, open_regular_file
from airflow_airbyte_connectors.core.releases import RegistryFormatError, RegistryReleases, parse_registry
from airflow_airbyte_connectors.core.urls import without_userinfo

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_MAX_BYTES = 32 * 1024 * 1024
# Exponential backoff between attempts (seconds: 0.5, 1, 2, ... up to 8); a Retry-After is honoured up to the
# same cap, so a read is bounded by attempts × timeout plus a few backoffs.
BACKOFF_MULTIPLIER = 0.5
BACKOFF_CAP = 8.0
_RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
# Unrolled and possessive: an unterminated 1 MB string is scanned once, without giving characters back.
_SSL_REASON = re.compile(r"\[SSL(?:: [A-Z0-9_]++)?+\][^'\"]{0,200}")
_JSON_STRING = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+"')


class _Unreadable(Exception):
    """The registry cannot be read; the message is the finding's reason."""


class _Transient(_Unreadable):
    """A failure another attempt may not have (connection, timeout, 429, 5xx)."""

    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.retry_after = retry_after


def read_connector_registry(
    location: str,
    *,
    timeout: float = 30.0,
    max_bytes: int = DEFAULT_MAX_BYTES,
    attempts: int = 3,
) -> tuple[RegistryReleases | None, list[str]]:
    """Read the registry at ``location`` (an http(s) URL, a ``file://`` URI or a path).

    Returns ``(releases, [])``, or ``(None, [finding])`` when it cannot be read, is larger than ``max_bytes``,
    is not JSON or is not a registry. Problems inside single entries are in ``releases.findings``.
    ``timeout`` is the longest one attempt may take, from connecting to the last byte of the answer (status line
    and headers included), so a slow or trickling server holds an attempt for at most ``timeout`` plus a second.
    A finding quotes nothing of a local file's content: it may be any file, a secret one too.
    """
    releases, problems = read_json_document(
        location, parse_registry, what="connector registry", timeout=timeout, max_bytes=max_bytes, attempts=attempts
    )
    if releases is not None:
        log.info(
            "Connector registry %s: %d connectors, %d findings",
            without_userinfo(location),
            releases.connector_count,
            len(releases.findings),
        )
    return releases, problems


def read_platform_compatibility(
    location: str,
    *,
    timeout: float = 30.0,
    max_bytes: int = DEFAULT_MAX_BYTES,
    attempts: int = 3,
) -> tuple[CompatibilityMatrix | None, list[str]]:
    """Read Airbyte's platform-compatibility matrix as :func:`read_connector_registry` reads the registry:
    ``(matrix, [])`` or ``(None, [finding])``."""
    return read_json_document(
        location,
        parse_matrix,
        what="platform compatibility",
        timeout=timeout,
        max_bytes=max_bytes,
        attempts=attempts,
    )


def read_json_document(
    location: str,
    parse: Callable[[object], T],
    *,
    what: str,
    timeout: float,
    max_bytes: int = DEFAULT_MAX_BYTES,
    attempts: int = 3,
) -> tuple[T | None, list[str]]:
    """The JSON document at ``location`` (URL, ``file://`` URI or path), bounded and retried as described in
    :func:`read_connector_registry`, through ``parse`` (which raises a format error for a document of the
    wrong shape); or ``(None, ["<what> <location>: <reason>"])``."""
    from_file = False
    try:
        raw, from_file = _read(location, timeout=timeout, max_bytes=max_bytes, attempts=max(1, attempts), what=what)
        document = _decode(raw, quote_content=not from_file)
        return parse(document), []
    except (_Unreadable, RegistryFormatError, CompatibilityFormatError) as exc:
        reason = getattr(exc, "reason", None) if from_file else None
        finding = f"{what} {without_userinfo(location)}: {reason or exc}"
        log.warning("%s", finding)
        return None, [finding]


def _read(location: str, *, timeout: float, max_bytes: int, attempts: int, what: str) -> tuple[bytes, bool]:
    """The bytes at ``location``, and whether they come from a local file."""
    try:
        parts = urlsplit(location)
    except ValueError:
        raise _Unreadable("not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        return _read_http(location, timeout=timeout, max_bytes=max_bytes, attempts=attempts, what=what), False
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise _Unreadable("a file:// URI with a host is not supported (use file:///path)")
        return _read_file(Path(url2pathname(parts.path)), max_bytes), True
    if "://" in location:
        raise _Unreadable(f"unsupported scheme {parts.scheme[:20]!r} (use http://, https://, file:// or a path)")
    return _read_file(Path(location), max_bytes), True


def _read_file(path: Path, max_bytes: int) -> bytes:
    try:
        with open_regular_file(path) as handle:
            raw = handle.read(max_bytes + 1)
    except NotRegularFileError as exc:
        raise _Unreadable(f"{exc.reason}, expected a JSON file") from None
    except FileNotFoundError:
        raise _Unreadable("file not found") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        raise _Unreadable(f"cannot read file: {getattr(exc, 'strerror', None) or exc}") from None
    if len(raw) > max_bytes:
        raise _Unreadable(_too_large(max_bytes))
    return raw


def _read_http(url: str, *, timeout: float, max_bytes: int, attempts: int, what: str) -> bytes:
    policy = RetryPolicy(
        lambda exc: isinstance(exc, _Transient),
        attempts=attempts,
        retry_after_cap=BACKOFF_CAP,
        backoff=BACKOFF_MULTIPLIER,
        what=f"{what} {without_userinfo(url)}",
    )
    try:
        return policy.run(_get_once, url, timeout, max_bytes)
    except _Transient as exc:
        raise _Unreadable(f"{exc} ({attempts} attempt{'s' if attempts != 1 else ''})") from None


def _get_once(url: str, timeout: float, max_bytes: int) -> bytes:
    try:
        with new_session(pool=1) as session:
            answer = send(session, "GET", url, timeout=timeout, limit=max_bytes, headers={"Accept": "application/json"})
    except TooLargeError:
        raise _Unreadable(_too_large(max_bytes)) from None
    except TLSError as exc:
        raise _Unreadable(f"TLS error: {_tls_reason(exc)}") from None
    except DeadlineError:
        raise _Transient(f"no complete answer within {timeout:g} s") from None
    except Timeout:
        raise _Transient(f"no answer within {timeout:g} s") from None
    except ConnectFailed as exc:
        raise _Transient(describe_connection_error(exc)) from None
    except InvalidURL:
        raise _Unreadable("not a valid URL") from None
    except (RequestError, ValueError) as exc:
        # Their text may quote the URL as given, password included.
        raise _Unreadable(f"request failed ({type(exc).__name__})") from None
    if answer.status in _RETRYABLE_STATUS:
        raise _Transient(f"HTTP {answer.status} {answer.reason}".rstrip(), _retry_after(answer.headers))
    if answer.status != 200:
        raise _Unreadable(f"HTTP {answer.status} {answer.reason}".rstrip())
    return answer.body


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After", "").strip()
    return float(value) if value.isdigit() else None


def _tls_reason(exc: Exception) -> str:
    """OpenSSL's reason (``[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: ...``), not the rest of
    the text, which may quote the URL as given."""
    found = _SSL_REASON.search(str(exc))
    return found.group()[:200] if found else type(exc).__name__


def _too_large(max_bytes: int) -> str:
    size = f"{max_bytes // (1024 * 1024)} MB" if max_bytes % (1024 * 1024) == 0 else f"{max_bytes} bytes"
    return f"larger than {size}; not read"


def _decode(raw: bytes, *, quote_content: bool) -> object:
    """The JSON document, or :class:`_Unreadable` saying what the bytes are instead. ``quote_content``: the
    reason may quote the start of the bytes (an HTTP answer, e.g. a login page); never a local file's."""
    if raw.startswith(b"\x1f\x8b"):
        raise _Unreadable("not JSON (gzip-compressed data)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        byte = f": {raw[exc.start : exc.start + 1]!r}" if quote_content else ""
        raise _Unreadable(f"not UTF-8 text (byte {exc.start}{byte})") from None
    if not text.strip():
        raise _Unreadable("empty answer, expected JSON")
    try:
        return json.loads(text)
    except RecursionError:
        raise _Unreadable("JSON nested too deeply") from None
    except json.JSONDecodeError as exc:
        stripped = text.strip()
        if stripped[0] not in "{[":
            opening = _opening(stripped) if quote_content else "neither { nor ["
            raise _Unreadable(f"not JSON (it starts with {opening})") from None
        if (still_open := _open_brackets(text)) > 0:
            raise _Unreadable(
                f"truncated JSON: it ends after {len(raw)} bytes with {still_open} object(s) or list(s) still open"
            ) from None
        raise _Unreadable(f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None


def _open_brackets(text: str) -> int:
    """How many ``{``/``[`` are left unclosed, outside complete strings (a cut-off string counts as open)."""
    outside = _JSON_STRING.sub("", text).split('"')[0]  # a quote left over opens a string cut off at the end
    return outside.count("{") + outside.count("[") - outside.count("}") - outside.count("]")


def _opening(text: str) -> str:
    """The first line of a non-JSON answer, short: ``'<!DOCTYPE html>' ...`` (an error or login page?)."""
    first = text.splitlines()[0]
    shown = first[:60]
    more = " ..." if len(shown) < len(text) else ""
    hint = ": an HTML page" if text.startswith("<") else ""
    return f"{shown!r}{more}{hint}"
