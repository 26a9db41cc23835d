"""URLs as the project shows them: without ``user:password@``."""

from __future__ import annotations

import pytest

from airflow_airbyte_connectors import settings
from airflow_airbyte_connectors.core.urls import instance_url, without_userinfo


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


PASSWORD = "pw-9f2e"


@pytest.mark.parametrize(
    "url",
    [
        f"https://user:{PASSWORD}@registry.example:99999/oss_registry.json",
        f"https://user:{PASSWORD}@registry.example:http/x",
        f"https://user:{PASSWORD}@[::1/x",
        f"https://user:{PASSWORD}@::1]/x",
        f"https://user:{PASSWORD}@[::1]]:8000/x",
        f"https://user:{PASSWORD}%40registry.example/x",
        f"https://us%40er:{PASSWORD}@registry.example:99999/x",
        f"https://a@b:{PASSWORD}@c@registry.example:1/x",
        f"https://user:{PASSWORD}@registry.example\\@evil.example/x",
        f"https://user:{PASSWORD}\\@registry.example/x",
        f"https://user\\:{PASSWORD}@registry.example/x",
        f"https://user:{PASSWORD} @registry.example/x",
        f" https://user:{PASSWORD}@registry.example /x",
        f"https://user:{PASSWORD}@registry.example\n/x",
        f"https://user:\t{PASSWORD}@registry.example/x",
        f"https://user:pa/{PASSWORD}@registry.example/x",
        f"https://user:1234/{PASSWORD}@registry.example/x",
        f"https://user:pa?{PASSWORD}@registry.example/x",
        f"https://user:pa#{PASSWORD}@registry.example/x",
        f"https://registry.example/x?user:{PASSWORD}@y",
        f"https://user:{PASSWORD}\uff20registry.example/x",
        f"https://user:{PASSWORD}@reg istry.example/x",
        f"ht tp://user:{PASSWORD}@registry.example/x",
        f"user:{PASSWORD}@registry.example/x",
        f"user:{PASSWORD}@registry.example:99999",
    ],
    ids=[
        "port-out-of-range",
        "port-not-a-number",
        "ipv6-unclosed",
        "ipv6-unopened",
        "ipv6-extra-bracket",
        "percent-encoded-at-only",
        "percent-encoded-at-and-bad-port",
        "several-at",
        "backslash-at-in-host",
        "backslash-before-at",
        "backslash-in-user",
        "space-before-at",
        "surrounding-space",
        "newline-in-host",
        "tab-in-password",
        "slash-in-password",
        "digits-and-slash-in-password",
        "question-mark-in-password",
        "hash-in-password",
        "credentials-in-query",
        "fullwidth-at",
        "space-in-host",
        "space-in-scheme",
        "no-scheme",
        "no-scheme-bad-port",
    ],
)
def test_the_password_of_a_hostile_url_is_never_shown(url):
    shown = without_userinfo(url)
    assert PASSWORD not in shown
    assert "user:" not in shown


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:pw@registry.example:99999/x", "(invalid URL)"),
        ("https://[::1]:8000/x", "https://[::1]:8000/x"),
        ("https://u:p@[::1]:8000/x", "https://[::1]:8000/x"),
        ("https://me%40corp:p%2Fw@registry.example/x", "https://registry.example/x"),
        ("https://registry.example/@scope/x", "https://registry.example/@scope/x"),
        ("http://bücher.example/x", "http://bücher.example/x"),
    ],
    ids=["bad-port", "ipv6", "ipv6-with-credentials", "percent-encoded", "at-in-path", "idn-host"],
)
def test_what_is_shown(url, shown):
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
