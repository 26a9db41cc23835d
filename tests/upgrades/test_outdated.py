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

from airflow_airbyte_connectors.testing import ImageRegistryEmulator
from airflow_airbyte_connectors.testing.registry import registry_from_history
from airflow_airbyte_connectors.upgrades.outdated import find_outdated
from tests.dags.test_platform_compatibility import compatibility_file  # noqa: F401 (fixture)
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

    def test_a_known_bad_version_is_never_proposed_nor_bumped_to(self, cli, registries, tmp_path):  # noqa: F811
        _, env = registries
        path = tmp_path / "skip.yaml"
        path.write_text(CONFIG.replace("    breaking: stop\n", '    breaking: stop\n    skipVersions: ["1.9.2"]\n'))
        github = github_row(find_outdated(path, today=TODAY)).proposal
        assert github.proposed == "1.9.1" and github.detail.endswith("; skipVersions leaves out 1.9.2")
        diff = cli("bump", str(path), "--today", TODAY.isoformat(), env=env)
        assert diff.returncode == 0, diff.stderr
        assert "+      dockerImageTag: 1.9.1   # pinned by the platform team in 2024" in diff.stdout

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
        assert row.proposal.detail == (
            f"no newer release among the 100 tags read; the rest unread (image registry {images.url})"
        )
        assert found.problems == (
            f"image registry {images.url} unread ({GITHUB}, {HUBSPOT}): registry's next-page link points to another "
            "host (localhost), not followed; to read another, set docker_hub_url "
            "(AIRFLOW__AIRBYTE_CONNECTORS__DOCKER_HUB_URL)",
        )


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
        assert "- also available: 2.7.1 (major, crosses 2.0.0)" in markdown  # Renovate's edge: both at once
        (github,) = [row for row in document["rows"] if row["name"] == "GitHub"]
        assert (github["alsoAvailable"]["target"], github["alsoAvailable"]["classes"]) == (
            "2.7.1",
            ["major", "breaking"],
        )

    def test_every_row_says_why_and_no_policy_means_pin_is_said_once(self, cli, registries, tmp_path):  # noqa: F811
        _, env = registries
        config = yaml.safe_load(CONFIG)
        del config["connectors"]["policy"]  # GitHub now sets nothing
        path = tmp_path / "why.yaml"
        path.write_text(yaml.safe_dump(config))
        result = cli("outdated", str(path), "--today", TODAY.isoformat(), env=env)
        assert result.returncode == 2, result.stderr
        lines = result.stdout.splitlines()
        # The table's WHY column says it in a few words; a line below says more where there is more.
        assert [line.rsplit("  ", 1)[-1] for line in lines[1:4]] == [
            "pinned (no policy)",
            "stopped at 5.0.0",
            "pinned",
        ]
        assert [line for line in lines if line.startswith("source ") and ": " in line] == [
            "source HubSpot: stopped below breaking change 5.0.0 (6.0.1 is past it)",
            "source HubSpot: also available: 6.0.1 (major, crosses 5.0.0, 6.0.0)",
        ]
        assert [line for line in lines if "no policy means pin" in line] == [
            "NOTE no policy means pin: 1 definition without a versionPolicy (connectors.policy or the entry's) gets "
            "no proposal"
        ]
        document = json.loads(cli("outdated", str(path), "--format", "json", "--today", "2026-10-01", env=env).stdout)
        assert [row["why"] for row in document["rows"]] == [
            "pinned at 1.8.0 (no policy set)",
            "stopped below breaking change 5.0.0 (6.0.1 is past it)",
            "pinned at 0.3.38 (versionPolicy: pin)",
        ]

    def test_nothing_to_propose_exits_0(self, cli, registries, tmp_path):  # noqa: F811
        _, env = registries
        path = tmp_path / "pinned.yaml"
        path.write_text(CONFIG.replace("versionPolicy: minor      # same major version", "versionPolicy: pin"))
        path.write_text(path.read_text().replace("versionPolicy: major", "versionPolicy: pin"))
        result = cli("outdated", str(path), "--today", "2026-10-01", env=env)
        assert result.returncode == 0, result.stderr

    def test_offline_each_registry_is_named_once_with_its_url_reason_and_setting(
        self,
        cli,  # noqa: F811
        registries,
        config_file,
    ):
        _, env = registries
        offline = {
            **env,
            "AIRFLOW__AIRBYTE_CONNECTORS__DOCKER_HUB_URL": "http://mirror-user:pw-5e1c@127.0.0.1:9",
            "AIRFLOW__AIRBYTE_CONNECTORS__REGISTRY_URL": "http://127.0.0.1:9/oss_registry.json",
        }
        result = cli("outdated", str(config_file), env=offline)
        assert result.returncode == 1 and "Traceback" not in result.stderr
        problems = [line for line in result.stdout.splitlines() if line.startswith("PROBLEM ")]
        assert problems == [
            "PROBLEM connector registry http://127.0.0.1:9/oss_registry.json unread: connection refused (3 attempts); "
            "without breaking-change data, a major or unknown version move counts as breaking; to read another, set "
            "registry_url (AIRFLOW__AIRBYTE_CONNECTORS__REGISTRY_URL)",
            f"PROBLEM image registry http://127.0.0.1:9 unread ({GITHUB}, {HUBSPOT}): registry unreachable: "
            "connection refused; to read another, set docker_hub_url (AIRFLOW__AIRBYTE_CONNECTORS__DOCKER_HUB_URL)",
        ]
        # Each reason once: the rows say what they lack and where, the error line where to look.
        assert result.stdout.count("connection refused") == 2
        assert "source GitHub: versions unread (image registry http://127.0.0.1:9)" in result.stdout
        assert (
            result.stderr == "airbyte-connectors: error: incomplete: 2 problems, listed in the output's PROBLEM lines\n"
        )
        # Nothing read is nothing known: no line says a tag is the newest.
        assert "newest release" not in result.stdout and "pw-5e1c" not in result.stdout + result.stderr
        assert "nothing could be read, 0 proposals for 3 definitions (2 unread)" in result.stdout
        markdown = cli("outdated", str(config_file), "--format", "markdown", env=offline).stdout
        assert "as new as its policy" not in markdown
        assert "Nothing proposed: nothing could be read (2 definitions unread, see the problems)." in markdown
        bump = cli("bump", str(config_file), env=offline)
        assert bump.returncode == 1 and bump.stdout == ""
        assert bump.stderr.splitlines() == [
            *problems,
            "airbyte-connectors: error: not bumped, the proposals are incomplete: 2 problems above",
        ]

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
        assert (
            f"PROBLEM connector registry {pipe} unread: is a FIFO (named pipe), expected a JSON file" in result.stdout
        )

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

    @pytest.mark.parametrize(
        ("config_tag", "airbyte_tag", "proposed", "flag", "cell"),
        [
            (
                "2.1.14",
                "1.9.0",
                "2.7.1",
                "Airbyte runs 1.9.0: from there the move is major, crossing breaking change 2.0.0",
                "from 1.9.0: crosses 2.0.0",
            ),
            (
                "1.8.0",
                "2.1.0",
                "1.9.2",
                "Airbyte runs 2.1.0: from there the move is a downgrade, crossing breaking change 2.0.0",
                "from 2.1.0: downgrade, crosses 2.0.0",
            ),
        ],
        ids=["crosses-from-airbyte", "downgrade-from-airbyte"],
    )
    def test_a_proposal_is_judged_from_the_tag_airbyte_runs(
        self,
        cli,  # noqa: F811
        registries,
        tmp_path,
        use_emulator,
        config_tag,
        airbyte_tag,
        proposed,
        flag,
        cell,
    ):
        from airflow_airbyte_connectors.hooks.airbyte_definitions import AirbyteDefinitionsHook
        from tests.support import REGISTRY, connection_uri

        _, env = registries
        emu = use_emulator(seed=REGISTRY)
        emu.set_tag("source", GITHUB, airbyte_tag)
        path = tmp_path / "behind.yaml"
        path.write_text(CONFIG.replace("dockerImageTag: 1.8.0", f"dockerImageTag: {config_tag}"))
        row = github_row(find_outdated(path, today=TODAY, hook=AirbyteDefinitionsHook("airbyte_default")))
        # From the config's tag the move is a plain minor; Airbyte makes it from the tag it runs.
        assert (row.proposal.proposed, row.proposal.classes, row.proposal.crossed) == (proposed, ("minor",), ())
        assert row.airbyte_flag == flag
        assert [change.version for change in row.airbyte_move.crossed] == ["2.0.0"]
        args = ("outdated", str(path), "--today", TODAY.isoformat(), "--conn-id", "airbyte_default")
        text = cli(*args, conn=connection_uri(emu), env=env)
        assert text.returncode == 2, text.stderr
        assert f"source GitHub: {flag}" in text.stdout.splitlines() and cell in text.stdout
        markdown = cli(*args, "--format", "markdown", conn=connection_uri(emu), env=env).stdout
        assert f"- ⚠️ {flag}" in markdown and "- breaking change 2.0.0: " in markdown


