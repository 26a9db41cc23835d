"""``connectors.environments``: the Airbyte instances one basic_config keeps in step.

Pure module: no Airflow, no HTTP. It parses and validates the section; plan_builder.build_plans plans every
environment, and the gate (plan/gate.py) judges what an environment with promoteFrom may take (docs/environments.md).

In basic_config::

    connectors:
      environments:
        staging:
          conn_id: airbyte_staging   # the Airflow connection to that Airbyte
        prod:
          conn_id: airbyte_prod
          promoteFrom: staging       # prod takes the versions staging has run
          soak: 3d                   # for at least this long there (90s, 30m, 12h, 3d); default: no minimum
          successfulSyncs: 2         # with this many successful syncs there; default 1

Without the section, a config has one implicit environment: the Airbyte of the DAG's connection.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from airflow_airbyte_connectors.core.quoting import key_text, quote, type_name

ENVIRONMENT_KEYS = ("conn_id", "promoteFrom", "soak", "successfulSyncs")
# Names will name tasks and command-line arguments: ASCII letters, digits, '_' and '-', starting with a
# letter or digit (no dots: Airflow puts one between a task group and a task).
MAX_NAME_CHARS = 63
ENVIRONMENT_NAME_RE = re.compile(rf"\A[A-Za-z0-9][A-Za-z0-9_-]{{0,{MAX_NAME_CHARS - 1}}}\Z")
# Airflow's own rule for a connection id (airflow.models.connection: RE_SANITIZE_CONN_ID, CONN_ID_MAX_LEN).
MAX_CONN_ID_CHARS = 250
CONN_ID_RE = re.compile(rf"\A[\w#!()\-.:/\\]{{1,{MAX_CONN_ID_CHARS}}}\Z")
# One Airflow keeping more Airbyte instances than this in step is a generated mistake; the bound also keeps
# the per-environment views (environments x entries) small.
MAX_ENVIRONMENTS = 50
# A soak of more than a year is a typo (300d for 30d), not a gate.
MAX_SOAK = timedelta(days=365)
_SOAK_RE = re.compile(r"\A(-?)([0-9]{1,8})([smhd])\Z")
_SOAK_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
# Problems name at most this many environments when they list them.
_LISTED = 10


@dataclass(frozen=True)
class Environment:
    """One Airbyte instance that basic_config keeps in step (``connectors.environments.<name>``)."""

    name: str
    # The Airflow connection to this Airbyte.
    conn_id: str
    # The environment whose versions this one takes; None: it takes the config's versions directly.
    promote_from: str | None = None
    # How long a version must have run in promote_from before it comes here: None without promote_from,
    # timedelta(0) when soak is not set.
    soak: timedelta | None = None
    # How many successful syncs in promote_from a version needs before it comes here (with promote_from only).
    successful_syncs: int = 1


def parse_environments(
    value: Any, path: str, problems: list[str]
) -> tuple[tuple[Environment, ...], frozenset[str] | None]:
    """The environments in promotion order, and the names declared; problems are appended.

    The names include environments whose settings have problems, so entries are checked against what the
    author declared; they are None when the section is unusable (not a mapping, too many), and entries'
    environment names are then not checked at all rather than all reported unknown.
    """
    if not isinstance(value, dict) or not value:
        got = "an empty mapping" if isinstance(value, dict) else type_name(value)
        problems.append(
            f"{path}: must be a mapping of environment names to their conn_id (and promoteFrom, soak, "
            f"successfulSyncs), got {got}; without the section the config has one implicit environment"
        )
        return (), None
    if len(value) > MAX_ENVIRONMENTS:
        problems.append(f"{path}: {len(value)} environments; the limit is {MAX_ENVIRONMENTS}")
        return (), None

    names = _declared_names(value, path, problems)
    environments = [
        environment
        for key, settings in value.items()
        if (environment := _parse_environment(key, settings, f"{path}.{key_text(key)}", names, problems)) is not None
    ]
    # The checks across environments read the settings as written, so they run beside each one's own problems.
    valid = {key: settings for key, settings in value.items() if key in names and isinstance(settings, dict)}
    conn_ids: dict[str, str] = {}  # upper-cased conn_id -> the first environment using it
    for name, settings in valid.items():
        conn_id = settings.get("conn_id")
        if not isinstance(conn_id, str) or not CONN_ID_RE.fullmatch(conn_id):
            continue
        # Airflow reads AIRFLOW_CONN_<CONN_ID> in upper case: ids differing only in case are one connection.
        first = conn_ids.setdefault(conn_id.upper(), name)
        if first != name:
            problems.append(
                f"{path}.{name}.conn_id: {quote(conn_id)} is already the connection of {path}.{first}; "
                "two environments cannot be the same Airbyte"
            )
    parents = {
        name: settings["promoteFrom"]
        for name, settings in valid.items()
        if isinstance(settings.get("promoteFrom"), str) and settings["promoteFrom"] in names - {name}
    }
    for cycle in _promotion_cycles(parents):
        problems.append(
            f"{path}.{cycle[0]}.promoteFrom: promotion cycle {' → '.join(cycle)}; versions must enter at an "
            "environment without promoteFrom: remove promoteFrom from one of them"
        )
    return _promotion_order(environments), frozenset(names)


def unknown_environment(value: Any, declared: frozenset[str] | set[str] | None) -> str:
    """``'stagin' is not an environment (environments: prod, staging)``."""
    known = f" (environments: {listed(declared)})" if declared else ""
    return f"{quote(value)} is not an environment{known}"


def listed(names: frozenset[str] | set[str]) -> str:
    """``prod, staging`` (sorted, at most ten, then how many more)."""
    shown = sorted(names)
    more = f" and {len(shown) - _LISTED} more" if len(shown) > _LISTED else ""
    return ", ".join(shown[:_LISTED]) + more


def same_airbyte(instances: Mapping[str, str]) -> list[str]:
    """Problems for environments that are one Airbyte, from environment name → the Airbyte it reaches
    (``AirbyteDefinitionsHook.instance_id``): two conn_ids can reach one Airbyte by two URLs, and versions
    promoted between them would count as run where they were only written.

    ``environments staging and prod are the same Airbyte (deployment 1234…): ...``, in the order given.
    """
    by_instance: dict[str, list[str]] = {}
    for name, instance in instances.items():
        by_instance.setdefault(instance, []).append(name)
    problems = []
    for instance, names in by_instance.items():
        if len(names) > 1:
            together = f"{', '.join(names[:-1])} and {names[-1]}"
            problems.append(
                f"environments {together} are the same Airbyte ({instance}); each environment must be its own "
                "Airbyte: point their conn_id at different Airbyte instances"
            )
    return problems


def parse_soak(value: Any) -> timedelta:
    """``90s``, ``30m``, ``12h``, ``3d`` → timedelta; raises ValueError saying what is wrong with ``value``."""
    if isinstance(value, bool) or not isinstance(value, str):
        hint = f" (add a unit: {value}s, {value}m, {value}h or {value}d)" if type(value) is int and value > 0 else ""
        raise ValueError(
            f"must be a duration such as 3d (an integer and one of s, m, h, d), got {type_name(value)}{hint}"
        )
    match = _SOAK_RE.fullmatch(value)
    if match is None:
        hint = f" (units are lowercase: {value.lower()})" if _SOAK_RE.fullmatch(value.lower()) else ""
        raise ValueError(
            f"{quote(value)} is not a duration: an integer and one unit, s, m, h or d (90s, 30m, 12h, 3d){hint}"
        )
    sign, amount, unit = match.groups()
    soak = timedelta(**{_SOAK_UNITS[unit]: int(amount)})
    if sign or not soak:
        raise ValueError(f"{quote(value)}: a soak must be longer than zero (leave soak out for no minimum time)")
    if soak > MAX_SOAK:
        raise ValueError(f"{quote(value)} is more than {MAX_SOAK.days} days")
    return soak


def _declared_names(value: dict[Any, Any], path: str, problems: list[str]) -> set[str]:
    """The section's environment names; a name that is not a simple identifier, or that differs from another
    only in case (which a task id or a command line would not tell apart), is a problem."""
    names: set[str] = set()
    by_folded: dict[str, str] = {}
    for key in value:
        if not isinstance(key, str) or not ENVIRONMENT_NAME_RE.fullmatch(key):
            problems.append(
                f"{path}: {quote(key)} is not an environment name (letters, digits, '_' and '-', starting with "
                f"a letter or digit, at most {MAX_NAME_CHARS} characters)"
            )
            continue
        first = by_folded.setdefault(key.casefold(), key)
        if first != key:
            problems.append(f"{path}.{key}: differs from {first} only in case; give environments distinct names")
        names.add(key)
    return names


def _parse_environment(key: Any, settings: Any, path: str, names: set[str], problems: list[str]) -> Environment | None:
    """One environment's settings, or None when they have a problem (appended) or its name has one."""
    if not isinstance(settings, dict):
        problems.append(
            f"{path}: must be a mapping with conn_id (and promoteFrom, soak, successfulSyncs), "
            f"got {type_name(settings)}"
        )
        return None
    before = len(problems)
    for unknown in (k for k in settings if k not in ENVIRONMENT_KEYS):
        problems.append(f"{path}.{key_text(unknown)}: unknown key (expected {', '.join(ENVIRONMENT_KEYS)})")

    conn_id = settings.get("conn_id")
    if "conn_id" not in settings or conn_id is None:
        problems.append(f"{path}.conn_id: required (the Airflow connection to this environment's Airbyte)")
    elif not isinstance(conn_id, str):
        problems.append(f"{path}.conn_id: must be a string, got {type_name(conn_id)}")
    elif not CONN_ID_RE.fullmatch(conn_id):
        problems.append(
            f"{path}.conn_id: {quote(conn_id)} is not an Airflow connection id "
            f"(letters, digits and _ # ! ( ) - . : / \\; at most {MAX_CONN_ID_CHARS} characters)"
        )

    promote_from = settings.get("promoteFrom")
    if "promoteFrom" in settings:
        if not isinstance(promote_from, str):
            problems.append(f"{path}.promoteFrom: must be an environment name, got {type_name(promote_from)}")
        elif promote_from == key:
            problems.append(f"{path}.promoteFrom: an environment cannot promote from itself")
        elif promote_from not in names:
            problems.append(f"{path}.promoteFrom: {unknown_environment(promote_from, names)}")

    soak = None
    if "soak" in settings:
        if "promoteFrom" not in settings:
            problems.append(
                f"{path}.soak: only with promoteFrom (a soak is time spent in the environment promoted from)"
            )
        else:
            try:
                soak = parse_soak(settings["soak"])
            except ValueError as exc:
                problems.append(f"{path}.soak: {exc}")

    successful_syncs = settings.get("successfulSyncs", 1)
    if "successfulSyncs" in settings:
        if "promoteFrom" not in settings:
            problems.append(
                f"{path}.successfulSyncs: only with promoteFrom (syncs counted in the environment promoted from)"
            )
        elif type(successful_syncs) is not int or successful_syncs < 0:
            problems.append(f"{path}.successfulSyncs: must be a whole number, 0 or more, got {quote(successful_syncs)}")

    if len(problems) > before or key not in names or not isinstance(conn_id, str):
        return None
    return Environment(
        name=key,
        conn_id=conn_id,
        promote_from=promote_from,
        soak=(soak or timedelta(0)) if promote_from is not None else None,
        successful_syncs=successful_syncs,
    )


