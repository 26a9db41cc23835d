# Airflow with this provider installed. Built by docker-compose.yaml.
FROM apache/airflow:3.3.2
COPY --chown=airflow:root pyproject.toml README.md /opt/airflow-airbyte-connectors/
COPY --chown=airflow:root airflow_airbyte_connectors /opt/airflow-airbyte-connectors/airflow_airbyte_connectors
RUN pip install --no-cache-dir "apache-airflow==3.3.2" /opt/airflow-airbyte-connectors
