"""``python -m airflow_airbyte_connectors``: the ``airbyte-connectors`` command line."""

from airflow_airbyte_connectors.cli import main

raise SystemExit(main())
