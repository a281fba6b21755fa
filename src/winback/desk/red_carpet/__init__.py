"""The red carpet: a won-back customer's next experiences, watched and counted down.

A case won back (:func:`winback.desk.outcomes.is_won_back`: closed as ``won_back``, or
returned after contact) starts a period of ``[red_carpet] experiences`` experiences
(:func:`start`, called by :func:`winback.desk.cases.close_case` and winback sync). Each
later order or interaction counts one down and records the gesture given, whether it
arrives by import (:func:`absorb_ledger`) or from another system through the API
(:func:`record_experience`). At zero the period ends and appreciation touches go on the
owner's task queue. During the period the customer is watched more tightly than the scan
watches everyone (:func:`check_run`), and an incident is a slip too: a slip puts a
``slip_alert`` task on the owner's queue at once.

Every change is audited under entity ``red_carpet`` in the same transaction.
"""

from winback.desk.red_carpet.period import (
    ENDED_SHOWN_DAYS,
    LIST_LIMIT,
    MAX_GESTURE,
    MAX_KIND,
    MAX_REF,
    SYSTEM_NAME,
    active_for,
    latest_for,
    new_ref,
    record_experience,
    start,
)
from winback.desk.red_carpet.reading import (
    CustomerRedCarpet,
    ListRow,
    experiences_of,
    flags_for,
    gestures_of,
    of_customer,
    red_carpet_list,
    shown,
)
from winback.desk.red_carpet.watch import (
    AbsorbResult,
    absorb_ledger,
    check_run,
    refresh,
    slip_reason,
    summary,
)

__all__ = [
    "ENDED_SHOWN_DAYS",
    "LIST_LIMIT",
    "MAX_GESTURE",
    "MAX_KIND",
    "MAX_REF",
    "SYSTEM_NAME",
    "AbsorbResult",
    "CustomerRedCarpet",
    "ListRow",
    "absorb_ledger",
    "active_for",
    "check_run",
    "experiences_of",
    "flags_for",
    "gestures_of",
    "latest_for",
    "new_ref",
    "of_customer",
    "record_experience",
    "red_carpet_list",
    "refresh",
    "shown",
    "slip_reason",
    "start",
    "summary",
]
