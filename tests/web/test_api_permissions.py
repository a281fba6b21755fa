"""The permission matrix again, through the JSON API: every role × every action."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.web.conftest import PASSWORD
from winback.desk import concessions
from winback.desk.models import Campaign, CampaignMember, Case, RedCarpet, User
from winback.desk.permissions import ALLOWED, Action

ROLES = ("admin", "manager", "executive", "rep")

# action → (method, path, JSON body); {mine} and {theirs} are case ids.
CALLS: dict[Action, tuple[str, str, dict[str, Any] | None]] = {
    Action.VIEW_OWN_QUEUE: ("GET", "/api/queue", None),
    Action.VIEW_CUSTOMER: ("GET", "/api/customers/c2", None),
    Action.WORK_OWN_CASE: (
        "POST",
        "/api/cases/{mine}/activities",
        {"kind": "contact", "channel": "call", "text": "x"},
    ),
    Action.WORK_ANY_CASE: (
        "POST",
        "/api/cases/{theirs}/close",
        {"outcome": "declined", "confirm": True},
    ),
    Action.VIEW_ALL_CASES: ("GET", "/api/cases?tier=rep", None),
    Action.REASSIGN_CASE: ("POST", "/api/cases/{theirs}/assign", {"owner_id": None}),
    Action.SAVE_FILTER: ("POST", "/api/filters", {"name": "lost", "query": {"status": "lost"}}),
    Action.VIEW_AUDIT: ("GET", "/api/audit", None),
    Action.SYNC_CASES: ("POST", "/api/sync", None),
    Action.LIST_USERS: ("GET", "/api/users", None),
    Action.MANAGE_USERS: (
        "POST",
        "/api/users",
        {"username": "newbie", "role": "rep", "password": PASSWORD},
    ),
    Action.OWN_API_TOKENS: ("POST", "/api/tokens", {"name": "script"}),
    Action.CHANGE_OWN_PASSWORD: (
        "POST",
        "/api/me/password",
        {"current_password": PASSWORD, "new_password": "violet kettle drums at noon"},
    ),
    Action.CHANGE_OWN_EMAIL: ("PUT", "/api/me/email", {"email": "me@staff.example"}),
    Action.EDIT_REASONS: ("POST", "/api/reasons", {"label": "Slow support"}),
    Action.VIEW_TEAM_WORK: ("GET", "/api/tasks/overdue", None),
    Action.VIEW_REPORTS: ("GET", "/api/reports/reasons", None),
    Action.ASK_CONCESSION: (
        "POST",
        "/api/cases/{mine}/concessions",
        {"kind": "discount_pct", "amount": 5},
    ),
    Action.DECIDE_CONCESSION: (
        "POST",
        "/api/concessions/{pending}/decision",
        {"decision": "approve"},
    ),
    Action.SET_LIMITS: (
        "PUT",
        "/api/users/{rep2}/limits",
        {"discount_pct": 5, "credit": 10, "free_items": 1},
    ),
    Action.VIEW_RED_CARPET: ("GET", "/api/red-carpet", None),
    Action.RECORD_EXPERIENCE: (
        "POST",
        "/api/customers/c2/experiences",
        {"kind": "ticket", "ref": "t-1", "gesture": "a senior rep answered"},
    ),
    Action.VIEW_CYCLE: ("GET", "/api/cycle/passes", None),
    Action.TRIAGE_POSTS: ("GET", "/api/posts/triage", None),
    Action.MANAGE_SOURCES: ("GET", "/api/sources", None),
    Action.VIEW_CAMPAIGNS: ("GET", "/api/campaigns", None),
    Action.BUILD_CAMPAIGN: (
        "POST",
        "/api/campaigns",
        {
            "name": "spring",
            "audience": {"tiers": ["rep"]},
            "offers": [{"kind": "coupon", "text": "a gift with the next order"}],
        },
    ),
    Action.LAUNCH_CAMPAIGN: ("POST", "/api/campaigns/{campaign}/launch", None),
    Action.BLOCK_CONTACT: ("POST", "/api/customers/c2/do-not-contact", {"note": "asked"}),
    Action.LIFT_CONTACT_BLOCK: ("DELETE", "/api/customers/c2/do-not-contact", None),
    Action.OPEN_CASE: ("POST", "/api/customers/c3/cases", {"reason": "price", "note": "rang"}),
}


def test_every_action_has_an_api_call() -> None:
    assert set(CALLS) == set(Action)


@pytest.mark.parametrize("action", list(Action), ids=lambda a: a.name.lower())
@pytest.mark.parametrize("role", ROLES)
def test_api_allows_and_refuses_exactly_what_the_table_says(
    client: TestClient,
    db: Session,
    people: dict[str, User],
    scanned: None,
    tokens: dict[str, str],
    role: str,
    action: Action,
) -> None:
    mine, theirs = (db.scalar(select(Case).where(Case.customer_id == c)) for c in ("c1", "c2"))
    assert mine is not None
    assert theirs is not None
    mine.owner_id, theirs.owner_id = people[role].id, people["rep2"].id
    if action is Action.RECORD_EXPERIENCE:
        db.add(RedCarpet(customer_id="c2", total=3, remaining=3))  # c2 was won back
    if action is Action.OPEN_CASE:  # c3's case is over; then c3 calls in
        closed = db.scalar(select(Case).where(Case.customer_id == "c3"))
        assert closed is not None
        closed.state, closed.outcome = "closed", "declined"
    db.commit()
    # A request above rep2's limit, waiting for a manager's decision.
    pending = concessions.request_concession(
        db, people["rep2"], theirs.id, kind="credit", amount=100
    )
    # A draft campaign over c1, put in directly, for the launch.
    draft = Campaign(name="draft", run_id="r", run_as_of=date(2024, 7, 1), holdout_share=0.1,
                     window_days=30, created_by=people["manager"].id)  # fmt: skip
    db.add(draft)
    db.flush()
    db.add(CampaignMember(campaign_id=draft.id, customer_id="c1", tier="rep", segment="a"))
    db.commit()
    method, path, body = CALLS[action]
    ids = {"pending": pending.id, "rep2": people["rep2"].id, "campaign": draft.id}
    answer = client.request(
        method,
        path.format(mine=mine.id, theirs=theirs.id, **ids),
        json=body,
        headers={"Authorization": f"Bearer {tokens[role]}"},
    )
    if role in ALLOWED[action]:
        assert answer.status_code < 300, answer.text
    else:
        assert answer.status_code == 403, answer.text
        assert answer.json()["error"]["code"] == "permission_denied"
