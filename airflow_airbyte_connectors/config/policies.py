"""Version policies: how far each connector definition may move when upgrades are proposed.

Pure module: no Airflow, no HTTP. basic_config keeps exact tags, the reviewed truth ``create_connectors``
applies; a policy only bounds what an upgrade proposal (``upgrades/proposals.py``) may suggest, so changing a policy
never changes the plan and is never a write to Airbyte.

In basic_config, a section default and per-entry overrides, each key optional::

    connectors:
      policy:
        versionPolicy: patch     # pin | patch (same X.Y) | minor (same X; same 0.Y before 1.0.0) | major
        breaking: stop           # stop: never cross a registry breaking change | allow
        minimumReleaseAge: 7d    # cooldown in days; 0d: none
        skipVersions: ["1.9.1"]  # known-bad releases, never proposed (an entry's list adds to this one)
      source_definitions:
        - name: GitHub
          ...
          versionPolicy: minor   # this entry only; breaking and minimumReleaseAge come from the section

With no policy anywhere, every definition is ``pin``: nothing is proposed until a team opts in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from airflow_airbyte_connectors.core.quoting import key_text, quote, type_name
from airflow_airbyte_connectors.core.versions import release_version, semver_key

VersionPolicy = Literal["pin", "patch", "minor", "major"]
VERSION_POLICIES: tuple[VersionPolicy, ...] = get_args(VersionPolicy)
BreakingPolicy = Literal["stop", "allow"]
BREAKING_POLICIES: tuple[BreakingPolicy, ...] = get_args(BreakingPolicy)
# The names in basic_config (section ``connectors.policy`` and any entry).
POLICY_KEYS = ("versionPolicy", "breaking", "minimumReleaseAge", "skipVersions")
# A skip list longer than this is not a list of known-bad releases but a typo or a generated list.
MAX_SKIP_VERSIONS = 1000
# A cooldown beyond ten years is a typo (7000d for 70d), not a policy.
MAX_RELEASE_AGE_DAYS = 3650
_RELEASE_AGE = re.compile(r"\A([0-9]{1,6})d\Z")


@dataclass(frozen=True)
class Policy:
    """The effective policy of one definition. The default is the safe reading: ``pin``, nothing proposed."""

    version_policy: VersionPolicy = "pin"
    breaking: BreakingPolicy = "stop"
    # Days a release must have been out before it is proposed; None: no cooldown (release dates not needed).
    minimum_release_age: int | None = None
    # Known-bad releases (``X.Y.Z``), never proposed nor offered.
    skip_versions: frozenset[str] = frozenset()

    def describe(self) -> str:
        """``minor, stop at breaking changes, 7d cooldown``."""
        parts: list[str] = [self.version_policy]
        if self.version_policy != "pin":
            parts.append("stop at breaking changes" if self.breaking == "stop" else "breaking changes allowed")
            if self.minimum_release_age is not None:
                parts.append(f"{self.minimum_release_age}d cooldown")
            if self.skip_versions:
                parts.append(f"skips {', '.join(sorted(self.skip_versions, key=semver_key_or_text))}")
        return ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        """In basic_config's key names."""
        age = self.minimum_release_age
        return {
            "versionPolicy": self.version_policy,
            "breaking": self.breaking,
            "minimumReleaseAge": None if age is None else f"{age}d",
            "skipVersions": sorted(self.skip_versions, key=semver_key_or_text),
        }


DEFAULT_POLICY = Policy()


def semver_key_or_text(version: str) -> tuple[object, ...]:
    """Versions in version order (a parsed skip list holds release versions only)."""
    return semver_key(version) or (version,)


def parse_section_policy(value: Any, path: str, problems: list[str]) -> Policy:
    """``connectors.policy``: a mapping of the policy keys only (each optional); problems are appended."""
    if not isinstance(value, dict):
        problems.append(f"{path}: must be a mapping with {', '.join(POLICY_KEYS)}, got {type_name(value)}")
        return DEFAULT_POLICY
    for key in value:
        if key not in POLICY_KEYS:
            problems.append(f"{path}.{key_text(key)}: unknown key (expected {', '.join(POLICY_KEYS)})")
    return _with_fields(value, path, problems, DEFAULT_POLICY)


