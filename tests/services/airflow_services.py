"""Real Airflow services (api-server, scheduler, dag-processor, triggerer; LocalExecutor, SQLite by default) on
loopback, and a small client for Airflow's REST API. Used by the services tests and the benchmarks; the
production stack (production_stack.py) starts its servers with the same helpers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from tests.support import unused_port

# Each service by name with its `airflow` arguments. The scheduler and triggerer would otherwise start a log
# server on every interface; the api-server reads task logs from the shared AIRFLOW_HOME instead.
SERVICES = {
    "api-server": ["api-server"],
    "scheduler": ["scheduler", "--skip-serve-logs"],
    "dag-processor": ["dag-processor"],
    "triggerer": ["triggerer", "--skip-serve-logs"],
}
KILL_AFTER = 15  # seconds `timeout` waits after its signal before it kills


def start_service(
    command: list[str],
    log: Path,
    env: dict[str, str],
    *,
    lifetime: int,
    signal_name: str = "TERM",
    user: str | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``command`` under `timeout` (so it stops by itself after ``lifetime`` seconds even if the caller is
    killed) in its own session (so it can be stopped by process group id), printing to ``log``. With ``user``,
    it runs as that user (Postgres refuses to run as root)."""
    as_user = ["runuser", "-u", user, "--"] if user else []
    timeout = ["timeout", f"--signal={signal_name}", f"--kill-after={KILL_AFTER}", str(lifetime)]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        return subprocess.Popen(
            [*as_user, *timeout, *command], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop_services(processes: list[subprocess.Popen[bytes]]) -> None:
    """Stop each service's process group (TERM, then KILL for a group that does not stop in time)."""
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=KILL_AFTER + 5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


class Airflow:
    """Airflow's REST API as the tests use it."""

    def __init__(self, url: str):
        self.url = url
        self.session = requests.Session()
        # The service processes behind this API by name (set by running_airflow), e.g. to measure them.
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        # How each was started (command, environment, lifetime) and where they print, to start one again.
        self.launches: dict[str, tuple[list[str], dict[str, str], int]] = {}
        self.service_logs = Path()

    def login(self, username: str | None = None, password: str | None = None) -> None:
        """A bearer token: anonymous admin in all-admins mode, else the named user's."""
        if username is None:
            answer = self.session.get(f"{self.url}/auth/token", timeout=10)
        else:
            answer = self.session.post(
                f"{self.url}/auth/token", json={"username": username, "password": password}, timeout=10
            )
        answer.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = self.session.request(method, f"{self.url}/api/v2/{path}", timeout=30, **kwargs)
        answer.raise_for_status()
        return answer.json() if answer.content else None

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        run = self.api("POST", f"dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf or {}})
        return run["dag_run_id"]

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        return self.api("GET", f"dags/{dag_id}/dagRuns")["dag_runs"]

    def task_instances(self, dag_id: str, run_id: str, limit: int = 100) -> list[dict[str, Any]]:
        answer = self.api("GET", f"dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": limit})
        return answer["task_instances"]

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str) -> Any:
        entry = self.api("GET", f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}")
        return entry["value"]


def wait_for(what: str, check: Callable[[], Any], timeout: float = 120, every: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except (requests.RequestException, KeyError) as error:
            last_error = error
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what} (last error: {last_error})")


def logged_line(log: Path, *parts: str, timeout: float = 120) -> str:
    """Wait for a line of ``log`` that holds every one of ``parts``, and return it."""

    def found() -> str | None:
        text = log.read_text(errors="replace") if log.exists() else ""
        return next((line for line in text.splitlines() if all(part in line for part in parts)), None)

    return wait_for(f"a line with {parts} in {log.name}", found, timeout=timeout, every=0.2)


ERROR_MARKS = ('"level":"error"', '"level":"critical"', "[error]", "[critical]", ":ERROR/", ":CRITICAL/")


def logged_errors(home: Path) -> list[str]:
    """Lines logged at error level or worse: in the task logs (JSON lines) and in what the services printed
    (task processes of LocalExecutor print there too; Celery's own lines read `[<time>: ERROR/<process>]`)."""
    found = []
    for log_file in sorted((home / "logs").rglob("*.log")) + sorted((home / "service-logs").glob("*.log")):
        for line in log_file.read_text(errors="replace").splitlines():
            compact = line.replace(" ", "")
            if any(mark in compact for mark in ERROR_MARKS):
                found.append(f"{log_file.relative_to(home)}: {line[:300]}")
    return found


