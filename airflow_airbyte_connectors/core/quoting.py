"""How a config value appears in an error message: quoted, bounded, with its YAML type named.

Pure module, shared by configs.py and policies.py.
"""

from __future__ import annotations

from typing import Any

# Values are quoted in errors up to this many characters: a 1 MB value must not become a 1 MB message.
MAX_QUOTED_CHARS = 80


def quote(value: Any) -> str:
    """``repr(value)`` for an error message, cut to about MAX_QUOTED_CHARS: ``'https://aaa…' (1048576 characters)``.

    repr escapes control and invisible characters, so what is quoted cannot reorder or hide the message.
    """
    if not isinstance(value, str):
        text = repr(value)
        return text if len(text) <= MAX_QUOTED_CHARS else f"{text[:MAX_QUOTED_CHARS]}… ({len(text)} characters)"
    head = value[:MAX_QUOTED_CHARS]
    while len(shown := repr(head)) > MAX_QUOTED_CHARS + 2:  # escapes (\\u202e) make repr longer than the text
        head = head[: len(head) * (MAX_QUOTED_CHARS + 2) // len(shown)]
    if len(head) == len(value):
        return shown
    return f"{shown[:-1]}…{shown[-1]} ({len(value)} characters)"


def key_text(key: Any) -> str:
    """A mapping key as part of a path: as written when it is short plain text, else quoted."""
    plain = isinstance(key, str) and len(key) <= MAX_QUOTED_CHARS and key.isprintable()
    return key if plain else quote(key)


def type_name(value: Any) -> str:
    """What YAML made of a value, in a config author's words (``a number``, ``nothing (null)``)."""
    names = {
        dict: "a mapping",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        type(None): "nothing (null)",
    }
    return names.get(type(value), type(value).__name__)
