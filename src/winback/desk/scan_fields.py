"""The scan-row -> case field map: which columns of a scan run's ``customers`` table a case
keeps, and under which names. Sync reads it to open and refresh cases; the customer page
reads it backwards to show an open case as the scan row it came from.
"""

from __future__ import annotations

from typing import Any

from winback.desk.models import Case

# Priority of a case whose customer is no longer on the ranked list: the bottom of the queue.
UNRANKED = 2_000_000_000

# Case field <- scan run column, for the values a case keeps as the scan gave them.
COPIED: dict[str, str] = {
    "customer_name": "name",
    "segment": "segment",
    "customer_status": "status",
    "decision": "decision",
    "tier": "tier",
    "rank": "rank",
    "p_alive": "p_alive",
    "predicted_value": "predicted_value",
    "winback_odds": "winback_odds",
    "expected_value": "expected_value",
    "revenue": "revenue",
    "revenue_last_year": "revenue_last_year",
    "last_order_date": "last_order_date",
    "reasons": "reasons",
    "decision_reasons": "decision_reasons",
}
_LISTS = ("reasons", "decision_reasons")
# Scan columns kept together in the case's ``intangibles``: flags, then a count.
FLAGS = ("rude", "heavy_contact", "late_payer", "return_abuser")
COUNTS = ("recent_incidents",)

# The scan run's columns sync reads.
RUN_COLUMNS: list[str] = ["customer_id", *COPIED.values(), *FLAGS, *COUNTS]
# The case fields a scan refreshes on an open case (a change in any of them is audited).
CASE_FIELDS: tuple[str, ...] = (*COPIED, "priority", "intangibles")


def case_fields(row: dict[str, Any]) -> dict[str, Any]:
    """The values of :data:`CASE_FIELDS` for a case made from the scan row ``row``."""
    fields = {field: row[column] for field, column in COPIED.items()}
    for field in _LISTS:
        fields[field] = list(fields[field] or [])
    fields["priority"] = row["rank"] if row["rank"] is not None else UNRANKED
    fields["intangibles"] = {
        # A flag the data cannot tell stays None ("unknown"), never False.
        **{flag: None if row[flag] is None else bool(row[flag]) for flag in FLAGS},
        **{count: int(row[count] or 0) for count in COUNTS},
    }
    return fields


def scan_row(case: Case) -> dict[str, Any]:
    """The scan row as the case holds it (from the last sync that touched it): the inverse
    of :func:`case_fields`, plus the run's id."""
    held = case.intangibles or {}
    return {
        "customer_id": case.customer_id,
        **{column: getattr(case, field) for field, column in COPIED.items()},
        **{name: held.get(name) for name in (*FLAGS, *COUNTS)},
        "run_id": case.run_id,
    }
