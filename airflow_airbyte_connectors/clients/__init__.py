"""Clients of the services around Airbyte that are not Airflow hooks: Airbyte's connector registry, image
registries, and the bounded HTTP reads they share."""
