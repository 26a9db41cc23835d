"""The [airbyte_connectors] settings: one option table, read with Airflow's typed getters, never coerced."""

from __future__ import annotations

import logging
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_airbyte_connectors import settings
from airflow_airbyte_connectors.budgets import write_task_seconds
from airflow_airbyte_connectors.settings_options import OPTION, OPTIONS, SECTION, Option, markdown
from tests.support import DAGS_FOLDER, REPO_ROOT

NUMBERS = [option for option in OPTIONS if option.type in ("integer", "float")]
BOOLEANS = [option for option in OPTIONS if option.type == "boolean"]
CLOSED = [option for option in OPTIONS if option.allowed]
PARSED = [option for option in OPTIONS if option.type != "string" and (option.type != "list" or option.allowed)]


def getter(key: str):
    """The public reader of each option (one reads megabytes as bytes)."""
    return settings.max_response_bytes if key == "max_response_mb" else getattr(settings, key)


def set_option(monkeypatch, key: str, value: str) -> None:
    monkeypatch.setenv(f"AIRFLOW__AIRBYTE_CONNECTORS__{key.upper()}", value)


def problem(option: Option, value: str) -> str:
    where = f"(airflow.cfg or {option.env_var})"
    return f"setting [airbyte_connectors] {option.key} = {value!r} is not {option.expected} {where}"


def below(option: Option) -> str:
    """The first value under an option's bound."""
    if option.above is not None:
        return f"{option.above:g}"
    assert option.minimum is not None, f"{option.key}: a number without a bound"
    return f"{option.minimum - 1:g}"


NUMBER_TYPOS = [
    (option, value)
    for option in NUMBERS
    for value in ("ten", below(option), "nan", "inf", *(() if option.may_be_empty else ("",)))
    + (("2.5",) if option.type == "integer" else ())
]
CHOICE_TYPOS = [
    (option, value)
    for option in CLOSED
    for value in (("sometimes", "", "never,held", "HELD!") if option.type == "choice" else ("breaking,risky", "Ture"))
]


@pytest.fixture
def nothing_set(monkeypatch):
    """The section as a fresh install sees it (tests/conftest.py sets a few keys for every test)."""
    for option in OPTIONS:
        monkeypatch.delenv(option.env_var, raising=False)


def test_every_option_has_its_getter():
    assert all(callable(getter(option.key)) for option in OPTIONS)


class TestInvalidValuesFailLoudly:
    def test_the_message_names_section_key_value_and_what_is_allowed(self, monkeypatch):
        set_option(monkeypatch, "check_images", "Ture")
        with pytest.raises(settings.SettingsError) as raised:
            settings.check_images()
        assert str(raised.value) == (
            "setting [airbyte_connectors] check_images = 'Ture' is not a boolean (true or false) "
            "(airflow.cfg or AIRFLOW__AIRBYTE_CONNECTORS__CHECK_IMAGES)"
        )
        set_option(monkeypatch, "max_writes", "lots")
        with pytest.raises(
            ValueError, match=r"^setting \[airbyte_connectors\] max_writes = 'lots' is not a whole number"
        ):
            settings.max_writes()

    @pytest.mark.parametrize("value", ["Ture", "yes", "", "2"])
    @pytest.mark.parametrize("option", BOOLEANS, ids=lambda o: o.key)
    def test_boolean_typo(self, monkeypatch, option, value):
        set_option(monkeypatch, option.key, value)
        with pytest.raises(settings.SettingsError, match=f"^{re.escape(problem(option, value))}$"):
            getter(option.key)()

    @pytest.mark.parametrize(("option", "value"), NUMBER_TYPOS, ids=[f"{o.key}={v!r}" for o, v in NUMBER_TYPOS])
    def test_number_typo(self, monkeypatch, option, value):
        set_option(monkeypatch, option.key, value)
        with pytest.raises(settings.SettingsError, match=f"^{re.escape(problem(option, value))}$"):
            getter(option.key)()

    @pytest.mark.parametrize(("option", "value"), CHOICE_TYPOS, ids=[f"{o.key}={v!r}" for o, v in CHOICE_TYPOS])
    def test_closed_choice_typo(self, monkeypatch, option, value):
        set_option(monkeypatch, option.key, value)
        with pytest.raises(settings.SettingsError, match=f"^{re.escape(problem(option, value))}$"):
            getter(option.key)()

    def test_choices_are_spelled_out(self, monkeypatch):
        set_option(monkeypatch, "approval", "sometimes")
        with pytest.raises(
            settings.SettingsError, match=r"approval = 'sometimes' is not one of never, held, always \("
        ):
            settings.approval()
        set_option(monkeypatch, "hold_changes", "breaking,risky")
        with pytest.raises(settings.SettingsError, match=r"list of patch, minor, major, downgrade, prerelease, "):
            settings.hold_changes()

    @pytest.mark.parametrize("value", ["every hour", "61 * * * *", "@once"])
    def test_schedule_that_is_not_cron(self, monkeypatch, value):
        set_option(monkeypatch, "reconcile_schedule", value)
        with pytest.raises(
            settings.SettingsError, match=f"^{re.escape(problem(OPTION['reconcile_schedule'], value))}$"
        ):
            settings.reconcile_schedule()

    def test_a_long_value_is_cut_short(self, monkeypatch):
        set_option(monkeypatch, "max_writes", "9" * 50 + "x" * 200)
        with pytest.raises(settings.SettingsError) as raised:
            settings.max_writes()
        shown = re.search(r"= '([^']*)'", str(raised.value))
        assert shown and len(shown.group(1)) == 80 and shown.group(1).endswith("...")


