"""The package is an Airflow provider with its own config section."""

from __future__ import annotations

import json
import os
import re
from importlib.metadata import entry_points
from pathlib import Path

import jsonschema
import pytest

from airflow_airbyte_connectors import settings
from airflow_airbyte_connectors.get_provider_info import get_provider_info
from airflow_airbyte_connectors.settings_options import OPTIONS, SECTION


def test_provider_info_matches_airflows_schema():
    import airflow

    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_entry_point_is_registered_under_the_distribution_name():
    (entry,) = [e for e in entry_points(group="apache_airflow_provider") if e.dist.name == "airflow-airbyte-connectors"]
    assert entry.load() is get_provider_info
    assert get_provider_info()["package-name"] == "airflow-airbyte-connectors"


def test_config_section_is_the_option_table():
    section = get_provider_info()["config"][SECTION]
    assert list(section["options"]) == [option.key for option in OPTIONS]
    for option in OPTIONS:
        entry = section["options"][option.key]
        assert (entry["default"], entry["description"], entry["example"]) == (
            option.default,
            option.description,
            option.example,
        )
        assert entry["type"] in ("string", "boolean", "integer", "float"), option.key


def test_airflow_sees_the_provider_and_every_default(monkeypatch):
    from airflow.configuration import conf
    from airflow.providers_manager import ProvidersManager

    assert "airflow-airbyte-connectors" in ProvidersManager().providers
    for option in OPTIONS:
        monkeypatch.delenv(option.env_var, raising=False)
        # Airflow fills {AIRFLOW_HOME} into defaults, as it does in its own.
        expected = option.default.replace("{AIRFLOW_HOME}", os.environ["AIRFLOW_HOME"])
        assert conf.get(SECTION, option.key) == expected, option.key  # no fallback: the provider's default


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


def test_the_version_is_the_newest_changelog_entrys():
    # The package, its provider info and the CHANGELOG's newest heading ("## 0.3.0 — unreleased") say one version.
    root = Path(__file__).resolve().parent.parent
    newest = next(line for line in (root / "CHANGELOG.md").read_text().splitlines() if line.startswith("## "))
    (declared,) = re.findall(r'(?m)^version = "([^"]+)"$', (root / "pyproject.toml").read_text())
    assert newest.split()[1] == declared == get_provider_info()["versions"][0], newest
