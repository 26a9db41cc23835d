"""Airbyte's platform-compatibility matrix (``platform-compatibility.json``) and the check Airbyte runs on every
definition update (``validateVersionSupport``, since v0.63.9): which connector versions this Airbyte refuses.

Pure module: no Airflow, no HTTP. Ranges are read as npm-style semver ranges (Airbyte uses semver4j's
``satisfies``). Like the server, anything this module cannot judge is allowed (it fails open): a tag or an
Airbyte version that is not plain ``X.Y.Z`` (prereleases too: semver4j and npm may disagree on them), a range
it cannot parse, an Airbyte older than 0.63.9 (no check there) or Airbyte Cloud (which skips it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_airbyte_connectors.core.versions import plain_version, range_version

# The first Airbyte release that checks definition updates against the matrix.
FIRST_CHECKING_VERSION = (0, 63, 9)


Version = tuple[int, int, int]
_OPERATORS = frozenset({"<=", ">=", "<", ">", "=", "^", "~", "~>"})


class CompatibilityFormatError(ValueError):
    """The document is not a platform-compatibility matrix."""


class RangeError(ValueError):
    """A range this module cannot read; the server would fail open on it as well."""


@dataclass(frozen=True)
class Rule:
    connector_version: str
    airbyte_version: str
    blocked: bool = False


@dataclass(frozen=True)
class ConnectorRules:
    name: str
    connector_type: str
    definition_id: str
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class CompatibilityMatrix:
    """The matrix's connectors by definition ID (lower case), and what in it could not be read."""

    connectors: Mapping[str, ConnectorRules]
    findings: tuple[str, ...] = field(default=())


def parse_matrix(document: Any) -> CompatibilityMatrix:
    """``{"compatibleConnectors": [{connectorName, connectorType, connectorDefinitionId, compatibilityMatrix:
    [{connectorVersion, airbyteVersion, blocked?}]}]}``; an entry or rule that is not of that shape is left
    out with a finding (the server would not match it either)."""
    if not isinstance(document, dict) or not isinstance(document.get("compatibleConnectors"), list):
        raise CompatibilityFormatError("not a platform-compatibility matrix (no compatibleConnectors list)")
    connectors: dict[str, ConnectorRules] = {}
    findings: list[str] = []
    for index, entry in enumerate(document["compatibleConnectors"]):
        where = f"compatibleConnectors[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("connectorDefinitionId"), str):
            findings.append(f"{where}: no connectorDefinitionId; left out")
            continue
        rules = []
        for number, rule in enumerate(entry.get("compatibilityMatrix") or []):
            if not (
                isinstance(rule, dict)
                and isinstance(rule.get("connectorVersion"), str)
                and isinstance(rule.get("airbyteVersion"), str)
            ):
                findings.append(f"{where}.compatibilityMatrix[{number}]: no connectorVersion/airbyteVersion; left out")
                continue
            rules.append(Rule(rule["connectorVersion"], rule["airbyteVersion"], rule.get("blocked") is True))
        definition_id = entry["connectorDefinitionId"].strip().lower()
        connectors.setdefault(
            definition_id,
            ConnectorRules(
                name=str(entry.get("connectorName") or definition_id),
                connector_type=str(entry.get("connectorType") or ""),
                definition_id=definition_id,
                rules=tuple(rules),
            ),
        )
    return CompatibilityMatrix(connectors, tuple(findings))


def refusal(
    matrix: CompatibilityMatrix, definition_id: str, tag: str, airbyte_version: str, edition: str | None = None
) -> str | None:
    """The message Airbyte ``airbyte_version`` would refuse an update of ``definition_id`` to ``tag`` with,
    or None when it would accept it (or this module cannot tell)."""
    platform = parse_version(airbyte_version)
    if platform is None or unchecked_reason(airbyte_version, edition) is not None:
        return None
    connector = matrix.connectors.get(definition_id.strip().lower())
    target = parse_version(tag)
    if connector is None or target is None:
        return None
    try:
        rule = next((r for r in connector.rules if satisfies(target, r.connector_version)), None)
        if rule is None:
            return None
        if rule.blocked:
            return f"Connector {connector.name} with version {tag} is temporarily blocked from upgrade."
        if satisfies(platform, rule.airbyte_version):
            return None
    except RangeError:
        return None
    return (
        f"Current Airbyte version {airbyte_version} doesn't support connector version {tag} for connector "
        f"{connector.name}. Compatible Airbyte Version(s): {rule.airbyte_version}"
    )


def unchecked_reason(airbyte_version: str, edition: str | None = None) -> str | None:
    """Why Airbyte ``airbyte_version`` (``edition``) refuses no version by the matrix, or None when it checks."""
    if (edition or "").lower() == "cloud":
        return "Airbyte Cloud does not check platform compatibility"
    platform = parse_version(airbyte_version)
    if platform is None:
        # Airbyte's own check fails open on a version it cannot compare (a dev build).
        return f"Airbyte version {airbyte_version!r} is not X.Y.Z, so Airbyte's own check lets every version through"
    if platform < FIRST_CHECKING_VERSION:
        return f"Airbyte {airbyte_version} does not check platform compatibility (Airbyte does from 0.63.9)"
    return None


