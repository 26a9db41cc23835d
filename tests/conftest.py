"""Shared test set-up: a throw-away AIRFLOW_HOME (set before Airflow is imported), the emulator,
basic_config files and the Airbyte connection, all real."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import CLIENT_ID, CLIENT_SECRET, DAGS_FOLDER, PROFILE_SPECS, SHARED_AIRBYTE, connection_uri

_AIRFLOW_HOME = tempfile.mkdtemp(prefix="aac-airflow-home-")
os.environ.update(
    {
        "AIRFLOW_HOME": _AIRFLOW_HOME,
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
    }
)
# Tests say which connection and config they use; nothing leaks in from the developer's shell.
for name in list(os.environ):
    if name.startswith(("AIRFLOW_CONN_", "AIRFLOW__AIRBYTE_CONNECTORS__")):
        del os.environ[name]
# A failed apply task fails at once unless a test turns retries on (dag.test would wait out the delay).
os.environ["AIRFLOW__AIRBYTE_CONNECTORS__TASK_RETRIES"] = "0"
os.environ["AIRFLOW__AIRBYTE_CONNECTORS__TASK_RETRY_DELAY"] = "0"
# This machine has no route to Docker Hub; the image-check tests turn the check on against a local registry.
os.environ["AIRFLOW__AIRBYTE_CONNECTORS__CHECK_IMAGES"] = "False"
# Nor to Airbyte's connector registry; the breaking-change tests point registry_url at the emulator's.
os.environ["AIRFLOW__AIRBYTE_CONNECTORS__REGISTRY_URL"] = ""
# Nor to the platform-compatibility matrix; its tests point platform_compatibility_url at a file.
os.environ["AIRFLOW__AIRBYTE_CONNECTORS__PLATFORM_COMPATIBILITY_URL"] = ""

from airflow_airbyte_connectors.testing import AirbyteEmulator  # noqa: E402
from airflow_airbyte_connectors.testing.contract import ContractValidator  # noqa: E402


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    return Path(_AIRFLOW_HOME)


@pytest.fixture(scope="session")
def airflow_db(airflow_home: Path) -> None:
    from airflow.utils import db

    db.resetdb()


@pytest.fixture(autouse=True)
def no_pending_creates(request: pytest.FixtureRequest) -> Iterator[None]:
    """Creates with an unknown outcome are remembered in Airflow Variables across runs: a test that runs the
    DAG starts and ends without any, so no test sees another's. So do the promotion gate's records of since
    when each Airbyte runs each version."""
    if "airflow_db" not in request.fixturenames:
        yield
        return
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session
    from sqlalchemy import delete

    from airflow_airbyte_connectors.records import pending_creates, promotion_records

    def forget_all() -> None:
        with create_session() as session:
            for prefix in (pending_creates.PREFIX, promotion_records.PREFIX):
                session.execute(delete(Variable).where(Variable.key.startswith(prefix)))

    request.getfixturevalue("airflow_db")
    forget_all()
    yield
    forget_all()


@pytest.fixture(autouse=True)
def fresh_token_cache() -> Iterator[None]:
    """Each test starts without a cached Airbyte token, so request counts do not depend on test order. The hook's
    module is not imported for it: a test that never imported the hook has no token to forget, and pure tests do
    not pay Airflow's import."""
    import sys

    def forget() -> None:
        hook_module = sys.modules.get("airflow_airbyte_connectors.hooks.airbyte_definitions")
        if hook_module is not None:
            hook_module._token_cache.clear()

    forget()
    yield
    forget()


@pytest.fixture
def emulator(request: pytest.FixtureRequest) -> Iterator[Callable[..., AirbyteEmulator]]:
    """Start emulators on 127.0.0.1; every one is stopped when the test ends.

    Every request and answer is checked against Airbyte's OpenAPI spec: a violation fails the test that
    caused it, unless the test is marked ``allow_contract_violations`` (it sends bad requests on purpose).
    """
    started: list[AirbyteEmulator] = []

    def start(**kwargs: Any) -> AirbyteEmulator:
        kwargs.setdefault("max_lifetime", 600)
        kwargs.setdefault("contract", ContractValidator(PROFILE_SPECS[kwargs.get("profile", "2.0")]))
        emulator_class = kwargs.pop("emulator_class", AirbyteEmulator)
        emu = emulator_class(**kwargs).start()
        started.append(emu)
        return emu

    yield start
    violations = []
    for emu in started:
        emu.stop()
        violations += emu.contract_violations
    if violations and not request.node.get_closest_marker("allow_contract_violations"):
        pytest.fail("Airbyte contract violated:\n" + "\n".join(violations), pytrace=False)


@pytest.fixture
def use_emulator(monkeypatch: pytest.MonkeyPatch, emulator: Callable[..., AirbyteEmulator]):
    """Start an emulator and make it the `airbyte_default` connection."""

    def start(
        *, auth: str = "bearer", host_suffix: str = "", extra: dict[str, Any] | None = None, **kwargs: Any
    ) -> AirbyteEmulator:
        profile = kwargs.get("profile", "2.0")
        if auth != "none":
            kwargs.setdefault("client_id", CLIENT_ID)
            kwargs.setdefault("client_secret", CLIENT_SECRET)
        if profile == "0.63" and auth == "bearer":
            auth = "basic"
        emu = emulator(**kwargs)
        monkeypatch.setenv(
            "AIRFLOW_CONN_AIRBYTE_DEFAULT", connection_uri(emu, auth=auth, host_suffix=host_suffix, **(extra or {}))
        )
        return emu

    return start


@pytest.fixture
def write_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """Write a basic_config file and make it the configured ``basic_config_path``."""
    path = tmp_path / "configs" / "basic_config.yaml"

    def write(content: dict[str, Any] | str) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False))
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__BASIC_CONFIG_PATH", str(path))
        return path

    return write


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """With pytest-xdist (`make test` runs two workers), the tests that start Airflow services share one
    worker, one after another: two stacks at once would fight over the 2 cores the other tests need."""
    for item in items:
        if item.get_closest_marker("services") or item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.xdist_group("airflow-services"))
    if not SHARED_AIRBYTE.is_dir() and os.environ.get("CI"):
        raise pytest.UsageError(f"{SHARED_AIRBYTE} is missing: CI runs every test, and most read Airbyte's files there")


def _missing_airbyte_file(error: BaseException | None) -> bool:
    while error is not None:
        if isinstance(error, FileNotFoundError) and str(error.filename or "").startswith(str(SHARED_AIRBYTE)):
            return True
        error = error.__cause__ or error.__context__
    return False


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    """On a clone without ../shared/airbyte, a test that needs Airbyte's specs or registry snapshots from there
    is reported as skipped, saying so (CI refuses to run without them: see above)."""
    report = yield
    # Only when the folder is absent: with it, a missing file is a real failure.
    if call.excinfo is not None and not SHARED_AIRBYTE.is_dir() and _missing_airbyte_file(call.excinfo.value):
        report.outcome = "skipped"
        reason = f"Skipped: needs Airbyte's OpenAPI specs and registry snapshots in {SHARED_AIRBYTE}"
        report.longrepr = (str(item.path), (item.location[1] or 0) + 1, reason)
    return report
