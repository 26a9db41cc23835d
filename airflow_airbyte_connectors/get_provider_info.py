"""Provider metadata read by Airflow's ProvidersManager (entry point ``apache_airflow_provider``)."""

from __future__ import annotations

from typing import Any

from airflow_airbyte_connectors import __version__
from airflow_airbyte_connectors.settings_options import provider_config


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-airbyte-connectors",
        "name": "Airbyte connector definitions",
        "description": "Keeps Airbyte's source and destination connector definitions in step with basic_config.",
        "versions": [__version__],
        "hooks": [
            {
                "integration-name": "Airbyte",
                "python-modules": ["airflow_airbyte_connectors.hooks.airbyte_definitions"],
            }
        ],
        "operators": [
            {
                "integration-name": "Airbyte",
                "python-modules": ["airflow_airbyte_connectors.operators.airbyte_definition"],
            }
        ],
        # No "connection-types": apache-airflow-providers-airbyte registers the `airbyte` type and
        # this package uses the same Connection.
        "config": provider_config(),  # from the option table in settings_options
    }
