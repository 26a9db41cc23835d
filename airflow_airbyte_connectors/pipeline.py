"""What the ``prepare`` and ``report`` tasks of ``create_connectors`` do, kept out of the DAG file so
that parsing it stays cheap and the logic is testable on its own."""

from __future__ import annotations

import hashlib
import logging
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_airbyte_connectors import settings
from airflow_airbyte_connectors.configs import get_configs, read_basic_config
from airflow_airbyte_connectors.impact import Actor, Crossing, predict, selected_streams
from airflow_airbyte_connectors.kinds import KINDS
from airflow_airbyte_connectors.plan_output import HOW_TO_RELEASE, action_json, approval_request, format_plan
from airflow_airbyte_connectors.planning import (
    Action,
    Finding,
    Plan,
    make_plan,
    with_holds,
    with_image_checks,
    with_pending_creates,
    with_version_changes,
)
from airflow_airbyte_connectors.urls import without_userinfo

if TYPE_CHECKING:
    from airflow_airbyte_connectors.hooks.airbyte_definitions import AirbyteDefinitionsHook

log = logging.getLogger(__name__)

# Airflow Variable holding the digest of the basic_config the last writing run planned from.
CONFIG_DIGEST_VARIABLE = "airbyte_connectors_basic_config_digest"
# Impact reads (sources/search, connections/list) sent to Airbyte at the same time.
IMPACT_READS_AT_ONCE = 4


class PlanTooLargeError(RuntimeError):
    """The plan holds more writes than the run may make (``max_writes``)."""


class ApplyFailedError(RuntimeError):
    """Some planned writes did not succeed, or the plan holds conflicts a person must resolve. ``report``:
    what the run did all the same (the report task keeps it in XCom ``report``)."""

    def __init__(self, message: str, report: dict[str, Any] | None = None):
        super().__init__(message)
        self.report = report or {}


def prepare(
    *,
    dry_run: bool = False,
    max_writes: int | None = None,
    conn_id: str | None = None,
    config_path: str | None = None,
    remember_digest: bool = False,
    apply_held: bool = False,
    run_id: str | None = None,
    check_pending_creates: bool = False,
) -> dict[str, Any]:
    """Load basic_config, read Airbyte, plan. Returns the mapped tasks' kwargs (``actions`` to write now,
    ``gated`` to write once a person approves), the approval request (or None) and a plan summary.

    Nothing is written here, and a config error stops the run before any request to Airbyte.
    ``check_pending_creates`` (inside Airflow): leave out creates whose earlier outcome is still unknown.
    """
    ceiling, configured = settings.max_writes_limit(), settings.max_writes()
    if configured > ceiling:
        raise ValueError(
            f"[airbyte_connectors] max_writes={configured} is above max_writes_limit={ceiling}: "
            "lower max_writes or raise max_writes_limit. Nothing was read or written."
        )
    limit = configured if max_writes is None else max_writes
    if limit > ceiling:
        raise ValueError(
            f"max_writes={limit} is above [airbyte_connectors] max_writes_limit={ceiling}; nothing was read or "
            "written. Ask whoever runs Airflow to raise max_writes_limit if this many writes are intended."
        )
    mode = settings.approval()
    if apply_held and mode != "never":
        # Approval is on: held changes go to the approver, never written on the trigger's say-so alone.
        log.warning(
            "apply_held is ignored with [airbyte_connectors] approval = %s: held changes wait for a person "
            "(approval_users), who approves or rejects them in this run",
            mode,
        )
        apply_held = False
    hook, plan, digest = load_and_plan(conn_id=conn_id, config_path=config_path)
    if check_pending_creates:
        from airflow_airbyte_connectors import pending_creates

        planned = {(a.kind, a.desired.docker_repository) for a in plan.creates}
        plan = with_pending_creates(plan, pending_creates.unsettled(settings.create_settle_window(), planned))
    plan = assess_versions(plan, apply_held=apply_held)
    # Held changes count: a person may approve them in this run.
    writes = len(plan.actions) + len(plan.held)
    too_large = writes > limit and not dry_run
    if not too_large:
        plan = assess_impact(hook, check_plan_images(plan))
    log.info(
        "Plan against Airbyte at %s%s:\n%s",
        hook.client_settings.root_url,
        " (dry run: nothing will be written)" if dry_run else "",
        format_plan(plan),
    )
    if too_large:
        raise PlanTooLargeError(
            f"The plan holds {writes} writes ({len(plan.creates)} creates, {len(plan.updates)} updates, "
            f"{len(plan.held)} held), more than max_writes={limit}. Nothing was written. If this is intended, "
            "trigger the run with a higher max_writes (up to max_writes_limit) or raise [airbyte_connectors] "
            "max_writes; a dry run shows the whole plan."
        )

    now, gated = split_for_approval(plan, mode=mode, dry_run=dry_run)
    request = approval_request(gated, held_only=mode == "held") if gated else None
    if request:
        log.warning("%s The run waits for a person.\n%s", request["subject"], _how_to_answer(run_id))
    elif plan.held:
        log.warning(
            "%d held change(s) not written: %s. They wait for a person: trigger the run with apply_held "
            '("Also apply held changes"), set [airbyte_connectors] approval = held, or change hold_changes.',
            len(plan.held),
            "; ".join(f"{a.label} (held: {', '.join(a.hold_reasons)})" for a in plan.held),
        )

    # Resolve the workspace once here, so mapped tasks need not look it up each.
    workspace_id = hook.get_workspace_id() if now or gated else None

    def kwargs(action: Action) -> dict[str, Any]:
        return {
            **action.to_operator_kwargs(),
            "workspace_id": workspace_id,
            "dry_run": dry_run,
            "airbyte_conn_id": conn_id,
        }

    summary = plan_summary(plan, dry_run=dry_run)
    summary["approval"] = {
        "mode": mode,
        "subject": request["subject"] if request else None,
        "changes": [a.label for a in gated],
    }
    summary["airbyteUrl"] = hook.client_settings.root_url
    summary["definitionsAsset"] = settings.definitions_asset_uri(hook.client_settings.root_url)
    summary["configDigest"] = digest
    # Only a run inside Airflow that may write keeps the digest (dry runs and the CLI change nothing).
    summary["configUnchanged"] = _remember_config_digest(digest) == digest if remember_digest and not dry_run else None
    return {
        "actions": [kwargs(a) for a in now],
        "gated": [kwargs(a) for a in gated],
        "approval": request,
        "plan": summary,
    }


