"""Who gets a case: the ``[assignment]`` section of the policy file (``policy.Assignment``).

The rules, in order:

1. The executive tier goes to an executive: the one who dealt with the customer, else
   the least-busy executive (``executive_tier = "executive"``).
2. Otherwise the account owner (``customers.owner_staff_id``) when they are a desk user
   and ``prefer_account_owner`` is on.
3. Otherwise the staff member who dealt with the customer most recently, if that was
   within ``recent_days`` of the scan date; else the one who dealt with them most
   (interactions and orders that carry a ``staff_id``).
4. Otherwise the least-busy rep (fewest open cases; ties to the longest-standing user).

Staff in the ledger become desk users through ``users.staff_id``. A case nobody can take
stays unassigned until a manager assigns it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from winback.desk.models import WORK_ROLES
from winback.policy import Assignment


@dataclass(frozen=True)
class Contact:
    """One staff member's dealings with one customer."""

    staff_id: str
    last: date
    count: int


@dataclass(frozen=True)
class Candidate:
    """A desk user who can be given cases."""

    user_id: int
    role: str
    staff_id: str | None


def choose_owner(
    policy: Assignment,
    *,
    tier: str | None,
    as_of: date,
    contacts: Sequence[Contact],
    account_owner: str | None,
    users: Sequence[Candidate],
    load: Mapping[int, int],
) -> tuple[int | None, str]:
    """The user who should get the case, and why (for the audit log). Pure: no I/O."""
    by_staff = {u.staff_id: u for u in users if u.staff_id}

    def least_busy(role: str) -> Candidate | None:
        pool = [u for u in users if u.role == role]
        return min(pool, key=lambda u: (load.get(u.user_id, 0), u.user_id), default=None)

    def dealt_with(roles: Sequence[str]) -> tuple[Candidate, str] | None:
        known = [
            c for c in contacts if c.staff_id in by_staff and by_staff[c.staff_id].role in roles
        ]
        if not known:
            return None
        latest = max(known, key=lambda c: (c.last, c.count))
        if latest.last >= as_of - timedelta(days=policy.recent_days):
            return by_staff[latest.staff_id], f"dealt with the customer last, on {latest.last}"
        most = max(known, key=lambda c: (c.count, c.last))
        return by_staff[most.staff_id], f"dealt with the customer most ({most.count} times)"

    if tier == "executive":
        found = dealt_with((policy.executive_tier,))
        if found:
            return found[0].user_id, f"executive tier; {found[1]}"
        executive = least_busy(policy.executive_tier)
        if executive:
            return executive.user_id, f"executive tier; least-busy {policy.executive_tier}"
    if policy.prefer_account_owner and account_owner in by_staff:
        owner = by_staff[account_owner]
        if owner.role in WORK_ROLES:
            return owner.user_id, "account owner"
    found = dealt_with(WORK_ROLES)
    if found:
        return found[0].user_id, found[1]
    rep = least_busy(policy.fallback_role)
    if rep:
        return rep.user_id, f"least-busy {policy.fallback_role}"
    return None, "nobody to assign; waiting for a manager"