def _promotion_cycles(parents: dict[str, str | None]) -> list[list[str]]:
    """Each cycle of promoteFrom once, in the direction versions would move, from and back to its
    first-declared member: ``a → b → a``."""
    order = {name: index for index, name in enumerate(parents)}
    done: set[str] = set()
    cycles: list[list[str]] = []
    for start in parents:
        walk: list[str] = []
        on_walk: set[str] = set()
        current: str | None = start
        while current is not None and current not in done:
            if current in on_walk:
                loop = walk[walk.index(current) :]  # along promoteFrom: each promotes from the next
                first = min(range(len(loop)), key=lambda i: order[loop[i]])
                loop = loop[first:] + loop[:first]
                cycles.append([loop[0], *reversed(loop[1:]), loop[0]])
                break
            walk.append(current)
            on_walk.add(current)
            current = parents.get(current)
        done.update(walk)
    return cycles


def _promotion_order(environments: list[Environment]) -> tuple[Environment, ...]:
    """Declaration order, except that each environment comes after the one it promotes from."""
    by_name = {environment.name: environment for environment in environments}
    placed: dict[str, Environment] = {}
    for environment in environments:
        chain: list[Environment] = []
        current: Environment | None = environment
        while current is not None and current.name not in placed and current not in chain:
            chain.append(current)
            current = by_name.get(current.promote_from) if current.promote_from else None
        for earlier in reversed(chain):
            placed[earlier.name] = earlier
    return tuple(placed.values())
