"""docker-compose's production topology run natively on loopback: a throwaway Postgres cluster (metadata DB and
Celery result backend), a Redis broker, and Airflow with CeleryExecutor (api-server, scheduler, dag-processor,
triggerer and one `airflow celery worker`).

Every server listens on 127.0.0.1 only, runs under `timeout` (so it stops by itself even if the caller is
killed) and is stopped by its pid or process group when the block ends; the Postgres and Redis files live in
a directory of their own that is removed afterwards.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.services.airflow_services import (
    SERVICES,
    Airflow,
    running_airflow,
    start_again,
    start_service,
    stop_services,
    wait_for,
)
from tests.support import unused_port

WORKER = "worker1"
# How Airflow reaches Postgres and Redis; docker-compose.yaml names the same (tests/test_docker_compose.py).
# With SQLAlchemy 2.1 a bare postgresql:// means psycopg 3: name the driver that is installed.
DATABASE_SCHEME = "postgresql+psycopg2"
RESULT_BACKEND_SCHEME = "db+postgresql+psycopg2"
BROKER_SCHEME = "redis"
WORKER_CONCURRENCY = 8  # above max_active_writes: a finished workload can hold its pool slot ~5 s longer
# The worker's [core] hostname_callable: task instances it runs report this name, not the machine's.
HOSTNAME_MODULE = "aac_worker_hostname"
HOSTNAME_SOURCE = """import os


def name():
    return os.environ["AAC_WORKER_NAME"]
