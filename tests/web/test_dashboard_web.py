"""The dashboard's headline figures on the page, and a change on the desk (a case won back,
one declined, a concession requested and granted) shown by the very next request, though
the app keeps built reports (SQLite and PostgreSQL). The figures' arithmetic is checked
by hand in tests/desk/test_dashboard.py."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from tests.desk.conftest import POLICY, make_run
from tests.web.conftest import log_in
from tests.web.test_customer_queries import counted
from winback.desk import cases, concessions, tasks
from winback.desk.models import Case, User
from winback.desk.sync import sync_cases


def figures(html: str) -> dict[str, str]:
    """Each headline figure's shown value, by its id."""
    found = re.findall(
        r'<div class="figure[^"]*" id="figure-([\w-]+)">\s*<(?:a|span) class="figure-value"'
        r"[^>]*>([^<]*)<",
        html,
    )
    return dict(found)


def test_headline_figures_follow_every_change_on_the_desk(
    app: FastAPI, client: TestClient, db: Session, people: dict[str, User]
) -> None:
    rows = [
        {"customer_id": "c1", "name": "Acme", "rank": 1, "revenue_last_year": 1200.0},
        {"customer_id": "c2", "name": "Bolt", "rank": 2, "revenue_last_year": 800.0},
        {"customer_id": "c3", "name": "Cogs", "rank": 3, "revenue_last_year": 3000.0},
    ]
    sync_cases(db, None, make_run(app.state.settings.runs_dir, rows), policy=POLICY)
    by_customer = {c.customer_id: c.id for c in db.scalars(select(Case))}
    manager = people["manager"]
    log_in(client, "manager")

    page = client.get("/dashboard")
    assert page.status_code == 200
    assert figures(page.text) == {
        "won-back": "0",
        "revenue-won-back": "$0",
        "open": "3",
        "at-risk": "$5,000",
        "overdue": "0",
        "approvals": "0",
    }
    assert "0 case(s) worked" in page.text

    # c1 won back (a contact first, a follow-up next week), c2 declined.
    cases.log_activity(db, manager, by_customer["c1"], kind="contact", channel="call", text="ok")
    next_week = tasks.today() + timedelta(days=7)
    cases.close_case(db, manager, by_customer["c1"], "won_back", policy=POLICY,
                     follow_up_on=next_week)  # fmt: skip
    cases.close_case(db, manager, by_customer["c2"], "declined", policy=POLICY)
    shown = figures(client.get("/dashboard").text)
    assert shown["won-back"] == "1"
    assert shown["revenue-won-back"] == "$1,200"
    assert (shown["open"], shown["at-risk"]) == ("1", "$3,000")
    html = client.get("/dashboard").text
    assert "2 case(s) worked" in html  # the kept report was built again

    # A request above the rep's limit waits for the manager; granting it clears the count.
    c3 = db.get(Case, by_customer["c3"])
    assert c3 is not None
    rep = db.get(User, c3.owner_id) if c3.owner_id else people["rep"]
    assert rep is not None
    asked = concessions.request_concession(db, rep, c3.id, kind="credit", amount=400.0)
    assert asked.state == "pending"
    assert figures(client.get("/dashboard").text)["approvals"] == "1"
    concessions.decide(db, manager, asked.id, decision="approve")
    assert figures(client.get("/dashboard").text)["approvals"] == "0"


def test_who_sees_which_figures(app: FastAPI, client: TestClient, people: dict[str, User]) -> None:
    log_in(client, "admin")
    shown = figures(client.get("/dashboard").text)
    assert "approvals" not in shown  # an admin decides no requests
    assert set(shown) == {"won-back", "revenue-won-back", "open", "at-risk", "overdue"}
    client.post("/logout")
    log_in(client, "rep")
    assert client.get("/dashboard").status_code == 403


def test_the_dashboard_counts_the_approvals_waiting_once(
    app: FastAPI, client: TestClient, db: Session, people: dict[str, User], desk_engine: Engine
) -> None:
    rows = [{"customer_id": "c1", "name": "Acme", "rank": 1, "revenue_last_year": 1200.0}]
    sync_cases(db, None, make_run(app.state.settings.runs_dir, rows), policy=POLICY)
    case = db.scalars(select(Case)).one()
    concessions.request_concession(db, people["rep"], case.id, kind="credit", amount=400.0)
    log_in(client, "manager")
    with counted(desk_engine) as seen:
        page = client.get("/dashboard")
    assert figures(page.text)["approvals"] == "1"
    assert 'id="approval-count"' in page.text  # the nav shows the same count
    assert sum("concessions.route IN" in s for s in seen) == 1, "\n".join(seen)
