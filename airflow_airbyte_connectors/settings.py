"""The ``[airbyte_connectors]`` section of Airflow's configuration, read when needed (never at import).

Each option is described once, in ``settings_options.OPTIONS``. Values are read with Airflow's typed getters
(``AIRFLOW__AIRBYTE_CONNECTORS__KEY`` wins over airflow.cfg, the table's default applies when neither is set)
and checked against the table: an invalid value raises :class:`SettingsError` naming key, value and what is
allowed, never a silent default. Only :func:`for_dag` (parse time) falls back to defaults, and says so.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict, TypeVar, cast
from urllib.parse import urlsplit

from airflow_airbyte_connectors.budgets import write_task_seconds
from airflow_airbyte_connectors.settings_options import OPTION, OPTIONS, SECTION, ApprovalMode, Option

if TYPE_CHECKING:
    from airflow.configuration import AirflowConfigParser

log = logging.getLogger(__name__)
T = TypeVar("T")
N = TypeVar("N", int, float)
# create_connectors announces what it changed through this alias, as an event of the Asset that names the
# Airbyte instance (see definitions_asset_uri).
DEFINITIONS_ASSET_ALIAS = "airbyte_connector_definitions"
APPROVAL_MODES = OPTION["approval"].allowed
_SHOWN_CHARS = 80  # of an invalid value in an error: enough to recognise it, not a whole pasted file
# Seconds an empty apply_timeout leaves beyond a whole write: Airflow's own calls (XCom, Variables) in the task.
_APPLY_HEADROOM = 60.0
# Seconds an empty create_settle_window adds to write_timeout: Airbyte may go on after a gateway gave up.
_SETTLE_MARGIN = 900.0


class SettingsError(ValueError):
    """One or more ``[airbyte_connectors]`` values that cannot be used; ``problems`` names each."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        listed = "\n".join(f"  {problem}" for problem in self.problems)
        super().__init__(self.problems[0] if len(self.problems) == 1 else f"invalid settings:\n{listed}")


def _conf() -> AirflowConfigParser:
    from airflow.configuration import conf

    return conf


def _raw(option: Option) -> str:
    return str(_conf().get(SECTION, option.key, fallback=option.default))


def _problem(option: Option) -> str:
    value = _raw(option)
    shown = value if len(value) <= _SHOWN_CHARS else value[: _SHOWN_CHARS - 3] + "..."
    return f"setting [{SECTION}] {option.key} = {shown!r} is not {option.expected} (airflow.cfg or {option.env_var})"


# Each reader takes ``text`` only for an option's own default (parse time, after an invalid value); otherwise
# it reads the configuration. A ValueError or AirflowConfigException means "not valid".


def _boolean(option: Option, text: str | None) -> bool:
    if text is not None:
        return text.strip().lower() == "true"
    return _conf().getboolean(SECTION, option.key, fallback=option.default)


def _bounded(option: Option, value: N) -> N:
    if not math.isfinite(value):
        raise ValueError(value)
    if option.minimum is not None and value < option.minimum:
        raise ValueError(value)
    if option.above is not None and value <= option.above:
        raise ValueError(value)
    return value


def _integer(option: Option, text: str | None) -> int:
    value = int(text) if text is not None else _conf().getint(SECTION, option.key, fallback=option.default)
    return _bounded(option, value)


def _number(option: Option, text: str | None) -> float | None:
    """None only for an option that may be empty (its description says what empty means)."""
    raw = _raw(option) if text is None else text
    if option.may_be_empty and not raw.strip():
        return None
    return _bounded(option, float(raw))


def _text(option: Option, text: str | None) -> str:
    return _raw(option) if text is None else text


def _choice(option: Option, text: str | None) -> str:
    value = _text(option, text).strip().lower()
    if value not in option.allowed:
        raise ValueError(value)
    return value


def _items(option: Option, text: str | None) -> list[str]:
    items = [item.strip() for item in _text(option, text).split(",") if item.strip()]
    if option.allowed:
        items = [item.lower() for item in items]
        if not set(items) <= set(option.allowed):
            raise ValueError(items)
    return items


def _cron(option: Option, text: str | None) -> str:
    value = _text(option, text).strip()
    if value:
        from croniter import croniter  # only when a schedule is set: then Airflow imports it too

        if not croniter.is_valid(value):
            raise ValueError(value)
    return value


