"""1. Planning at the registry's scale and what prepare sends; 6. growth with the number of definitions."""

from __future__ import annotations

import json
import os
import time
import tracemalloc
from collections import Counter

import yaml
from common import (
    CLIENT_ID,
    CLIENT_SECRET,
    REGISTRY,
    RELEASES,
    WORK,
    median_of,
    record,
    registry_config,
    synthetic_definitions,
    timed,
    use_airbyte,
)


def bench_registry_plan() -> None:
    from airflow_airbyte_connectors.config.configs import get_configs
    from airflow_airbyte_connectors.core.releases import parse_registry
    from airflow_airbyte_connectors.hooks import airbyte_definitions
    from airflow_airbyte_connectors.plan import plan_builder
    from airflow_airbyte_connectors.plan.planning import make_plan, with_holds, with_version_changes
    from airflow_airbyte_connectors.tasks.prepare import prepare
    from airflow_airbyte_connectors.testing import AirbyteEmulator

    config_path = WORK / "registry_config.yaml"
    config_path.write_text(yaml.safe_dump(registry_config(), sort_keys=False))
    desired = get_configs("connectors", path=config_path)
    with AirbyteEmulator(
        seed=REGISTRY,
        registry=RELEASES,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        older_fraction=0.1,
        missing_fraction=0.01,
        rng_seed=1,
    ) as emu:
        use_airbyte(emu.url)
        os.environ["AIRFLOW__AIRBYTE_CONNECTORS__REGISTRY_URL"] = emu.registry_url
        current = {kind: emu.definitions(kind) for kind in ("source", "destination")}
        releases_document = json.loads(RELEASES.read_text())

        def plan_cpu() -> float:
            started = time.process_time()
            make_plan(desired, current)
            return time.process_time() - started

        def meaning_cpu() -> float:
            # Everything the plan adds with the registry: parse its releases, classify, hold.
            started = time.process_time()
            with_holds(
                with_version_changes(make_plan(desired, current), parse_registry(releases_document), registry="read"),
                frozenset({"breaking", "downgrade"}),
            )
            return time.process_time() - started

        cpu = median_of(21, plan_cpu)
        meaning = median_of(21, meaning_cpu)
        validate = median_of(5, lambda: timed(lambda: get_configs("connectors", path=config_path)))
        airbyte_definitions._token_cache.clear()
        emu.clear_requests()
        started = time.perf_counter()
        prepared = prepare(config_path=str(config_path), max_writes=1000)
        wall = time.perf_counter() - started
        operations = [r.operation for r in emu.requests]
        # Baseline: the same prepare with its impact reads sent one at a time.
        at_once, plan_builder.READS_AT_ONCE = plan_builder.READS_AT_ONCE, 1
        airbyte_definitions._token_cache.clear()
        started = time.perf_counter()
        prepare(config_path=str(config_path), max_writes=1000)
        sequential_wall = time.perf_counter() - started
        plan_builder.READS_AT_ONCE = at_once
        # Memory in a second pass: tracemalloc slows Python down several times.
        tracemalloc.start()
        prepare(config_path=str(config_path), max_writes=1000)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        # A config Airbyte is already in step with: no update, so no registry or impact read.
        in_step = WORK / "in_step_config.yaml"
        in_step.write_text(
            yaml.safe_dump({"connectors": {f"{k}_definitions": emu.definitions(k) for k in ("source", "destination")}})
        )
        airbyte_definitions._token_cache.clear()
        emu.clear_requests()
        prepare(config_path=str(in_step), max_writes=1000)
        quiet = [r.operation for r in emu.requests]
        os.environ["AIRFLOW__AIRBYTE_CONNECTORS__REGISTRY_URL"] = ""
    minimum = [
        "applications/token",
        "source_definitions/list",
        "destination_definitions/list",
        "workspaces/list_by_organization_id",
    ]
    counts = prepared.document.counts
    changed = counts.update + counts.held
    record("1a planning 633 definitions (CPU)", f"{cpu * 1000:.1f} ms", "target 50 ms", cpu / 0.050, "< 1.0x")
    record(
        "1f plan + meaning, full registry releases (CPU)",
        f"{meaning * 1000:.1f} ms",
        f"plan alone {cpu * 1000:.1f} ms",
        meaning / cpu,
        "-",
        "parse 647 connectors' releases, classify, hold",
    )
    record("1b loading + validating 633 (YAML)", f"{validate * 1000:.1f} ms", "-", None, "-")
    record(
        "1c prepare wall (633, auth on)",
        f"{wall:.2f} s",
        f"impact reads one at a time {sequential_wall:.2f} s",
        wall / sequential_wall,
        "-",
        f"plan: {counts.create} create, {counts.update} update; {plan_builder.READS_AT_ONCE} impact reads at once",
    )
    record("1d prepare peak memory (tracemalloc)", f"{peak / 1e6:.1f} MB", "-", None, "-")
    by_operation = Counter(operations)
    # With updates: the minimum, one registry read, and per changed definition one search (plus the
    # connections of the workspaces of sources it crosses a stream-scoped breaking change for).
    expected = len(minimum) + 1 + changed
    record(
        "1e prepare requests, with updates",
        f"{len(operations)}: " + ", ".join(f"{n}x {op}" for op, n in by_operation.most_common()),
        f"4 + 1 registry + {changed} changed = {expected}",
        len(operations) / expected,
        "= 1.0x",
        f"{counts.update} updates, {counts.held} held",
    )
    without = ["applications/token", "source_definitions/list", "destination_definitions/list"]
    record(
        "1g prepare requests, nothing to update",
        f"{len(quiet)}: {', '.join(quiet)}",
        f"minimum {len(without)}",
        len(quiet) / len(without),
        "= 1.0x",
        "no registry or impact read" if sorted(quiet) == sorted(without) else "",
    )


def bench_growth() -> None:
    from airflow_airbyte_connectors.config.configs import parse_connectors
    from airflow_airbyte_connectors.plan.planning import make_plan

    per_definition = {}
    for n in (1_000, 10_000, 50_000):
        entries = synthetic_definitions(n, "Synthetic", "synthetic/source", "1.0.1")
        current = [
            {
                "sourceDefinitionId": f"00000000-0000-4000-b000-{i:012d}",
                **e,
                "dockerImageTag": "1.0.0" if i % 10 == 0 else "1.0.1",
            }
            for i, e in enumerate(entries)
        ]
        started = time.perf_counter()
        desired = parse_connectors({"source_definitions": entries})
        validated = time.perf_counter()
        plan = make_plan(desired, {"source": current, "destination": []})
        planned = time.perf_counter()
        # Memory in a second pass: tracemalloc slows Python down several times.
        tracemalloc.start()
        make_plan(parse_connectors({"source_definitions": entries}), {"source": current, "destination": []})
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert len(plan.updates) == n // 10
        per_definition[n] = (planned - started) / n
        record(
            f"6 growth n={n:,}",
            f"validate {validated - started:.2f} s + plan {planned - validated:.2f} s",
            f"peak {peak / 1e6:.0f} MB",
            per_definition[n] / per_definition[1_000],
            "~1.0x per definition",
            f"{per_definition[n] * 1e6:.0f} us per definition",
        )
