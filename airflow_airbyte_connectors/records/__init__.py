"""What the package keeps in Airflow Variables per Airbyte instance (creates with an unknown outcome, since when a
tag runs), and reading them from Airflow's metadata database for the command line."""