class TestReleaseDates:
    """A cooldown needs dates: one not read makes the definition unread (exit 1), one read but implausible is
    unknown (never old enough)."""

    def test_rate_limited_dates_are_unread_and_exit_1(self, cli, registries, config_file):  # noqa: F811
        images, env = registries
        images.rate_limited_reads = frozenset({"manifest"})
        result = cli("outdated", str(config_file), "--today", TODAY.isoformat(), env=env)
        assert result.returncode == 1, result.stdout
        assert "source HubSpot: release date of 4.12.2 unread" in result.stdout.splitlines()
        assert (
            f"PROBLEM image registry {images.url} unread ({HUBSPOT} (release date of 4.12.2)): rate-limited by the "
            "registry (HTTP 429); to read another, set docker_hub_url (AIRFLOW__AIRBYTE_CONNECTORS__DOCKER_HUB_URL)"
        ) in result.stdout
        assert "1 proposal for 3 definitions" in result.stdout  # GitHub's needs no date
        assert result.stderr.startswith("airbyte-connectors: error: incomplete: 1 problem, ")
        bump = cli("bump", str(config_file), "--today", TODAY.isoformat(), env=env)
        assert bump.returncode == 1 and "not bumped, the proposals are incomplete" in bump.stderr

    def test_date_reads_past_the_cap_are_unread(self, cli, registries, config_file):  # noqa: F811
        images, env = registries
        capped = {**env, "AIRFLOW__AIRBYTE_CONNECTORS__MAX_RELEASE_DATE_READS": "0"}
        result = cli("outdated", str(config_file), "--today", TODAY.isoformat(), env=capped)
        assert result.returncode == 1, result.stdout
        (problem,) = [line for line in result.stdout.splitlines() if line.startswith("PROBLEM ")]
        assert problem == (
            "PROBLEM release-date reads reached max_release_date_reads (0): 1 definition left without the dates "
            f"their cooldown needs, unread ({HUBSPOT}); raise max_release_date_reads "
            "(AIRFLOW__AIRBYTE_CONNECTORS__MAX_RELEASE_DATE_READS) to read more"
        )
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


