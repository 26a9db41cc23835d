"""Upgrade proposals: from a definition's tag, the published versions and its policy, the version to move to.

Pure module: no Airflow, no HTTP. The caller brings the candidate tags (an image's tag list, with release
dates where a cooldown needs them) and the registry's breaking changes; :func:`propose` says what to move
to and what the move means, or why nothing is proposed.

* Only release tags ``X.Y.Z`` are ever proposed: ``-rc.N``, ``dev``, ``latest``, ``sha-…`` and anything
  else are skipped, whatever their date.
* Candidates are ordered by version, never by date: changelog and image dates are not always in version order.
* From newest to proposed, four limits apply in turn: the version policy's range (``patch``: same X.Y,
  ``minor``: same X, but same 0.Y before 1.0.0, where SemVer lets a minor break anything; ``major``: any),
  ``breaking: stop`` (nothing at or above the first registry breaking change after the current version), the
  platform (a version the caller's Airbyte would refuse is skipped, with Airbyte's reason), and the cooldown (a
  known release date at least ``minimumReleaseAge`` days before today; without a cooldown, dates are not needed).
* ``skipVersions`` are never proposed nor offered; the newest release beyond the policy is offered beside the
  proposal (``also_available``), as Renovate shows the major next to the safe move.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

from airflow_airbyte_connectors.config.policies import Policy
from airflow_airbyte_connectors.core.versions import (
    BreakingChange,
    VersionChange,
    VersionClass,
    airbyte_version,
    classify,
    is_dev,
    release_version,
    semver_key,
)

# Why nothing is proposed.
NoProposal = Literal["pinned", "unversioned", "newest", "breaking", "refused", "cooldown", "unread"]

# Whether the platform takes a version: Airbyte's refusal in its own words, or None when it accepts the tag.
PlatformRefusal = Callable[[str], str | None]

Version = tuple[int, int, int]


@dataclass(frozen=True, slots=True)  # one per listed tag: slots keep a long tag list small
class Candidate:
    """One published tag; ``released``: its release date when known (an image's ``created``)."""

    tag: str
    released: date | None = None

    def __post_init__(self) -> None:
        # An image config's `created` is a timestamp; ages are counted in whole days.
        if isinstance(self.released, datetime):
            object.__setattr__(self, "released", self.released.date())


@dataclass(frozen=True, slots=True)
class SkippedVersion:
    """A newer release the policy allows that the platform refuses, with Airbyte's reason."""

    tag: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"version": self.tag, "reason": self.reason}