def find_definition_id(matrix: CompatibilityMatrix, connector_type: str, docker_repository: str) -> str | None:
    """The definition ID of the matrix entry for an image, when no definition ID is known otherwise.

    Airbyte looks entries up by definition ID only, and the IDs in the matrix are its built-in definitions',
    whose images are ``airbyte/<connectorName>``. So an entry matches when ``connectorType`` is the kind and
    ``connectorName`` is the image's last path part in an ``airbyte`` namespace (``docker.io/airbyte/…`` too);
    an image under another owner is a custom definition, which Airbyte never checks. Two entries alike: None.
    """
    owner, _, name = docker_repository.strip().rpartition("/")
    if owner.rpartition("/")[2] != "airbyte":
        return None
    found = [
        connector.definition_id
        for connector in matrix.connectors.values()
        if connector.name == name and connector.connector_type == connector_type
    ]
    return found[0] if len(found) == 1 else None


def parse_version(text: str) -> Version | None:
    """``X.Y.Z`` (a leading ``v`` allowed) as a tuple; None for anything else, prereleases included."""
    return plain_version(text.strip().removeprefix("v")) if isinstance(text, str) else None


def satisfies(version: Version, range_text: str) -> bool:
    """Whether ``version`` is in the npm-style range: ``1.2.3``, ``>=1.1.0 <1.2.0``, ``^1.2``, ``~1.2.3``,
    ``1.x``, ``*``, ``1.0.0 - 2.0.0``, alternatives joined by ``||``. :class:`RangeError` if unreadable."""
    alternatives = [part.strip() for part in range_text.split("||")]
    return any(all(test(version) for test in _comparator_set(part)) for part in alternatives)


def _comparator_set(text: str) -> list[Any]:
    hyphen = re.fullmatch(r"(\S+)\s+-\s+(\S+)", text)
    if hyphen:
        low, high = _partial(hyphen[1]), _partial(hyphen[2])
        return [_bound(">=", low), _upper_of(high)]
    if text in ("", "*", "x", "X"):
        return [lambda _v: True]
    tests = []
    for token in _joined_operators(text.split()):
        found = re.fullmatch(r"(<=|>=|<|>|=|\^|~>?)?([^\s<>=^~]\S*)", token)
        if found is None:
            raise RangeError(f"cannot read range {text!r}")
        operator, partial = found[1] or "", _partial(found[2])
        tests += _expand(operator, partial)
    if not tests:
        raise RangeError(f"cannot read range {text!r}")
    return tests


def _joined_operators(tokens: list[str]) -> list[str]:
    """``>= 1.2.0`` read as ``>=1.2.0``: a lone operator joins the token after it (no regex: a run of a million
    ``<`` must stay a linear scan)."""
    joined: list[str] = []
    for token in tokens:
        if joined and joined[-1] in _OPERATORS:
            joined[-1] += token
        else:
            joined.append(token)
    return joined


def _partial(text: str) -> tuple[int | None, ...]:
    parts = range_version(text)
    if parts is None:
        raise RangeError(f"cannot read version {text!r} in a range")
    return parts


def _floor(partial: tuple[int | None, ...]) -> Version:
    major, minor, patch = (p or 0 for p in partial)
    return major, minor, patch


def _bound(operator: str, bound: Version | tuple[int | None, ...]) -> Any:
    value = _floor(bound) if None in bound else bound
    return {
        ">=": lambda v: v >= value,
        ">": lambda v: v > value,
        "<": lambda v: v < value,
        "<=": lambda v: v <= value,
    }[operator]


def _upper_of(partial: tuple[int | None, ...]) -> Any:
    """The exclusive top of an x-range (``1.2`` → ``<1.3.0``), or ``<=`` a full version."""
    major, minor, patch = partial
    if major is None:
        return lambda _v: True
    if minor is None:
        return _bound("<", (major + 1, 0, 0))
    if patch is None:
        return _bound("<", (major, minor + 1, 0))
    return _bound("<=", (major, minor, patch))


def _expand(operator: str, partial: tuple[int | None, ...]) -> list[Any]:
    major, minor, patch = partial
    if major is None:
        return [lambda _v: operator not in ("<", ">")]
    if operator in ("", "="):
        return [_bound(">=", partial), _upper_of(partial)]
    if operator == ">=":
        return [_bound(">=", partial)]
    if operator == "<":
        return [_bound("<", partial)]
    if operator == ">":
        return [_bound(">=", _next_above(partial)) if None in partial else _bound(">", partial)]
    if operator == "<=":
        return [_upper_of(partial)]
    if operator.startswith("~"):
        top = (major + 1, 0, 0) if minor is None else (major, minor + 1, 0)
        return [_bound(">=", partial), _bound("<", top)]
    # ^: the leftmost non-zero part stays.
    if major > 0 or minor is None:
        top = (major + 1, 0, 0)
    elif minor > 0 or patch is None:
        top = (0, minor + 1, 0)
    else:
        top = (0, 0, patch + 1)
    return [_bound(">=", partial), _bound("<", top)]


def _next_above(partial: tuple[int | None, ...]) -> Version:
    major, minor, _ = partial
    assert major is not None
    return (major + 1, 0, 0) if minor is None else (major, minor + 1, 0)
