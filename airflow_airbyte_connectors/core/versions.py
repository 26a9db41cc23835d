"""What a connector definition's version change means: its class, and the registry breaking changes it crosses.

Pure module: no Airflow, no HTTP.

Two orderings, on purpose:

* **Airbyte's** (``airbyte_version``, ``airbyte_compare``) predicts what the server does on ``update``. It mirrors
  ``io.airbyte.commons.version.Version``: only ``major.minor.patch`` of the part before the first ``-`` counts
  (``2.0.0-rc.1 == 2.0.0``), a ``dev*`` tag equals everything, and anything else it cannot compare
  (``v1.2.3``, ``1.2``, ``latest``, ``1.2.3+build``).
* **SemVer** (``semver_key``) is for describing a change to a person (``2.0.0-rc.1`` comes before ``2.0.0``).

Every version the package reads is parsed here: besides the two orderings, ``plain_version`` (the registry's
breaking-change keys, the platform-compatibility matrix), ``release_version`` (the tags an upgrade proposes) and
``range_version`` (a version inside an npm-style range).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, get_args

VersionClass = Literal["patch", "minor", "major", "downgrade", "prerelease", "unknown", "breaking"]
# The order classes are listed in, whatever order they were found in.
VERSION_CLASSES: tuple[VersionClass, ...] = get_args(VersionClass)

# Airbyte parses each part with Kotlin's String.toInt(): ASCII digits (an optional sign), at most Int.MAX_VALUE.
_AIRBYTE_PART = re.compile(r"\A\+?[0-9]++\Z")
_INT_MAX = 2**31 - 1
_INT_MAX_DIGITS = len(str(_INT_MAX))

Version = tuple[int, int, int]

# X.Y.Z of ASCII digits. At most 18 a part: int() of a longer run costs more, and from 4,300 digits it raises.
_PLAIN = re.compile(r"\A([0-9]{1,18})\.([0-9]{1,18})\.([0-9]{1,18})\Z")
# A version in an npm-style range: one to three parts, each a number or a wildcard (x, X, *).
_RANGE_PART = r"[0-9]{1,18}|[xX*]"
_RANGE = re.compile(rf"\Av?({_RANGE_PART})(?:\.({_RANGE_PART}))?(?:\.({_RANGE_PART}))?\Z")

# semver.org 2.0.0: numeric identifiers without leading zeros; pre-release identifiers dot-separated.
# \A...\Z: ``$`` would accept a trailing newline. Possessive quantifiers: no backtracking on long input;
# the alphanumeric identifier is tried first, so the first alternative that matches takes the whole identifier.
_NUM = r"0|[1-9][0-9]*+"
_PRE_ID = r"[0-9]*+[A-Za-z-][0-9A-Za-z-]*+|0|[1-9][0-9]*+"
_SEMVER = re.compile(
    rf"\A({_NUM})\.({_NUM})\.({_NUM})"
    rf"(?:-((?:{_PRE_ID})(?:\.(?:{_PRE_ID}))*+))?"
    r"(?:\+([0-9A-Za-z-]++(?:\.[0-9A-Za-z-]++)*+))?\Z"
)

NOTE_NO_DATA = "no breaking-change data (registry unavailable): a major/unknown change counts as breaking"
NOTE_NO_DATA_OTHER = "no breaking-change data (registry unavailable): the breaking changes it crosses are unknown"
NOTE_NOT_IN_REGISTRY = "no registry data (connector not in the registry): Airbyte pins no actor on this change"


class UncomparableVersion(ValueError):
    """Airbyte cannot compare this tag (its ``Version`` would throw)."""

    def __init__(self, tag: str):
        self.tag = tag
        super().__init__(f"{tag!r} is not a version Airbyte can compare (it needs numeric X.Y.Z before any '-')")


def is_dev(tag: str) -> bool:
    """A ``dev*`` tag: Airbyte treats it as equal to every version (so it never pins)."""
    return _airbyte_text(tag).startswith("dev")


def airbyte_version(tag: str) -> tuple[int, int, int] | None:
    """``(major, minor, patch)`` as Airbyte reads ``tag``; None when Airbyte cannot compare it.

    A ``dev*`` tag gives None too: it has no numbers (``is_dev`` tells it apart).
    """
    parts = _airbyte_text(tag).split("-")[0].split(".")
    if len(parts) < 3:
        return None
    numbers = []
    for part in parts[:3]:  # a 4th part is ignored, like Airbyte does
        if not _AIRBYTE_PART.fullmatch(part) or len(part.lstrip("+0")) > _INT_MAX_DIGITS or int(part) > _INT_MAX:
            return None
        numbers.append(int(part))
    return numbers[0], numbers[1], numbers[2]


def plain_version(text: str) -> Version | None:
    """``(X, Y, Z)`` of ``X.Y.Z`` in ASCII digits (leading zeros too, as the registry's ``^\\d+\\.\\d+\\.\\d+$``
    allows); None for anything else: a prerelease, ``v1.2.3``, whitespace, a part of more than 18 digits."""
    found = _PLAIN.fullmatch(text)
    return (int(found[1]), int(found[2]), int(found[3])) if found else None


def release_version(tag: str) -> Version | None:
    """``(X, Y, Z)`` of a release tag ``X.Y.Z``; None for anything else (pre-releases, ``latest``, ``v1.2.3``).

    Numeric parts as SemVer writes them (no leading zeros), of at most 9 digits: Airbyte reads each part as a
    32-bit int."""
    numbers = plain_version(tag)
    if numbers is None or any(len(part) > 9 or len(part) > 1 and part[0] == "0" for part in tag.split(".")):
        return None
    return numbers


def range_version(text: str) -> tuple[int | None, int | None, int | None] | None:
    """The parts of a version in an npm-style range (``1``, ``1.2``, ``v1.2.3``, ``1.x``, ``*``): None for a
    part that is missing or a wildcard, and for every part after one; None when ``text`` is not such a version."""
    found = _RANGE.fullmatch(text)
    if found is None:
        return None
    parts: list[int | None] = []
    for part in found.groups():
        parts.append(None if part is None or part in "xX*" or (parts and parts[-1] is None) else int(part))
    return parts[0], parts[1], parts[2]


def airbyte_compare(a: str, b: str) -> int:
    """-1, 0 or 1 as Airbyte orders ``a`` and ``b``; raises :class:`UncomparableVersion`."""
    if is_dev(a) or is_dev(b):
        return 0
    left, right = airbyte_version(a), airbyte_version(b)
    if left is None:
        raise UncomparableVersion(a)
    if right is None:
        raise UncomparableVersion(b)
    return (left > right) - (left < right)


def semver_key(tag: str) -> tuple[Any, ...] | None:
    """A sort key with SemVer 2.0.0 precedence; None if ``tag`` is not SemVer.

    Build metadata is ignored (``1.0.0+a`` and ``1.0.0+b`` get the same key).
    """
    match = _SEMVER.fullmatch(tag)
    if match is None:
        return None
    major, minor, patch, pre, _build = match.groups()
    if pre is None:
        # A release ranks above any of its pre-releases: 1 > 0 in the fourth slot.
        return int(major), int(minor), int(patch), 1, ()
    # Numeric identifiers rank below alphanumeric ones, and compare as numbers; a longer list of equal
    # leading identifiers ranks higher, which is exactly how tuples compare.
    identifiers = tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in pre.split("."))
    return int(major), int(minor), int(patch), 0, identifiers


@dataclass(frozen=True)
class BreakingChange:
    """One entry of a connector's ``releases.breakingChanges`` in the registry."""

    version: str
    message: str
    upgrade_deadline: date | None = None
    deadline_action: str | None = None
    migration_documentation_url: str | None = None
    # Stream names from scopedImpact. Empty: no scope, so every unpinned actor is affected.
    impacted_streams: tuple[str, ...] = ()

    def deadline_passed(self, today: date) -> bool:
        """True once Airbyte marks versions below this one ``unsupported`` (the day after the deadline)."""
        return self.upgrade_deadline is not None and self.upgrade_deadline < today

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "message": self.message,
            "upgradeDeadline": self.upgrade_deadline.isoformat() if self.upgrade_deadline else None,
            "deadlineAction": self.deadline_action,
            "migrationDocumentationUrl": self.migration_documentation_url,
            "impactedStreams": list(self.impacted_streams),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BreakingChange:
        """The inverse of :meth:`to_json` (for a value read back from XCom)."""
        deadline = data.get("upgradeDeadline")
        return cls(
            version=data["version"],
            message=data["message"],
            upgrade_deadline=date.fromisoformat(deadline) if deadline else None,
            deadline_action=data.get("deadlineAction"),
            migration_documentation_url=data.get("migrationDocumentationUrl"),
            impacted_streams=tuple(data.get("impactedStreams") or ()),
        )


