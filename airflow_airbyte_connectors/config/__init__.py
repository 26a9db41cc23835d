"""basic_config: reading and checking it (definitions, environments, version policies), every problem at once.
Pure: no Airflow, no network."""
