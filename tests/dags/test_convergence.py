"""Convergence under faults: whatever Airbyte holds and whatever goes wrong on the wire, repeated runs of
the DAG end with Airbyte exactly as declared, nothing duplicated, nothing else touched, and then a run
that writes nothing.

The example count is small for CI; choose a longer run with CONVERGENCE_EXAMPLES=200.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_airbyte_connectors.testing import Faults
from airflow_airbyte_connectors.testing.server import older_tag
from tests.dags.test_create_connectors import run_dag
from tests.support import age_pending_creates, pending_records, registry

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("airflow_db")]

EXAMPLES = int(os.environ.get("CONVERGENCE_EXAMPLES", "4"))
MAX_RUNS = 5
KINDS = ("source", "destination")
# Distinct names, so that a config drawn from the pool is always valid.
POOL = {
    "source": [e for e in registry()["sources"] if e["name"] not in ("Customer.io", "Harness", "PagerDuty")][:30],
    "destination": registry()["destinations"][:12],
}

# Run totals across examples, printed at the end of the session for the closing figures.
TOTALS: Counter[str] = Counter()


def newer_tag(tag: str) -> str:
    head, _, last = tag.rpartition(".")
    return f"{head}.{int(last) + 1}" if last.isdigit() else f"{tag}.1"


@st.composite
def definition_state(draw: st.DrawFn, kind: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(what Airbyte holds, what the config declares) for one kind."""
    pool = POOL[kind]
    picked = draw(st.lists(st.sampled_from(range(len(pool))), min_size=3, max_size=8, unique=True))
    in_airbyte: list[dict[str, Any]] = []
    declared: list[dict[str, Any]] = []
    for number, index in enumerate(picked):
        entry = dict(pool[index])
        present = draw(st.sampled_from(["current", "older", "missing"]))
        if present != "missing":
            in_airbyte.append(
                {
                    **entry,
                    "dockerImageTag": older_tag(entry["dockerImageTag"])
                    if present == "older"
                    else entry["dockerImageTag"],
                }
            )
        if number % 3 != 2 or present == "missing":  # some present definitions are left out of the config
            wanted = draw(st.sampled_from(["same", "newer"]))
            tag = entry["dockerImageTag"] if wanted == "same" else newer_tag(entry["dockerImageTag"])
            declared.append({**entry, "dockerImageTag": tag})
    for number in range(draw(st.integers(0, 3))):  # custom connectors
        custom = {
            "name": f"Acme {kind} {number}",
            "dockerRepository": f"ghcr.io/acme/{kind}-{number}",
            "dockerImageTag": f"1.{number}.0",
            "documentationUrl": "https://acme.example/docs",
            "custom": True,
            f"{kind}DefinitionId": f"00000000-0000-4000-8000-00000000{number:04d}",
        }
        state = draw(st.sampled_from(["missing", "older", "current"]))
        if state != "missing":
            in_airbyte.append({**custom, "dockerImageTag": "0.9.0" if state == "older" else custom["dockerImageTag"]})
        declared.append({k: v for k, v in custom.items() if k not in ("custom", f"{kind}DefinitionId")})
    if declared and draw(st.booleans()):  # someone made a custom definition with a configured name
        twin = declared[0]
        in_airbyte.append(
            {
                "name": twin["name"],
                "dockerRepository": f"ghcr.io/someone/{kind}-twin",
                "dockerImageTag": "0.1.0",
                "documentationUrl": "https://someone.example",
                "custom": True,
                f"{kind}DefinitionId": "00000000-0000-4000-8000-00000000ffff",
            }
        )
    return in_airbyte, declared


FAULTS = st.builds(
    Faults,
    seed=st.integers(0, 2**16),
    error_rate=st.sampled_from([0.0, 0.05, 0.1]),
    rate_limit_rate=st.sampled_from([0.0, 0.05]),
    retry_after=st.just(1),
    drop_rate=st.sampled_from([0.0, 0.05]),
    slow_rate=st.sampled_from([0.0, 0.03]),
    slow_seconds=st.just(1.5),
    lost_write_rate=st.sampled_from([0.0, 0.15, 0.3]),
)


@pytest.fixture
def fast_failing_client(monkeypatch: pytest.MonkeyPatch) -> None:
    # Reads time out before a slow answer arrives (and are retried); writes wait longer than the server
    # takes, as in production where write_timeout exceeds Airbyte's spec job. Retries on, no delay.
    monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__READ_TIMEOUT", "1")
    monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__WRITE_TIMEOUT", "5")
    monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__TASK_RETRIES", "3")
    monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__MAX_WRITES", "1000")


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sources=definition_state("source"), destinations=definition_state("destination"), faults=FAULTS)
def test_runs_converge_under_faults(use_emulator, write_config, fast_failing_client, sources, destinations, faults):
    seed = {"sources": sources[0], "destinations": destinations[0]}
    airbyte = use_emulator(seed=seed, faults=faults)
    before = {kind: {d[f"{kind}DefinitionId"]: d for d in airbyte.definitions(kind)} for kind in KINDS}
    declared = {"source": sources[1], "destination": destinations[1]}
    write_config({"connectors": {"source_definitions": sources[1], "destination_definitions": destinations[1]}})

    runs = 0
    for runs in range(1, MAX_RUNS + 1):  # noqa: B007 - the count is reported
        if run_dag().state == "success" and not pending_records():
            break
        # The emulator's 502/503 faults change nothing, yet a create so answered has an unknown outcome and is
        # not sent again within create_settle_window (tests/dags/test_plan_promise.py): between runs the window
        # passes, as it would between real runs, so the next run plans it again.
        age_pending_creates()
    TOTALS.update(
        examples=1,
        runs=runs,
        definitions=sum(map(len, declared.values())),
        **{f"fault_{k}": v for k, v in airbyte.faults_injected.items()},
    )
    assert runs < MAX_RUNS or run_dag().state == "success", f"no successful run in {MAX_RUNS}"

    for kind in KINDS:
        now = airbyte.definitions(kind)
        by_repository = Counter(d["dockerRepository"] for d in now)
        duplicates = [repo for repo, count in by_repository.items() if count > 1]
        TOTALS["duplicates"] += len(duplicates)
        assert duplicates == [], f"{kind} definitions duplicated: {duplicates}"
        tags = {d["dockerRepository"]: d["dockerImageTag"] for d in now}
        for entry in declared[kind]:
            assert tags.get(entry["dockerRepository"]) == entry["dockerImageTag"], entry["name"]
        declared_repositories = {e["dockerRepository"] for e in declared[kind]}
        now_by_id = {d[f"{kind}DefinitionId"]: d for d in now}
        for definition_id, old in before[kind].items():
            assert definition_id in now_by_id, f"{kind} {old['name']} was deleted"
            if old["dockerRepository"] not in declared_repositories:
                assert now_by_id[definition_id] == old, f"{kind} {old['name']} changed although not configured"

    airbyte.set_faults(None)
    airbyte.clear_requests()
    assert run_dag().state == "success"
    assert airbyte.write_requests() == []


def teardown_module() -> None:
    print(f"\nconvergence totals: {dict(TOTALS)}")
