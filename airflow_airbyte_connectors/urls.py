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
