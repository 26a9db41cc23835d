"""``outdated`` and ``bump`` on real release histories: the image registry stand-in serves every published tag
of GitHub and HubSpot with its build date (connector-version-history.json), the connector registry their
breaking changes; in process and as the command."""

from __future__ import annotations

import json
import os
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_airbyte_connectors.outdated import find_outdated
from airflow_airbyte_connectors.testing import ImageRegistryEmulator
from airflow_airbyte_connectors.testing.registry import registry_from_history
from tests.support import SHARED_AIRBYTE, require_airbyte_files
from tests.test_cli import cli  # noqa: F401 (fixture)

TODAY = date(2026, 10, 1)
GITHUB = "airbyte/source-github"
HUBSPOT = "airbyte/source-hubspot"
POKEAPI = "airbyte/source-pokeapi"

CONFIG = """\
# Connectors the data platform runs. Policies say how far each may move.
connectors:
  policy:
    versionPolicy: minor      # same major version
    breaking: stop
  source_definitions:
    - name: GitHub
      dockerRepository: airbyte/source-github
      dockerImageTag: 1.8.0   # pinned by the platform team in 2024
      documentationUrl: https://docs.airbyte.com/integrations/sources/github
    - name: HubSpot
      dockerRepository: airbyte/source-hubspot
      dockerImageTag: "4.2.0"
      documentationUrl: https://docs.airbyte.com/integrations/sources/hubspot
      versionPolicy: major
      minimumReleaseAge: 30d
    - name: PokeAPI
      dockerRepository: airbyte/source-pokeapi
      dockerImageTag: 0.3.38
      documentationUrl: https://docs.airbyte.com/integrations/sources/pokeapi
      versionPolicy: pin
  destination_definitions: []
"""


@cache
def history() -> dict[str, Any]:
    return json.loads((SHARED_AIRBYTE / "connector-version-history.json").read_text(encoding="utf-8"))


@pytest.fixture
def registries(tmp_path: Path, monkeypatch):
    """The image registry stand-in and the connector registry (a file), as the settings point to them."""
    require_airbyte_files()
    with ImageRegistryEmulator(require_token=True, page_cap=100, max_lifetime=120) as images:
        images.seed_history(history(), [GITHUB, HUBSPOT])
        registry = tmp_path / "oss_registry.json"
        registry.write_text(json.dumps(registry_from_history(history())))
        settings = {"DOCKER_HUB_URL": images.url, "REGISTRY_URL": str(registry), "IMAGE_TOKEN_HOSTS": ""}
        for key, value in settings.items():
            monkeypatch.setenv(f"AIRFLOW__AIRBYTE_CONNECTORS__{key}", value)
        yield images, {f"AIRFLOW__AIRBYTE_CONNECTORS__{key}": value for key, value in settings.items()}


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "basic_config.yaml"
    path.write_text(CONFIG)
    return path