"""


def _postgres_bin() -> Path | None:
    """The directory with initdb, pg_ctl and postgres: Debian keeps them under /usr/lib/postgresql/<major>/bin,
    out of PATH; elsewhere they are on PATH."""
    majors = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    debian = sorted(majors, key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    found = debian[-1] if debian else shutil.which("initdb")
    return Path(found).parent if found else None


def _run_as() -> str | None:
    """Postgres refuses to run as root: as root, its commands run as the `postgres` user."""
    return "postgres" if os.geteuid() == 0 else None


def require_stack(test: str) -> None:
    """Skip ``test`` where this machine cannot run the stack; under CI fail instead: CI installs Postgres and Redis
    (.ci/run), and a skip there would hide that the test never ran."""
    import pytest

    missing = missing_requirements()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the {test}: {missing}", pytrace=False)
        pytest.skip(missing)


def missing_requirements() -> str | None:
    """Why this machine cannot run the stack, or None when it can."""
    pg_bin = _postgres_bin()
    if pg_bin is None or not all((pg_bin / tool).exists() for tool in ("initdb", "pg_ctl", "postgres")):
        return "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found; apt-get install postgresql"
    if shutil.which("redis-server") is None:
        return "redis-server not found; apt-get install redis-server"
    if _run_as():
        try:
            subprocess.run(["id", "postgres"], check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError):
            return "running as root but there is no `postgres` user to run Postgres as"
        if shutil.which("runuser") is None:
            return "running as root but `runuser` is missing"
    for module in ("airflow.providers.celery", "psycopg2", "asyncpg"):
        try:
            __import__(module)
        except ImportError:
            return f"{module} is not installed; pip install -e '.[test,celery]'"
    return None


@contextmanager
def postgres(root: Path, logs: Path, *, lifetime: int) -> Iterator[tuple[str, int]]:
    """A throwaway Postgres cluster under ``root`` with an `airflow` database; yields its host:port and the
    pid of the process started for it."""
    pg_bin, user = _postgres_bin(), _run_as()
    assert pg_bin is not None
    as_user = ["runuser", "-u", user, "--"] if user else []
    pg = root / "pg"
    pg.mkdir()
    if user:
        shutil.chown(pg, user, user)
    # C.UTF-8 always exists; initdb fails on a LANG this machine has no locale for.
    subprocess.run(
        [*as_user, str(pg_bin / "initdb"), "-D", str(pg / "data"), "-U", "postgres", "--auth=trust"]
        + ["--encoding=UTF8", "--locale=C.UTF-8"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    port = unused_port()
    # In the foreground under `timeout` (fast shutdown on SIGINT), not daemonised by pg_ctl, so that it stops
    # by itself. Durability is useless for a throwaway database.
    server = start_service(
        [str(pg_bin / "postgres"), "-D", str(pg / "data"), "-c", "listen_addresses=127.0.0.1", "-p", str(port)]
        + ["-c", f"unix_socket_directories={pg}", "-c", "fsync=off", "-c", "synchronous_commit=off"]
        + ["-c", "full_page_writes=off"],
        logs / "postgres.log",
        dict(os.environ),
        lifetime=lifetime,
        signal_name="INT",
        user=user,
    )
    try:
        import psycopg2

        def create_database() -> bool:
            _still_running(server, logs / "postgres.log")
            try:
                connection = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
            except psycopg2.OperationalError:
                return False
            connection.autocommit = True  # CREATE DATABASE cannot run in a transaction
            try:
                with connection.cursor() as cursor:
                    cursor.execute("CREATE USER airflow PASSWORD 'airflow'")
                    cursor.execute("CREATE DATABASE airflow OWNER airflow")
            finally:
                connection.close()
            return True

        wait_for("Postgres", create_database, timeout=60, every=0.1)
        yield f"127.0.0.1:{port}", server.pid
    finally:
        subprocess.run(
            [*as_user, str(pg_bin / "pg_ctl"), "-D", str(pg / "data"), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            timeout=60,
        )
        stop_services([server])


@contextmanager
def redis(root: Path, logs: Path, *, lifetime: int) -> Iterator[tuple[str, int]]:
    """A Redis that keeps nothing on disk; yields its host:port and the pid of the process
    started for it."""
    home = root / "redis"
    home.mkdir()
    pidfile = home / "redis.pid"
    port = unused_port()
    # In the foreground under `timeout` (so it stops by itself); its pidfile says which process to stop.
    server = start_service(
        ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
        + ["--dir", str(home), "--daemonize", "no", "--pidfile", str(pidfile), "--logfile", ""],
        logs / "redis.log",
        dict(os.environ),
        lifetime=lifetime,
    )
    try:
        wait_for(
            "Redis",
            lambda: _still_running(server, logs / "redis.log") and pidfile.exists() and b"PONG" in _redis_ping(port),
            timeout=30,
            every=0.05,
        )
        yield f"127.0.0.1:{port}", server.pid
    finally:
        if pidfile.exists() and server.poll() is None:
            os.kill(int(pidfile.read_text()), signal.SIGTERM)
        stop_services([server])


def _redis_ping(port: int) -> bytes:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(64)
    except OSError:
        return b""


class PssSampler:
    """Samples the PSS (shared pages split between the processes that share them, so nothing counts twice) of
    every process this one started, by service (the process tree below each service's root), and keeps the
    peak total."""

    def __init__(self, roots: dict[str, int], every: float = 1.0):
        self.roots = roots  # service name -> pid of the process started for it
        self.every = every
        self.peak_total = 0
        self.peak_by_service: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pss-sampler", daemon=True)

    def sample(self) -> dict[str, int]:
        import psutil

        by_service: dict[str, int] = {}
        seen: set[int] = set()
        trees = [(name, pid) for name, pid in self.roots.items()] + [("other", os.getpid())]
        for name, pid in trees:  # "other": whatever this process started outside the services, if anything
            try:
                tree = psutil.Process(pid).children(recursive=True)
                if name != "other":
                    tree.append(psutil.Process(pid))
            except psutil.Error:
                continue
            for process in tree:
                if process.pid in seen:
                    continue
                seen.add(process.pid)
                try:
                    by_service[name] = by_service.get(name, 0) + process.memory_full_info().pss
                except psutil.Error:
                    continue  # gone meanwhile
        return by_service

    def _run(self) -> None:
        while not self._stop.is_set():
            by_service = self.sample()
            total = sum(by_service.values())
            if total > self.peak_total:
                self.peak_total, self.peak_by_service = total, by_service
            self._stop.wait(self.every)

    def __enter__(self) -> PssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def report(self) -> dict[str, Any]:
        mb = 1024 * 1024
        return {
            "peak_pss_mb": round(self.peak_total / mb),
            "peak_pss_mb_by_service": {k: round(v / mb) for k, v in sorted(self.peak_by_service.items())},
        }


@dataclass
class ProductionStack:
    airflow: Airflow
    home: Path  # AIRFLOW_HOME, shared by every Airflow process
    logs: Path  # one log per service: <name>.log, also postgres.log and redis.log
    worker: str  # the worker's name: its celery hostname is <worker>@<host>, its task instances' hostname
    memory: PssSampler
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def worker_log(self) -> Path:
        return self.logs / f"{self.worker}.log"


@contextmanager
def production_stack(
    home: Path, dags: Path, env: dict[str, str], *, lifetime: int = 600, worker: str = WORKER
) -> Iterator[ProductionStack]:
    """Postgres, Redis and Airflow on CeleryExecutor with one worker, running until the block ends.

    ``env`` is added to every Airflow process's environment. The stack is ready when the api-server is
    healthy and the worker has said it is ready; ``timings["startup_s"]`` is how long that took, from nothing
    (``postgres_redis_ready_s`` of it until both servers answered).
    """
    started = time.monotonic()
    logs = home / "service-logs"
    # Not under pytest's tmp_path: its base directory is mode 0700, which the postgres user cannot enter.
    root = Path(tempfile.mkdtemp(prefix="aac-stack-"))
    root.chmod(0o755)
    worker_path = home / "worker-path"
    worker_path.mkdir(parents=True, exist_ok=True)
    (worker_path / f"{HOSTNAME_MODULE}.py").write_text(HOSTNAME_SOURCE)
    python_path = os.pathsep.join(p for p in (str(worker_path), os.environ.get("PYTHONPATH", "")) if p)
    services = {**SERVICES, worker: worker_arguments(worker)}
    try:
        with (
            postgres(root, logs, lifetime=lifetime) as (db, db_pid),
            redis(root, logs, lifetime=lifetime) as (broker, broker_pid),
        ):
            timings = {"postgres_redis_ready_s": round(time.monotonic() - started, 1)}
            celery_env = {
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"{DATABASE_SCHEME}://airflow:airflow@{db}/airflow",
                "AIRFLOW__CELERY__BROKER_URL": f"{BROKER_SCHEME}://{broker}/0",
                "AIRFLOW__CELERY__RESULT_BACKEND": f"{RESULT_BACKEND_SCHEME}://airflow:airflow@{db}/airflow",
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
                # Sending a task to Redis or reading its state may take over the 1 s default on a loaded 2-core
                # machine: the scheduler then logs "Process timed out" (and sends again), an error line no crash
                # explains. Ten seconds is still far below any of the tests' waits.
                "AIRFLOW__CELERY__OPERATION_TIMEOUT": "10",
                **env,
            }
            worker_env = {
                "PYTHONPATH": python_path,
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{HOSTNAME_MODULE}.name",
                "AAC_WORKER_NAME": worker,
            }
            with running_airflow(
                home, dags, celery_env, lifetime=lifetime, services=services, service_env={worker: worker_env}
            ) as airflow:
                wait_for_worker(airflow, worker)
                roots = {name: process.pid for name, process in airflow.processes.items()}
                roots |= {"postgres": db_pid, "redis": broker_pid}
                stack = ProductionStack(airflow, home, logs, worker, PssSampler(roots))
                stack.timings.update(timings, startup_s=round(time.monotonic() - started, 1))
                with stack.memory:
                    yield stack
    finally:
        shutil.rmtree(root, ignore_errors=True)


def worker_arguments(name: str) -> list[str]:
    """`airflow` arguments of a Celery worker whose celery hostname is ``<name>@<host>``."""
    concurrency = ["--concurrency", str(WORKER_CONCURRENCY)]
    return ["celery", "worker", *concurrency, "--skip-serve-logs", "--celery-hostname", f"{name}@%h"]


def wait_for_worker(airflow: Airflow, name: str) -> None:
    """Until the worker ``name`` has said it is ready (fails at once if it exited)."""
    log = airflow.service_logs / f"{name}.log"

    def ready() -> bool:
        _still_running(airflow.processes[name], log)
        return any(f"{name}@" in line and "ready." in line for line in _lines(log))

    wait_for(f"the celery worker {name}", ready, timeout=120, every=0.2)


def start_worker(stack: ProductionStack, name: str) -> None:
    """Start one more Celery worker, ``name`` (its task instances report that hostname), and wait until it is
    ready; it prints to ``<name>.log`` and is stopped with the stack."""
    start_again(
        stack.airflow, stack.worker, as_name=name, arguments=worker_arguments(name), env={"AAC_WORKER_NAME": name}
    )
    wait_for_worker(stack.airflow, name)


def _still_running(server: subprocess.Popen[bytes], log: Path) -> bool:
    """Fail at once, with the end of its log, when a server we are waiting for has exited."""
    if server.poll() is not None:
        raise AssertionError(f"{log.stem} exited ({server.returncode}):\n{''.join(_lines(log)[-40:])}")
    return True


def _lines(path: Path) -> list[str]:
    return path.read_text(errors="replace").splitlines(keepends=True) if path.exists() else []