# Airbyte's built-in GitHub definition (the ID Airbyte's matrix is keyed by).
GITHUB_ID = "ef69ef6e-aa7f-4af1-a01d-ef775033524e"


def github_rules(*rules: dict[str, object], name: str = "source-github", definition_id: str = GITHUB_ID) -> dict:
    """A platform-compatibility matrix with one entry, for GitHub unless named otherwise."""
    entry = {"connectorName": name, "connectorType": "source", "connectorDefinitionId": definition_id}
    return {"compatibleConnectors": [{**entry, "compatibilityMatrix": list(rules)}]}


# GitHub 1.9.2 needs Airbyte 2.3; the config's minor policy would propose it from 1.8.0.
NEEDS_2_3 = github_rules({"connectorVersion": "1.9.2", "airbyteVersion": ">=2.3.0"})


def needs_2_3(tag: str, connector: str = "source-github") -> str:
    return (
        f"Current Airbyte version 2.0.0 doesn't support connector version {tag} for connector {connector}. "
        "Compatible Airbyte Version(s): >=2.3.0"
    )


def github_row(found):
    (row,) = [row for row in found.rows if row.desired.docker_repository == GITHUB]
    return row


def platform_notes(found) -> list[str]:
    return [note for note in found.notes if "platform" in note]


