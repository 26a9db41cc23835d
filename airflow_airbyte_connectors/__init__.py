"""Keep Airbyte's connector definitions in step with a declarative config, from Apache Airflow."""

__version__ = "0.3.0"
