"""Rep incentives on the desk: a rep's own page, the leaderboard page and API for managers,
refusals for the rest (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.web.conftest import log_in
from winback.desk.models import Case, User
from winback.ledger.importer import import_file
from winback.ledger.store import Ledger


def _won_back_in_june(app: FastAPI, db: Session, people: dict[str, User]) -> None:
    for customer, owner in [("w1", "rep"), ("w2", "rep"), ("w3", "rep2")]:
        db.add(
            Case(
                customer_id=customer,
                priority=1,
                run_id="r",
                customer_status="lapsed",
                state="closed",
                outcome="won_back",
                contacted=True,
                owner_id=people[owner].id,
                opened_at=datetime(2024, 6, 1, 9),
                closed_at=datetime(2024, 6, 10, 9),
            )
        )
    db.commit()
    settings = app.state.settings
    settings.home.mkdir(parents=True, exist_ok=True)
    path = settings.home / "orders-incentives.csv"
    path.write_text(
        "order_id,customer_id,order_date,amount\no1,w1,2024-06-12,120\no2,w3,2024-06-20,40\n",
        encoding="utf-8",
    )
    ledger = Ledger(settings.ledger_dir)
    assert import_file(ledger, "orders", path, rejects_dir=settings.home / "rejects").rejected == 0
    app.state.ledger = ledger


JUNE = "since=2024-06-01&until=2024-06-30"


def test_a_rep_sees_their_earnings_and_a_manager_the_leaderboard(
    app: FastAPI,
    client: TestClient,
    db: Session,
    people: dict[str, User],
    tokens: dict[str, str],
) -> None:
    _won_back_in_june(app, db, people)
    # The default plan: 10 points a customer won back, nothing per unit of revenue.
    rep = {"Authorization": f"Bearer {tokens['rep']}"}
    mine = client.get(f"/api/incentives/me?{JUNE}", headers=rep).json()
    [row] = mine["rows"]
    assert (row["username"], row["won_back"], row["revenue"], row["earnings"]) == (
        "rep",
        2,
        120.0,
        20.0,
    )
    assert client.get("/api/incentives/leaderboard", headers=rep).status_code == 403
    manager = {"Authorization": f"Bearer {tokens['manager']}"}
    board = client.get(f"/api/incentives/leaderboard?{JUNE}", headers=manager).json()
    assert [(r["username"], r["earnings"]) for r in board["rows"][:2]] == [
        ("rep", 20.0),
        ("rep2", 10.0),
    ]
    assert board["since"] == "2024-06-01"
    bad = client.get(
        "/api/incentives/leaderboard?since=2024-07-01&until=2024-06-01", headers=manager
    )
    assert bad.status_code == 422
    assert "after until" in bad.text

    log_in(client, "rep")
    page = client.get(f"/my-results?{JUNE}").text
    assert 'id="my-earnings">20.00 points<' in page
    assert 'href="/leaderboard"' not in page
    assert client.get("/leaderboard").status_code == 403
    assert "give a date as YYYY-MM-DD" in client.get("/my-results?since=June").text

    log_in(client, "manager")
    page = client.get(f"/leaderboard?{JUNE}").text
    assert page.index(">Rep<") < page.index(">Rep Two<")
    assert '<td class="earned">20.00</td>' in page
