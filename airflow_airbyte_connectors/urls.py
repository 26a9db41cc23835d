"""URLs as the project shows and stores them: never with the ``user:password@`` a URL may carry."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def without_userinfo(url: str) -> str:
    """``url`` without its ``user[:password]@`` part; anything that is not such a URL comes back unchanged.

    For logs, XCom, Asset URIs and error messages: credentials in a URL are still credentials.
    """
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced "[" in the host: show nothing of it rather than guess
        return "(invalid URL)" if "@" in url else url
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


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
