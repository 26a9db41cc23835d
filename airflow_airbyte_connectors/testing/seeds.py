"""Where the emulator's definitions come from: the registry shipped with this package, a file or a URL.

A registry is Airbyte's connector-registry shape, ``{"sources": [...], "destinations": [...]}``, each
entry with at least the definition ID, ``name``, ``dockerRepository`` and ``dockerImageTag``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

BUILTIN = "builtin"
# A registry fetched over HTTP is read at most this far: Airbyte's full registry (with specs) is tens of MB.
MAX_REGISTRY_BYTES = 256 * 1024 * 1024
FETCH_TIMEOUT = 30.0
_REQUIRED = ("name", "dockerRepository", "dockerImageTag")


class SeedError(ValueError):
    """A seed that cannot be used; the message is one line naming the seed and the reason."""


def builtin_registry() -> dict[str, Any]:
    """The small registry shipped with the package: a few dozen well-known connectors."""
    text = resources.files(__package__).joinpath("seed_registry.json").read_text(encoding="utf-8")
    return _check(json.loads(text), "builtin")


def load_registry(seed: str | Path | Mapping[str, Any], *, timeout: float = FETCH_TIMEOUT) -> Mapping[str, Any]:
    """``seed`` as a registry: a mapping as is, ``"builtin"``, an ``http(s)://`` URL or a JSON file path.

    Raises :class:`SeedError` when the seed cannot be read or is not a registry.
    """
    if isinstance(seed, Mapping):
        return seed  # callers that build their own registry get it untouched, as before
    if isinstance(seed, str) and seed == BUILTIN:
        return builtin_registry()
    if isinstance(seed, str) and seed.lower().startswith(("http://", "https://")):
        return _check(_parse(_fetch(seed, timeout), seed), seed)
    path = Path(seed)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SeedError(f"seed {path}: cannot read the file ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise SeedError(f"seed {path}: not UTF-8 text") from None
    return _check(_parse(text, str(path)), str(path))


def _fetch(url: str, timeout: float) -> str:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            body: bytes = answer.read(MAX_REGISTRY_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise SeedError(f"seed {url}: the server answered HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise SeedError(f"seed {url}: cannot fetch ({exc.reason})") from None
    except (OSError, ValueError) as exc:  # timeouts while reading, malformed URLs
        raise SeedError(f"seed {url}: cannot fetch ({exc or type(exc).__name__})") from None
    if len(body) > MAX_REGISTRY_BYTES:
        raise SeedError(f"seed {url}: larger than {MAX_REGISTRY_BYTES // (1024 * 1024)} MB")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise SeedError(f"seed {url}: not UTF-8 text") from None


def _parse(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SeedError(f"seed {where}: not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None


def _check(registry: Any, where: str) -> dict[str, Any]:
    # Checked up front so a bad seed fails with its place instead of a KeyError deep in the emulator.
    if not isinstance(registry, dict) or not ({"sources", "destinations"} & set(registry)):
        raise SeedError(f"seed {where}: not a connector registry (expected a JSON object with sources/destinations)")
    for kind in ("source", "destination"):
        entries = registry.get(f"{kind}s", [])
        if not isinstance(entries, list):
            raise SeedError(f"seed {where}: {kind}s must be a list")
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise SeedError(f"seed {where}: {kind}s[{index}] is not an object")
            if entry.get("tombstone"):
                continue
            missing = [key for key in (f"{kind}DefinitionId", *_REQUIRED) if not entry.get(key)]
            if missing:
                raise SeedError(f"seed {where}: {kind}s[{index}] lacks {', '.join(missing)}")
    return registry