_READERS: dict[str, Callable[[Option, str | None], object]] = {
    "boolean": _boolean,
    "integer": _integer,
    "float": _number,
    "string": _text,
    "choice": _choice,
    "list": _items,
    "cron": _cron,
}


class _Reader:
    """Reads options strictly (SettingsError), or leniently: the default of an invalid one, its key remembered."""

    def __init__(self, *, lenient: bool = False) -> None:
        self.lenient = lenient
        self.invalid: list[str] = []

    def read(self, key: str, reader: Callable[[Option, str | None], T]) -> T:
        from airflow.exceptions import AirflowConfigException

        option = OPTION[key]
        try:
            return reader(option, None)
        except (AirflowConfigException, ValueError):
            if not self.lenient:
                raise SettingsError([_problem(option)]) from None
            self.invalid.append(key)
            return reader(option, option.default)

    def relation(self, key: str, problem: str, fallback: T) -> T:
        """An option that is valid alone but not with others: refused (strict), or ``fallback`` (lenient)."""
        if not self.lenient:
            raise SettingsError([problem])
        self.invalid.append(key)
        return fallback

    def boolean(self, key: str) -> bool:
        return self.read(key, _boolean)

    def integer(self, key: str) -> int:
        return self.read(key, _integer)

    def number(self, key: str) -> float:
        value = self.read(key, _number)
        if value is None:
            raise TypeError(f"{key} may be empty: read it with optional_number")
        return value

    def optional_number(self, key: str) -> float | None:
        return self.read(key, _number)

    def text(self, key: str) -> str:
        return self.read(key, _text)

    def choice(self, key: str) -> str:
        return self.read(key, _choice)

    def items(self, key: str) -> list[str]:
        return self.read(key, _items)

    def cron(self, key: str) -> str:
        return self.read(key, _cron)


_STRICT = _Reader()


def validate() -> None:
    """Read every option, then the relations between them; one :class:`SettingsError` lists all problems.
    ``prepare`` calls it first."""
    problems: list[str] = []
    for option in OPTIONS:
        try:
            _STRICT.read(option.key, _READERS[option.type])
        except SettingsError as error:
            problems += error.problems
    if not problems:
        for relation in (_apply_timeout, _create_settle_window):
            try:
                relation(_STRICT)
            except SettingsError as error:
                problems += error.problems
    if problems:
        raise SettingsError(problems)


def get(key: str) -> str:
    """Text of ``[airbyte_connectors] key`` as configured (env ``AIRFLOW__AIRBYTE_CONNECTORS__KEY`` wins)."""
    return _STRICT.text(key)


def _basic_config_path(read: _Reader) -> Path:
    airflow_home = os.environ.get("AIRFLOW_HOME") or str(Path("~/airflow").expanduser())
    return Path(read.text("basic_config_path").replace("{AIRFLOW_HOME}", airflow_home)).expanduser()


def _apply_timeout(read: _Reader) -> float:
    """Never shorter than a whole write task (budgets.write_task_seconds): Airflow must not end a task while its
    write is on the wire, or the write's outcome is unknown where the task could have looked."""
    read_timeout, write_timeout = read.number("read_timeout"), read.number("write_timeout")
    needed = write_task_seconds(read_timeout, write_timeout)
    configured = read.optional_number("apply_timeout")
    if configured is None:
        return _apply_timeout_default(read_timeout, write_timeout)
    if configured >= needed:
        return configured
    problem = (
        f"[{SECTION}] apply_timeout = {configured:g} cannot hold a whole write: with read_timeout = {read_timeout:g} "
        f"and write_timeout = {write_timeout:g}, one create/update task may take {needed:g} s (its reads, the "
        f"image's SPEC, the write and the looks after a lost answer). Set apply_timeout to at least {needed:g}, "
        "or leave it empty."
    )
    return read.relation("apply_timeout", problem, _apply_timeout_default(read_timeout, write_timeout))


def _apply_timeout_default(read_timeout: float, write_timeout: float) -> float:
    return write_task_seconds(read_timeout, write_timeout) + _APPLY_HEADROOM


