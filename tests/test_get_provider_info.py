"""The package is an Airflow provider with its own config section."""

from __future__ import annotations

import json
from importlib.metadata import entry_points
from pathlib import Path

import jsonschema
import pytest

from airflow_airbyte_connectors import settings
from airflow_airbyte_connectors.get_provider_info import get_provider_info


def test_provider_info_matches_airflows_schema():
    import airflow

    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_entry_point_is_registered_under_the_distribution_name():
    (entry,) = [e for e in entry_points(group="apache_airflow_provider") if e.dist.name == "airflow-airbyte-connectors"]
    assert entry.load() is get_provider_info
    assert get_provider_info()["package-name"] == "airflow-airbyte-connectors"


def test_airflow_sees_the_provider_and_its_config_section():
    from airflow.configuration import conf
    from airflow.providers_manager import ProvidersManager

    assert "airflow-airbyte-connectors" in ProvidersManager().providers
    assert conf.get("airbyte_connectors", "conn_id") == "airbyte_default"
    assert conf.get("airbyte_connectors", "workspace_id") == ""


def test_defaults_in_provider_info_and_settings_agree():
    options = get_provider_info()["config"]["airbyte_connectors"]["options"]
    assert {key: option["default"] for key, option in options.items()} == settings.DEFAULTS


class TestSettings:
    def test_basic_config_path_default_is_under_airflow_home(self, airflow_home):
        assert settings.basic_config_path() == airflow_home / "configs" / "basic_config.yaml"
        assert settings.basic_config_asset_uri() == (airflow_home / "configs" / "basic_config.yaml").as_uri()

    @pytest.mark.parametrize(
        ("key", "value", "read"),
        [
            ("BASIC_CONFIG_PATH", "/srv/configs/basic.yaml", lambda: str(settings.basic_config_path())),
            ("CONN_ID", "airbyte_prod", settings.conn_id),
            ("WORKSPACE_ID", "b5f5e0a4-1c77-4a5e-9a3e-4f0f5e8a2b11", settings.workspace_id),
        ],
        ids=["basic_config_path", "conn_id", "workspace_id"],
    )
    def test_settable_the_airflow_way(self, monkeypatch, key, value, read):
        monkeypatch.setenv(f"AIRFLOW__AIRBYTE_CONNECTORS__{key}", value)
        assert read() == value

    def test_empty_workspace_means_discover(self, monkeypatch):
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__WORKSPACE_ID", "  ")
        assert settings.workspace_id() is None