def split_for_approval(plan: Plan, *, mode: str, dry_run: bool) -> tuple[tuple[Action, ...], tuple[Action, ...]]:
    """(writes to make now, writes that wait for a person) under ``mode`` (``[airbyte_connectors] approval``).

    Dry runs never wait. With ``approval = held`` the held changes wait (the safe ones go now); with
    ``always`` every write waits; with ``never`` nothing does (held changes stay held, unless ``apply_held``
    moved them into the plan's writes: with approval off, whoever triggers decides).
    """
    if dry_run or mode == "never":
        return plan.actions, ()
    if mode == "always":
        return (), plan.actions + plan.held
    return plan.actions, plan.held


def _how_to_answer(run_id: str | None) -> str:
    """Where a person answers: the UI page, and the REST call (for people running ``airflow dags test``)."""
    from urllib.parse import quote

    from airflow.configuration import conf

    base = (conf.get("api", "base_url", fallback="") or "http://localhost:8080").rstrip("/")
    run = run_id or "<run_id>"
    api = f"{base}/api/v2/dags/create_connectors/dagRuns/{quote(run, safe='')}/taskInstances/approve/-1/hitlDetails"
    return (
        f"  Answer in the UI: {base}/dags/create_connectors/runs/{run}/tasks/approve/required_actions\n"
        f'  or over the REST API: PATCH {api} with {{"chosen_options": ["Approve"]}} (or ["Reject"])'
    )


def _remember_config_digest(digest: str) -> str | None:
    """Record this run's basic_config digest; return the one the previous writing run recorded.

    A Variable, not the previous run's XCom: asset-triggered and manual runs have no logical date, so
    "the previous run" is not reliably ordered among XComs.
    """
    from airflow.sdk import Variable

    previous = Variable.get(CONFIG_DIGEST_VARIABLE, default=None)
    if previous != digest:
        Variable.set(
            CONFIG_DIGEST_VARIABLE,
            digest,
            description="sha256 of the basic_config create_connectors last planned from (set by the DAG)",
        )
    return previous


