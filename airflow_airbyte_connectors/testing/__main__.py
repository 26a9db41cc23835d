"""Run the Airbyte emulator from the command line: ``python -m airflow_airbyte_connectors.testing``
(``airbyte-emulator``); ``airbyte-emulator image-registry`` runs the image registry stand-in instead."""

from __future__ import annotations

import argparse
import functools
import signal
import sys
import threading
from pathlib import Path

from airflow_airbyte_connectors.testing.image_registry import ImageRegistryEmulator, load_history
from airflow_airbyte_connectors.testing.local_server import LocalServer
from airflow_airbyte_connectors.testing.seeds import BUILTIN, SeedError, load_registry
from airflow_airbyte_connectors.testing.server import KINDS, PROFILES, AirbyteEmulator

IMAGE_REGISTRY = "image-registry"


def _kind_and_repository(value: str) -> tuple[str, str]:
    kind, sep, repository = value.partition(":")
    if not sep or kind not in KINDS or not repository:
        raise argparse.ArgumentTypeError(f"{value!r}: expected KIND:REPOSITORY with KIND source or destination")
    return kind, repository


def _tag_setting(value: str) -> tuple[str, str, str]:
    # rpartition: a registry host may carry a port (host:5000/repo), a tag never contains "=".
    target, sep, tag = value.rpartition("=")
    if not sep or not tag:
        raise argparse.ArgumentTypeError(f"{value!r}: expected KIND:REPOSITORY=TAG")
    return (*_kind_and_repository(target), tag)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="airbyte-emulator",
        description=__doc__,
        epilog=f"The image registry stand-in's options: airbyte-emulator {IMAGE_REGISTRY} --help",
    )
    parser.add_argument(
        "--seed",
        default=BUILTIN,
        help=f"definitions to start with: {BUILTIN!r} (default: a few dozen well-known connectors shipped with the "
        "package), 'none', or a path or http(s) URL of a registry JSON (sources, destinations)",
    )
    parser.add_argument("--profile", choices=sorted(PROFILES), default="2.0", help="Airbyte version to behave as")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--client-id", help="turns auth on, with --client-secret")
    parser.add_argument("--client-secret")
    parser.add_argument("--token-lifetime", type=float)
    parser.add_argument("--workspaces", type=int, default=1)
    parser.add_argument("--older-fraction", type=float, default=0.0, help="share of definitions seeded older")
    parser.add_argument("--missing-fraction", type=float, default=0.0, help="share of definitions left out")
    repeatable = functools.partial(parser.add_argument, action="append", default=[])
    repeatable(
        "--set-tag",
        metavar="KIND:REPOSITORY=TAG",
        type=_tag_setting,
        help="seed that definition at TAG, e.g. source:airbyte/source-pokeapi=0.3.38 (repeatable)",
    )
    repeatable(
        "--remove",
        metavar="KIND:REPOSITORY",
        type=_kind_and_repository,
        help="leave that definition out of the seed, e.g. destination:airbyte/destination-dev-null (repeatable)",
    )
    parser.add_argument(
        "--registry",
        help="registry JSON (path or http(s) URL, 'builtin', or 'none') whose releases.breakingChanges definition "
        "updates use to pin sources/destinations back, as Airbyte does; also served at /registry/oss_registry.json "
        "(default: the --seed registry)",
    )
    parser.add_argument(
        "--registry-unreachable",
        action="store_true",
        help="behave as an air-gapped Airbyte: definition updates fail with 500",
    )
    parser.add_argument("--rng-seed", type=int, default=0)
    parser.add_argument("--write-delay", type=float, default=0.0, help="seconds each create/update takes")
    parser.add_argument("--max-lifetime", type=float, default=3600.0, help="stop by itself after this many seconds")
    parser.add_argument("--ready-file", type=Path, help="write the server URL here once listening")
    return parser


def build_image_registry_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"airbyte-emulator {IMAGE_REGISTRY}",
        description="Run the image registry stand-in (Docker Registry HTTP API v2) for `airbyte-connectors outdated`, "
        "`bump` and the image check: point [airbyte_connectors] docker_hub_url at it.",
    )
    parser.add_argument(
        "--history",
        default=BUILTIN,
        help=f"release history to publish, each version built on its date: {BUILTIN!r} (default: the example "
        "basic_config's connectors, shipped with the package) or the path of a JSON file shaped like "
        'connector-version-history.json ({"connectors": [{"dockerRepository", "versions": [{"version", "date"}]}]})',
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--require-token", action="store_true", help="ask for Bearer tokens as Docker Hub does")
    parser.add_argument("--max-lifetime", type=float, default=3600.0, help="stop by itself after this many seconds")
    parser.add_argument("--ready-file", type=Path, help="write the server URL here once listening")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    server: LocalServer
    try:
        if argv[:1] == [IMAGE_REGISTRY]:
            args = build_image_registry_parser().parse_args(argv[1:])
            server = build_image_registry(args)
        else:
            args = build_parser().parse_args(argv)
            server = build_emulator(args)
    except (SeedError, KeyError) as exc:
        # One line, no traceback: these are mistakes in the command line, not bugs.
        print(f"airbyte-emulator: {exc.args[0] if isinstance(exc, KeyError) else exc}", file=sys.stderr)
        return 2
    server.start()
    stopped = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopped.set())
    if args.ready_file:
        args.ready_file.write_text(server.url)
    if isinstance(server, ImageRegistryEmulator):
        print(f"Image registry stand-in ({args.history}) listening on {server.url}", flush=True)
    else:
        print(f"Airbyte emulator (profile {args.profile}) listening on {server.url}", flush=True)
    stopped.wait(args.max_lifetime)
    server.stop()
    return 0


def build_image_registry(args: argparse.Namespace) -> ImageRegistryEmulator:
    """The image registry stand-in the parsed command line describes, seeded but not started."""
    registry = ImageRegistryEmulator(
        require_token=args.require_token, host=args.host, port=args.port, max_lifetime=args.max_lifetime
    )
    registry.seed_history(load_history(args.history))
    return registry


def build_emulator(args: argparse.Namespace) -> AirbyteEmulator:
    """The emulator the parsed command line describes, seeded but not started."""
    # Read once: Airbyte consults its connector registry, so the seed is served as one unless told otherwise.
    seed = None if args.seed.lower() == "none" else load_registry(args.seed)
    registry = seed if args.registry is None else None if args.registry.lower() == "none" else args.registry
    emulator = AirbyteEmulator(
        seed=seed,
        profile=args.profile,
        client_id=args.client_id,
        client_secret=args.client_secret,
        token_lifetime=args.token_lifetime,
        workspaces=args.workspaces,
        older_fraction=args.older_fraction,
        missing_fraction=args.missing_fraction,
        rng_seed=args.rng_seed,
        write_delay=args.write_delay,
        registry=registry,
        registry_unreachable=args.registry_unreachable,
        host=args.host,
        port=args.port,
    )
    for kind, repository in args.remove:
        emulator.remove(kind, repository)
    for kind, repository, tag in args.set_tag:
        emulator.set_tag(kind, repository, tag)
    return emulator


if __name__ == "__main__":
    sys.exit(main())
