"""``airbyte-connectors``: check a basic_config from the command line (CI), without Airflow's database.

- ``validate PATH``: checks the file, no network. Exit 0 valid, 1 invalid.
- ``plan PATH``: reads Airbyte through the same hook and Airflow Connection as the DAG and prints the plan
  the DAG would make; writes nothing. Exit 0 in step, 2 changes pending, 1 on any error or conflict.
- ``outdated PATH``: what is newer for each definition and what its version policy proposes (connector
  registry + image registries; Airbyte too with ``--conn-id``). Exit 0 nothing to propose, 2 proposals, 1 error.
- ``bump PATH [--write]``: the proposals applied to the file's ``dockerImageTag`` values only (a unified diff,
  or the file changed with ``--write``). Exit 0, 1 on any error.

Both propose no version that Airbyte would refuse by its platform-compatibility matrix when Airbyte's version is
known: ``--airbyte-version X.Y.Z``, else the one the ``--conn-id`` Airbyte runs (``--airbyte-version`` wins, so
an upgrade of Airbyte can be planned for).

Errors are one line on stderr (``airbyte-connectors: error: ...``), never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import warnings
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, NoReturn
from urllib.parse import unquote, urlsplit

from airflow_airbyte_connectors.configs import ConfigError, get_configs
from airflow_airbyte_connectors.plan_output import format_plan, plan_markdown

if TYPE_CHECKING:
    from airflow_airbyte_connectors.outdated import Outdated

PROG = "airbyte-connectors"
FORMATS = ("text", "markdown", "json")
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2


class CliError(Exception):
    """An error reported as one line on stderr with exit code 1."""


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 with a usage block on a bad flag; 2 means "changes pending" here, so a usage error
    is one line and exit 1 like every other error."""

    def error(self, message: str) -> NoReturn:
        raise CliError(f"{message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Check a basic_config and plan it against Airbyte, writing nothing.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="{validate,plan,outdated,bump}")

    validate = commands.add_parser("validate", help="check a basic_config file (no network); exit 0 valid, 1 not")
    validate.add_argument("path", help="the basic_config YAML file")

    plan = commands.add_parser(
        "plan",
        help="print what create_connectors would change in Airbyte; exit 0 in step, 2 changes pending, 1 error",
    )
    plan.add_argument("path", help="the basic_config YAML file")
    plan.add_argument(
        "--conn-id", help="the Airflow Connection to Airbyte (default: [airbyte_connectors] conn_id, airbyte_default)"
    )
    plan.add_argument("--format", choices=FORMATS, default="text", help="output (default text)")

    outdated = commands.add_parser(
        "outdated",
        help="what is newer for each definition and what its policy proposes; exit 0 nothing, 2 proposals, 1 error",
    )
    outdated.add_argument("path", help="the basic_config YAML file")
    outdated.add_argument(
        "--conn-id", help="also show what Airbyte runs and whom each proposal touches; suit its Airbyte version"
    )
    _add_airbyte_version(outdated)
    outdated.add_argument("--format", choices=FORMATS, default="text", help="output (default text)")
    outdated.add_argument("--today", type=_day, help="judge release ages as of this day (YYYY-MM-DD)")

    bump = commands.add_parser(
        "bump", help="apply the proposals to the file's tags (a diff; --write to change the file); exit 0, 1 error"
    )
    bump.add_argument("path", help="the basic_config YAML file")
    bump.add_argument("--write", action="store_true", help="change the file (only its dockerImageTag values)")
    bump.add_argument("--conn-id", help="the Airflow Connection to the Airbyte whose version the new tags must suit")
    _add_airbyte_version(bump)
    bump.add_argument("--today", type=_day, help="judge release ages as of this day (YYYY-MM-DD)")
    return parser


def _add_airbyte_version(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--airbyte-version",
        type=_airbyte_version,
        metavar="X.Y.Z",
        help="propose no version this Airbyte version would refuse (its platform-compatibility matrix); "
        "wins over the --conn-id Airbyte's own version",
    )


def _airbyte_version(text: str) -> str:
    from airflow_airbyte_connectors.compatibility import parse_version

    if parse_version(text) is None:
        raise argparse.ArgumentTypeError(f"not an Airbyte version X.Y.Z: {text[:40]!r}")
    return text.strip().removeprefix("v")


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a day (YYYY-MM-DD): {text[:40]!r}") from None


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if args.command == "validate":
            return _validate(args.path)
        if args.command == "outdated":
            return _outdated(args.path, args.conn_id, args.airbyte_version, args.format, args.today or date.today())
        if args.command == "bump":
            return _bump(args.path, args.write, args.conn_id, args.airbyte_version, args.today or date.today())
        return _plan(args.path, args.conn_id, args.format)
    except CliError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        _fail("interrupted")
    except Exception as exc:  # the promise is one line and no traceback, whatever failed
        _fail(f"{type(exc).__name__}: {exc}")
    return EXIT_ERROR


def _validate(path: str) -> int:
    try:
        config = get_configs("connectors", path=path)
    except ConfigError as exc:
        # The problems are validate's report (stdout); the error line says the outcome (stderr).
        print(exc)
        count = len(exc.problems)
        raise CliError(f"basic_config {exc.source} is invalid ({count} problem{'s' if count != 1 else ''})") from None
    print(
        f"OK basic_config {path}: {len(config.source_definitions)} source and "
        f"{len(config.destination_definitions)} destination definitions"
    )
    return EXIT_OK


def _plan(path: str, conn_id: str | None, output: str) -> int:
    _quiet_airflow()
    # Imported here so that `validate` never imports Airflow.
    from airflow_airbyte_connectors import settings
    from airflow_airbyte_connectors.plan_builder import build_plan

    conn_id = conn_id or settings.conn_id()
    try:
        # The same steps as the DAG's prepare: what each change means, what is held, images, impact.
        built = build_plan(conn_id=conn_id, config_path=path)
    except ConfigError as exc:
        raise CliError(_config_problems(exc)) from None
    except Exception as exc:
        raise CliError(_describe_airbyte_error(exc, conn_id)) from None

    from airflow_airbyte_connectors.plan_document import BLOCKING_CATEGORIES, AirbyteInstance, PlanDocument

    plan, root_url = built.plan, built.hook.client_settings.root_url
    instance = AirbyteInstance(version=built.hook.instance.version, edition=built.hook.instance.edition)
    if output == "json":
        document = PlanDocument.of(
            plan, dry_run=True, airbyte_url=root_url, airbyte=instance, config_digest=built.config_digest
        )
        print(json.dumps(document.to_json(), indent=2, ensure_ascii=False))
    elif output == "markdown":
        print(plan_markdown(plan, airbyte=instance.describe()), end="")
    else:
        print(f"Plan against Airbyte at {root_url} — {instance.describe()} (nothing is written):")
        print(format_plan(plan))
    sys.stdout.flush()

    if plan.conflicts:
        # The DAG fails its run on these (no write is made for the entry), so CI must fail too.
        count = len(plan.conflicts)
        raise CliError(
            f"{count} conflict{'s need' if count != 1 else ' needs'} a person, nothing would be written for "
            f"{'them' if count != 1 else 'it'}: " + "; ".join(f.message for f in plan.conflicts)
        )
    if plan.blocked:
        # The DAG's run fails on these too: an image tag that does not exist, or a version Airbyte refuses.
        raise CliError("; ".join(f.message for f in plan.findings if f.category in BLOCKING_CATEGORIES))
    return EXIT_CHANGES if plan.actions or plan.held else EXIT_OK


def _find_outdated(path: str, conn_id: str | None, airbyte_version: str | None, today: date) -> Outdated:
    _quiet_airflow()
    from airflow_airbyte_connectors.outdated import find_outdated

    try:
        hook = None
        if conn_id:
            from airflow_airbyte_connectors.hooks.airbyte_definitions import AirbyteDefinitionsHook

            hook = AirbyteDefinitionsHook(conn_id)
        return find_outdated(path, today=today, hook=hook, airbyte_version=airbyte_version)
    except ConfigError as exc:
        raise CliError(_config_problems(exc)) from None
    except Exception as exc:
        raise CliError(_describe_airbyte_error(exc, conn_id or "")) from None


def _outdated(path: str, conn_id: str | None, airbyte_version: str | None, output: str, today: date) -> int:
    from airflow_airbyte_connectors.outdated_output import format_outdated, outdated_markdown

    found = _find_outdated(path, conn_id, airbyte_version, today)
    if output == "json":
        print(json.dumps(found.to_json(), indent=2, ensure_ascii=False))
    elif output == "markdown":
        print(outdated_markdown(found), end="")
    else:
        print(format_outdated(found))
    sys.stdout.flush()
    if found.problems:
        # Unread tag lists or registry: the table is incomplete, which a scheduled job must not take for "current".
        raise CliError("incomplete: " + "; ".join(found.problems))
    return EXIT_CHANGES if found.proposals else EXIT_OK


def _bump(path: str, write: bool, conn_id: str | None, airbyte_version: str | None, today: date) -> int:
    from airflow_airbyte_connectors.bump import TagChange, apply_tags, read_config_text, unified_diff, write_config_text
    from airflow_airbyte_connectors.outdated_output import nothing_to_propose, skipped_notes

    found = _find_outdated(path, conn_id, airbyte_version, today)
    if found.problems:
        raise CliError("not bumped, the proposals are incomplete: " + "; ".join(found.problems))
    changes = [
        TagChange(
            row.desired.kind,
            old_tag=row.desired.docker_image_tag,
            new_tag=row.proposal.proposed or "",
            docker_repository=row.desired.docker_repository,
        )
        for row in found.proposals
    ]
    try:
        before = read_config_text(path)
        after = apply_tags(before, changes, source=path)
    except ConfigError as exc:
        raise CliError(_config_problems(exc)) from None
    # The newer versions this Airbyte refuses, and the notes (which Airbyte the tags suit, or why not checked).
    report = [
        f"{row.desired.kind} {row.desired.docker_repository}: {note}"
        for row in found.rows
        for note in skipped_notes(row)
    ] + [f"NOTE {note}" for note in found.notes]
    if not changes:
        print(f"Nothing to bump in {path}: {nothing_to_propose(found)}.")
    elif write:
        try:
            write_config_text(path, after, expected=before)
        except ConfigError as exc:
            raise CliError(_config_problems(exc)) from None
        print(f"Bumped {len(changes)} tag{'s' if len(changes) != 1 else ''} in {path}:")
        print("\n".join(f"  {c.kind} {c.docker_repository} {c.old_tag} → {c.new_tag}" for c in changes))
    else:
        print(unified_diff(before, after, path), end="")
        # stdout stays a patch that git apply takes; the report goes beside it.
        if report:
            print("\n".join(report), file=sys.stderr)
        return EXIT_OK
    if report:
        print("\n".join(report))
    return EXIT_OK


def _config_problems(exc: ConfigError) -> str:
    """One line: stdout stays clean for the output; every problem is kept (each is one line already)."""
    return f"{str(exc).splitlines()[0]} {'; '.join(exc.problems)}"


def _describe_airbyte_error(exc: Exception, conn_id: str) -> str:
    """One line for a failure to resolve the connection or to read Airbyte."""
    from airflow_airbyte_connectors.hooks.airbyte_errors import describe_read_failure

    described = describe_read_failure(exc, conn_id)
    return f"{described} or pass --conn-id" if type(exc).__name__ == "AirflowNotFoundException" else described


def _quiet_airflow() -> None:
    """Airflow logs to stdout (it would corrupt ``--format json``) and warns on stderr; the hook logs its
    retries. Our output is printed, not logged, so silencing logging and warnings never hides it."""
    os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "CRITICAL"  # this process only, read when Airflow loads
    logging.disable(logging.CRITICAL)
    warnings.simplefilter("ignore")


def _fail(message: str) -> None:
    print(f"{PROG}: error: {_redact(' '.join(message.split()))}", file=sys.stderr)


def _redact(text: str) -> str:
    # Messages from libraries may quote a connection; never echo its password (JSON or URI form).
    passwords: list[str] = []
    for name, value in os.environ.items():
        if not name.startswith("AIRFLOW_CONN_") or not value:
            continue
        try:
            password = json.loads(value).get("password")
        except (ValueError, AttributeError):
            try:
                password = unquote(urlsplit(value).password or "")
            except ValueError:
                password = None
        if isinstance(password, str) and password:
            passwords.append(password)
    # Like Airflow's masker, skip very short values: replacing every "b" would garble the message.
    for password in sorted((p for p in passwords if len(p) >= 5), key=len, reverse=True):
        text = text.replace(password, "***")
    return text
