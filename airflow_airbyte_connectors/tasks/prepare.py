"""The ``prepare`` task: plan, check the run's limits, decide what waits for a person, and make the plan
document every later task reads. Nothing is written to Airbyte here."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow_airbyte_connectors import settings
from airflow_airbyte_connectors.plan.approvals import split_for_approval
from airflow_airbyte_connectors.plan.plan_builder import (
    BuiltPlans,
    PendingCreatesOf,
    airbyte_instance,
    build_plans,
    plan_document,
)
from airflow_airbyte_connectors.plan.plan_document import ApprovalRequest, PlanDocument, change_id
from airflow_airbyte_connectors.plan.plan_output import approval_request, format_plan
from airflow_airbyte_connectors.plan.planning import Action

if TYPE_CHECKING:
    from airflow_airbyte_connectors.core.kinds import Kind
    from airflow_airbyte_connectors.hooks.airbyte_definitions import AirbyteDefinitionsHook

log = logging.getLogger(__name__)

# Airflow Variable holding the digest of the basic_config the last writing run planned from.
CONFIG_DIGEST_VARIABLE = "airbyte_connectors_basic_config_digest"


class PlanTooLargeError(RuntimeError):
    """The plan holds more writes than the run may make (``max_writes``)."""


@dataclass(frozen=True)
class Prepared:
    """What ``prepare`` hands on: the plan, and the mapped write tasks' kwargs now and after approval (both
    made from the plan's changes by ``PlanDocument.writes``)."""

    actions: list[dict[str, Any]]
    gated: list[dict[str, Any]]
    document: PlanDocument


def prepare(
    *,
    dry_run: bool = False,
    max_writes: int | None = None,
    conn_id: str | None = None,
    config_path: str | None = None,
    remember_digest: bool = False,
    apply_held: bool = False,
    check_pending_creates: bool = False,
) -> Prepared:
    """Load basic_config, read Airbyte (each environment's, concurrently), plan (plan_builder.build_plans), and
    split the writes into those made now and those that wait for a person.

    ``remember_digest`` (a run inside Airflow that may write): record the basic_config digest, to tell the
    report whether writes put back changes made in Airbyte. ``check_pending_creates`` (inside Airflow):
    leave out creates whose earlier outcome is still unknown, and keep since when each environment runs each
    version (the promotion gate's records).
    """
    settings.validate()  # every invalid setting named at once, before anything is read
    limit = _write_limit(max_writes)
    mode = settings.approval()
    if apply_held and mode != "never":
        # Approval is on: held changes go to the approver, never written on the trigger's say-so alone.
        log.warning(
            "apply_held is ignored with [airbyte_connectors] approval = %s: held changes wait for a person "
            "(approval_users), who approves or rejects them in this run",
            mode,
        )
        apply_held = False
    plans = build_plans(
        conn_id=conn_id,
        config_path=config_path,
        apply_held=apply_held,
        pending_creates=_pending_creates() if check_pending_creates else None,
        write_limit=None if dry_run else limit,
        versions_since=_versions_since if check_pending_creates else None,
    )
    for built in plans.built:
        log.info(
            "Plan%s against Airbyte at %s — %s%s:\n%s",
            f" for {built.environment.name}" if built.environment else "",
            built.hook.client_settings.root_url,
            airbyte_instance(built).describe(),
            " (dry run: nothing will be written)" if dry_run else "",
            format_plan(built.plan),
        )
    if plans.too_large:
        plan_list = [built.plan for built in plans.built]
        raise PlanTooLargeError(
            f"The plan holds {plans.writes} writes ({sum(len(p.creates) for p in plan_list)} creates, "
            f"{sum(len(p.updates) for p in plan_list)} updates, {sum(len(p.held) for p in plan_list)} held), more "
            f"than max_writes={limit}. Nothing was written. If this is intended, trigger the run with a higher "
            "max_writes (up to max_writes_limit) or raise [airbyte_connectors] max_writes; a dry run shows the whole "
            "plan."
        )

    now_ids: list[str] = []
    gated_actions: list[Action] = []
    held: list[Action] = []
    # Each write's workspace, by change_id: part of the change the write task receives.
    workspaces: dict[str, dict[str, Any]] = {}
    for built in plans.built:
        now, gated = split_for_approval(built.plan, mode=mode, dry_run=dry_run)
        # Resolve the workspace once per Airbyte here, so mapped tasks need not look it up each.
        workspace_id = built.hook.get_workspace_id() if now or gated else None
        for action in now + gated:
            workspaces[change_id(action)] = _write_workspace(built.hook, action, workspace_id)
        now_ids += [change_id(a) for a in now]
        gated_actions += gated
        held += built.plan.held

    request = ApprovalRequest(mode=mode, changes=[change_id(a) for a in gated_actions])
    if gated_actions:
        request = request.model_copy(update=approval_request(gated_actions, held_only=mode == "held"))
        log.warning("%s The run waits for a person (the approve task says where to answer).", request.subject)
    elif held:
        log.warning(
            "%d held change(s) not written: %s. They wait for a person: trigger the run with apply_held "
            '("Also apply held changes"), set [airbyte_connectors] approval = held, or change hold_changes.',
            len(held),
            "; ".join(f"{a.label} (held: {', '.join(a.hold_reasons)})" for a in held),
        )
    document = _document(plans, dry_run, remember_digest, request).with_workspaces(workspaces)
    return Prepared(
        document.writes(now_ids, conn_id=conn_id), document.writes(request.changes, conn_id=conn_id), document
    )


