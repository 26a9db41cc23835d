"""Reading Airflow Variables outside a task, never writing: each run in a child process whose Airflow points at a
database that is missing, empty, silent or real."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO_ROOT

READ = (
    "import sys\n"
    "from airflow_airbyte_connectors.records.metadata_database import DatabaseUnreadable, variables_under\n"
    "try:\n"
    "    print(sorted(variables_under(sys.argv[1], timeout=float(sys.argv[2])).items()))\n"
    "except DatabaseUnreadable as exc:\n"
    "    print('unreadable:', exc)\n"
)


def read(sql_alchemy_conn: str, home: Path, prefix: str = "aac_", timeout: float = 10, **extra: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        PYTHONPATH=str(REPO_ROOT),
        AIRFLOW_HOME=str(home),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=sql_alchemy_conn,
        AIRFLOW__LOGGING__LOGGING_LEVEL="CRITICAL",
        **extra,
    )
    result = subprocess.run(
        [sys.executable, "-c", READ, prefix, str(timeout)], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


class TestUnreadable:
    def test_no_database_file_is_said_and_none_is_created(self, tmp_path):
        missing = tmp_path / "airflow.db"
        assert read(f"sqlite:///{missing}", tmp_path) == f"unreadable: there is no Airflow database at {missing}"
        assert not missing.exists()

    def test_a_database_without_airflows_tables_is_left_as_it_is(self, tmp_path):
        empty = tmp_path / "airflow.db"
        empty.touch()
        line = read(f"sqlite:///{empty}", tmp_path)
        assert line == f"unreadable: Airflow's database (sqlite:///{empty}): OperationalError: no such table: variable"
        assert empty.stat().st_size == 0 and [p.name for p in tmp_path.rglob("airflow.db*")] == ["airflow.db"]

    def test_a_database_that_never_answers_is_given_up_without_showing_its_password(self, tmp_path):
        with socket.socket() as silent:  # accepts connections (the kernel does), never says a word
            silent.bind(("127.0.0.1", 0))
            silent.listen()
            port = silent.getsockname()[1]
            line = read(f"postgresql+psycopg2://aac:pw-db-9c2e@127.0.0.1:{port}/airflow", tmp_path, timeout=2)
        where = f"postgresql+psycopg2://aac:***@127.0.0.1:{port}/airflow"
        assert line == f"unreadable: Airflow's database ({where}) did not answer within 2 s"

    def test_a_driver_that_is_not_installed_is_said(self, tmp_path):
        line = read("nosuchdb://aac:pw-db-9c2e@127.0.0.1:1/airflow", tmp_path)
        assert line.startswith("unreadable: Airflow's database cannot be opened: ") and "pw-db-9c2e" not in line


@pytest.mark.usefixtures("airflow_db")
def test_reads_the_variables_under_a_prefix_only(airflow_home):
    from airflow.configuration import conf
    from airflow.models.variable import Variable

    for key, value in {
        "aac_a:1": "one",
        "aac_a:2": "two",
        "aacXa:3": "a LIKE wildcard would match",
        "other": "x",
    }.items():
        Variable.set(key, value)
    try:
        fernet_key = conf.get("core", "fernet_key", fallback="")
        line = read(
            conf.get("database", "sql_alchemy_conn"),
            airflow_home,
            prefix="aac_a:",
            AIRFLOW__CORE__FERNET_KEY=fernet_key,
        )
        assert line == "[('aac_a:1', 'one'), ('aac_a:2', 'two')]"
    finally:
        for key in ("aac_a:1", "aac_a:2", "aacXa:3", "other"):
            Variable.delete(key)