class TestProposals:
    def test_each_policy_on_the_real_histories(self, registries, config_file):
        images, _ = registries
        found = find_outdated(config_file, today=TODAY)
        rows = {row.desired.docker_repository: row for row in found.rows}
        github, hubspot, pokeapi = rows[GITHUB].proposal, rows[HUBSPOT].proposal, rows[POKEAPI].proposal
        # minor + stop: the newest 1.x; 2.0.0 is both outside the policy and a breaking change.
        assert (github.proposed, github.classes) == ("1.9.2", ("minor",))
        assert github.newest == "2.7.1"
        # major + stop, 30 days: stops below 5.0.0, and 4.12.2 (2025-05-09) is old enough.
        assert hubspot.proposed == "4.12.2" and hubspot.stopped_at is not None
        assert hubspot.stopped_at.version == "5.0.0" and hubspot.age_days == (TODAY - date(2025, 5, 9)).days
        assert pokeapi.proposed is None and pokeapi.reason == "pinned"
        assert found.problems == ()

    def test_requests_one_tag_list_per_policy_and_dates_only_for_the_cooldown(self, registries, config_file):
        images, _ = registries
        found = find_outdated(config_file, today=TODAY)
        sent = dict(found.requests)
        # Two tag lists (the pinned PokeAPI is not read), 2 and 1 pages of at most 100; one date for HubSpot's
        # cooldown (the newest allowed is old enough): index, amd64 manifest, config blob.
        tag_paths = {r.path for r in images.requests if r.path.endswith("/tags/list")}
        assert tag_paths == {f"/v2/{GITHUB}/tags/list", f"/v2/{HUBSPOT}/tags/list"}
        assert sent["manifest"] == 2 and sent["blob"] == 1

    def test_a_cooldown_never_proposes_a_younger_version(self, registries, tmp_path):
        config = yaml.safe_load(CONFIG)
        (github,) = [e for e in config["connectors"]["source_definitions"] if e["name"] == "GitHub"]
        github.update(dockerImageTag="2.1.30", versionPolicy="minor", minimumReleaseAge="30d")
        path = tmp_path / "cooldown.yaml"
        path.write_text(yaml.safe_dump(config))
        today = date(2026, 9, 20)
        (row,) = [r for r in find_outdated(path, today=today).rows if r.desired.docker_repository == GITHUB]
        # 2.7.1, 2.7.0, 2.6.x ... were all published in the 30 days before; 2.2.0 (2026-08-27) is 24 days old.
        assert row.proposal.proposed is not None and row.proposal.age_days is not None
        assert row.proposal.age_days >= 30
        dates = {v["version"]: v["date"] for v in history()["connectors"][0]["versions"]}
        assert (today - date.fromisoformat(dates[row.proposal.proposed])).days >= 30

    def test_an_incomplete_tag_list_never_says_newest(self, registries, tmp_path):
        images, _ = registries
        images.link_base = images.url.replace("127.0.0.1", "localhost")  # page 2 on another host: not followed
        config = yaml.safe_load(CONFIG)
        (github,) = [e for e in config["connectors"]["source_definitions"] if e["name"] == "GitHub"]
        github["dockerImageTag"] = "2.7.1"  # the newest release: a whole list would say so
        path = tmp_path / "newest.yaml"
        path.write_text(yaml.safe_dump(config))
        found = find_outdated(path, today=TODAY)
        (row,) = [r for r in found.rows if r.desired.docker_repository == GITHUB]
        assert row.problem is not None and row.proposal.reason == "unread" and row.proposal.proposed is None
        assert row.proposal.detail.startswith("no newer release among the 100 tags read; the rest unread: ")
        assert any(problem.startswith(f"{GITHUB}: ") for problem in found.problems)