def _document(plans: BuiltPlans, dry_run: bool, remember_digest: bool, request: ApprovalRequest) -> PlanDocument:
    return plan_document(
        plans,
        dry_run=dry_run,
        # Only a run inside Airflow that may write keeps the digest (dry runs and the CLI change nothing).
        config_unchanged=_config_unchanged(plans.config_digest) if remember_digest and not dry_run else None,
        approval=request,
    )


def _versions_since(
    hook: AirbyteDefinitionsHook, listing: Sequence[tuple[Kind, str, str]], now: datetime
) -> Mapping[tuple[Kind, str], datetime]:
    """Since when this Airbyte runs each tag it lists, recorded as this run sees it (the promotion gate's records)."""
    from airflow_airbyte_connectors.records.promotion_records import VersionsSeen

    return VersionsSeen(hook.instance_id).observe_all(listing, now)


def _write_workspace(hook: AirbyteDefinitionsHook, action: Action, workspace_id: str | None) -> dict[str, Any]:
    """The workspace a write is sent with (its change's ``workspace_id``): the run's, except for an update of
    a custom definition, which goes to the workspace that owns it (Airbyte 2.4 answers 403 to any other).
    Decided here, once for the run, so the plan names each write's workspace and no write goes elsewhere.
    No workspace owns it: ``owner_not_found`` says so, and that write task fails without writing."""
    from airflow_airbyte_connectors.hooks.airbyte_definitions import OwnerWorkspaceNotFoundError

    if workspace_id is None or action.action != "update" or not action.custom or action.definition_id is None:
        return {"workspace_id": workspace_id}
    try:
        owner = hook.owner_workspace_id(action.kind, action.definition_id)
    except OwnerWorkspaceNotFoundError as exc:
        message = f"{action.label}: {exc}; nothing written"
        log.error("%s", message)
        return {"workspace_id": None, "owner_not_found": message}
    if owner != workspace_id:
        log.info("%s: sent with workspace %s, which owns the custom definition", action.label, owner)
    return {"workspace_id": owner}


def _write_limit(max_writes: int | None) -> int:
    """The run's ``max_writes`` (the trigger's, else the setting), refused above ``max_writes_limit``."""
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
    return limit


def _pending_creates() -> PendingCreatesOf:
    from airflow_airbyte_connectors.records.pending_creates import PendingCreates

    window = settings.create_settle_window()

    def unsettled(
        hook: AirbyteDefinitionsHook, shown: Set[tuple[Kind, str]], wanted: Set[tuple[Kind, str]]
    ) -> dict[tuple[Kind, str], str]:
        if not PendingCreates.any_recorded():
            return {}
        return PendingCreates(hook.instance_id, hook.client_settings.root_url).unsettled(window, shown, wanted)

    return unsettled


def _config_unchanged(config_digest: str) -> bool:
    """Record this run's basic_config digest; whether the previous writing run recorded the same.

    A Variable, not the previous run's XCom: asset-triggered and manual runs have no logical date, so
    "the previous run" is not reliably ordered among XComs.
    """
    from airflow.sdk import Variable

    previous: str | None = Variable.get(CONFIG_DIGEST_VARIABLE, default=None)
    if previous != config_digest:
        Variable.set(
            CONFIG_DIGEST_VARIABLE,
            config_digest,
            description="sha256 of the basic_config create_connectors last planned from (set by the DAG)",
        )
    return previous == config_digest