def assess_versions(plan: Plan, *, apply_held: bool = False) -> Plan:
    """What each update's version move means (classes, crossed breaking changes from Airbyte's connector
    registry, read once and only when there is an update), and which updates are held."""
    if not any(action.tag_change for action in plan.updates):
        return plan
    location = settings.registry_url()
    if location is None:
        plan = with_version_changes(plan, None, registry="off")
        note = "registry_url is empty: breaking changes are not checked (downgrades are still held)"
        plan = replace(plan, findings=(*plan.findings, Finding("registry", None, "", note)))
    else:
        from airflow_airbyte_connectors.clients.connector_registry import read_connector_registry

        releases, problems = read_connector_registry(location, timeout=settings.read_timeout())
        plan = with_version_changes(plan, releases, registry="read" if releases is not None else "failed")
        if releases is None:
            # The reader's finding names the registry (without userinfo) already; so does this note.
            note = "without breaking-change data, a major or unknown version move counts as breaking"
            problems = [*problems, f"connector registry {without_userinfo(location)}: {note}"]
        findings = tuple(Finding("registry", None, "", p) for p in problems)
        plan = replace(plan, findings=plan.findings + findings)
    return with_holds(plan, settings.hold_changes(), apply_held=apply_held)


def assess_impact(hook: AirbyteDefinitionsHook, plan: Plan) -> Plan:
    """Find the sources/destinations each planned or held version move touches, and predict which Airbyte
    moves and which it keeps behind. Reads Airbyte only for those definitions, a few reads at a time."""
    changes = {
        id(action): (action, action.version_change)
        for action in plan.updates + plan.held
        if action.version_change is not None and action.definition_id is not None
    }
    if not changes:
        return plan
    crossings = {
        key: [Crossing(c.version, c.impacted_streams) for c in change.crossed] for key, (_, change) in changes.items()
    }
    # Airbyte scopes its pins by stream on the way up only; a downgrade moves every source.
    downgrades = {key for key, (_, change) in changes.items() if "downgrade" in change.classes}
    scoped = {key for key in changes if key not in downgrades and any(c.impacted_streams for c in crossings[key])}

    def actors_of(key: int) -> list[Actor]:
        action = changes[key][0]
        return [Actor.from_api(action.kind, read) for read in hook.search_actors(action.kind, action.definition_id)]

    with ThreadPoolExecutor(max_workers=min(IMPACT_READS_AT_ONCE, len(changes)), thread_name_prefix="impact") as pool:
        actors = dict(zip(changes, pool.map(actors_of, changes), strict=True))
        # Connections: once per workspace, and only where a stream-scoped breaking change is crossed.
        workspaces = sorted({actor.workspace_id for key in scoped for actor in actors[key]})
        connections = dict(zip(workspaces, pool.map(hook.list_connections, workspaces), strict=True))

    def with_impact(action: Action) -> Action:
        key = id(action)
        if key not in changes:
            return action
        streams = (
            {a.actor_id: selected_streams(a.actor_id, connections[a.workspace_id]) for a in actors[key]}
            if key in scoped
            else {}
        )
        impact = predict(actors[key], streams, crossings[key], downgrade=key in downgrades)
        return replace(action, impact=impact)

    return replace(
        plan,
        updates=tuple(with_impact(a) for a in plan.updates),
        held=tuple(with_impact(a) for a in plan.held),
    )


def check_plan_images(plan: Plan) -> Plan:
    """Ask the image registries whether each image to create or update exists (``check_images``); writes
    whose image does not exist leave the plan, so Airbyte never pulls for them."""
    if not (plan.actions or plan.held) or not settings.check_images():
        return plan
    from airflow_airbyte_connectors.clients.image_registry import check_images

    # Held changes too: a person may approve them in this run.
    images = [(a.desired.docker_repository, a.desired.docker_image_tag) for a in plan.actions + plan.held]
    checked = check_images(
        images,
        docker_hub_url=settings.docker_hub_url(),
        token_hosts=settings.image_token_hosts(),
        timeout=settings.image_check_timeout(),
    )
    log.info(
        "Image check: %s",
        ", ".join(f"{status} {n}" for status, n in Counter(c.status for c in checked.values()).most_common()),
    )
    return with_image_checks(plan, {image: (c.status, c.reason) for image, c in checked.items()})