class TestValidSpellings:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [("True", True), ("false", False), ("1", True), ("0", False), (" TRUE ", True), ("t", True), ("F", False)],
    )
    def test_boolean(self, monkeypatch, value, expected):
        set_option(monkeypatch, "check_images", value)
        assert settings.check_images() is expected

    def test_numbers(self, monkeypatch):
        values = {"max_writes": " 7 ", "read_timeout": "0.5", "write_timeout": "1", "create_settle_window": " 1.5 "}
        for key, value in values.items():
            set_option(monkeypatch, key, value)
        assert (settings.max_writes(), settings.read_timeout(), settings.create_settle_window()) == (7, 0.5, 1.5)
        set_option(monkeypatch, "max_response_mb", "2")
        assert settings.max_response_bytes() == 2 * 1024 * 1024

    def test_choice_in_any_case(self, monkeypatch):
        set_option(monkeypatch, "approval", " Held ")
        assert settings.approval() == "held"

    @pytest.mark.parametrize(("value", "expected"), [("", set()), (" Major , prerelease,", {"major", "prerelease"})])
    def test_hold_changes_comma_list_any_case_spaces_and_empty(self, monkeypatch, value, expected):
        set_option(monkeypatch, "hold_changes", value)
        assert settings.hold_changes() == expected

    @pytest.mark.parametrize("value", ["0 * * * *", " @hourly ", "*/5 9-17 * * 1-5"])
    def test_cron(self, monkeypatch, value):
        set_option(monkeypatch, "reconcile_schedule", value)
        assert settings.reconcile_schedule() == value.strip()

    def test_users_are_a_comma_list(self, monkeypatch):
        set_option(monkeypatch, "approval_users", " alice, ,bob ")
        assert settings.approval_users() == ["alice", "bob"]

    def test_apply_timeout_follows_write_timeout_unless_set(self, monkeypatch, nothing_set):
        assert settings.apply_timeout() == write_task_seconds(30, 1200) + 60 == 4272.0
        set_option(monkeypatch, "write_timeout", "4000")
        assert settings.apply_timeout() == write_task_seconds(30, 4000) + 60
        set_option(monkeypatch, "apply_timeout", "20000")
        assert settings.apply_timeout() == 20000.0

    def test_an_empty_apply_timeout_always_holds_a_whole_write(self, monkeypatch, nothing_set):
        # With a short write_timeout the reads around the write (read_timeout 60 s) make most of it.
        set_option(monkeypatch, "write_timeout", "10")
        set_option(monkeypatch, "read_timeout", "60")
        assert settings.apply_timeout() == write_task_seconds(60, 10) + 60 > 30
        settings.validate()

    def test_an_empty_settle_window_outlasts_a_create(self, monkeypatch, nothing_set):
        assert settings.create_settle_window() == 1200 + 900
        set_option(monkeypatch, "write_timeout", "3000")
        assert settings.create_settle_window() == 3000 + 900


