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

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Protocol

from winback.desk.models import WORK_ROLES
from winback.policy import Assignment


@dataclass(frozen=True)
class Contact:
    """One staff member's dealings with one customer."""

    staff_id: str
    last: date
    count: int


class Dealings(Protocol):
    """What the rules read of a staff member's dealings with a customer: a
    :class:`Contact`, or the ledger's own row of them (``reads.StaffContact``)."""

    @property
    def staff_id(self) -> str: ...

    @property
    def last(self) -> date: ...

    @property
    def count(self) -> int: ...


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
    return Chooser(policy, as_of, users, load).choose(tier, contacts, account_owner)


class Chooser:
    """:func:`choose_owner` for many cases in a row, each choice counted in the load before
    the next (winback sync opens 100k cases at once): the users are indexed once and the
    least-busy user of each role kept in a heap, so a choice costs no scan of every user."""

    def __init__(
        self,
        policy: Assignment,
        as_of: date,
        users: Sequence[Candidate],
        load: Mapping[int, int],
    ) -> None:
        self.policy = policy
        self.recent = as_of - timedelta(days=policy.recent_days)
        self.by_staff = {u.staff_id: u for u in users if u.staff_id}
        self.load = dict(load)
        self._roles = {u.user_id: u.role for u in users}
        # Per role, (open cases, user id) of each user; an entry whose count is no longer
        # the user's is stale and dropped when it comes to the top.
        self._heaps: dict[str, list[tuple[int, int]]] = {}
        for u in users:
            self._heaps.setdefault(u.role, []).append((self.load.get(u.user_id, 0), u.user_id))
        for heap in self._heaps.values():
            heapq.heapify(heap)

    def _least_busy(self, role: str) -> int | None:
        heap = self._heaps.get(role)
        while heap:
            count, user_id = heap[0]
            if self.load.get(user_id, 0) == count:
                return user_id
            heapq.heappop(heap)
        return None

    def _dealt_with(
        self, contacts: Sequence[Dealings], roles: Sequence[str]
    ) -> tuple[Candidate, str] | None:
        by_staff = self.by_staff
        known = [
            c for c in contacts if c.staff_id in by_staff and by_staff[c.staff_id].role in roles
        ]
        if not known:
            return None
        latest = max(known, key=lambda c: (c.last, c.count))
        if latest.last >= self.recent:
            return by_staff[latest.staff_id], f"dealt with the customer last, on {latest.last}"
        most = max(known, key=lambda c: (c.count, c.last))
        return by_staff[most.staff_id], f"dealt with the customer most ({most.count} times)"

    def choose(
        self, tier: str | None, contacts: Sequence[Dealings], account_owner: str | None
    ) -> tuple[int | None, str]:
        """The owner for one case under the load as it stands (nothing counted)."""
        policy = self.policy
        if tier == "executive":
            found = self._dealt_with(contacts, (policy.executive_tier,))
            if found:
                return found[0].user_id, f"executive tier; {found[1]}"
            executive = self._least_busy(policy.executive_tier)
            if executive is not None:
                return executive, f"executive tier; least-busy {policy.executive_tier}"
        if policy.prefer_account_owner and account_owner in self.by_staff:
            owner = self.by_staff[account_owner]
            if owner.role in WORK_ROLES:
                return owner.user_id, "account owner"
        found = self._dealt_with(contacts, WORK_ROLES)
        if found:
            return found[0].user_id, found[1]
        rep = self._least_busy(policy.fallback_role)
        if rep is not None:
            return rep, f"least-busy {policy.fallback_role}"
        return None, "nobody to assign; waiting for a manager"

    def take(self, user_id: int) -> None:
        """Count one more open case for ``user_id``."""
        count = self.load.get(user_id, 0) + 1
        self.load[user_id] = count
        role = self._roles.get(user_id)
        if role is not None:
            heapq.heappush(self._heaps[role], (count, user_id))
