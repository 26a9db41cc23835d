"""URLs as the project shows and stores them: never with the ``user:password@`` a URL may carry."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

INVALID_URL = "(invalid URL)"
# What may stand after the last "@" of an authority: a host name or address, or an IPv6 address in brackets,
# and an optional port (checked by urlsplit's ``port``).
_HOST_AND_PORT = re.compile(r"\A(?:[^\[\]:/\\@\s]*+|\[[^\[\]/\\@\s]++\])(?::[0-9]*+)?+\Z")
_SCHEME = re.compile(r"\A[A-Za-z][A-Za-z0-9+.-]*+\Z")


def without_userinfo(url: str) -> str:
    """``url`` without its ``user[:password]@`` part, for logs, XCom, Asset events and error messages.

    Fails closed: a URL that cannot be read with certainty (an invalid port, unbalanced brackets, whitespace,
    a backslash, an ``@`` after a ``:`` outside the host part, ...) is shown as ``(invalid URL)``, never as
    given. A path (no ``://``) comes back unchanged unless it looks like ``user:password@host``.
    """
    scheme, separator, after = url.partition("://")
    if not separator:
        # A path, or a host without a scheme: only the latter has a ":" before an "@".
        return INVALID_URL if ":" in url.rpartition("@")[0] else url
    shown = _shown(url, scheme, after)
    return shown if shown is not None else INVALID_URL


def _shown(url: str, scheme: str, after: str) -> str | None:
    """The URL without userinfo, or None when what the userinfo is cannot be told for sure."""
    if not _SCHEME.match(scheme) or any(char.isspace() or char == "\\" or ord(char) < 32 for char in url):
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number from 0 to 65535
    except ValueError:
        return None
    host_and_port = parts.netloc.rpartition("@")[2]
    if not _HOST_AND_PORT.match(host_and_port):
        return None
    # An "@" past the host part after a ":" may end a password holding "/", "?" or "#" (user:pa/ss@host).
    if "@" in after[len(parts.netloc) :] and ":" in after.rpartition("@")[0]:
        return None
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=host_and_port))


def instance_url(url: str) -> str:
    """One spelling per server: lowercase scheme and host, the port always written, no trailing slash, no
    userinfo, query or fragment. ``http://Airbyte:8000/`` and ``http://airbyte:8000`` are one Airbyte.

    Names an Airbyte that does not tell its deployment id (the pending creates' key); an IP address and a host
    name of one server still differ: only the deployment id tells those apart.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:  # IPv6
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:  # not a port number: keep what was written, without userinfo
        return without_userinfo(url.strip()).rstrip("/").lower()
    port = port or {"http": 80, "https": 443}.get(scheme)
    netloc = f"{host}:{port}" if port else host
    return urlunsplit((scheme, netloc, parts.path.rstrip("/"), "", ""))