@dataclass(frozen=True)
class Proposal:
    """What one definition could move to under its policy.

    ``newest``: the newest release published (whatever the policy). ``newest_in_policy``: the newest release
    above ``current`` that the version policy and ``breaking`` allow, before the cooldown. ``proposed``: the
    newest of those old enough for the cooldown, or None, with ``reason`` saying why. ``change`` is the
    proposed move as :func:`~airflow_airbyte_connectors.core.versions.classify` sees it (its ``crossed`` breaking
    changes under ``breaking: allow``); ``stopped_at``: the breaking change ``breaking: stop`` held back at.
    ``skipped``: the releases newer than ``proposed`` (all, when nothing is proposed) that the policy allows
    and the platform refuses, newest first. ``detail``: one line for people, on what held back a newer
    version or why nothing is proposed.
    """

    current: str
    policy: Policy
    newest: str | None = None
    newest_in_policy: str | None = None
    proposed: str | None = None
    change: VersionChange | None = None
    stopped_at: BreakingChange | None = None
    age_days: int | None = None
    reason: NoProposal | None = None
    detail: str = ""
    skipped: tuple[SkippedVersion, ...] = ()
    # The newest release beyond what the policy allows (its range, or past a breaking change it stops at), as
    # Renovate offers the major beside the safe move: shown, never proposed.
    also_available: VersionChange | None = None
    # The day the newest release the cooldown holds back is old enough (None: none held, or its date unknown).
    cooldown_until: date | None = None
    # ``detail`` says only that the proposal is the newest release the policy allows: nothing held back.
    nothing_held: bool = False

    @property
    def also_available_text(self) -> str | None:
        """``also available: 2.7.1 (major, crosses 2.0.0)``."""
        change = self.also_available
        if change is None:
            return None
        about: list[str] = [name for name in change.classes if name != "breaking"]
        if change.crossed:
            about.append(f"crosses {', '.join(c.version for c in change.crossed)}")
        elif change.breaking:
            about.append("counts as breaking")
        return f"also available: {change.target} ({', '.join(about)})"

    @property
    def classes(self) -> tuple[VersionClass, ...]:
        return self.change.classes if self.change else ()

    @property
    def crossed(self) -> tuple[BreakingChange, ...]:
        return self.change.crossed if self.change else ()

    def to_json(self) -> dict[str, Any]:
        return {
            "current": self.current,
            "policy": self.policy.to_json(),
            "newest": self.newest,
            "newestInPolicy": self.newest_in_policy,
            "proposed": self.proposed,
            "classes": list(self.classes),
            "crossed": [change.to_json() for change in self.crossed],
            "stoppedAt": self.stopped_at.to_json() if self.stopped_at else None,
            "ageDays": self.age_days,
            "reason": self.reason,
            "detail": self.detail,
            "skipped": [skipped.to_json() for skipped in self.skipped],
            "alsoAvailable": self.also_available.to_json() if self.also_available else None,
        }


@dataclass(frozen=True, slots=True)
class _Release:
    version: Version
    tag: str
    released: date | None


