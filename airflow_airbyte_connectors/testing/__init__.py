"""An Airbyte emulator for tests, demos and your own CI: ``AirbyteEmulator(...).start()``; and an image
registry stand-in for the image check: ``ImageRegistryEmulator(...)``."""

from airflow_airbyte_connectors.testing.faults import Faults
from airflow_airbyte_connectors.testing.image_registry import ImageRegistryEmulator, RegistryRequest
from airflow_airbyte_connectors.testing.seeds import BUILTIN, SeedError, builtin_registry, load_registry
from airflow_airbyte_connectors.testing.server import PROFILES, AirbyteEmulator, RecordedRequest

__all__ = [
    "BUILTIN",
    "PROFILES",
    "AirbyteEmulator",
    "Faults",
    "ImageRegistryEmulator",
    "RecordedRequest",
    "RegistryRequest",
    "SeedError",
    "builtin_registry",
    "load_registry",
]
