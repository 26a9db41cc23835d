"""An Airbyte emulator for tests, demos and your own CI: ``AirbyteEmulator(...).start()``."""

from airflow_airbyte_connectors.testing.faults import Faults
from airflow_airbyte_connectors.testing.image_registry import ImageRegistryEmulator, RegistryRequest
from airflow_airbyte_connectors.testing.server import PROFILES, AirbyteEmulator, RecordedRequest

__all__ = ["PROFILES", "AirbyteEmulator", "Faults", "ImageRegistryEmulator", "RecordedRequest", "RegistryRequest"]