def _create_settle_window(read: _Reader) -> float:
    """Never shorter than ``write_timeout``: a create still on the wire must not be sent a second time."""
    write_timeout = read.number("write_timeout")
    configured = read.optional_number("create_settle_window")
    if configured is None:
        return write_timeout + _SETTLE_MARGIN
    if configured >= write_timeout:
        return configured
    problem = (
        f"[{SECTION}] create_settle_window = {configured:g} is shorter than write_timeout = {write_timeout:g}: "
        "a create may take that long, and one sent again meanwhile makes a second definition. Set "
        f"create_settle_window to at least {write_timeout:g}, or leave it empty (write_timeout plus 15 minutes)."
    )
    return read.relation("create_settle_window", problem, write_timeout + _SETTLE_MARGIN)


def _approval(read: _Reader) -> ApprovalMode:
    return cast(ApprovalMode, read.choice("approval"))  # checked: the option allows ApprovalMode's values only


def _reconcile_schedule(read: _Reader) -> str | None:
    return read.cron("reconcile_schedule") or None


def _promotion_schedule(read: _Reader) -> str | None:
    return read.cron("promotion_schedule") or None


def declares_gates(path: Path) -> bool:
    """Whether basic_config names a promotion gate, for the DAG file's schedule: a text search for
    ``promoteFrom`` (the file is not parsed at parse time). Unreadable: False (the run reads it and says why)."""
    try:
        return b"promoteFrom" in path.read_bytes()
    except OSError:
        return False


def _upgrades_schedule(read: _Reader) -> str | None:
    return read.cron("upgrades_schedule") or None


class DagSettings(TypedDict):
    """What create_connectors' DAG file reads while it is parsed (see :func:`for_dag`). A TypedDict: the
    dag-processor defines it on every parse, and a NamedTuple costs five times as much to define."""

    basic_config_asset_uri: str
    reconcile_schedule: str | None
    # Set only when basic_config names a gate (declares_gates).
    promotion_schedule: str | None
    max_writes: int
    max_writes_limit: int
    approval: ApprovalMode
    approval_timeout: float
    approval_users: tuple[str, ...]
    max_active_writes: int
    task_retries: int
    task_retry_delay: float
    prepare_timeout: float
    apply_timeout: float
    report_timeout: float


class UpgradesDagSettings(TypedDict):
    """What connector_upgrades' DAG file reads while it is parsed (see :func:`for_upgrades_dag`)."""

    upgrades_schedule: str | None
    prepare_timeout: float


def for_dag() -> DagSettings:
    """The settings create_connectors' DAG file needs, for parse time: an invalid value must not fail the DAG's
    import (it would vanish from the UI), so its default is used and one warning names the keys. The run then
    fails in ``prepare`` (:func:`validate`) with the full message."""
    read = _Reader(lenient=True)
    path = _basic_config_path(read)
    values = DagSettings(
        basic_config_asset_uri=path.absolute().as_uri(),
        reconcile_schedule=_reconcile_schedule(read),
        promotion_schedule=_promotion_schedule(read) if declares_gates(path) else None,
        max_writes=read.integer("max_writes"),
        max_writes_limit=read.integer("max_writes_limit"),
        approval=_approval(read),
        approval_timeout=read.number("approval_timeout"),
        approval_users=tuple(read.items("approval_users")),
        max_active_writes=read.integer("max_active_writes"),
        task_retries=read.integer("task_retries"),
        task_retry_delay=read.number("task_retry_delay"),
        prepare_timeout=read.number("prepare_timeout"),
        apply_timeout=_apply_timeout(read),
        report_timeout=read.number("report_timeout"),
    )
    _warn_invalid(read)
    return values


def for_upgrades_dag() -> UpgradesDagSettings:
    """The settings connector_upgrades' DAG file needs, read leniently as :func:`for_dag` reads its own."""
    read = _Reader(lenient=True)
    values = UpgradesDagSettings(
        upgrades_schedule=_upgrades_schedule(read), prepare_timeout=read.number("prepare_timeout")
    )
    _warn_invalid(read)
    return values


def _warn_invalid(read: _Reader) -> None:
    if read.invalid:
        log.warning(
            "invalid settings: %s in [%s]; their defaults are used here and each run fails at its start naming them",
            ", ".join(read.invalid),
            SECTION,
        )


def basic_config_path() -> Path:
    return _basic_config_path(_STRICT)


