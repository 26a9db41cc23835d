"""URLs as the project shows them: without ``user:password@``."""

from __future__ import annotations

import pytest

from airflow_airbyte_connectors import settings
from airflow_airbyte_connectors.urls import instance_url, without_userinfo


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://u:p@h:1/x?q=1#f", "http://h:1/x?q=1#f"),
        ("https://user@registry.example/v2", "https://registry.example/v2"),
        ("http://a@b:c@host/x", "http://host/x"),
        ("http://h:1/x", "http://h:1/x"),
        ("/srv/registry@v2.json", "/srv/registry@v2.json"),
        ("file:///srv/a@b.json", "file:///srv/a@b.json"),
        ("http://u:p@[::1/x", "(invalid URL)"),
    ],
    ids=["user-password", "user-only", "at-in-password", "none", "path", "file-uri", "unparseable"],
)
def test_without_userinfo(url, shown):
    assert without_userinfo(url) == shown


def test_definitions_asset_uri_has_no_credentials():
    assert (
        settings.definitions_asset_uri("http://u:s3cret@airbyte:8000/x")
        == "airbyte://airbyte:8000/x/connector-definitions"
    )


@pytest.mark.parametrize(
    "url",
    ["http://Airbyte:8000", "http://airbyte:8000/", "HTTP://u:p@AIRBYTE:8000", "http://airbyte:8000/?q#f"],
)
def test_one_spelling_per_airbyte(url):
    assert instance_url(url) == "http://airbyte:8000"


@pytest.mark.parametrize(
    ("url", "normal"),
    [
        ("http://airbyte", "http://airbyte:80"),
        ("https://Airbyte/", "https://airbyte:443"),
        ("http://[::1]:8000/base/", "http://[::1]:8000/base"),
    ],
    ids=["http-port", "https-port", "ipv6-and-path"],
)
def test_the_default_port_is_written_and_the_path_kept(url, normal):
    assert instance_url(url) == normal