def parse_entry_policy(entry: Mapping[Any, Any], path: str, problems: list[str], *, base: Policy) -> Policy | None:
    """An entry's overrides over the section's ``base``; None when the entry sets no policy key.

    Other keys of an entry are ignored (registry copies carry many), but a near miss of a policy key
    (``versionpolicy``, ``version_policy``) or a nested ``policy`` mapping is named: ignoring it would
    silently keep the section's policy.
    """
    wanted = {_loose(key): key for key in POLICY_KEYS}
    for key in entry:
        if not isinstance(key, str) or key in POLICY_KEYS:
            continue
        if key == "policy":
            problems.append(
                f"{path}.policy: an entry sets its policy keys directly ({', '.join(POLICY_KEYS)}), not under policy"
            )
        elif (meant := wanted.get(_loose(key))) is not None:
            problems.append(f"{path}.{key_text(key)}: unknown key; did you mean {meant}?")
    if not any(key in entry for key in POLICY_KEYS):
        return None
    return _with_fields(entry, path, problems, base)


def parse_release_age(value: Any) -> int | None:
    """``7d`` → 7, ``0d`` → None (no cooldown); raises ValueError saying what is wrong with ``value``."""
    if isinstance(value, bool) or not isinstance(value, str):
        hint = f" (write {value}d)" if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else ""
        raise ValueError(f"must be a number of days such as 7d (0d for none), got {type_name(value)}{hint}")
    match = _RELEASE_AGE.fullmatch(value)
    if match is None:
        raise ValueError(f"{quote(value)} is not a number of days such as 7d (0d for none)")
    days = int(match.group(1))
    if days > MAX_RELEASE_AGE_DAYS:
        raise ValueError(f"{quote(value)} is more than {MAX_RELEASE_AGE_DAYS} days")
    return days or None


def _with_fields(mapping: Mapping[Any, Any], path: str, problems: list[str], base: Policy) -> Policy:
    version_policy = base.version_policy
    breaking = base.breaking
    minimum_release_age = base.minimum_release_age
    if "versionPolicy" in mapping:
        version_policy = _choice(mapping["versionPolicy"], VERSION_POLICIES, f"{path}.versionPolicy", problems)
    if "breaking" in mapping:
        breaking = _choice(mapping["breaking"], BREAKING_POLICIES, f"{path}.breaking", problems)
    if "minimumReleaseAge" in mapping:
        try:
            minimum_release_age = parse_release_age(mapping["minimumReleaseAge"])
        except ValueError as exc:
            problems.append(f"{path}.minimumReleaseAge: {exc}")
    skip_versions = base.skip_versions
    if "skipVersions" in mapping:
        # Added to the section's: a release known bad anywhere stays skipped.
        skip_versions = skip_versions | _skip_versions(mapping["skipVersions"], f"{path}.skipVersions", problems)
    return Policy(
        version_policy=version_policy,
        breaking=breaking,
        minimum_release_age=minimum_release_age,
        skip_versions=skip_versions,
    )


def _skip_versions(value: Any, path: str, problems: list[str]) -> frozenset[str]:
    """``["1.9.1", "2.0.0"]``: release versions ``X.Y.Z``, the only tags ever proposed."""
    if not isinstance(value, list):
        problems.append(f'{path}: must be a list of release versions such as ["1.9.1"], got {type_name(value)}')
        return frozenset()
    if len(value) > MAX_SKIP_VERSIONS:
        problems.append(f"{path}: {len(value)} versions, more than {MAX_SKIP_VERSIONS}")
        return frozenset()
    found = set()
    for index, item in enumerate(value):
        if isinstance(item, str) and release_version(item) is not None:
            found.add(item)
            continue
        if isinstance(item, str):
            problems.append(f"{path}[{index}]: {quote(item)} is not a release version X.Y.Z (such as 1.9.1)")
        else:
            # YAML reads 2.0 as a number: name what it read and how to keep it text.
            hint = f' (quote it: "{item}")' if isinstance(item, int | float) and not isinstance(item, bool) else ""
            problems.append(f"{path}[{index}]: must be a release version X.Y.Z, got {type_name(item)}{hint}")
    return frozenset(found)


def _choice(value: Any, options: tuple[Any, ...], path: str, problems: list[str]) -> Any:
    """``value`` when it is one of ``options``; else a problem (and a placeholder, as the config is refused)."""
    if value in options and isinstance(value, str):
        return value
    listed = ", ".join(options)
    if isinstance(value, str):
        hint = f" (policies are lowercase: {value.lower()})" if value.lower() in options else ""
        problems.append(f"{path}: {quote(value)} is not one of {listed}{hint}")
    else:
        # YAML reads `breaking: no` as a boolean: name what it read.
        shown = "" if value is None else f" {quote(value)}"
        problems.append(f"{path}: must be one of {listed}, got {type_name(value)}{shown}")
    return options[0]


def _loose(key: str) -> str:
    return key.lower().replace("_", "").replace("-", "")
