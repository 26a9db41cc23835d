"""A stand-in for the user's template_configs DAG: writes basic_config and publishes its Asset."""

from __future__ import annotations

import os
import shutil

from airflow.sdk import Asset, dag, task

from airflow_airbyte_connectors import settings


@dag(dag_id="template_configs", schedule=None, catchup=False, tags=["test"])
def template_configs() -> None:
    @task(outlets=[Asset(settings.basic_config_asset_uri())])
    def write_basic_config() -> str:
        target = settings.basic_config_path()
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(os.environ["TEMPLATE_CONFIGS_SOURCE"], target)
        return str(target)

    write_basic_config()


template_configs()
