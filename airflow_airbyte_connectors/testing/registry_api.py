"""The connector registry the emulated Airbyte consults, served over HTTP too (``GET``): the whole
``oss_registry.json``, each connector's ``metadata/<dockerRepository>/latest/oss.json``, and the
platform-compatibility matrix its ``update`` enforces. The state is :mod:`.registry`."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from airflow_airbyte_connectors.testing.state import EmulatorState

REGISTRY_PATH = "/registry/oss_registry.json"
# Where connectors.airbyte.com serves the matrix (files/platform/v0/platform-compatibility.json).
PLATFORM_COMPATIBILITY_PATH = "/files/platform/v0/platform-compatibility.json"


class RegistryEndpoints(EmulatorState):
    compatibility_matrix: Mapping[str, Any] | None

    @property
    def registry_unreachable(self) -> bool:
        return self._registry.unreachable

    @registry_unreachable.setter
    def registry_unreachable(self, value: bool) -> None:
        self._registry.unreachable = value

    def set_registry_image_tag(self, docker_repository: str, tag: str) -> None:
        """The registry now says ``tag`` is the repository's latest version (as after a connector release)."""
        self._registry.set_image_tag(docker_repository, tag)

    @property
    def registry_url(self) -> str:
        """Where the registry document is served (the shape of connectors.airbyte.com's oss_registry.json)."""
        return f"{self.url}{REGISTRY_PATH}"

    @property
    def platform_compatibility_url(self) -> str:
        """Where the platform-compatibility matrix ``update`` enforces is served (none set: an empty matrix,
        under which every version is compatible)."""
        return f"{self.url}{PLATFORM_COMPATIBILITY_PATH}"

    def _platform_compatibility(self) -> tuple[int, Any]:
        matrix = self.compatibility_matrix
        return 200, copy.deepcopy(dict(matrix)) if matrix is not None else {"compatibleConnectors": []}

    def _registry_document(self) -> tuple[int, Any]:
        if self._registry.unreachable:
            return 503, {"message": "Service Unavailable"}
        if self._registry.document is None:
            return 404, {"message": "This emulator has no registry"}
        return 200, copy.deepcopy(dict(self._registry.document))

    def _registry_entry(self, docker_repository: str) -> tuple[int, Any]:
        if self._registry.unreachable:
            return 503, {"message": "Service Unavailable"}
        entry = self._registry.entry("source", docker_repository) or self._registry.entry(
            "destination", docker_repository
        )
        return (200, copy.deepcopy(dict(entry))) if entry else (404, {"message": "Not found"})