class TestCommands:
    def test_outdated_formats_and_exit_codes(self, cli, registries, config_file):  # noqa: F811
        _, env = registries
        text = cli("outdated", str(config_file), "--today", TODAY.isoformat(), env=env)
        assert text.returncode == 2, text.stderr
        assert "1.9.2" in text.stdout and "stops below 5.0.0" in text.stdout and text.stderr == ""
        document = json.loads(
            cli("outdated", str(config_file), "--format", "json", "--today", "2026-10-01", env=env).stdout
        )
        assert document["proposals"] == 2 and {r["proposed"] for r in document["rows"]} == {"1.9.2", "4.12.2", None}
        markdown = cli("outdated", str(config_file), "--format", "markdown", "--today", "2026-10-01", env=env).stdout
        assert markdown.startswith("### Airbyte connector upgrades: 2 proposals for 3 definitions")
        assert "| source | GitHub | `airbyte/source-github` | 1.8.0 → 1.9.2 | minor |" in markdown

    def test_nothing_to_propose_exits_0(self, cli, registries, tmp_path):  # noqa: F811
        _, env = registries
        path = tmp_path / "pinned.yaml"
        path.write_text(CONFIG.replace("versionPolicy: minor      # same major version", "versionPolicy: pin"))
        path.write_text(path.read_text().replace("versionPolicy: major", "versionPolicy: pin"))
        result = cli("outdated", str(path), "--today", "2026-10-01", env=env)
        assert result.returncode == 0, result.stderr

    def test_unreachable_image_registry_is_a_named_error(self, cli, registries, config_file):  # noqa: F811
        _, env = registries
        result = cli(
            "outdated",
            str(config_file),
            env={**env, "AIRFLOW__AIRBYTE_CONNECTORS__DOCKER_HUB_URL": "http://127.0.0.1:9"},
        )
        assert result.returncode == 1
        (line,) = result.stderr.splitlines()
        assert (
            line.startswith("airbyte-connectors: error: incomplete: airbyte/source-github: ")
            and "Traceback" not in result.stderr
        )
        # Nothing read is nothing known: no line says a tag is the newest.
        assert "source GitHub: versions unread: " in result.stdout and "newest release" not in result.stdout

    @pytest.mark.parametrize(
        "url",
        [
            "http://mirror-user:{pw}@127.0.0.1:99999/x",
            "http://mirror-user:pa/{pw}@127.0.0.1:1/x",
        ],
        ids=["bad-port", "slash-in-password"],
    )
    @pytest.mark.parametrize("setting", ["REGISTRY_URL", "DOCKER_HUB_URL"])
    def test_a_password_in_a_hostile_url_setting_is_printed_nowhere(
        self,
        cli,  # noqa: F811
        registries,
        config_file,
        setting,
        url,
    ):
        _, env = registries
        password = "pw-in-url-5e1c"
        env = {**env, f"AIRFLOW__AIRBYTE_CONNECTORS__{setting}": url.format(pw=password)}
        result = cli("outdated", str(config_file), "--today", "2026-10-01", "--format", "json", env=env)
        assert result.returncode == 1, result.stderr
        assert password not in result.stdout + result.stderr
        assert "mirror-user" not in result.stdout + result.stderr

    def test_fifo_as_registry_is_refused_unopened(self, cli, registries, config_file, tmp_path):  # noqa: F811
        _, env = registries
        pipe = tmp_path / "fifo_registry.json"
        os.mkfifo(pipe)
        env = {**env, "AIRFLOW__AIRBYTE_CONNECTORS__REGISTRY_URL": str(pipe)}
        result = cli("outdated", str(config_file), "--today", "2026-10-01", env=env, timeout=20)
        assert result.returncode == 1
        assert f"connector registry {pipe}: is a FIFO (named pipe), expected a JSON file" in result.stderr

    def test_bump_prints_a_diff_then_writes_only_the_tags(self, cli, registries, config_file):  # noqa: F811
        _, env = registries
        before = config_file.read_bytes()
        diff = cli("bump", str(config_file), "--today", "2026-10-01", env=env)
        assert diff.returncode == 0, diff.stderr and config_file.read_bytes() == before
        assert "-      dockerImageTag: 1.8.0   # pinned by the platform team in 2024" in diff.stdout
        assert "+      dockerImageTag: 1.9.2   # pinned by the platform team in 2024" in diff.stdout
        written = cli("bump", str(config_file), "--write", "--today", "2026-10-01", env=env)
        assert written.returncode == 0, written.stderr
        after = config_file.read_bytes()
        expected = before.replace(b"dockerImageTag: 1.8.0 ", b"dockerImageTag: 1.9.2 ").replace(
            b'dockerImageTag: "4.2.0"', b'dockerImageTag: "4.12.2"'
        )
        assert after == expected

    def test_bump_write_refuses_a_read_only_file(self, cli, registries, config_file):  # noqa: F811
        _, env = registries
        config_file.chmod(0o444)
        result = cli("bump", str(config_file), "--write", "--today", "2026-10-01", env=env)
        assert result.returncode == 1 and "Bumped" not in result.stdout
        assert "the file is read-only (mode 0444); nothing changed" in result.stderr
        assert config_file.read_text() == CONFIG


class TestWithAirbyte:
    def test_rows_show_what_airbyte_runs_and_whom_a_proposal_touches(self, registries, config_file, use_emulator):
        from airflow_airbyte_connectors.hooks.airbyte_definitions import AirbyteDefinitionsHook
        from tests.support import REGISTRY

        emu = use_emulator(seed=REGISTRY)
        emu.set_tag("source", GITHUB, "1.7.13")  # Airbyte runs an older GitHub than the config says
        lake = emu.add_destination("airbyte/destination-postgres", name="Lake")
        for n in range(2):
            emu.add_connection(emu.add_source(GITHUB, name=f"GitHub {n}"), lake, {"issues": True})
        emu.clear_requests()
        found = find_outdated(config_file, today=TODAY, hook=AirbyteDefinitionsHook("airbyte_default"))
        rows = {row.desired.docker_repository: row for row in found.rows}
        assert (rows[GITHUB].airbyte_tag, rows[GITHUB].touches) == ("1.7.13", 2)
        assert rows[POKEAPI].touches is None  # no proposal: nobody to tell
        assert emu.write_requests() == []
        # One list per kind, one search per definition with a proposal (and a token).
        operations = sorted(r.operation for r in emu.requests)
        assert operations.count("sources/search") == 2 and operations.count("source_definitions/list") == 1


