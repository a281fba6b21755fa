"""Who may do what: the one table of roles and actions.

``docs/desk.md`` shows the same table, and ``tests/desk/test_permissions.py`` checks
every role against every action, both ways, and that the docs agree.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import ColumnElement, and_

from winback.desk.models import ROLES, WORK_ROLES, Case, User
from winback.errors import PermissionDenied


class Action(StrEnum):
    """Everything the desk lets someone do, named for the business."""

    VIEW_OWN_QUEUE = "view own queue"
    VIEW_CUSTOMER = "view a customer"
    WORK_OWN_CASE = "log contacts and close own cases"
    WORK_ANY_CASE = "log contacts and close any case"
    VIEW_ALL_CASES = "view all cases"
    REASSIGN_CASE = "reassign a case"
    SAVE_FILTER = "save a case filter"
    VIEW_AUDIT = "read the audit log"
    SYNC_CASES = "sync cases from the latest scan"
    LIST_USERS = "list users"
    MANAGE_USERS = "add and deactivate users, change roles, reset passwords"
    OWN_API_TOKENS = "create and revoke own API tokens"
    CHANGE_OWN_PASSWORD = "change own password"
    CHANGE_OWN_EMAIL = "change own e-mail address (for the daily digest of notices)"
    ASK_CONCESSION = "grant a concession within own limit, or ask for one above it"
    DECIDE_CONCESSION = "approve, counter or refuse a concession request"
    SET_LIMITS = "set other users' concession limits"
    EDIT_REASONS = "edit the taxonomy of reasons"
    VIEW_TEAM_WORK = "see overdue work by rep"
    VIEW_RED_CARPET = "see the red-carpet list"
    RECORD_EXPERIENCE = "record a red-carpet customer's experience"
    VIEW_REPORTS = "see the reasons x revenue dashboard"
    VIEW_CYCLE = "see the periodic cycle's passes"
    TRIAGE_POSTS = "settle public posts in triage (confirm, pick, not a customer)"
    MANAGE_SOURCES = "add public-post sources (feeds, webhooks)"
    BLOCK_CONTACT = "mark a customer do-not-contact"
    LIFT_CONTACT_BLOCK = "lift a customer's do-not-contact"
    VIEW_CAMPAIGNS = "see campaigns, their audiences and measured lift"
    BUILD_CAMPAIGN = "build a campaign from the latest scan and export its audience"
    LAUNCH_CAMPAIGN = "launch a campaign (holdout drawn, e-mails queued, calls tasked)"
    OPEN_CASE = "open a case by hand for a customer who calls in"


_EVERYONE = frozenset(ROLES)
_LEADS = frozenset({"admin", "manager"})

ALLOWED: dict[Action, frozenset[str]] = {
    Action.VIEW_OWN_QUEUE: _EVERYONE,
    Action.VIEW_CUSTOMER: _EVERYONE,
    Action.WORK_OWN_CASE: _EVERYONE,
    Action.WORK_ANY_CASE: _LEADS,
    Action.VIEW_ALL_CASES: _LEADS,
    Action.REASSIGN_CASE: _LEADS,
    Action.SAVE_FILTER: _LEADS,
    Action.VIEW_AUDIT: _LEADS,
    Action.SYNC_CASES: _LEADS,
    Action.LIST_USERS: _LEADS,
    Action.MANAGE_USERS: frozenset({"admin"}),
    Action.OWN_API_TOKENS: _EVERYONE,
    Action.CHANGE_OWN_PASSWORD: _EVERYONE,
    Action.CHANGE_OWN_EMAIL: _EVERYONE,
    Action.ASK_CONCESSION: frozenset({"manager", "executive", "rep"}),
    Action.DECIDE_CONCESSION: frozenset({"manager", "executive"}),
    Action.SET_LIMITS: frozenset({"admin", "manager", "executive"}),
    Action.EDIT_REASONS: _LEADS,
    Action.VIEW_TEAM_WORK: frozenset({"admin", "manager", "executive"}),
    Action.VIEW_RED_CARPET: _EVERYONE,
    Action.RECORD_EXPERIENCE: _EVERYONE,
    Action.VIEW_REPORTS: frozenset({"admin", "manager", "executive"}),
    Action.VIEW_CYCLE: _LEADS,
    Action.TRIAGE_POSTS: _LEADS,
    Action.MANAGE_SOURCES: _LEADS,
    Action.BLOCK_CONTACT: _EVERYONE,
    Action.LIFT_CONTACT_BLOCK: _LEADS,
    Action.VIEW_CAMPAIGNS: frozenset({"admin", "manager", "executive"}),
    Action.BUILD_CAMPAIGN: _LEADS,
    Action.LAUNCH_CAMPAIGN: _LEADS,
    Action.OPEN_CASE: frozenset(WORK_ROLES),
}


def may(user: User, action: Action) -> bool:
    return user.active and user.role in ALLOWED[action]


def may_hold_work(user: User | None) -> bool:
    """Whether ``user`` may be given work (a case, a task, a follow-up, a red carpet): an
    active user whose role works cases. Admins run the desk and hold none."""
    return user is not None and user.active and user.role in WORK_ROLES


def holds_work_sql() -> ColumnElement[bool]:
    """:func:`may_hold_work` as a condition on the ``users`` table."""
    return and_(User.active.is_(True), User.role.in_(WORK_ROLES))


def require(user: User, action: Action) -> None:
    """Raise PermissionDenied unless ``user``'s role may do ``action``."""
    if not may(user, action):
        raise PermissionDenied(f"a {user.role} may not {action.value}")


def require_case_work(user: User, case: Case) -> None:
    """Working a case: your own with WORK_OWN_CASE, anyone's with WORK_ANY_CASE."""
    if may(user, Action.WORK_ANY_CASE):
        return
    if case.owner_id == user.id and may(user, Action.WORK_OWN_CASE):
        return
    raise PermissionDenied(f"case {case.id} is not yours; a {user.role} may not work it")


def may_work_case(user: User, case: Case) -> bool:
    """Whether :func:`require_case_work` lets ``user`` work ``case`` (for a page to offer a
    link only to those it opens for)."""
    return may(user, Action.WORK_ANY_CASE) or (
        case.owner_id == user.id and may(user, Action.WORK_OWN_CASE)
    )


def markdown_table() -> str:
    """The permission table as Markdown, for docs/desk.md."""
    roles = ROLES
    lines = ["| action | " + " | ".join(roles) + " |", "|---|" + "---|" * len(roles)]
    for action, allowed in ALLOWED.items():
        marks = " | ".join("yes" if r in allowed else "no" for r in roles)
        lines.append(f"| {action.value} | {marks} |")
    return "\n".join(lines) + "\n"