def load_and_plan(
    *, conn_id: str | None = None, config_path: str | os.PathLike[str] | None = None
) -> tuple[AirbyteDefinitionsHook, Plan, str]:
    """Load and validate basic_config, list Airbyte's definitions (one call per kind), plan. Writes nothing.
    Returns the hook, the plan and the sha256 of the basic_config bytes planned from (the file is read once).

    Shared by ``prepare`` and the command line, so both plan the same way.
    """
    from airflow_airbyte_connectors.hooks.airbyte_definitions import AirbyteDefinitionsHook

    path = Path(config_path) if config_path else settings.basic_config_path()
    raw = read_basic_config(path)
    desired = get_configs("connectors", path=path, raw=raw)
    log.info(
        "basic_config %s: %d source and %d destination definitions",
        path,
        len(desired.source_definitions),
        len(desired.destination_definitions),
    )
    hook = AirbyteDefinitionsHook(conn_id)
    current = {kind: hook.list_definitions(kind) for kind in KINDS}
    return hook, make_plan(desired, current), hashlib.sha256(raw).hexdigest()


def plan_summary(plan: Plan, *, dry_run: bool) -> dict[str, Any]:
    """The plan as small, JSON-able data for XCom and the report."""
    return {
        "dryRun": dry_run,
        "counts": plan.summary(),
        "creates": [a.label for a in plan.creates],
        "updates": [a.label for a in plan.updates],
        "held": [
            {"label": a.label, "reasons": list(a.hold_reasons), "release": HOW_TO_RELEASE, **action_json(a)}
            for a in plan.held
        ],
        # Every create and update with what its version move means and whom it touches.
        "changes": [action_json(a) for a in plan.actions],
        "pending": [a.label for a in plan.pending],
        "blocked": [f.message for f in plan.findings if f.category == "image_missing"],
        "findings": [f.message for f in plan.findings if f.category != "image_missing"],
        "conflicts": [f.message for f in plan.conflicts],
    }


