"""An Airbyte emulator for tests, demos and your own CI: ``AirbyteEmulator(...).start()``."""

from airflow_airbyte_connectors.testing.faults import Faults
from airflow_airbyte_connectors.testing.seeds import BUILTIN, SeedError, builtin_registry, load_registry
from airflow_airbyte_connectors.testing.server import PROFILES, AirbyteEmulator, RecordedRequest

__all__ = [
    "BUILTIN",
    "PROFILES",
    "AirbyteEmulator",
    "Faults",
    "RecordedRequest",
    "SeedError",
    "builtin_registry",
    "load_registry",
]
