"""An Airbyte emulator for tests, demos and your own CI: ``AirbyteEmulator(...).start()``."""

from airflow_airbyte_connectors.testing.faults import Faults
from airflow_airbyte_connectors.testing.server import PROFILES, AirbyteEmulator, RecordedRequest

__all__ = ["PROFILES", "AirbyteEmulator", "Faults", "RecordedRequest"]