class TestPlatformCompatibility:
    """No version Airbyte would refuse on update (its platform-compatibility matrix, served here as a file) is
    proposed; each row names what it skipped in Airbyte's words."""

    def test_a_refused_version_is_skipped_and_the_next_newest_proposed(
        self,
        registries,
        config_file,
        compatibility_file,  # noqa: F811
    ):
        compatibility_file(NEEDS_2_3)
        found = find_outdated(config_file, today=TODAY, airbyte_version="2.0.0")
        github = github_row(found).proposal
        assert (github.proposed, github.newest_in_policy) == ("1.9.1", "1.9.2")
        assert [(s.tag, s.reason) for s in github.skipped] == [("1.9.2", needs_2_3("1.9.2"))]
        assert {row.desired.name: row.proposal.proposed for row in found.rows} == {
            "GitHub": "1.9.1",
            "HubSpot": "4.12.2",  # not in the matrix: allowed
            "PokeAPI": None,
        }
        assert found.platform.checked and found.problems == ()
        assert platform_notes(found) == [
            "proposals checked against the platform-compatibility matrix for Airbyte 2.0.0 (as given)"
        ]

    def test_a_blocked_version_is_skipped(self, registries, config_file, compatibility_file):  # noqa: F811
        compatibility_file(github_rules({"connectorVersion": ">=1.9.0", "airbyteVersion": "*", "blocked": True}))
        github = github_row(find_outdated(config_file, today=TODAY, airbyte_version="2.4.0")).proposal
        assert github.proposed == "1.8.42"
        assert [(s.tag, s.reason) for s in github.skipped] == [
            (tag, f"Connector source-github with version {tag} is temporarily blocked from upgrade.")
            for tag in ("1.9.2", "1.9.1", "1.9.0")
        ]

    def test_every_newer_version_refused_proposes_nothing(self, cli, registries, config_file, compatibility_file):  # noqa: F811
        _, env = registries
        location = compatibility_file(github_rules({"connectorVersion": ">1.8.0 <2.0.0", "airbyteVersion": ">=2.3.0"}))
        env = {**env, "AIRFLOW__AIRBYTE_CONNECTORS__PLATFORM_COMPATIBILITY_URL": location}
        args = ("outdated", str(config_file), "--today", TODAY.isoformat(), "--airbyte-version", "2.0.0")
        text = cli(*args, env=env)
        assert text.returncode == 2, text.stderr  # HubSpot still has a proposal
        lines = text.stdout.splitlines()
        # 45 releases from 1.8.1 to 1.9.2: the newest five are named, then how many more.
        assert "source GitHub: this Airbyte refuses all 45 newer releases the policy allows" in lines
        assert f"source GitHub: skipped 1.9.2: {needs_2_3('1.9.2')}" in lines
        assert f"source GitHub: skipped 1.8.41: {needs_2_3('1.8.41')}" in lines
        assert not any(line.startswith("source GitHub: skipped 1.8.40") for line in lines)
        assert "source GitHub: 40 older releases skipped as well (the JSON output lists each)" in lines
        document = json.loads(cli(*args, "--format", "json", env=env).stdout)
        (github,) = [row for row in document["rows"] if row["name"] == "GitHub"]
        assert (github["proposed"], github["reason"], len(github["skipped"])) == (None, "refused", 45)
        assert github["skipped"][0] == {"version": "1.9.2", "reason": needs_2_3("1.9.2")}
        assert document["platformCompatibility"] == {
            "airbyteVersion": "2.0.0",
            "edition": None,
            "from": "given",
            "checked": True,
        }

    def test_the_cooldown_reads_dates_past_a_refused_version(self, registries, config_file, compatibility_file):  # noqa: F811
        images, _ = registries
        hubspot_id = "36c891d9-4bd9-43ac-bad2-10e12756272c"
        blocked = {"connectorVersion": "4.12.2 || 4.12.0", "airbyteVersion": "*", "blocked": True}
        compatibility_file(github_rules(blocked, name="source-hubspot", definition_id=hubspot_id))
        # On 2025-06-08 with a 30-day cooldown: 4.12.1 (2025-05-10) is too young, 4.12.0 (2025-05-09) old enough
        # but blocked, so the reads go on to 4.11.0 (2025-05-07).
        found = find_outdated(config_file, today=date(2025, 6, 8), airbyte_version="2.0.0")
        (hubspot,) = [row for row in found.rows if row.desired.docker_repository == HUBSPOT]
        assert (hubspot.proposal.proposed, hubspot.problem) == ("4.11.0", None)
        assert [s.tag for s in hubspot.proposal.skipped] == ["4.12.2", "4.12.0"]
        assert hubspot.proposal.detail.endswith(
            "; held back by the 30d cooldown until 2025-06-09: 4.12.1 is 29 days old"
        )
        for tag in ("4.12.2", "4.12.0"):  # a refused tag's date does not matter: never read
            assert images.count("GET", f"/v2/{HUBSPOT}/manifests/{tag}") == 0

    def test_the_config_s_definition_id_decides_over_the_name(
        self,
        registries,
        config_file,
        tmp_path,
        compatibility_file,  # noqa: F811
    ):
        # The matrix entry is found by the ID the config names, whatever the entry's name.
        compatibility_file(github_rules({"connectorVersion": "1.9.2", "airbyteVersion": ">=2.3.0"}, name="renamed"))
        path = tmp_path / "with_id.yaml"
        path.write_text(
            CONFIG.replace("dockerImageTag: 1.8.0", f"sourceDefinitionId: {GITHUB_ID}\n      dockerImageTag: 1.8.0")
        )
        assert github_row(find_outdated(path, today=TODAY, airbyte_version="2.0.0")).proposal.proposed == "1.9.1"
        # Without the ID, nothing is named source-github: Airbyte would not refuse by this entry either.
        assert github_row(find_outdated(config_file, today=TODAY, airbyte_version="2.0.0")).proposal.proposed == "1.9.2"

    def test_an_unknown_airbyte_version_is_one_note_and_nothing_is_filtered(
        self,
        cli,  # noqa: F811
        registries,
        config_file,
        compatibility_file,  # noqa: F811
    ):
        _, env = registries
        env = {**env, "AIRFLOW__AIRBYTE_CONNECTORS__PLATFORM_COMPATIBILITY_URL": compatibility_file(NEEDS_2_3)}
        result = cli("outdated", str(config_file), "--today", TODAY.isoformat(), env=env)
        assert result.returncode == 2, result.stderr
        notes = [line for line in result.stdout.splitlines() if "platform" in line]
        assert notes == [
            "NOTE platform compatibility not checked: Airbyte's version is unknown "
            "(no Airbyte connection and no version given)"
        ]
        assert "1.9.2" in result.stdout and "skipped" not in result.stdout
        found = find_outdated(config_file, today=TODAY)
        assert github_row(found).proposal.proposed == "1.9.2" and not found.platform.checked

    def test_an_unreadable_matrix_is_a_note_and_proposals_go_ahead(
        self,
        cli,  # noqa: F811
        registries,
        config_file,
        compatibility_file,  # noqa: F811
    ):
        _, env = registries
        location = compatibility_file("<html>not the matrix</html>")
        env = {**env, "AIRFLOW__AIRBYTE_CONNECTORS__PLATFORM_COMPATIBILITY_URL": location}
        result = cli("outdated", str(config_file), "--today", TODAY.isoformat(), "--airbyte-version", "2.0.0", env=env)
        assert result.returncode == 2, result.stderr  # not an error: Airbyte itself lets the update through
        (note,) = [line for line in result.stdout.splitlines() if "platform" in line]
        assert note.startswith(f"NOTE platform compatibility {location}: not JSON")
        assert note.endswith(
            "; proposals are not checked against it (Airbyte lets an update through when it cannot read it); to read "
            "another, set platform_compatibility_url (AIRFLOW__AIRBYTE_CONNECTORS__PLATFORM_COMPATIBILITY_URL)"
        )
        assert "1.9.2" in result.stdout and "PROBLEM" not in result.stdout

    def test_with_a_connection_airbyte_s_version_and_definition_decide(
        self,
        cli,  # noqa: F811
        registries,
        config_file,
        compatibility_file,  # noqa: F811
        use_emulator,
    ):
        from tests.support import REGISTRY, connection_uri

        _, env = registries
        emu = use_emulator(seed=REGISTRY, airbyte_version="2.0.0")
        (github,) = [d for d in emu.definitions("source") if d["dockerRepository"] == GITHUB]
        # Keyed by Airbyte's definition ID under a name no image has: only the connection can find it.
        location = compatibility_file(
            github_rules(
                {"connectorVersion": "1.9.2", "airbyteVersion": ">=2.3.0"},
                name="renamed",
                definition_id=github["sourceDefinitionId"],
            )
        )
        env = {**env, "AIRFLOW__AIRBYTE_CONNECTORS__PLATFORM_COMPATIBILITY_URL": location}
        conn = connection_uri(emu)
        result = cli(
            "outdated",
            str(config_file),
            "--today",
            TODAY.isoformat(),
            "--conn-id",
            "airbyte_default",
            conn=conn,
            env=env,
        )
        assert result.returncode == 2, result.stderr
        lines = result.stdout.splitlines()
        assert f"source GitHub: skipped 1.9.2: {needs_2_3('1.9.2', 'renamed')}" in lines
        assert (
            "NOTE proposals checked against the platform-compatibility matrix for Airbyte 2.0.0 (community, the "
            "connected one)"
        ) in lines
        assert "1.9.1" in result.stdout
        assert emu.write_requests() == []
        # --airbyte-version wins over the connection's own: planning for Airbyte 2.3, 1.9.2 is fine.
        upgraded = cli(
            "outdated",
            str(config_file),
            "--today",
            TODAY.isoformat(),
            "--conn-id",
            "airbyte_default",
            "--airbyte-version",
            "2.3.0",
            "--format",
            "json",
            conn=conn,
            env=env,
        )
        document = json.loads(upgraded.stdout)
        assert {row["name"]: row["proposed"] for row in document["rows"]}["GitHub"] == "1.9.2"
        assert document["platformCompatibility"] == {
            "airbyteVersion": "2.3.0",
            "edition": "community",
            "from": "given",
            "checked": True,
        }
        assert (
            "proposals checked against the platform-compatibility matrix for Airbyte 2.3.0 (community, as given; "
            "the connected one runs 2.0.0)"
        ) in document["notes"]