class TestReleaseDates:
    """A cooldown needs dates: one not read makes the definition unread (exit 1), one read but implausible is
    unknown (never old enough)."""

    def test_rate_limited_dates_are_unread_and_exit_1(self, cli, registries, config_file):  # noqa: F811
        images, env = registries
        images.rate_limited_reads = frozenset({"manifest"})
        result = cli("outdated", str(config_file), "--today", TODAY.isoformat(), env=env)
        assert result.returncode == 1, result.stdout
        unread = "release date of 4.12.2 unread: rate-limited by the registry (HTTP 429)"
        assert f"source HubSpot: {unread}" in result.stdout
        assert f"PROBLEM {HUBSPOT}: {unread}" in result.stdout
        assert "1 proposal for 3 definitions" in result.stdout  # GitHub's needs no date
        assert result.stderr.startswith(f"airbyte-connectors: error: incomplete: {HUBSPOT}: {unread}")
        bump = cli("bump", str(config_file), "--today", TODAY.isoformat(), env=env)
        assert bump.returncode == 1 and "not bumped, the proposals are incomplete" in bump.stderr

    def test_date_reads_past_the_cap_are_unread(self, cli, registries, config_file):  # noqa: F811
        images, env = registries
        capped = {**env, "AIRFLOW__AIRBYTE_CONNECTORS__MAX_RELEASE_DATE_READS": "0"}
        result = cli("outdated", str(config_file), "--today", TODAY.isoformat(), env=capped)
        assert result.returncode == 1, result.stdout
        assert (
            "PROBLEM release-date reads reached max_release_date_reads (0): 1 definition left without the dates "
            "their cooldown needs, unread"
        ) in result.stdout
        assert (
            f"PROBLEM {HUBSPOT}: release date of 4.12.2 unread: not read: this run's 0 release-date reads are spent "
            "(max_release_date_reads)"
        ) in result.stdout
        assert images.count("GET", f"/v2/{HUBSPOT}/manifests/") == 0

    def test_an_implausible_build_time_is_never_old_enough(self, cli, registries, tmp_path):  # noqa: F811
        images, env = registries
        repository = "airbyte/source-reproducible"
        for tag, created in [
            ("1.0.0", "2024-01-01T00:00:00Z"),
            ("1.1.0", "2024-06-01T00:00:00Z"),
            ("1.2.0", "1970-01-01T00:00:00Z"),  # what reproducible builds write
            ("1.3.0", "2099-01-01T00:00:00Z"),  # ahead of the clock
        ]:
            images.add_image(repository, tag, created)
        path = tmp_path / "reproducible.yaml"
        path.write_text(
            "connectors:\n  source_definitions:\n    - name: Reproducible\n"
            f"      dockerRepository: {repository}\n      dockerImageTag: 1.0.0\n"
            "      documentationUrl: https://docs.airbyte.com/integrations/sources/x\n"
            "      versionPolicy: minor\n      minimumReleaseAge: 30d\n  destination_definitions: []\n"
        )
        # Judged in 2100: were its dates believed, 1.3.0 would be 500 days old and 1.2.0 decades.
        (row,) = find_outdated(path, today=date(2100, 6, 1)).rows
        assert (row.proposal.proposed, row.problem) == ("1.1.0", None)
        assert row.proposal.detail == (
            "held back by the 30d cooldown: 2 newer releases, the newest 1.3.0 has no known release date"
        )
        result = cli("outdated", str(path), "--today", "2100-06-01", env=env)
        assert result.returncode == 2, result.stderr
        assert "source Reproducible: held back by the 30d cooldown" in result.stdout


def test_breaking_change_data_turned_off_is_a_note_not_an_error(cli, registries, config_file):  # noqa: F811
    _, env = registries
    result = cli(
        "outdated",
        str(config_file),
        "--today",
        "2026-10-01",
        env={**env, "AIRFLOW__AIRBYTE_CONNECTORS__REGISTRY_URL": ""},
    )
    assert result.returncode == 2, result.stderr
    assert "NOTE registry_url is empty" in result.stdout