class TestDefaults:
    def test_a_fresh_install_is_valid(self, nothing_set):
        settings.validate()
        assert settings.hold_changes() == {"breaking", "downgrade"}
        assert settings.check_images() is True
        assert settings.max_response_bytes() == 64 * 1024 * 1024

    def test_parse_time_fallbacks_equal_what_airflow_reads(self, monkeypatch, nothing_set):
        """for_dag puts an option's default in place of an invalid value: the same value a fresh install reads."""
        fresh = settings.for_dag(), settings.for_upgrades_dag()
        for option in PARSED:
            read = settings._READERS[option.type]
            assert read(option, option.default) == read(option, None), option.key
            set_option(monkeypatch, option.key, "Ture,risky")
        assert (settings.for_dag(), settings.for_upgrades_dag()) == fresh

    def test_airflow_cfg_is_read_and_the_environment_wins(self, monkeypatch, nothing_set):
        from airflow.configuration import conf

        conf.set(SECTION, "max_writes", "7")
        try:
            assert settings.max_writes() == 7
            set_option(monkeypatch, "max_writes", "9")
            assert settings.max_writes() == 9
        finally:
            conf.remove_option(SECTION, "max_writes")


class TestValidate:
    def test_lists_every_invalid_value_at_once(self, monkeypatch):
        bad = {"check_images": "Ture", "max_writes": "lots", "approval": "sometimes", "read_timeout": "0"}
        for key, value in bad.items():
            set_option(monkeypatch, key, value)
        with pytest.raises(settings.SettingsError) as raised:
            settings.validate()
        expected = [problem(OPTION[key], value) for key, value in bad.items()]
        assert sorted(raised.value.problems) == sorted(expected)
        assert str(raised.value).splitlines() == ["invalid settings:", *(f"  {p}" for p in raised.value.problems)]

    def test_an_apply_timeout_that_cannot_hold_a_whole_write_is_refused(self, monkeypatch, nothing_set):
        set_option(monkeypatch, "apply_timeout", "2500")  # above twice write_timeout, below a whole write
        with pytest.raises(settings.SettingsError) as raised:
            settings.validate()
        assert list(raised.value.problems) == [
            "[airbyte_connectors] apply_timeout = 2500 cannot hold a whole write: with read_timeout = 30 and "
            "write_timeout = 1200, one create/update task may take 4212 s (its reads, the image's SPEC, the write "
            "and the looks after a lost answer). Set apply_timeout to at least 4212, or leave it empty."
        ]
        with pytest.raises(settings.SettingsError, match="apply_timeout = 2500 cannot hold"):
            settings.apply_timeout()
        set_option(monkeypatch, "apply_timeout", "4212")
        settings.validate()

    def test_a_settle_window_shorter_than_a_create_is_refused(self, monkeypatch, nothing_set):
        set_option(monkeypatch, "create_settle_window", "900")
        with pytest.raises(settings.SettingsError) as raised:
            settings.validate()
        (message,) = raised.value.problems
        assert message.startswith(
            "[airbyte_connectors] create_settle_window = 900 is shorter than write_timeout = 1200: a create may "
            "take that long"
        )
        with pytest.raises(settings.SettingsError, match="create_settle_window = 900 is shorter"):
            settings.create_settle_window()
        set_option(monkeypatch, "write_timeout", "900")
        settings.validate()

    def test_relations_are_judged_once_each_value_is_valid(self, monkeypatch, nothing_set):
        set_option(monkeypatch, "write_timeout", "soon")
        set_option(monkeypatch, "create_settle_window", "10")
        with pytest.raises(settings.SettingsError) as raised:
            settings.validate()
        assert list(raised.value.problems) == [problem(OPTION["write_timeout"], "soon")]