def report(
    plan: Mapping[str, Any],
    results: Iterable[Mapping[str, Any] | None],
    duplicates: Iterable[Mapping[str, Any] | None] = (),
    approval: Mapping[str, Any] | None = None,
    *,
    stale: Iterable[Mapping[str, Any] | None] = (),
    unknown: Iterable[Mapping[str, Any] | None] = (),
    triggered_by: str | None = None,
) -> dict[str, Any]:
    """Count what happened, log it, and fail when a planned write did not succeed, was not written because
    Airbyte moved since the plan (stale), has an unknown outcome, Airbyte now holds a definition twice, or
    Airflow failed the approval task.

    ``approval``: the approval task's ``decision`` XCom and its state, when the run asked a person.
    ``stale`` / ``unknown``: what the write tasks pushed under those keys.
    """
    duplicate_messages = [d["message"] for d in duplicates if d]
    done = [r for r in results if r]
    stale_writes = [dict(s) for s in stale if s]
    unknown_writes = [dict(u) for u in unknown if u]
    asked = approval_outcome(plan, approval, stale_labels={s["label"] for s in stale_writes})
    gated = set(asked["changes"])
    now = [label for label in [*plan["creates"], *plan["updates"]] if label not in gated]
    planned = len(now) + (len(gated) if asked["outcome"] == "approved" else 0)
    still_held = [h for h in plan.get("held", []) if asked["outcome"] != "approved" or h["label"] not in gated]
    counts = {
        "created": _count(done, "created"),
        "updated": _count(done, "updated"),
        "would_create": _count(done, "would_create"),
        "would_update": _count(done, "would_update"),
        "already_applied": _count(done, "unchanged"),
        "unchanged": plan["counts"]["unchanged"],
        "confirmed_after_retry": sum(1 for r in done if r.get("confirmed")),
        "stale": len(stale_writes),
        "outcome_unknown": len(unknown_writes),
        "pending": len(plan.get("pending", [])),
        "failed": planned - len(done) - len(stale_writes) - len(unknown_writes),
        "reported": len(plan["findings"]),
        "duplicates": len(duplicate_messages),
        "image_missing": len(plan.get("blocked", [])),
        "held": len(still_held),
        "awaited_approval": len(gated),
    }
    # The same basic_config as last time, yet writes were needed: someone changed Airbyte in between.
    counts["put_back"] = counts["created"] + counts["updated"] if plan.get("configUnchanged") else 0
    lines = [
        f"{'Dry run' if plan['dryRun'] else 'Run'} report: "
        + ", ".join(f"{value} {key.replace('_', ' ')}" for key, value in counts.items())
    ]
    if triggered_by:
        lines.append(f"  Triggered by {triggered_by}")
    lines += [
        f"  {r['action']:<15} {r['kind']:<11} {r['name']} {r.get('tagBefore') or ''} → {r.get('tagAfter')} "
        f"({r.get('definitionId') or 'new'})" + (f" confirmed {r['confirmed']}" if r.get("confirmed") else "")
        for r in done
    ]
    lines += [f"  STALE {entry['message']}" for entry in stale_writes]
    lines += [f"  OUTCOME UNKNOWN {entry['message']}" for entry in unknown_writes]
    if counts["put_back"]:
        lines.append(
            f"  {counts['put_back']} definitions put back: basic_config has not changed since the previous run, "
            "so they were changed in Airbyte (by hand, or by Airbyte's daily registry update) in between"
        )
    lines += [f"  NOTE {message}" for message in plan["findings"]]
    if asked["outcome"] != "not_needed":
        lines.append(f"  APPROVAL {asked['outcome'].upper()}: {asked['summary']}")
    lines += [f"  HELD {h['label']} ({', '.join(h['reasons'])}): {h['release']}" for h in still_held]
    after_update = [{"label": _label_of(r), **r["afterUpdate"]} for r in done if r.get("afterUpdate")]
    lines += _after_update_lines(after_update)
    lines += [f"  IMAGE MISSING {message}" for message in plan.get("blocked", [])]
    lines += [f"  DUPLICATE {message}" for message in duplicate_messages]
    log.info("\n".join(lines))

    problems: list[str] = []
    if counts["failed"]:
        problems.append(f"{counts['failed']} of {planned} planned writes failed (see the failed mapped tasks' logs)")
    problems += [entry["message"] for entry in stale_writes + unknown_writes]
    problems += plan["conflicts"] + plan.get("blocked", []) + duplicate_messages
    if asked["outcome"] == "failed":
        problems.append(asked["summary"])
    if counts["held"] and not problems:
        log.warning(
            "%d held change(s) were not written (see HELD above); the run succeeds all the same", counts["held"]
        )
    summary = {
        "counts": counts,
        "results": done,
        "stale": stale_writes,
        "outcomeUnknown": unknown_writes,
        "held": still_held,
        "afterUpdate": after_update,
        "approval": asked,
        "triggeredBy": triggered_by,
    }
    if problems:
        raise ApplyFailedError("; ".join(problems), summary)
    return summary


def approval_outcome(
    plan: Mapping[str, Any], approval: Mapping[str, Any] | None, stale_labels: frozenset[str] | set[str] = frozenset()
) -> dict[str, Any]:
    """What became of the changes that waited for a person: ``not_needed``, ``approved``, ``rejected``,
    ``lapsed`` (no answer in time: counted as Reject) or ``failed`` (Airflow failed the approval task).
    ``stale``: approved changes not written because Airbyte moved after the plan (``stale_labels``)."""
    changes = list((plan.get("approval") or {}).get("changes") or [])
    stale = [label for label in changes if label in stale_labels]
    result: dict[str, Any] = {"outcome": "not_needed", "by": None, "at": None, "changes": changes, "stale": stale}
    if not changes:
        return {**result, "summary": "nothing waited for approval"}
    decision = (approval or {}).get("decision") or {}
    state = (approval or {}).get("state")
    by = decision.get("by") or {}
    who = by.get("name") or by.get("id")
    result.update(by=who, at=decision.get("at"))
    count = f"{len(changes)} change{'s' if len(changes) != 1 else ''}"
    if decision.get("chosen") == ["Approve"] and state == "success":
        written = f"{count} written"
        if stale:
            written = (
                f"{len(changes) - len(stale)} of {count} written; not written, Airbyte moved after the plan: "
                + "; ".join(stale)
            )
        return {**result, "outcome": "approved", "summary": f"approved by {who} at {decision.get('at')}: {written}"}
    if decision.get("chosen") == ["Reject"] and state == "success":
        if who is None:  # the timeout wrote the default answer
            timeout = settings.approval_timeout()
            return {
                **result,
                "outcome": "lapsed",
                "summary": f"no answer within approval_timeout ({timeout:g} s), counted as Reject: {count} not written",
            }
        return {
            **result,
            "outcome": "rejected",
            "summary": f"rejected by {who} at {decision.get('at')}: {count} not written",
        }
    return {
        **result,
        "outcome": "failed",
        "summary": f"Airflow failed the approval task (state {state}"
        + (f", after {who} chose {decision.get('chosen')}" if who else "")
        + f"): none of the {count} that waited for approval was written; trigger a new run to ask again",
    }


