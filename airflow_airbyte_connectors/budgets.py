"""How long one write task may take at most, from its parts: the bounds the hook and the operator keep, and the
relation the settings must respect so that a task's ``execution_timeout`` never cuts a write short.

A write cut short by Airflow (``AirflowTaskTimeout`` while the request is on the wire) leaves its outcome
unknown; the settings make sure the write's own deadlines end first, so the task looks before it gives up.
No Airflow or HTTP import: the settings read this at parse time.
"""

from __future__ import annotations

# One Airbyte call, its retries and waits included, ends within this many times its timeout.
CALL_BUDGET = 2.0
# Seconds between the looks for a create whose answer was lost (one more look follows the last wait).
LOST_ANSWER_WAITS = (1.0, 2.0, 4.0)
# Seconds spent reading sources/destinations one by one after an update across a breaking change.
AFTER_UPDATE_BUDGET = 60.0
# The longest wait between two looks at a running SPEC command (the waits grow from 0.25 s to this).
SPEC_POLL_MAX_WAIT = 5.0


def write_task_seconds(read_timeout: float, write_timeout: float) -> float:
    """The longest one create or update task takes when every call uses its whole budget.

    A create: list its kind, run the image's SPEC (Airbyte 2.1 and later: start it, poll it for ``write_timeout``,
    read it, list again), send it, look again after a lost answer, and list once more for a twin. An update: get
    the definition, send it, get it back after a lost answer, then find and read its sources/destinations.
    """
    read = CALL_BUDGET * read_timeout
    write = CALL_BUDGET * write_timeout
    looks = (len(LOST_ANSWER_WAITS) + 1) * read + sum(LOST_ANSWER_WAITS)
    # The last poll may start just before write_timeout ends and wait SPEC_POLL_MAX_WAIT before it.
    spec = read + write_timeout + SPEC_POLL_MAX_WAIT + read + read + read
    create = read + spec + write + looks + read
    update = read + write + read + read + AFTER_UPDATE_BUDGET + read
    return max(create, update)
