"""Read Airflow Variables straight from Airflow's metadata database, outside any task, and never write to it.

For the command line: it runs without Airflow's task SDK, yet wherever the DAG runs it reaches the same database
(the same AIRFLOW_HOME, or ``[database] sql_alchemy_conn``). A database that is not there is never created: a
SQLite file that does not exist is reported, not opened.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any
from urllib.parse import quote

# A database that does not answer within this many seconds is taken as unreadable (a read waits on no lock longer).
READ_TIMEOUT = 10.0


class DatabaseUnreadable(Exception):
    """Airflow's metadata database could not be read; the message says why (never a password)."""


def variables_under(prefix: str, *, timeout: float = READ_TIMEOUT) -> dict[str, str | None]:
    """Every Airflow Variable whose key begins with ``prefix``, key → value (None where it cannot be decrypted),
    in one query. Raises :class:`DatabaseUnreadable` when there is no database, no Variable table, or no answer
    within ``timeout`` seconds."""
    try:
        engine = _engine()
    except Exception as exc:  # an unusable sql_alchemy_conn, a database driver not installed
        raise DatabaseUnreadable(f"Airflow's database cannot be opened: {_first_line(exc)}") from exc
    where = engine.url.render_as_string(hide_password=True)
    if engine.url.get_backend_name() == "sqlite":
        database = engine.url.database
        if not database or database == ":memory:":
            raise DatabaseUnreadable(f"Airflow's database is in memory ({where}): nothing a run kept is there")
        if not Path(database).is_file():
            raise DatabaseUnreadable(f"there is no Airflow database at {database}")
        engine = _read_only_sqlite(database)
    found: dict[str, str | None] = {}
    failed: list[BaseException] = []

    def read() -> None:
        try:
            found.update(_select(engine, prefix))
        except BaseException as exc:  # reported by the caller's thread
            failed.append(exc)

    # A thread of its own, so a database that never answers (an address that drops packets) bounds the wait.
    reader = threading.Thread(target=read, name="airflow-database", daemon=True)
    reader.start()
    reader.join(timeout)
    if reader.is_alive():
        raise DatabaseUnreadable(f"Airflow's database ({where}) did not answer within {timeout:g} s")
    if failed:
        raise DatabaseUnreadable(f"Airflow's database ({where}): {_first_line(failed[0])}") from failed[0]
    return found


def _engine() -> Any:
    from airflow import settings

    engine = getattr(settings, "engine", None)
    if engine is None:
        settings.configure_orm()  # type: ignore[no-untyped-call]  # Airflow leaves it unannotated
        engine = settings.engine
    return engine


def _read_only_sqlite(database: str) -> Any:
    """The SQLite file opened read-only: Airflow's own engine would switch it to WAL on connecting, a write."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    return create_engine(f"sqlite:///file:{quote(database)}?mode=ro&uri=true", poolclass=NullPool)


def _select(engine: Any, prefix: str) -> dict[str, str | None]:
    """One SELECT in a transaction that is rolled back: nothing is written, whatever the session would flush."""
    from airflow.models.variable import Variable
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    with Session(engine, autoflush=False) as session:
        try:
            rows = session.scalars(select(Variable).where(Variable.key.startswith(prefix, autoescape=True)))
            return {row.key: row.val for row in rows}
        finally:
            session.rollback()


def _first_line(exc: BaseException) -> str:
    """The driver's own words (``no such table: variable``), without SQLAlchemy's SQL and links."""
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[0] if lines else 'no detail'}"
