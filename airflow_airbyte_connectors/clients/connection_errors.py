"""A few words for why a connection failed, for the registry hooks' findings and the CLI's one-line errors:
the exception's own text is full of URLs and nested object reprs."""

from __future__ import annotations

# Lower-case fragments of requests'/urllib3's messages, and what to say for each (first match wins).
_REASONS = (
    ("timed out", "timed out"),
    ("refused", "connection refused"),
    ("name or service not known", "host name not resolved"),
    ("nodename nor servname", "host name not resolved"),
    ("temporary failure in name resolution", "host name not resolved"),
    ("failed to resolve", "host name not resolved"),
    ("network is unreachable", "network unreachable"),
    ("reset by peer", "connection reset"),
    ("connection reset", "connection reset"),
    ("connection broken", "connection broken during the answer"),
    ("answer broken off", "connection broken during the answer"),  # bounded_http.read_body
    ("remotedisconnected", "connection closed without an answer"),
    ("connection aborted", "connection closed without an answer"),
)


def describe_connection_error(error: BaseException) -> str:
    text = str(error).lower()
    for fragment, reason in _REASONS:
        if fragment in text:
            return reason
    return f"connection failed ({type(error).__name__})"
