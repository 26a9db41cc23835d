"""9. Environments: five Airbytes planned by one run, each beside the same Airbyte planned alone.

Five emulators, each in its own process (their CPU is not the pipeline's), seeded with the 633-definition
registry, each running a share of it a version behind; the config is the registry's with
``connectors.environments`` (dev; staging promoteFrom dev; prod promoteFrom staging; eu and us promoteFrom prod).
The upstreams of gated changes hold a few connections with sync jobs. Since when each Airbyte runs each tag (Airflow
Variables inside Airflow) and the pending creates (none) are kept in memory here.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from multiprocessing.connection import Connection
from typing import Any

import yaml
from common import CLIENT_ID, CLIENT_SECRET, REGISTRY, RELEASES, WORK, record, registry_config


@dataclass(frozen=True)
class Environment:
    name: str
    promote_from: str | None
    soak: str | None
    successful_syncs: int | None
    # The share of the registry this Airbyte runs a version behind the config (deterministic from rng_seed).
    behind: float
    rng_seed: int


ENVIRONMENTS = (
    Environment("dev", None, None, None, 0.03, 1),
    Environment("staging", "dev", "1d", 1, 0.06, 2),
    Environment("prod", "staging", "3d", 2, 0.10, 3),
    Environment("eu", "prod", "1d", 1, 0.10, 4),
    Environment("us", "prod", "1d", 1, 0.10, 4),  # promoted with eu: the same versions
)
# Seconds each emulator adds to every API call (a round trip to an Airbyte on the network and its own work).
LATENCY = 0.05
RUNS = 5
# Every tag has run this long where it runs (the records of versions seen): the soaks are met, syncs decide.
RUNNING_FOR = timedelta(days=4)
# Entries prod keeps at the tag it runs (environmentTags: an exception, not gated) and entries tried in dev and
# staging only (environments): the environments' configs differ.
PROD_EXCEPTIONS = 3
DEV_AND_STAGING_ONLY = 2
SIZES = (100, 300, 633)
ENVIRONMENT_COUNTS = (1, 2, 5)

Definition = tuple[str, str]  # (kind, dockerRepository)


def registry_subset(size: int) -> dict[str, Any]:
    """The first ``size`` definitions of the registry, sources and destinations in their proportion."""
    data = json.loads(REGISTRY.read_text())
    sources = round(size * len(data["sources"]) / (len(data["sources"]) + len(data["destinations"])))
    return {"sources": data["sources"][:sources], "destinations": data["destinations"][: size - sources]}


def tags_of(seed: dict[str, Any], environment: Environment) -> dict[Definition, str]:
    """What the environment's Airbyte runs: the emulator's seed, read without starting it."""
    from airflow_airbyte_connectors.testing import AirbyteEmulator

    emulator = AirbyteEmulator(seed=seed, older_fraction=environment.behind, rng_seed=environment.rng_seed)
    return {
        (k, d["dockerRepository"]): d["dockerImageTag"]
        for k in ("source", "destination")
        for d in emulator.definitions(k)
    }


@dataclass(frozen=True)
class Scenario:
    environments: tuple[Environment, ...]
    config: dict[str, Any]
    # What each Airbyte runs, and the tag the config wants there.
    running: dict[str, dict[Definition, str]]
    wanted: dict[str, dict[Definition, str]]
    # Connections to seed in each Airbyte: (source, destination, workspace index, sync job statuses, gated).
    connections: dict[str, list[tuple[str, str, int, tuple[str, ...], bool]]]

    def downstreams(self, name: str) -> list[Environment]:
        return [e for e in self.environments if e.promote_from == name]

    def gate_reads(self, environment: Environment) -> set[Definition]:
        """The gated changes of ``environment`` whose syncs the gate reads: its Airbyte runs another (lower) tag
        than the one wanted, the upstream runs the wanted one, and it is not an exception."""
        if environment.promote_from is None:
            return set()
        upstream = self.running[environment.promote_from]
        own, wanted = self.running[environment.name], self.wanted[environment.name]
        exceptions = self.exceptions(environment.name)
        return {
            d
            for d, tag in wanted.items()
            if d in own and own[d] != tag and upstream.get(d) == tag and d not in exceptions
        }

    def exceptions(self, name: str) -> set[Definition]:
        return {
            (kind, e["dockerRepository"])
            for kind in ("source", "destination")
            for e in self.config["connectors"][f"{kind}_definitions"]
            if name in e.get("environmentTags", {})
        }

    def alone(self, name: str) -> dict[str, Any]:
        """What ``name`` wants as a config without environments (the same Airbyte planned alone)."""
        config: dict[str, Any] = {"connectors": {}}
        for kind in ("source", "destination"):
            config["connectors"][f"{kind}_definitions"] = [
                {
                    **{k: v for k, v in e.items() if k not in ("environments", "environmentTags")},
                    "dockerImageTag": e.get("environmentTags", {}).get(name, e["dockerImageTag"]),
                }
                for e in self.config["connectors"][f"{kind}_definitions"]
                if name in e.get("environments", [name])
            ]
        return config


def scenario(size: int, environments: Sequence[Environment] = ENVIRONMENTS) -> Scenario:
    seed = registry_subset(size)
    base = registry_config()
    keep = {(e["dockerRepository"]) for kind in ("sources", "destinations") for e in seed[kind]}
    config = {
        "connectors": {
            f"{kind}_definitions": [
                e for e in base["connectors"][f"{kind}_definitions"] if e["dockerRepository"] in keep
            ]
            for kind in ("source", "destination")
        }
    }
    running = {e.name: tags_of(seed, e) for e in environments}
    sources = config["connectors"]["source_definitions"]
    names = {e.name for e in environments}
    if "prod" in names:
        behind_in_prod = [
            e for e in sources if running["prod"][("source", e["dockerRepository"])] != e["dockerImageTag"]
        ]
        for entry in behind_in_prod[:PROD_EXCEPTIONS]:
            entry["environmentTags"] = {"prod": running["prod"][("source", entry["dockerRepository"])]}
    if {"dev", "staging"} <= names and len(names) > 2:
        for entry in sources[-DEV_AND_STAGING_ONLY:]:
            entry["environments"] = ["dev", "staging"]
    config["connectors"]["environments"] = {
        e.name: {
            "conn_id": f"bench_{e.name}",
            **({"promoteFrom": e.promote_from} if e.promote_from else {}),
            **({"soak": e.soak} if e.soak else {}),
            **({"successfulSyncs": e.successful_syncs} if e.successful_syncs is not None else {}),
        }
        for e in environments
    }
    wanted: dict[str, dict[Definition, str]] = {}
    for e in environments:
        wanted[e.name] = {
            (kind, entry["dockerRepository"]): entry.get("environmentTags", {}).get(e.name, entry["dockerImageTag"])
            for kind in ("source", "destination")
            for entry in config["connectors"][f"{kind}_definitions"]
            if e.name in entry.get("environments", [e.name])
        }
    partial = Scenario(tuple(environments), config, running, wanted, {})
    return Scenario(tuple(environments), config, running, wanted, _connections(partial))


def _connections(s: Scenario) -> dict[str, list[tuple[str, str, int, tuple[str, ...], bool]]]:
    """In each upstream: three connections from sources its downstreams' gate judges, to one destination (two
    succeeded syncs each, the third's last sync failed), and one connection in another workspace between
    definitions no gate judges."""
    connections: dict[str, list[tuple[str, str, int, tuple[str, ...], bool]]] = {}
    for upstream in s.environments:
        downstreams = s.downstreams(upstream.name)
        if not downstreams:
            continue
        judged = set().union(*(s.gate_reads(d) for d in downstreams))
        gated_sources = sorted(r for k, r in judged if k == "source")[:3]
        # Judged nowhere downstream: moved in no environment after this one.
        others = sorted(d for d in s.running[upstream.name] if all(d not in s.gate_reads(x) for x in s.environments))
        destination = next(r for k, r in sorted(judged) + others if k == "destination")
        statuses = [("succeeded", "succeeded"), ("succeeded", "succeeded"), ("succeeded", "failed")]
        connections[upstream.name] = [
            (source, destination, 0, statuses[i], True) for i, source in enumerate(gated_sources)
        ]
        source = next(r for k, r in others if k == "source")
        other_destination = next(r for k, r in others if k == "destination" and r != destination)
        connections[upstream.name].append((source, other_destination, 1, ("succeeded",), False))
    return connections


# -- the emulators, each in its own process ---------------------------------------------------------


def _serve(spec: dict[str, Any], pipe: Connection) -> None:
    from airflow_airbyte_connectors.testing import AirbyteEmulator, Faults

    latency = spec.pop("latency")
    connections = spec.pop("connections")
    emulator = AirbyteEmulator(
        **spec,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        workspaces=2,
        max_lifetime=1800,
        faults=Faults(slow_rate=1.0, slow_seconds=latency) if latency else None,
    )
    moment = time.time()
    for source, destination, workspace, statuses, _ in connections:
        where = emulator.workspace_ids[workspace]
        connection = emulator.add_connection(
            emulator.add_source(source, name=source, workspace_id=where),
            emulator.add_destination(destination, name=destination, workspace_id=where),
            ["stream"],
            name=f"{source} → {destination}",
        )
        for age, status in zip(range(len(statuses), 0, -1), statuses, strict=True):
            emulator.add_sync_job(connection, status, created_at=moment - age * 3600, updated_at=moment - age * 3000)
    with emulator:
        pipe.send((emulator.url, emulator.workspace_ids[0]))
        while (command := pipe.recv()) != "stop":
            if command == "requests":
                pipe.send([r.operation for r in emulator.requests])
            elif command == "clear":
                emulator.clear_requests()
                pipe.send(None)


class Airbytes:
    """The emulators of a scenario; ``operations(name)`` is what the one of environment ``name`` was asked."""

    def __init__(self, pipes: dict[str, Connection]):
        self._pipes = pipes

    def operations(self, name: str) -> Counter[str]:
        self._pipes[name].send("requests")
        return Counter(self._pipes[name].recv())

    def clear(self) -> None:
        for pipe in self._pipes.values():
            pipe.send("clear")
            pipe.recv()


@contextmanager
def airbytes(s: Scenario, size: int, latency: float) -> Iterator[Airbytes]:
    context = multiprocessing.get_context("fork")
    seed = registry_subset(size)
    pipes, processes = {}, []
    try:
        for e in s.environments:
            ours, theirs = context.Pipe()
            spec = {
                "seed": seed,
                "older_fraction": e.behind,
                "rng_seed": e.rng_seed,
                "latency": latency,
                "connections": s.connections.get(e.name, []),
            }
            process = context.Process(target=_serve, args=(spec, theirs), daemon=True)
            process.start()
            processes.append(process)
            pipes[e.name] = ours
            url, workspace = ours.recv()  # two workspaces: the connection names the one written to
            os.environ[f"AIRFLOW_CONN_BENCH_{e.name.upper()}"] = json.dumps(
                {
                    "conn_type": "airbyte",
                    "host": url,
                    "login": CLIENT_ID,
                    "password": CLIENT_SECRET,
                    "extra": {"workspace_id": workspace},
                }
            )
        yield Airbytes(pipes)
    finally:
        for pipe in pipes.values():
            pipe.send("stop")
        for process in processes:
            process.join(10)


# -- runs ----------------------------------------------------------------------------------------------


def _running_since(hook: Any, listing: Sequence[tuple[str, str, str]], now: datetime) -> dict[Definition, datetime]:
    return {(kind, repository): now - RUNNING_FOR for kind, repository, _ in listing}


def run_prepare(config: str, conn_id: str | None = None) -> Any:
    """``prepare`` as a run inside Airflow makes it, with the records of versions seen and of pending creates (Airflow
    Variables there) in memory: every tag seen ``RUNNING_FOR`` ago, no create pending."""
    from airflow_airbyte_connectors.hooks import airbyte_definitions
    from airflow_airbyte_connectors.tasks import prepare as prepare_task

    airbyte_definitions._token_cache.clear()  # each run asks its tokens, as a new task does
    kept = prepare_task._versions_since, prepare_task._pending_creates
    prepare_task._versions_since = _running_since
    prepare_task._pending_creates = lambda: lambda hook, shown, wanted: {}
    try:
        return prepare_task.prepare(config_path=config, conn_id=conn_id, max_writes=1000, check_pending_creates=True)
    finally:
        prepare_task._versions_since, prepare_task._pending_creates = kept


def write_config(name: str, config: dict[str, Any]) -> str:
    path = WORK / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return str(path)


@contextmanager
def environments_at_once(n: int) -> Iterator[None]:
    from airflow_airbyte_connectors.plan import plan_builder

    kept, plan_builder.ENVIRONMENTS_AT_ONCE = plan_builder.ENVIRONMENTS_AT_ONCE, n
    try:
        yield
    finally:
        plan_builder.ENVIRONMENTS_AT_ONCE = kept


def _shown(counts: Counter[str]) -> str:
    return ", ".join(f"{n}x {op}" for op, n in sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def bench_environments() -> None:
    # The connector registry: one file read a run. The platform-compatibility matrix is on the internet, not
    # reachable here: off.
    os.environ["AIRFLOW__AIRBYTE_CONNECTORS__REGISTRY_URL"] = str(RELEASES)
    os.environ["AIRFLOW__AIRBYTE_CONNECTORS__PLATFORM_COMPATIBILITY_URL"] = ""
    try:
        _requests_and_wall()
        _planning_cpu()
    finally:
        os.environ["AIRFLOW__AIRBYTE_CONNECTORS__REGISTRY_URL"] = ""
        del os.environ["AIRFLOW__AIRBYTE_CONNECTORS__PLATFORM_COMPATIBILITY_URL"]


def _requests_and_wall() -> None:
    s = scenario(633)
    together = write_config("environments", s.config)
    alone = {e.name: write_config(f"alone-{e.name}", s.alone(e.name)) for e in s.environments}
    with airbytes(s, 633, LATENCY) as emulators:
        # (a) what each Airbyte is asked: planned alone, then with the others.
        minimum = {}
        for e in s.environments:
            emulators.clear()
            run_prepare(alone[e.name], f"bench_{e.name}")
            minimum[e.name] = emulators.operations(e.name)
        emulators.clear()
        prepared = run_prepare(together)
        asked = {e.name: emulators.operations(e.name) for e in s.environments}
        document = prepared.document
        for e in s.environments:
            _record_requests(s, e, minimum[e.name], asked[e.name], document)
        # (b) wall: the five together, each alone, the five one after another; rounds interleaved.
        walls: dict[str, list[float]] = {"together": [], "sequential": [], **{e.name: [] for e in s.environments}}

        def timed(key: str, action: Callable[[], Any]) -> None:
            started = time.perf_counter()
            action()
            walls[key].append(time.perf_counter() - started)

        for _ in range(RUNS):
            timed("together", lambda: run_prepare(together))
            for e in s.environments:
                timed(e.name, lambda e=e: run_prepare(alone[e.name], f"bench_{e.name}"))
            with environments_at_once(1):
                timed("sequential", lambda: run_prepare(together))
    median = {key: statistics.median(values) for key, values in walls.items()}
    # The baseline: the environment that sends the most requests alone (the most version moves).
    largest = max((e.name for e in s.environments), key=lambda name: sum(minimum[name].values()))
    counts = document.counts
    record(
        "9b prepare wall, 5 environments at once",
        f"{median['together']:.2f} s",
        f"one environment alone ({largest}) {median[largest]:.2f} s",
        median["together"] / median[largest],
        "<= 1.5x",
        f"median of {RUNS}, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
        f"{LATENCY * 1000:.0f} ms added to every API call; {counts.update} updates, "
        f"{counts.held} held, {counts.waiting} waiting at a gate; alone: "
        + ", ".join(f"{e.name} {median[e.name]:.2f} s" for e in s.environments),
    )
    record(
        "9b' prepare wall, 5 environments one at a time",
        f"{median['sequential']:.2f} s",
        f"5 at once {median['together']:.2f} s",
        median["sequential"] / median["together"],
        "-",
        "ENVIRONMENTS_AT_ONCE = 1",
    )


def _record_requests(s: Scenario, e: Environment, minimum: Counter[str], asked: Counter[str], document: Any) -> None:
    extra, fewer = asked - minimum, minimum - asked
    # The gate's reads sent here, once for all the environments promoting from this one: one search per judged
    # definition, the connections of the workspaces of their sources/destinations, one jobs read per connection
    # using one.
    judged = set().union(*(s.gate_reads(d) for d in s.downstreams(e.name)))
    using = [c for c in s.connections.get(e.name, []) if ("source", c[0]) in judged or ("destination", c[1]) in judged]
    gate = Counter(f"{kind}s/search" for kind, _ in judged) + Counter(
        {"connections/list": len({c[2] for c in using}), "jobs/list": len(using)}
    )
    expected = minimum + Counter({"deployment/metadata": 1}) + gate
    waiting = sum(1 for c in document.waiting if c.environment == e.name)
    downstreams = ", ".join(d.name for d in s.downstreams(e.name))
    record(
        f"9a requests, {e.name}",
        f"{sum(asked.values())}: alone +{_shown(extra) or 'nothing'}" + (f", -{_shown(fewer)}" if fewer else ""),
        f"alone {sum(minimum.values())}: {_shown(minimum)}",
        sum(asked.values()) / sum(minimum.values()),
        "alone + 1 metadata + gate reads",
        ("met" if asked == expected else f"not met: expected {_shown(expected)}")
        + (
            f"; the gate of {downstreams} reads here once: {len(judged)} judged definitions, "
            f"{len(using)} connections use them ({len(using)} jobs/list)"
            if downstreams
            else "; no environment promotes from it"
        )
        + (f"; {waiting} of its changes wait at its own gate (their impact read as alone)" if waiting else ""),
    )


def cpu_of(action: Callable[[], Any]) -> float:
    started = time.process_time()
    action()
    return time.process_time() - started


def _planning_cpu() -> None:
    """(c) The client's CPU for prepare (read, plan, judge, document) by environments x definitions."""
    cpu: dict[tuple[int, int], float] = {}
    for size in SIZES:
        for count in ENVIRONMENT_COUNTS:
            s = scenario(size, ENVIRONMENTS[:count])
            path = write_config(f"cpu-{size}-{count}", s.config)
            with airbytes(s, size, 0.0):
                run_prepare(path)  # warm: imports, first connections

                cpu[(count, size)] = statistics.median(cpu_of(lambda p=path: run_prepare(p)) for _ in range(RUNS))
    one = cpu[(1, SIZES[-1])]
    for count in ENVIRONMENT_COUNTS:
        record(
            f"9c prepare CPU, {count} environment{'s' if count > 1 else ''}",
            "; ".join(f"{size}: {cpu[(count, size)] * 1000:.0f} ms" for size in SIZES),
            f"1 environment x {SIZES[-1]}: {one * 1000:.0f} ms",
            cpu[(count, SIZES[-1])] / (count * one),
            "~1.0x per environment",
            f"median of {RUNS}; client CPU (answers parsed, plans, gates, document); per environment x definition: "
            + ", ".join(f"{cpu[(count, size)] / (count * size) * 1e6:.0f} us" for size in SIZES),
        )