def basic_config_asset_uri() -> str:
    """URI of the Asset that ``template_configs`` emits and ``create_connectors`` is scheduled on."""
    return basic_config_path().absolute().as_uri()


def conn_id() -> str:
    return _STRICT.text("conn_id") or OPTION["conn_id"].default


def workspace_id() -> str | None:
    return _STRICT.text("workspace_id").strip() or None


def read_timeout() -> float:
    return _STRICT.number("read_timeout")


def write_timeout() -> float:
    return _STRICT.number("write_timeout")


def max_response_bytes() -> int:
    """The most an answer of Airbyte may hold; a larger one is not read."""
    return _STRICT.integer("max_response_mb") * 1024 * 1024


def prepare_timeout() -> float:
    return _STRICT.number("prepare_timeout")


def apply_timeout() -> float:
    """Of each create/update task: never shorter than a whole write, so the write's own deadlines always end
    first and a lost answer is checked, not cut short (refused when configured shorter)."""
    return _apply_timeout(_STRICT)


def report_timeout() -> float:
    return _STRICT.number("report_timeout")


def max_active_writes() -> int:
    return _STRICT.integer("max_active_writes")


def max_writes() -> int:
    return _STRICT.integer("max_writes")


def task_retries() -> int:
    return _STRICT.integer("task_retries")


def task_retry_delay() -> float:
    return _STRICT.number("task_retry_delay")


def upgrades_schedule() -> str | None:
    """When connector_upgrades runs; None: only when triggered."""
    return _upgrades_schedule(_STRICT)


def reconcile_schedule() -> str | None:
    """Cron expression for periodic runs besides the basic_config Asset; None when unset."""
    return _reconcile_schedule(_STRICT)


def promotion_schedule() -> str | None:
    """Cron expression for periodic runs while basic_config names a promotion gate; None when unset."""
    return _promotion_schedule(_STRICT)


def check_images() -> bool:
    return _STRICT.boolean("check_images")


def image_check_timeout() -> float:
    return _STRICT.number("image_check_timeout")


def image_token_hosts() -> list[str]:
    """Hosts whose token service a registry may send the image check to (besides the registry's own host)."""
    return _STRICT.items("image_token_hosts")


def docker_hub_url() -> str:
    """Docker Hub's registry API, or a mirror of it, for the image check."""
    return _STRICT.text("docker_hub_url").strip().rstrip("/") or OPTION["docker_hub_url"].default


def definitions_asset_uri(airbyte_root_url: str) -> str:
    """``airbyte://<host>:<port>[/<path>]/connector-definitions``: the Asset naming one Airbyte's definitions."""
    parts = urlsplit(airbyte_root_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"airbyte://{parts.hostname}:{port}{parts.path.rstrip('/')}/connector-definitions"


def registry_url() -> str | None:
    """Airbyte's connector registry (URL, ``file://`` URI or path) for breaking changes; None when off."""
    return _STRICT.text("registry_url").strip() or None


def platform_compatibility_url() -> str | None:
    """Airbyte's platform-compatibility matrix (URL, ``file://`` URI or path); None when off."""
    return _STRICT.text("platform_compatibility_url").strip() or None


def hold_changes() -> frozenset[str]:
    """Version classes whose updates wait for a person (``apply_held``) instead of being written."""
    return frozenset(_STRICT.items("hold_changes"))


def approval() -> ApprovalMode:
    """When a run waits for a person: ``never``, ``held`` (plans with held changes) or ``always`` (every plan
    that writes)."""
    return _approval(_STRICT)


def approval_timeout() -> float:
    """Seconds a run waits for an answer; no answer by then counts as Reject."""
    return _STRICT.number("approval_timeout")


def approval_users() -> list[str]:
    """Airflow user ids allowed to answer (empty: anyone who may act on the DAG)."""
    return _STRICT.items("approval_users")


def max_release_date_reads() -> int:
    """Release dates ``outdated``/``bump`` read at most per run."""
    return _STRICT.integer("max_release_date_reads")


def max_writes_limit() -> int:
    """The ceiling of the ``max_writes`` Param (held changes count toward it)."""
    return _STRICT.integer("max_writes_limit")


def create_settle_window() -> float:
    """Seconds a create with an unknown outcome is not sent again unless Airbyte shows it; never shorter than
    ``write_timeout`` (refused)."""
    return _create_settle_window(_STRICT)