class TestParseTime:
    def test_an_apply_timeout_too_short_becomes_the_default_with_a_warning(self, monkeypatch, nothing_set, caplog):
        """The DAG keeps its tasks' timeout whole; the run then fails in prepare, naming both values."""
        set_option(monkeypatch, "apply_timeout", "90")
        with caplog.at_level(logging.WARNING, logger="airflow_airbyte_connectors.settings"):
            read = settings.for_dag()
        assert read["apply_timeout"] == 4272.0
        assert "invalid settings: apply_timeout in [airbyte_connectors]" in caplog.text

    def test_invalid_values_become_defaults_with_one_warning(self, monkeypatch, nothing_set, caplog):
        set_option(monkeypatch, "max_writes", "lots")
        set_option(monkeypatch, "approval", "sometimes")
        set_option(monkeypatch, "task_retries", "3")
        with caplog.at_level(logging.WARNING, logger="airflow_airbyte_connectors.settings"):
            read = settings.for_dag()
        assert (read["max_writes"], read["approval"], read["task_retries"]) == (50, "never", 3)
        (warning,) = [r.getMessage() for r in caplog.records if r.name == "airflow_airbyte_connectors.settings"]
        assert warning.startswith("invalid settings: max_writes, approval in [airbyte_connectors]")

    def test_each_dag_file_reads_only_its_own_settings(self, monkeypatch, nothing_set, caplog):
        """A typo in connector_upgrades' schedule is that DAG's problem: create_connectors' parse neither reads
        nor warns about it (nor pays for checking a cron it does not use)."""
        set_option(monkeypatch, "upgrades_schedule", "weekly-ish")
        with caplog.at_level(logging.WARNING, logger="airflow_airbyte_connectors.settings"):
            settings.for_dag()
            assert "invalid settings" not in caplog.text
            read = settings.for_upgrades_dag()
        assert read["upgrades_schedule"] == OPTION["upgrades_schedule"].default
        assert "invalid settings: upgrades_schedule in [airbyte_connectors]" in caplog.text

    def test_valid_values_are_used_without_a_warning(self, monkeypatch, caplog):
        set_option(monkeypatch, "approval", "held")
        set_option(monkeypatch, "approval_users", "alice,bob")
        set_option(monkeypatch, "reconcile_schedule", "0 * * * *")
        with caplog.at_level(logging.WARNING, logger="airflow_airbyte_connectors.settings"):
            read = settings.for_dag()
        assert (read["approval"], read["approval_users"], read["reconcile_schedule"]) == (
            "held",
            ("alice", "bob"),
            "0 * * * *",
        )
        assert "invalid settings" not in caplog.text

    def test_the_dag_still_imports_with_a_typo_and_says_so_once(self, monkeypatch, caplog):
        from airflow.dag_processing.dagbag import DagBag

        set_option(monkeypatch, "max_writes", "lots")
        set_option(monkeypatch, "task_retries", "three")
        set_option(monkeypatch, "approval", "sometimes")
        set_option(monkeypatch, "reconcile_schedule", "every hour")
        with caplog.at_level(logging.WARNING, logger="airflow_airbyte_connectors.settings"):
            bag = DagBag(dag_folder=str(DAGS_FOLDER / "create_connectors.py"))
        assert bag.import_errors == {}
        dag = bag.dags["create_connectors"]
        assert dag.params["max_writes"] == 50
        assert {task.task_id for task in dag.tasks} == {"prepare", "apply", "publish_changes", "report"}
        assert dag.get_task("apply").retries == 3
        assert "CronTriggerTimetable" not in repr(dag.timetable)  # the basic_config Asset only
        warnings = [r.getMessage() for r in caplog.records if "invalid settings" in r.getMessage()]
        assert warnings == [
            "invalid settings: reconcile_schedule, max_writes, approval, task_retries in [airbyte_connectors]; "
            "their defaults are used here and each run fails at its start naming them"
        ]


def test_docs_settings_md_is_generated_from_the_table():
    committed = (REPO_ROOT / "docs" / "settings.md").read_text()
    assert committed == markdown(), (
        "regenerate: python -m airflow_airbyte_connectors.settings_options > docs/settings.md"
    )
    assert all(f"## {option.key}\n" in committed for option in OPTIONS)


def test_the_command_docs_settings_md_names_shows_the_values_in_effect(tmp_path):
    # As written in the doc; Airflow 3.3 lists only the keys unless asked for the values.
    (command,) = re.findall(r"`(airflow config list [^`]+)`", (REPO_ROOT / "docs" / "settings.md").read_text())
    env = {name: value for name, value in os.environ.items() if not name.startswith("AIRFLOW")}
    env.update(AIRFLOW_HOME=str(tmp_path), AIRFLOW__AIRBYTE_CONNECTORS__READ_TIMEOUT="37")
    airflow = str(Path(sys.executable).with_name("airflow"))
    shown = subprocess.run([airflow, *shlex.split(command)[1:]], env=env, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert "\nread_timeout = 37\n" in shown.stdout, shown.stdout[-2000:]