def finished(airflow: Airflow, dag_id: str, run_id: str) -> dict[str, Any] | None:
    run = airflow.api("GET", f"dags/{dag_id}/dagRuns/{run_id}")
    return run if run["state"] in ("success", "failed") else None


@contextmanager
def running_airflow(
    home: Path,
    dags: Path,
    env: dict[str, str],
    *,
    lifetime: int = 600,
    services: dict[str, list[str]] | None = None,
    service_env: dict[str, dict[str, str]] | None = None,
    login: tuple[str, str] | None = None,
) -> Iterator[Airflow]:
    """Migrate a fresh AIRFLOW_HOME and run the services (by default SERVICES) until the block ends.

    ``env`` overrides the defaults for every process (e.g. another executor and database); ``service_env``
    adds variables for one service only. Each service prints to ``home/service-logs/<name>.log``, runs under
    `timeout`, so it stops by itself after ``lifetime`` seconds even if the caller is killed, and is stopped
    by process group id on exit.
    """
    port = unused_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "16",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__API_AUTH__JWT_SECRET": "local-only-jwt-secret",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "2",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        **env,
    }
    airflow_cli = str(Path(sys.executable).with_name("airflow"))
    migrate = subprocess.run([airflow_cli, "db", "migrate"], env=env, capture_output=True, text=True, timeout=180)
    if migrate.returncode:
        raise AssertionError(f"airflow db migrate failed:\n{migrate.stdout[-3000:]}\n{migrate.stderr[-3000:]}")
    airflow = Airflow(f"http://127.0.0.1:{port}")
    airflow.service_logs = home / "service-logs"
    try:
        for name, arguments in (services or SERVICES).items():
            airflow.launches[name] = ([airflow_cli, *arguments], {**env, **(service_env or {}).get(name, {})}, lifetime)
            _launch(airflow, name)
        wait_for("the api-server", lambda: requests.get(f"{airflow.url}/api/v2/monitor/health", timeout=5).ok)
        airflow.login(*(login or ()))
        yield airflow
    finally:
        stop_services(list(airflow.processes.values()))


def start_again(
    airflow: Airflow,
    name: str,
    *,
    as_name: str,
    arguments: list[str] | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start service ``name`` (again) as ``as_name``, printing to ``<as_name>.log``: with the same command and
    environment, or other `airflow` ``arguments`` and ``env`` added (e.g. a second Celery worker)."""
    command, service_env, lifetime = airflow.launches[name]
    if arguments is not None:
        command = [command[0], *arguments]
    airflow.launches[as_name] = (command, {**service_env, **(env or {})}, lifetime)
    return _launch(airflow, as_name)


def _launch(airflow: Airflow, name: str) -> subprocess.Popen[bytes]:
    command, env, lifetime = airflow.launches[name]
    airflow.processes[name] = start_service(command, airflow.service_logs / f"{name}.log", env, lifetime=lifetime)
    return airflow.processes[name]


def kill_service(airflow: Airflow, name: str) -> int:
    """SIGKILL one service with everything it started, as a crash of its machine would: its process group and
    the groups of its task processes (Airflow's supervisor gives each task a group of its own). Returns once
    they are all gone, with how many there were."""
    import psutil

    process = airflow.processes[name]
    root = psutil.Process(process.pid)
    tree = [root, *root.children(recursive=True)]
    groups = set()
    for member in tree:
        try:
            groups.add(os.getpgid(member.pid))
        except ProcessLookupError:
            continue
    for group in sorted(groups, key=lambda g: g != process.pid):  # the service's own group first
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            continue
    process.wait(timeout=30)

    def all_gone() -> bool:
        alive = []
        for member in tree:
            try:
                if member.status() != psutil.STATUS_ZOMBIE:
                    alive.append(member)
            except psutil.NoSuchProcess:
                continue
        return not alive

    wait_for(f"every process of {name} to die", all_gone, timeout=30, every=0.1)
    return len(tree)