def propose(
    current: str,
    candidates: Iterable[Candidate],
    *,
    policy: Policy,
    breaking_changes: Sequence[BreakingChange] | None,
    today: date,
    registry_known: bool = True,
    platform_refusal: PlatformRefusal | None = None,
) -> Proposal:
    """The proposal for a definition at ``current`` under ``policy``.

    ``breaking_changes``: the connector's registry list; None when the registry could not be read
    (``registry_known=True``: then ``breaking: stop`` treats every major move as breaking, as ``classify``
    does) or does not know the connector (``registry_known=False``: Airbyte pins no actor, nothing to stop at).
    ``platform_refusal``: asked for each release the policy allows; one it refuses is never proposed (None:
    the platform is not known, every release is taken).
    """
    every_release = _releases(candidates)
    newest = every_release[-1].tag if every_release else None
    # Known-bad releases (skipVersions) are never proposed nor offered; the detail names the ones that mattered.
    releases = [release for release in every_release if release.tag not in policy.skip_versions]

    def nothing(reason: NoProposal, detail: str, **found: Any) -> Proposal:
        return Proposal(
            current=current,
            policy=policy,
            newest=newest,
            reason=reason,
            detail=with_skips(detail),
            also_available=beyond(),
            **found,
        )

    # Filled once the policy's allowed releases are known; pinned and unversioned offer nothing beyond.
    allowed_tags: set[str] | None = None

    def with_skips(detail: str) -> str:
        if allowed_tags is None:
            return detail
        above = sorted(
            (version, release.tag)
            for release in every_release
            if release.tag in policy.skip_versions and (version := release.version) > now_version
        )
        if not above:
            return detail
        skipped_text = f"skipVersions leaves out {', '.join(tag for _, tag in above)}"
        return f"{detail}; {skipped_text}" if detail else skipped_text

    def beyond() -> VersionChange | None:
        if allowed_tags is None:
            return None
        for release in reversed(releases):
            if release.version <= now_version or release.tag in allowed_tags:
                return None  # the newest not allowed is not newer, or the policy allows the newest
            if platform_refusal is None or platform_refusal(release.tag) is None:
                return classify(current, release.tag, breaking_changes, registry_known=registry_known)
        return None

    if policy.version_policy == "pin":
        return nothing("pinned", f"pinned at {current}")
    now, current_key = airbyte_version(current), semver_key(current)
    if now is None or current_key is None or is_dev(current):
        return nothing("unversioned", f"{current!r} is not an X.Y.Z version: nothing to compare with")
    now_version = now

    # A release is newer than a pre-release of the same numbers (2.0.0 after 2.0.0-rc.1), as SemVer says.
    prerelease = current_key[3] == 0
    in_range = [
        release
        for release in releases
        if (release.version > now or (prerelease and release.version == now))
        and _in_range(release.version, now, policy)
    ]
    if not in_range:
        allowed_tags = set()
        outside = f"; newer outside the policy: {newest}" if newest and _newer(newest, current_key) else ""
        return nothing("newest", f"{current} is the newest release{_range_text(now, policy)}{outside}")

    bound = _stop_bound(now, breaking_changes, registry_known) if policy.breaking == "stop" else None
    allowed = [release for release in in_range if bound is None or release.version < bound[0]]
    allowed_tags = {release.tag for release in allowed}
    stopped = len(allowed) < len(in_range)
    stopped_at = bound[1] if stopped and bound is not None else None
    # What held back a newer version, for people: the stop, then the cooldown.
    held = [_stop_text(stopped_at, in_range[-1].tag)] if stopped else []
    if not allowed:
        return nothing("breaking", held[0], stopped_at=stopped_at)

    newest_in_policy = allowed[-1]
    refused = _refused(allowed, platform_refusal)
    # Before the cooldown: a release the platform refuses is no reason to hold back an older one.
    accepted = [release for release in allowed if release.tag not in refused]
    if not accepted:
        count = len(allowed)
        held.append(
            f"this Airbyte refuses {'the newer release' if count == 1 else f'all {count} newer releases'} "
            "the policy allows"
        )
        return nothing(
            "refused",
            "; ".join(held),
            newest_in_policy=newest_in_policy.tag,
            stopped_at=stopped_at,
            skipped=_skipped(allowed, refused, above=None),
        )

    eligible = accepted
    until: date | None = None
    if policy.minimum_release_age is not None:
        eligible = [release for release in accepted if _old_enough(release, policy.minimum_release_age, today)]
        younger = [release for release in accepted if not eligible or release.version > eligible[-1].version]
        if younger:
            held.append(_cooldown_text(younger, policy.minimum_release_age, today))
            until = _old_enough_on(younger[-1], policy.minimum_release_age, today)
    if not eligible:
        return nothing(
            "cooldown",
            "; ".join(held),
            newest_in_policy=newest_in_policy.tag,
            stopped_at=stopped_at,
            skipped=_skipped(allowed, refused, above=None),
            cooldown_until=until,
        )

    chosen = eligible[-1]
    nothing_held = not held
    if nothing_held:
        held.append(f"{chosen.tag} is the newest release{_range_text(now, policy)}")
    return Proposal(
        current=current,
        policy=policy,
        newest=newest,
        newest_in_policy=newest_in_policy.tag,
        proposed=chosen.tag,
        change=classify(current, chosen.tag, breaking_changes, registry_known=registry_known),
        stopped_at=stopped_at,
        age_days=_age(chosen, today),
        detail=with_skips("; ".join(held)),
        skipped=_skipped(allowed, refused, above=chosen.version),
        also_available=beyond(),
        cooldown_until=until,
        nothing_held=nothing_held,
    )


def _refused(releases: list[_Release], platform_refusal: PlatformRefusal | None) -> dict[str, str]:
    """Airbyte's refusal of each release it would not take, by tag."""
    if platform_refusal is None:
        return {}
    return {release.tag: reason for release in releases if (reason := platform_refusal(release.tag)) is not None}


def _skipped(releases: list[_Release], refused: dict[str, str], *, above: Version | None) -> tuple[SkippedVersion, ...]:
    """The refused releases above ``above`` (all when None), newest first: older ones never mattered."""
    return tuple(
        SkippedVersion(release.tag, refused[release.tag])
        for release in reversed(releases)
        if release.tag in refused and (above is None or release.version > above)
    )


