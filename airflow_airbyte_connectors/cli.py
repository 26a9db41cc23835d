"""``airbyte-connectors``: check a basic_config from the command line (CI), without Airflow's database.

- ``validate PATH``: checks the file, no network. Exit 0 valid, 1 invalid.
- ``plan PATH``: reads Airbyte through the same hook and Airflow Connection as the DAG and prints the plan
  the DAG would make; writes nothing. Exit 0 in step, 2 changes pending, 1 on any error or conflict. With
  ``connectors.environments``, every environment's (or ``--environment NAME``'s), each with its own connection.
- ``environments PATH``: each definition in each environment: the tag there, the tag wanted, and what stands
  between them (the promotion gate, a hold, ...). Exit 0 all in step, 2 something waits or drifts, 1 error.
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
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import unquote, urlsplit

from airflow_airbyte_connectors.config.configs import ConfigError, ConnectorsConfig, get_configs
from airflow_airbyte_connectors.config.environments import unknown_environment
from airflow_airbyte_connectors.core.kinds import Kind
from airflow_airbyte_connectors.plan.plan_output import escape_markdown, format_plan, plan_markdown
from airflow_airbyte_connectors.plan.planning import Finding

if TYPE_CHECKING:
    from airflow_airbyte_connectors.hooks.airbyte_definitions import AirbyteDefinitionsHook
    from airflow_airbyte_connectors.plan.plan_builder import BuiltPlans
    from airflow_airbyte_connectors.upgrades.outdated import Outdated

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
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="{validate,plan,environments,outdated,bump}"
    )

    validate = commands.add_parser("validate", help="check a basic_config file (no network); exit 0 valid, 1 not")
    validate.add_argument("path", help="the basic_config YAML file")

    plan = commands.add_parser(
        "plan",
        help="print what create_connectors would change in Airbyte; exit 0 in step, 2 changes pending, 1 error",
    )
    plan.add_argument("path", help="the basic_config YAML file")
    plan.add_argument(
        "--conn-id",
        help="the Airflow Connection to Airbyte (default: [airbyte_connectors] conn_id, airbyte_default); "
        "not with connectors.environments, where each environment names its own",
    )
    plan.add_argument(
        "--environment", metavar="NAME", help="plan only this environment of connectors.environments (default: all)"
    )
    plan.add_argument("--format", choices=FORMATS, default="text", help="output (default text)")

    environments = commands.add_parser(
        "environments",
        help="each definition in each environment: tag now, tag wanted, the promotion gate; exit 0 all in step, "
        "2 something waits or drifts, 1 error",
    )
    environments.add_argument("path", help="the basic_config YAML file (with connectors.environments)")
    environments.add_argument("--format", choices=FORMATS, default="text", help="output (default text)")

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
    from airflow_airbyte_connectors.core.compatibility import parse_version

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
        if args.command == "environments":
            return _environments(args.path, args.format)
        return _plan(args.path, args.conn_id, args.environment, args.format)
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


def _plan(path: str, conn_id: str | None, environment: str | None, output: str) -> int:
    config = _load_config(path)
    if config.environments and conn_id is not None:
        raise CliError(f"--conn-id: {_each_names_its_conn_id(path, config)}; leave --conn-id out")
    if environment is not None:
        declared = {e.name for e in config.environments}
        if not declared:
            raise CliError(f"--environment {environment}: basic_config {path} has no connectors.environments")
        if environment not in declared:
            raise CliError(f"--environment: {unknown_environment(environment, declared)}")
    plans, notes = _build_plans(path, conn_id, environment)

    from airflow_airbyte_connectors.plan.plan_builder import airbyte_instance, plan_document

    if output == "json":
        # The same document as the DAG's prepare keeps; nothing is written, so no Asset is named.
        document = plan_document(plans, dry_run=True, definitions_assets=False, notes=notes)
        print(json.dumps(document.to_json(), indent=2, ensure_ascii=False))
    elif not plans.environments:
        (built,) = plans.built
        instance, root_url = airbyte_instance(built).describe(), built.hook.client_settings.root_url
        if output == "markdown":
            print(plan_markdown(built.plan, airbyte=instance), end="")
        else:
            print(f"Plan against Airbyte at {root_url} — {instance} (nothing is written):")
            print(format_plan(built.plan))
    else:
        print(_environment_sections(plans, notes, markdown=output == "markdown"), end="")
    sys.stdout.flush()

    problems = [f"environment {f.environment.name} could not be planned: {f.error}" for f in plans.failed]
    for built in plans.built:
        plan, where = built.plan, f"{built.environment.name}: " if built.environment else ""
        if plan.conflicts:
            # The DAG fails its run on these (no write is made for the entry), so CI must fail too.
            count = len(plan.conflicts)
            problems.append(
                f"{where}{count} conflict{'s need' if count != 1 else ' needs'} a person, nothing would be written "
                f"for {'them' if count != 1 else 'it'}: " + "; ".join(f.message for f in plan.conflicts)
            )
        if plan.blocked:
            # The DAG's run fails on these too: an image tag that does not exist, or a version Airbyte refuses.
            from airflow_airbyte_connectors.plan.plan_document import BLOCKING_CATEGORIES

            problems.append(where + "; ".join(f.message for f in plan.findings if f.category in BLOCKING_CATEGORIES))
    if problems:
        raise CliError("; ".join(problems))
    # Held and waiting changes are pending too: Airbyte is not yet what basic_config says.
    pending = any(b.plan.actions or b.plan.held or b.plan.waiting or b.plan.pending for b in plans.built)
    return EXIT_CHANGES if pending else EXIT_OK


def _environments(path: str, output: str) -> int:
    config = _load_config(path)
    if not config.environments:
        raise CliError(
            f"basic_config {path} has no connectors.environments: `{PROG} plan {path}` shows its one Airbyte"
        )
    plans, notes = _build_plans(path, None, None)

    from airflow_airbyte_connectors.plan.environment_matrix import format_matrix, matrix_markdown, matrix_of
    from airflow_airbyte_connectors.plan.plan_builder import plan_document

    matrix = matrix_of(plan_document(plans, dry_run=True, definitions_assets=False, notes=notes))
    _print(output, matrix.to_json, lambda: matrix_markdown(matrix), lambda: format_matrix(matrix))
    if matrix.errors:
        raise CliError("; ".join(matrix.errors))
    return EXIT_OK if matrix.in_step else EXIT_CHANGES


def _print(output: str, as_json: Callable[[], Any], as_markdown: Callable[[], str], as_text: Callable[[], str]) -> None:
    """One result on stdout in the ``--format`` asked for (only that one is rendered), flushed before any error."""
    if output == "json":
        print(json.dumps(as_json(), indent=2, ensure_ascii=False))
    elif output == "markdown":
        print(as_markdown(), end="")
    else:
        print(as_text())
    sys.stdout.flush()


def _load_config(path: str) -> ConnectorsConfig:
    """basic_config, checked before anything is read from Airbyte."""
    try:
        config: ConnectorsConfig = get_configs("connectors", path=path)
        return config
    except ConfigError as exc:
        raise CliError(_config_problems(exc)) from None


def _each_names_its_conn_id(path: str, config: ConnectorsConfig) -> str:
    named = ", ".join(f"{e.name}: {e.conn_id}" for e in config.environments)
    return f"basic_config {path} has connectors.environments, each naming its connection ({named})"


def _build_plans(path: str, conn_id: str | None, environment: str | None) -> tuple[BuiltPlans, list[Finding]]:
    """Plan every environment (or ``environment``, or the one Airbyte of ``conn_id``) as the DAG's prepare does,
    with since when each Airbyte runs each version as far as Airflow's database tells; and the notes on the whole
    plan (why that could not be read)."""
    _quiet_airflow()
    # Imported here so that `validate` never imports Airflow.
    from airflow_airbyte_connectors import settings
    from airflow_airbyte_connectors.plan.plan_builder import build_plans

    records = _RecordedSince()
    try:
        # The same steps as the DAG's prepare: what each change means, what is held, the gate, images, impact.
        plans = build_plans(conn_id=conn_id, config_path=path, environment=environment, versions_since=records)
    except ConfigError as exc:
        raise CliError(_config_problems(exc)) from None
    except Exception as exc:
        raise CliError(_describe_airbyte_error(exc, conn_id or settings.conn_id())) from None
    gated = any(built.environment is not None and built.environment.promote_from for built in plans.built)
    notes = []
    if records.problem is not None and gated:
        notes.append(
            Finding(
                "promotion_records",
                None,
                "",
                "since when each environment runs each version is recorded by create_connectors runs in Airflow's "
                f"database, which this command could not read: {records.problem}; the promotion gates are judged "
                "without it (a version is taken as not yet seen by a run)",
            )
        )
    return plans, notes


class _RecordedSince:
    """The promotion gate's records of since when each Airbyte runs each tag, read from Airflow's database without
    writing (a run of create_connectors writes them); ``problem``: why they could not be read (then none are)."""

    def __init__(self) -> None:
        self.problem: str | None = None

    def __call__(
        self, hook: AirbyteDefinitionsHook, listing: Sequence[tuple[Kind, str, str]], now: datetime
    ) -> Mapping[tuple[Kind, str], datetime]:
        if self.problem is not None:
            return {}
        from airflow_airbyte_connectors.records.metadata_database import DatabaseUnreadable, variables_under
        from airflow_airbyte_connectors.records.promotion_records import recorded_since

        try:
            return recorded_since(hook.instance_id, listing, now, variables_under)
        except DatabaseUnreadable as exc:
            self.problem = str(exc)
            return {}


def _environment_sections(plans: BuiltPlans, notes: Sequence[Finding], *, markdown: bool) -> str:
    """One section per environment, in promotion order: its plan, or why it has none; then the notes."""
    from airflow_airbyte_connectors.plan.plan_builder import airbyte_instance

    built = {b.environment.name: b for b in plans.built if b.environment is not None}
    failed = {f.environment.name: f for f in plans.failed}
    sections = []
    for environment in plans.environments:
        name = environment.name
        if name in built:
            plan, instance = built[name].plan, airbyte_instance(built[name]).describe()
            if markdown:
                sections.append(plan_markdown(plan, airbyte=instance, environment=name))
            else:
                root_url = built[name].hook.client_settings.root_url
                header = f"Plan for {name} against Airbyte at {root_url} — {instance} (nothing is written):"
                sections.append(f"{header}\n{format_plan(plan)}\n")
        elif name in failed:
            why = f"its Airbyte (connection {environment.conn_id}) could not be read: {failed[name].error}"
            if markdown:
                sections.append(f"### Airbyte connector plan for {name}: ⛔ not planned\n\n{escape_markdown(why)}\n")
            else:
                sections.append(f"Plan for {name}: not planned, {why}\n")
    if notes:
        if markdown:
            sections.append("".join(f"**Note**: {escape_markdown(note.message)}\n" for note in notes))
        else:
            sections.append("".join(f"NOTE [{note.category}] {note.message}\n" for note in notes))
    return "\n".join(sections)


def _find_outdated(path: str, conn_id: str | None, airbyte_version: str | None, today: date) -> Outdated:
    _quiet_airflow()
    from airflow_airbyte_connectors.upgrades.outdated import find_outdated

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
    from airflow_airbyte_connectors.upgrades.outdated_output import format_outdated, outdated_markdown
    from airflow_airbyte_connectors.upgrades.upgrades_document import UpgradesDocument

    found = _find_outdated(path, conn_id, airbyte_version, today)
    _print(output, UpgradesDocument.of(found).to_json, lambda: outdated_markdown(found), lambda: format_outdated(found))
    if found.problems:
        # Unread tag lists or registry: the table is incomplete, which a scheduled job must not take for "current".
        # Each problem is in the output once; the error line only points there.
        where = {"json": "findings", "markdown": "Notes"}.get(output, "PROBLEM lines")
        raise CliError(f"incomplete: {_count(len(found.problems), 'problem')}, listed in the output's {where}")
    return EXIT_CHANGES if found.proposals else EXIT_OK


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'s' if number != 1 else ''}"


def _bump(path: str, write: bool, conn_id: str | None, airbyte_version: str | None, today: date) -> int:
    from airflow_airbyte_connectors.upgrades.bump import (
        TagChange,
        apply_tags,
        read_config_text,
        unified_diff,
        write_config_text,
    )
    from airflow_airbyte_connectors.upgrades.outdated_output import nothing_to_propose, skipped_notes

    found = _find_outdated(path, conn_id, airbyte_version, today)
    if found.problems:
        # stdout is kept for the patch; each problem once, then the one error line.
        print("\n".join(f"PROBLEM {problem}" for problem in found.problems), file=sys.stderr)
        raise CliError(f"not bumped, the proposals are incomplete: {_count(len(found.problems), 'problem')} above")
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
    from airflow_airbyte_connectors.settings import SettingsError

    if isinstance(exc, SettingsError):  # a setting, not the connection: its message names section, key and env var
        return str(exc)
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
