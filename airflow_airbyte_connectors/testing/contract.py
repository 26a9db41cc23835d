"""Check HTTP exchanges against Airbyte's published OpenAPI spec (openapi-core).

The emulator runs every request it receives and every answer it gives through a :class:`ContractValidator`,
so a test fails when the hook sends, or the emulator answers, something Airbyte's contract does not allow.
"""

from __future__ import annotations

import copy
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

# Statuses Airbyte really sends that its spec rarely declares (see the server's exception mappers), and
# what the proxy or ingress in front of it answers (502/503/504): their bodies are checked to be JSON, not
# against a schema.
UNDECLARED_ERROR_STATUSES = frozenset({400, 401, 403, 405, 409, 415, 429, 500, 502, 503, 504})
_HOST = "http://airbyte.contract"


class ContractViolation(AssertionError):
    """An exchange that Airbyte's OpenAPI spec does not allow."""


class ContractValidator:
    """Validate requests and responses of one API against its spec.

    :param spec_path: an OpenAPI file (``config-api.yaml`` or ``public-api.yaml``).
    :param base_path: the path the spec's paths hang under on the server (``/api`` for the config API's
        ``/v1/...`` paths, ``/api/public/v1`` for the public API).
    :param fallback_spec_path: the spec for resources an excerpt does not cover. Default: for a per-release
        excerpt (a file without ``openapi:``), the ``config-api.yaml`` beside it, if there is one.
    """

    def __init__(
        self,
        spec_path: str | os.PathLike[str],
        *,
        base_path: str = "/api",
        fallback_spec_path: str | os.PathLike[str] | None = None,
    ):
        self.base_path = base_path.rstrip("/")
        self._api = _load(str(Path(spec_path).resolve()), self.base_path)
        self._covered = _resources(str(Path(spec_path).resolve()))
        if fallback_spec_path is None and self._covered is not None:
            sibling = Path(spec_path).resolve().with_name("config-api.yaml")
            fallback_spec_path = sibling if sibling.is_file() else None
        self._fallback = _load(str(Path(fallback_spec_path).resolve()), self.base_path) if fallback_spec_path else None

    def check(
        self,
        *,
        method: str,
        path: str,
        request_body: Any,
        status: int,
        response_body: Any,
        request_headers: dict[str, str] | None = None,
    ) -> list[str]:
        """Every violation of one exchange, as messages naming the operation and the field; [] if none."""
        from openapi_core.templating.paths.exceptions import PathNotFound
        from openapi_core.templating.responses.exceptions import ResponseNotFound
        from openapi_core.testing import MockRequest, MockResponse

        data = None if request_body is None else json.dumps(request_body).encode()
        request = MockRequest(_HOST, method.lower(), path, data=data, headers=request_headers or {})
        operation = f"{method.upper()} {path}"
        api = self._api_for(path)
        violations = []
        for error in api.iter_request_errors(request):
            if isinstance(error, PathNotFound):
                # A server of this version answering 404 to a path its spec lacks is right (clients
                # probe for endpoints that older or newer versions lack); anything else is not.
                return [] if status == 404 else [f"{operation}: no such operation in the spec"]
            violations += [f"{operation} request: {detail}" for detail in _details(error)]

        payload = b"" if response_body is None else json.dumps(response_body).encode()
        response = MockResponse(payload, status_code=status, content_type="application/json" if payload else "")
        for error in api.iter_response_errors(request, response):
            if isinstance(error, ResponseNotFound) and status in UNDECLARED_ERROR_STATUSES:
                continue
            violations += [f"{operation} response {status}: {detail}" for detail in _details(error)]
        return violations

    def _api_for(self, path: str) -> Any:
        """The excerpts of 0.63/1.6 hold only the definition endpoints, yet sources, connections and actor
        definition versions exist there since 0.63: an excerpt speaks only for the resources (first path
        segment after ``/v1/``) it has, and the main spec for the others. A path neither has stays unknown."""
        resource = path.removeprefix(self.base_path).removeprefix("/v1/").split("/", 1)[0]
        if self._fallback is not None and self._covered is not None and resource not in self._covered:
            return self._fallback
        return self._api

    def assert_ok(self, **exchange: Any) -> None:
        violations = self.check(**exchange)
        if violations:
            raise ContractViolation("\n".join(violations))


@lru_cache(maxsize=8)
def _resources(spec_path: str) -> frozenset[str] | None:
    """The resources a per-release excerpt covers; None for a whole spec (it has ``openapi:``)."""
    spec = _read(spec_path)
    if "openapi" in spec:
        return None
    return frozenset(path.removeprefix("/v1/").split("/", 1)[0] for path in spec.get("paths", {}))


@lru_cache(maxsize=8)
def _read(spec_path: str) -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(spec_path, encoding="utf-8") as handle:
        spec: dict[str, Any] = yaml.load(handle, Loader=loader)  # noqa: S506 - a SafeLoader
        return spec


@lru_cache(maxsize=4)
def _load(spec_path: str, base_path: str) -> Any:
    """Parse a spec once per process (the config API's is 715 KB)."""
    from openapi_core import Config, OpenAPI

    spec = copy.deepcopy(_read(spec_path))
    # Per-release excerpts carry only paths and components.
    spec.setdefault("openapi", "3.0.0")
    spec.setdefault("info", {"title": Path(spec_path).name, "version": "excerpt"})
    spec["servers"] = [{"url": f"{_HOST}{base_path}"}]
    # The published spec has a `default: null` on a non-nullable string, which the strict
    # spec validator rejects; validating exchanges does not need it.
    # AirbyteStream requires `json_schema` but declares only `jsonSchema` with additionalProperties false, so
    # nothing can satisfy it; Airbyte's generated server ignores `required` and sends `jsonSchema`.
    stream = spec.get("components", {}).get("schemas", {}).get("AirbyteStream", {})
    if "json_schema" in stream.get("required", []) and "json_schema" not in stream.get("properties", {}):
        stream["required"] = ["jsonSchema" if name == "json_schema" else name for name in stream["required"]]
    return OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None))


def _details(error: Exception) -> list[str]:
    """Field-level reasons from openapi-core's nested exceptions."""
    cause = error.__cause__
    schema_errors = getattr(cause, "schema_errors", None)
    if not schema_errors:
        return [f"{type(error).__name__}: {cause or error}"]
    details = []
    for schema_error in schema_errors:
        where = ".".join(str(part) for part in schema_error.absolute_path)
        details.append(f"{where or 'body'}: {schema_error.message}")
    return details
