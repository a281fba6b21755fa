"""Closing with discipline on the pages and the API (issue 13): a close is confirmed, won
back needs a contact on record and a first follow-up, and a double-click on the
confirmation closes the case once (SQLite file and PostgreSQL)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import serve
from tests.web.conftest import log_in
from winback.desk import tasks
from winback.desk.models import AuditEntry, Case, RedCarpet, Task, User

CLICKS = 6


def _mine(db: Session, people: dict[str, User]) -> Case:
    case = db.scalars(select(Case).where(Case.customer_id == "c1")).one()
    case.owner_id = people["rep"].id
    db.commit()
    return case


def _contact(client: httpx.Client, case: Case, headers: dict[str, str] | None = None) -> None:
    body = {"kind": "contact", "channel": "call", "text": "we spoke"}
    answer = client.post(f"/api/cases/{case.id}/activities", json=body, headers=headers)
    assert answer.status_code == 201, answer.text


def test_the_api_refuses_won_back_without_a_contact_a_follow_up_or_a_confirmation(
    client: TestClient,
    db: Session,
    people: dict[str, User],
    tokens: dict[str, str],
    scanned: None,
) -> None:
    case = _mine(db, people)
    rep = {"Authorization": f"Bearer {tokens['rep']}"}
    due = tasks.today().isoformat()
    url = f"/api/cases/{case.id}/close"
    for body, says in (
        ({"outcome": "won_back", "confirm": True, "follow_up_on": due}, "nobody has recorded"),
        ({"outcome": "will_return", "confirm": True, "follow_up_on": due}, "nobody has recorded"),
        ({"outcome": "declined"}, "confirm: closing a case cannot be undone"),
        ({"outcome": "declined", "confirm": "yes"}, "confirm"),
    ):
        answer = client.post(url, json=body, headers=rep)
        assert answer.status_code == 422, (body, answer.text)
        assert says in answer.json()["error"]["message"]
    _contact(client, case, rep)
    no_follow_up = client.post(url, json={"outcome": "won_back", "confirm": True}, headers=rep)
    assert no_follow_up.status_code == 422
    assert "follow_up_on" in no_follow_up.json()["error"]["message"]
    db.refresh(case)
    assert case.state != "closed"
    closed = client.post(
        url, json={"outcome": "won_back", "confirm": True, "follow_up_on": due}, headers=rep
    )
    assert closed.status_code == 200, closed.text
    assert closed.json()["outcome"] == "won_back"


def test_the_close_form_chooses_nothing_and_asks_before_closing(
    client: TestClient, db: Session, people: dict[str, User], scanned: None
) -> None:
    case = _mine(db, people)
    csrf = log_in(client, "rep")
    page = client.get("/customers/c1").text
    assert '<option value="" selected>choose the outcome' in page
    empty = client.post(f"/cases/{case.id}/close", data={"csrf_token": csrf})
    assert empty.status_code == 422
    assert "outcome: choose what came of the case" in empty.text
    refused = client.post(
        f"/cases/{case.id}/close",
        data={"csrf_token": csrf, "outcome": "won_back", "follow_up_on": "2099-01-01"},
    )
    assert refused.status_code == 422
    assert "nobody has recorded talking to the customer" in refused.text
    asked = client.post(f"/cases/{case.id}/close", data={"csrf_token": csrf, "outcome": "declined"})
    assert asked.status_code == 200
    assert "Yes, close as declined" in asked.text
    db.refresh(case)
    assert case.state != "closed"
    done = client.post(
        f"/cases/{case.id}/close",
        data={"csrf_token": csrf, "outcome": "declined", "confirm": "yes"},
    )
    assert done.status_code == 303
    db.refresh(case)
    assert (case.state, case.outcome) == ("closed", "declined")


def test_a_double_click_on_the_confirmation_closes_once(
    app: FastAPI, db: Session, people: dict[str, User], scanned: None
) -> None:
    case = _mine(db, people)
    barrier = threading.Barrier(CLICKS)
    with serve(app) as url, httpx.Client(base_url=url, timeout=60) as http:
        csrf = log_in(http, "rep")  # type: ignore[arg-type]
        logged = http.post(
            f"/cases/{case.id}/activity",
            data={"csrf_token": csrf, "kind": "contact", "channel": "call", "text": "spoke"},
        )
        assert logged.status_code == 303
        form = {
            "csrf_token": csrf,
            "outcome": "won_back",
            "follow_up_on": "2099-01-01",
            "confirm": "yes",
        }

        def click(_: int) -> int:
            barrier.wait(timeout=30)
            return http.post(f"/cases/{case.id}/close", data=form).status_code

        with ThreadPoolExecutor(CLICKS) as pool:
            statuses = sorted(pool.map(click, range(CLICKS)))

    assert statuses == [303] + [409] * (CLICKS - 1)
    db.expire_all()
    closes = select(func.count()).where(
        AuditEntry.action == "case.close", AuditEntry.entity_id == str(case.id)
    )
    assert db.scalar(closes) == 1
    assert db.scalar(select(func.count()).select_from(RedCarpet)) == 1
    follow_ups = select(func.count()).where(Task.case_id == case.id, Task.kind == "follow_up")
    assert db.scalar(follow_ups) == 1