def _label_of(result: Mapping[str, Any]) -> str:
    return f"{result['kind']} {result['name']} {result.get('tagBefore')}→{result.get('tagAfter')}"


def _after_update_lines(after_update: Sequence[Mapping[str, Any]]) -> list[str]:
    """The report's section on what Airbyte did after updates across breaking changes."""
    lines = []
    for entry in after_update:
        versions = ", ".join(c["version"] for c in entry["breakingChanges"])
        lines.append(
            f"  AFTER {entry['label']} (breaking change {versions}): {len(entry['moved'])} moved, "
            f"{len(entry['stayed'])} stayed on the old version"
        )
        for actor in entry["stayed"]:
            lines.append(f"    stays on {actor['runs']}: {actor['name']} (workspace {actor['workspaceId']})")
        for change in entry["breakingChanges"]:
            if entry["stayed"]:
                lines.append(
                    f"    {change['version']}: deadline {change.get('upgradeDeadline') or 'none'}; migration guide "
                    f"{change.get('migrationDocumentationUrl') or '-'}"
                )
        if entry.get("notRead"):
            lines.append(f"    {entry['notRead']} more not read")
    return lines


def publish_changes(plan: Mapping[str, Any], results: Iterable[Mapping[str, Any] | None], outlet_events: Any) -> None:
    """Emit an event of the Asset naming this Airbyte's definitions when the run created or updated any,
    its ``extra`` listing each change, for DAGs scheduled on that Asset."""
    from airflow.sdk import Asset, AssetAlias

    changes = [
        {
            "action": r["action"],
            "kind": r["kind"],
            "name": r["name"],
            "definitionId": r["definitionId"],
            "dockerRepository": r.get("dockerRepository"),
            "tagBefore": r.get("tagBefore"),
            "tagAfter": r.get("tagAfter"),
        }
        for r in results
        if r and r.get("action") in ("created", "updated")
    ]
    if not changes:
        log.info("Nothing was created or updated: no asset event")
        return
    asset = Asset(plan["definitionsAsset"])
    outlet_events[AssetAlias(settings.DEFINITIONS_ASSET_ALIAS)].add(
        asset, extra={"airbyte": plan["airbyteUrl"], "changes": changes}
    )
    log.info("Announcing %d changes as an event of %s", len(changes), asset.uri)


# The mapped write tasks: at once, and after a person's approval.
WRITE_TASKS = ["apply", "apply_approved"]


def mapped_results(ti: Any, key: str) -> list[Any]:
    """Every value the mapped write tasks pushed under ``key``, in one read per task.

    Not ``apply.output``: iterating it reads index after index until Airflow answers "not found", which
    the task log records as an error on every run.
    """
    pulled = ti.xcom_pull(task_ids=WRITE_TASKS if ti.task.dag.has_task("apply_approved") else "apply", key=key)
    # One mapped instance answers with its value, several with a list of them, none with None.
    return [pulled] if isinstance(pulled, dict) else list(pulled or [])


def approval_answer(ti: Any) -> dict[str, Any] | None:
    """The approval task's answer and state, for the report; None when the DAG has no approval task."""
    if not ti.task.dag.has_task("approve"):
        return None
    states = ti.get_task_states(dag_id=ti.dag_id, task_ids=["approve"], run_ids=[ti.run_id])
    return {
        "decision": ti.xcom_pull(task_ids="approve", key="decision"),
        "state": getattr(state := (states.get(ti.run_id) or {}).get("approve"), "value", state),
    }


def _count(results: Sequence[Mapping[str, Any]], action: str) -> int:
    return sum(1 for r in results if r.get("action") == action)
