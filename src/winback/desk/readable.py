"""What the desk's records say in words: people by name rather than id or username, and
audit entries (a case's history, the audit log) as sentences rather than raw fields.

Nothing here writes; the pages call these to show what the tables hold.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from winback.desk.models import AuditEntry, User
from winback.ledger import reads
from winback.ledger.store import Ledger

#: How an amount reads; the pages pass their currency's (``winback.web.templating.money``).
Money = Callable[[float], str]

#: The fields of audit entries that hold a desk user's id.
USER_FIELDS = ("owner_id", "user_id", "manager_id", "decided_by", "recorded_by", "actor_id")
#: The fields that hold an amount of money.
MONEY_FIELDS = (
    "expected_value",
    "predicted_value",
    "revenue",
    "revenue_last_year",
    "limit_credit",
    "credit",
)

#: Every kind of audit entry (``audit_log.entity``), as the audit page offers them.
#: tests/desk/test_readable.py checks each ``audit.record`` call's kind is here.
AUDIT_KINDS: dict[str, str] = {
    "case": "cases",
    "call": "calls",
    "task": "tasks",
    "concession": "concessions",
    "red_carpet": "red carpet",
    "customer": "customers (do not contact)",
    "campaign": "campaigns",
    "post": "public posts",
    "source": "post sources",
    "reason": "reasons",
    "scan_run": "scans (sync)",
    "user": "users",
    "token": "API tokens",
    "address": "login addresses",
    "filter": "saved filters",
}


@dataclass(frozen=True)
class People:
    """Names to show for desk users (by id and by username) and ledger staff (by staff
    id): a person's name where it is known, else a readable stand-in."""

    by_id: Mapping[int, str]
    by_username: Mapping[str, str]
    by_staff_id: Mapping[str, str]

    def user(self, user_id: int | None) -> str:
        if user_id is None:
            return "nobody"
        return self.by_id.get(user_id, f"user {user_id}")

    def actor(self, username: str) -> str:
        """An audit entry's actor: the user's name, or the system's ("winback sync")."""
        return self.by_username.get(username, username)

    def staff(self, staff_id: str | None) -> str | None:
        if not staff_id:
            return None
        return self.by_staff_id.get(staff_id, f"staff {staff_id}")


def people(db: Session, ledger: Ledger | None = None, staff_ids: Iterable[str] = ()) -> People:
    """Every desk user's name, and the names of ``staff_ids``: a desk user's where one has
    that staff id, else the ledger's staff table's (read only when a staff id is left)."""
    users = list(db.execute(select(User.id, User.username, User.name, User.staff_id)))
    by_staff = {u.staff_id: u.name for u in users if u.staff_id}
    if ledger is not None and any(s and s not in by_staff for s in staff_ids):
        for member in reads.staff(ledger):
            by_staff.setdefault(member.staff_id, member.name)
    return People({u.id: u.name for u in users}, {u.username: u.name for u in users}, by_staff)


def _plain_money(value: float) -> str:
    return f"{value:,.2f}"


def _words(key: str) -> str:
    return key.replace("_", " ")


def _value(key: str, value: Any, who: People, money: Money) -> str:
    if value is None:
        return "none"
    if key in USER_FIELDS and isinstance(value, int):
        return who.user(value)
    if key in MONEY_FIELDS and isinstance(value, int | float) and not isinstance(value, bool):
        return money(float(value))
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return "; ".join(str(v) for v in value) or "none"
    if isinstance(value, dict):
        return ", ".join(f"{_words(k)} {v}" for k, v in value.items()) or "none"
    return _words(str(value)) if key in ("state", "outcome", "role", "kind") else str(value)


def _outcome(value: Any, contacted: Any) -> str:
    if value == "returned":
        return "won back (ordered again after contact)" if contacted else "ordered again unprompted"
    return _words(str(value))


def change_phrases(
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    who: People,
    money: Money = _plain_money,
) -> list[str]:
    """The fields an entry changed, each as a short phrase ("assigned to Ana Diaz",
    "closed: won back", "expected value $500 → $620")."""
    before, after = before or {}, after or {}
    phrases: list[str] = []
    for key, new in after.items():
        old = before.get(key)
        if key in ("activity", "customer_id"):
            continue
        if key == "owner_id":
            phrases.append(f"assigned to {who.user(new)}" if new is not None else "unassigned")
        elif key == "assigned_because" and new:
            phrases.append(f"because {new}")
        elif key == "outcome" and new is not None:
            phrases.append(f"closed: {_outcome(new, after.get('contacted'))}")
        elif key == "state":
            if (new == "closed" and "outcome" in after) or (new == "open" and not before):
                continue  # "closed: won back" says it; a new case's entry says "opened"
            if new != old:
                phrases.append(f"now {_words(str(new))}")
        elif key == "contacted":
            if new and key in before and not old:
                phrases.append("customer contacted")
        elif key == "password_hash":
            phrases.append("password changed")
        elif key in before:
            phrases.append(
                f"{_words(key)} {_value(key, old, who, money)} → {_value(key, new, who, money)}"
            )
        else:
            phrases.append(f"{_words(key)}: {_value(key, new, who, money)}")
    for key in before:
        if key not in after and key not in ("activity",):
            phrases.append(f"{_words(key)} was {_value(key, before[key], who, money)}")
    return phrases


#: What an action did, in words (the part after the entity: "case.close" -> "close").
VERBS: dict[str, str] = {
    "open": "opened",
    "close": "closed",
    "reassign": "reassigned",
    "contact": "logged a contact on",
    "note": "added a note to",
    "refresh": "refreshed from the scan",
    "returned": "closed (the customer ordered again)",
    "held_out": "closed (held out of a campaign)",
    "urgent": "made urgent",
    "escalate": "escalated",
    "create": "created",
    "update": "changed",
    "delete": "deleted",
    "start": "started",
    "step": "answered a step of",
    "log": "logged",
    "done": "finished",
    "request": "requested",
    "approve": "approved",
    "counter": "countered",
    "refuse": "refused",
    "withdraw": "withdrew",
    "launch": "launched",
    "role": "changed the role of",
    "password": "changed the password of",
    "limits": "changed the limits of",
    "logout": "logged out",
    "revoke": "revoked",
    "locked": "locked out",
    "held_back": "held customers back in",
    "experience": "recorded an experience on",
    "slip": "saw a slip on",
    "end": "ended",
    "restart": "restarted",
    "do_not_contact": "marked do-not-contact:",
    "contact_allowed": "allowed contact again with",
}


def entry_sentence(entry: AuditEntry, who: People) -> str:
    """The head of an audit entry in words: "Ana Diaz closed case 12"."""
    verb = entry.action.split(".", 1)[-1]
    words = VERBS.get(verb, _words(verb))
    return f"{who.actor(entry.actor_name)} {words} {_words(entry.entity)} {entry.entity_id}"


def entry_summary(entry: AuditEntry, who: People, money: Money = _plain_money) -> str:
    """What an audit entry changed, in a line ("" when it says nothing more)."""
    return "; ".join(change_phrases(entry.before, entry.after, who, money))