def _releases(candidates: Iterable[Candidate]) -> list[_Release]:
    """Release tags only, ascending by version. A tag listed twice keeps its latest known date (the cautious age)."""
    found: dict[str, _Release] = {}
    for candidate in candidates:
        version = release_version(candidate.tag)
        if version is None:
            continue
        seen = found.get(candidate.tag)
        released = candidate.released
        if seen is not None and seen.released is not None and (released is None or seen.released > released):
            released = seen.released
        found[candidate.tag] = _Release(version, candidate.tag, released)
    return sorted(found.values(), key=lambda release: release.version)


def _in_range(version: Version, now: Version, policy: Policy) -> bool:
    if policy.version_policy == "patch" or (policy.version_policy == "minor" and now[0] == 0):
        # Before 1.0.0 a minor may break anything (SemVer item 4): ``minor`` stays within 0.Y.x, like npm's ^0.Y.Z.
        return version[:2] == now[:2]
    if policy.version_policy == "minor":
        return version[0] == now[0]
    return policy.version_policy == "major"


def _range_text(now: Version, policy: Policy) -> str:
    if policy.version_policy == "patch" or (policy.version_policy == "minor" and now[0] == 0):
        return f" within {now[0]}.{now[1]}.x"
    if policy.version_policy == "minor":
        return f" within {now[0]}.x"
    return ""


def _newer(tag: str, current_key: tuple[Any, ...]) -> bool:
    key = semver_key(tag)
    return key is not None and key > current_key


def _stop_bound(
    now: Version, breaking_changes: Sequence[BreakingChange] | None, registry_known: bool
) -> tuple[Version, BreakingChange | None] | None:
    """The lowest version ``breaking: stop`` may not reach, and the breaking change that sets it.

    Moving from ``now`` to ``v`` crosses a breaking change ``b`` when ``now < b ≤ v`` (Airbyte's reading,
    as in ``classify``), so the first ``b`` above ``now`` bounds the move. Without registry data a major
    move counts as breaking.
    """
    if breaking_changes is None:
        return ((now[0] + 1, 0, 0), None) if registry_known else None
    above = [
        (version, change)
        for change in breaking_changes
        if (version := airbyte_version(change.version)) is not None and version > now
    ]
    return min(above, key=lambda pair: pair[0]) if above else None


def _stop_text(change: BreakingChange | None, newest_in_range: str) -> str:
    if change is None:
        return f"stopped below the next major (no breaking-change data, {newest_in_range} would count as breaking)"
    return f"stopped below breaking change {change.version} ({newest_in_range} is past it)"


def _age(release: _Release, today: date) -> int | None:
    return None if release.released is None else (today - release.released).days


def _old_enough(release: _Release, days: int, today: date) -> bool:
    age = _age(release, today)
    return age is not None and age >= days


def _old_enough_on(release: _Release, days: int, today: date) -> date | None:
    """The day ``release`` is ``days`` old; None when its date is unknown or in the future."""
    age = _age(release, today)
    return None if age is None or age < 0 else today + timedelta(days=days - age)


def _cooldown_text(younger: list[_Release], days: int, today: date) -> str:
    """``held back by the 30d cooldown: 2 newer releases, the newest 2.7.1 is 10 days old``."""
    release = younger[-1]
    age = _age(release, today)
    until = ""
    if age is None:
        how_old = "has no known release date"
    elif age < 0:
        how_old = f"is dated {release.released} (in the future)"
    else:
        how_old = f"is {age} day{'s' if age != 1 else ''} old"
        # The day the newest held-back release is old enough (an older one may be proposed before).
        until = f" until {_old_enough_on(release, days, today)}"
    if len(younger) == 1:
        return f"held back by the {days}d cooldown{until}: {release.tag} {how_old}"
    return (
        f"held back by the {days}d cooldown{until}: {len(younger)} newer releases, the newest {release.tag} {how_old}"
    )