@dataclass(frozen=True)
class VersionChange:
    """What ``current → target`` means. ``classes`` is in :data:`VERSION_CLASSES` order; ``crossed`` ascending."""

    current: str
    target: str
    classes: tuple[VersionClass, ...] = ()
    crossed: tuple[BreakingChange, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def breaking(self) -> bool:
        return "breaking" in self.classes

    def describe(self) -> str:
        """``"major, breaking"``; ``"unchanged"`` for the same tag; ``"same version to Airbyte"`` otherwise."""
        if self.classes:
            return ", ".join(self.classes)
        return "unchanged" if self.current == self.target else "same version to Airbyte"

    def to_json(self) -> dict[str, Any]:
        return {
            "current": self.current,
            "target": self.target,
            "classes": list(self.classes),
            "crossed": [change.to_json() for change in self.crossed],
            "notes": list(self.notes),
        }


def classify(
    current: str,
    target: str,
    breaking_changes: Sequence[BreakingChange] | None,
    *,
    registry_known: bool = True,
) -> VersionChange:
    """Classify ``current → target`` the way Airbyte's ``update`` will treat it.

    ``breaking_changes`` is the connector's registry list; None when the registry could not be read
    (``registry_known=True``) or does not know the connector (``registry_known=False``, e.g. a custom one).
    """
    classes: set[VersionClass] = set()
    notes: list[str] = []
    crossed: tuple[BreakingChange, ...] = ()

    if "-" in _airbyte_text(target):
        classes.add("prerelease")

    old, new = airbyte_version(current), airbyte_version(target)
    if is_dev(current) or is_dev(target):
        classes.add("unknown")
        dev = current if is_dev(current) else target
        notes.append(f"{dev!r} is a dev tag: Airbyte treats it as equal to every version and pins no actor")
    elif old is None or new is None:
        classes.add("unknown")
        for tag in (current, target):
            if airbyte_version(tag) is None:
                notes.append(f"{tag!r} is not a version Airbyte can compare (it needs numeric X.Y.Z before any '-')")
        if breaking_changes:
            # Airbyte compares only when the definition has breaking changes (its early exit); then it throws.
            notes.append("Airbyte's update will probably fail (500) comparing this tag with the breaking changes")
    elif new > old:
        differing = next(index for index in range(3) if new[index] != old[index])
        classes.add(("major", "minor", "patch")[differing])
        crossed = _between(breaking_changes, old, new)
    elif new < old:
        classes.add("downgrade")
        crossed = _between(breaking_changes, new, old)
        if crossed:
            versions = ", ".join(change.version for change in crossed)
            notes.append(
                f"downgrade across breaking change {versions}: Airbyte ignores breaking changes on the way down "
                "and releases their pins, so every actor without a pin of its own moves to the target"
            )
    else:
        notes.extend(_same_numbers_note(current, target))

    if crossed:
        classes.add("breaking")
    if breaking_changes is None:
        if not registry_known:
            notes.append(NOTE_NOT_IN_REGISTRY)
        elif classes & {"major", "unknown"}:
            classes.add("breaking")
            notes.append(NOTE_NO_DATA)
        elif classes & {"patch", "minor", "downgrade"}:
            # Not counted as breaking (minor and patch breaking changes are rare), but not known to be safe either.
            notes.append(NOTE_NO_DATA_OTHER)

    ordered = tuple(name for name in VERSION_CLASSES if name in classes)
    return VersionChange(current=current, target=target, classes=ordered, crossed=crossed, notes=tuple(notes))


def _airbyte_text(tag: str) -> str:
    # Version.kt: version.replace("\n", "").trim()
    return tag.replace("\n", "").strip()


def _between(
    breaking_changes: Sequence[BreakingChange] | None, low: tuple[int, int, int], high: tuple[int, int, int]
) -> tuple[BreakingChange, ...]:
    """The breaking changes with ``low < v ≤ high``, ascending; ones Airbyte cannot parse are skipped."""
    found = []
    for change in breaking_changes or ():
        version = airbyte_version(change.version)
        if version is not None and low < version <= high:
            found.append((version, change.version, change))
    return tuple(change for _, _, change in sorted(found, key=lambda item: item[:2]))


def _same_numbers_note(current: str, target: str) -> list[str]:
    """Explain a change Airbyte sees as none (``2.0.0 → 2.0.0-rc.1``), with the SemVer view for people."""
    if current == target:
        return []
    note = f"Airbyte ignores everything after '-': {current} and {target} are the same version to it"
    before, after = semver_key(current), semver_key(target)
    if before is not None and after is not None and before != after:
        note += f" (by SemVer, {target} is {'after' if after > before else 'before'} {current})"
    return [note]
