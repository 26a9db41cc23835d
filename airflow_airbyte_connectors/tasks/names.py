"""Every name the ``create_connectors`` DAG and its tasks agree on: task ids, XCom keys, and the layout
that tells the reading tasks where the others actually are.

A copy of the DAG may change its dag_id, rename tasks or put them in a TaskGroup (which prefixes their
ids): the DAG file hands the real ids to the tasks that read other tasks' XComs (:class:`TaskLayout`), so
nothing reads a literal id. Imported by the DAG file: no dependencies.
"""

from __future__ import annotations

from typing import TypedDict

# Task ids as the shipped DAG names them.
PREPARE = "prepare"
APPLY = "apply"
APPROVE = "approve"
APPLY_APPROVED = "apply_approved"
PUBLISH_CHANGES = "publish_changes"
REPORT = "report"


class XComKey:
    """XCom keys. Besides these, a write task returns its result and ``approve`` the approved writes."""

    # prepare: the plan document (plan_document.PlanDocument); its return value: the writes to make now.
    PLAN = "plan"
    # approve: the answer (approvals.Decision).
    DECISION = "decision"
    # A write task: why it wrote nothing (stale plan), an outcome it did not see, duplicates it found, what
    # Airbyte refused (a 4xx, a failed SPEC).
    STALE = "stale"
    UNKNOWN = "unknown"
    DUPLICATES = "duplicates"
    REFUSED = "refused"
    # report: what the run did, also when it failed.
    REPORT = "report"


class TaskLayout(TypedDict):
    """The actual ids of the tasks whose XComs ``approve``, ``publish_changes`` and ``report`` read: the DAG file
    hands it to them as a task argument (plain JSON). A TypedDict: the DAG file defines it on every parse, and a
    NamedTuple costs five times as much to define."""

    prepare: str
    writes: list[str]
    approve: str | None
