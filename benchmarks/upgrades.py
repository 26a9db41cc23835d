"""Group 7: ``outdated`` on the whole registry as a basic_config, against the stand-ins."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import time

from common import REGISTRY, WORK, median_of, record, registry_config

from airflow_airbyte_connectors.testing import ImageRegistryEmulator
from airflow_airbyte_connectors.upgrades import outdated
from airflow_airbyte_connectors.upgrades.proposals import release_version

TODAY = datetime.date(2026, 10, 1)
# Every repository gets these releases above its registry tag, the newest two built inside the cooldown.
NEWER = ((0, 0, 1, 200), (0, 0, 2, 90), (0, 1, 0, 40), (0, 1, 1, 3), (1, 0, 0, 2))
COOLDOWN = "7d"


def _publish(images: ImageRegistryEmulator, repository: str, tag: str) -> None:
    images.add_image(repository, tag, TODAY - datetime.timedelta(days=400))
    version = release_version(tag)
    if version is None:
        return
    major, minor, patch = version
    for d_major, d_minor, d_patch, age in NEWER:
        newer = (major + d_major, 0 if d_major else minor + d_minor, 0 if d_major or d_minor else patch + d_patch)
        images.add_image(repository, ".".join(map(str, newer)), TODAY - datetime.timedelta(days=age))


def bench_outdated() -> None:
    config = registry_config()
    config["connectors"]["policy"] = {"versionPolicy": "minor", "breaking": "stop", "minimumReleaseAge": COOLDOWN}
    path = WORK / "outdated_config.yaml"
    path.write_text(json.dumps(config))  # JSON is YAML
    entries = config["connectors"]["source_definitions"] + config["connectors"]["destination_definitions"]
    with ImageRegistryEmulator(require_token=True, page_cap=100, max_lifetime=600) as images:
        for entry in entries:
            _publish(images, entry["dockerRepository"], entry["dockerImageTag"])
        os.environ.update(
            AIRFLOW__AIRBYTE_CONNECTORS__DOCKER_HUB_URL=images.url,
            AIRFLOW__AIRBYTE_CONNECTORS__REGISTRY_URL=str(REGISTRY),
            AIRFLOW__AIRBYTE_CONNECTORS__IMAGE_TOKEN_HOSTS="",
        )
        found: list[outdated.Outdated] = []

        def run(at_once: int) -> float:
            outdated.READS_AT_ONCE = at_once
            started = time.perf_counter()
            found.append(outdated.find_outdated(path, today=TODAY))
            return time.perf_counter() - started

        one = median_of(3, lambda: run(1))
        four = median_of(3, lambda: run(4))
    result = found[-1]
    sent = dict(result.requests)
    cooldown = sum(1 for row in result.rows if row.proposal.newest_in_policy != row.proposal.proposed)
    record(
        "7a outdated, 633 definitions (wall)",
        f"{four:.2f} s, 4 reads at once",
        f"{one:.2f} s, 1 at a time",
        four / one,
        "-",
        f"{len(result.proposals)} proposals; minor + stop + {COOLDOWN} cooldown; image stand-in with a token",
    )
    record(
        "7b outdated requests",
        f"1 registry read, {sent.get('tags', 0)} tag lists, {sent.get('manifest', 0)} manifests, "
        f"{sent.get('blob', 0)} blobs, {sent.get('token', 0)} tokens",
        f"{len(result.rows)} definitions with a policy",
        None,
        "1 + 1 tag list per definition + blobs for cooldown candidates only",
        f"{cooldown} held back by the cooldown; tag lists include one 401 challenge per registry",
    )


def bench_outdated_hostile() -> None:
    """``outdated`` on 633 definitions against a registry whose tag lists are as large as it likes: peak memory
    and wall of the command (its own process; the stand-in runs in another, so its memory is not counted)."""
    config = registry_config()
    config["connectors"]["policy"] = {"versionPolicy": "minor", "breaking": "stop"}
    path = WORK / "outdated_hostile.yaml"
    path.write_text(json.dumps(config))  # JSON is YAML
    cases = {
        "endless 2 MB pages": "endless_tags=2_000_000",
        "one page of 0.5 MB each": "endless_tags=480_000, endless_pages=1",  # just under the bound: all kept
    }
    for case, arguments in cases.items():
        server = subprocess.Popen(
            [sys.executable, "-c", _HOSTILE_SERVER.format(arguments=arguments)], stdout=subprocess.PIPE, text=True
        )
        try:
            url = (server.stdout.readline() if server.stdout else "").strip()
            env = {
                **os.environ,
                "AIRFLOW__AIRBYTE_CONNECTORS__DOCKER_HUB_URL": url,
                "AIRFLOW__AIRBYTE_CONNECTORS__REGISTRY_URL": str(REGISTRY),
                "AIRFLOW__AIRBYTE_CONNECTORS__IMAGE_TOKEN_HOSTS": "",
            }
            command = [
                sys.executable,
                "-m",
                "airflow_airbyte_connectors",
                "outdated",
                str(path),
                "--today",
                TODAY.isoformat(),
            ]
            output = WORK / "outdated_hostile.out"
            started = time.perf_counter()
            with output.open("w") as out:
                child = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.DEVNULL)
                # wait4: this child's own peak (ru_maxrss in KB on Linux), not that of every child so far.
                _, status, usage = os.wait4(child.pid, 0)
            wall = time.perf_counter() - started
        finally:
            server.kill()
            server.wait()
        unread = sum(1 for line in output.read_text().splitlines() if line.startswith("PROBLEM "))
        record(
            f"7c outdated, hostile tag lists ({case})",
            f"peak RSS {usage.ru_maxrss / 1024:.0f} MB, {wall:.1f} s",
            "633 definitions",
            None,
            "peak < 300 MB",
            f"exit {os.waitstatus_to_exitcode(status)}; {unread} PROBLEM lines (512 KB per repository, 8 MB a run)",
        )


_HOSTILE_SERVER = """
import threading
from airflow_airbyte_connectors.testing import ImageRegistryEmulator
registry = ImageRegistryEmulator({arguments}, max_lifetime=900).start()
print(registry.url, flush=True)
threading.Event().wait(900)
"""
