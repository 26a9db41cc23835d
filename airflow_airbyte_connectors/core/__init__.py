"""What every part builds on, knowing nothing of basic_config's layout: version grammars and classes, the two
kinds, URLs, files a user names, how values are quoted in errors, and Airbyte's own documents (connector
registry releases, the platform-compatibility matrix, sync jobs). Pure: no Airflow, no network."""
