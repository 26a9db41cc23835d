"""Run the Airbyte emulator from the command line: ``python -m airflow_airbyte_connectors.testing``."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from airflow_airbyte_connectors.testing.server import PROFILES, AirbyteEmulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="airbyte-emulator", description=__doc__)
    parser.add_argument("--seed", type=Path, help="registry JSON to seed definitions from (sources, destinations)")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="2.0", help="Airbyte version to behave as")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--client-id", help="turns auth on, with --client-secret")
    parser.add_argument("--client-secret")
    parser.add_argument("--token-lifetime", type=float)
    parser.add_argument("--workspaces", type=int, default=1)
    parser.add_argument("--older-fraction", type=float, default=0.0, help="share of definitions seeded older")
    parser.add_argument("--missing-fraction", type=float, default=0.0, help="share of definitions left out")
    parser.add_argument("--rng-seed", type=int, default=0)
    parser.add_argument("--write-delay", type=float, default=0.0, help="seconds each create/update takes")
    parser.add_argument("--max-lifetime", type=float, default=3600.0, help="stop by itself after this many seconds")
    parser.add_argument("--ready-file", type=Path, help="write the server URL here once listening")
    args = parser.parse_args(argv)

    emulator = AirbyteEmulator(
        seed=args.seed,
        profile=args.profile,
        client_id=args.client_id,
        client_secret=args.client_secret,
        token_lifetime=args.token_lifetime,
        workspaces=args.workspaces,
        older_fraction=args.older_fraction,
        missing_fraction=args.missing_fraction,
        rng_seed=args.rng_seed,
        write_delay=args.write_delay,
        host=args.host,
        port=args.port,
    ).start()
    stopped = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopped.set())
    if args.ready_file:
        args.ready_file.write_text(emulator.url)
    print(f"Airbyte emulator (profile {args.profile}) listening on {emulator.url}", flush=True)
    stopped.wait(args.max_lifetime)
    emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
