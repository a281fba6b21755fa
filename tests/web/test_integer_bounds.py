"""Whole numbers out of the databases' range (above PostgreSQL's INTEGER, 2**31 - 1, or
SQLite's 2**63 - 1), zero and negatives, in every place a request carries one: path, query,
JSON body, form field and a guided call's answers. Each is answered 404 or 422, never 500
(the test client re-raises a server error, so a 500 fails the test loudly)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.web.conftest import log_in
from winback.desk.models import Case, User

OUT_OF_RANGE = [2**31, 2**63, 2**64, 0, -1]
ANSWERED = {404, 422}


def _auth(tokens: dict[str, str], role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[role]}"}


def _case_id(db: Session) -> int:
    return db.scalars(select(Case.id).order_by(Case.id)).first() or 0


@pytest.mark.parametrize("number", OUT_OF_RANGE)
def test_api_ids_out_of_range_are_404_or_422(
    client: TestClient, tokens: dict[str, str], scanned: None, number: int
) -> None:
    calls = [
        ("GET", f"/api/cases/{number}", None),
        ("POST", f"/api/cases/{number}/activities", {"kind": "note", "text": "x"}),
        ("POST", f"/api/cases/{number}/close", {"outcome": "declined"}),
        ("POST", f"/api/cases/{number}/assign", {"owner_id": None}),
        ("DELETE", f"/api/filters/{number}", None),
        ("PATCH", f"/api/users/{number}", {"active": True}),
        ("DELETE", f"/api/tokens/{number}", None),
        ("POST", f"/api/cases/{number}/calls", None),
        ("GET", f"/api/calls/{number}", None),
        ("POST", f"/api/calls/{number}/steps/apology", {"apology": "sorry"}),
        ("POST", f"/api/tasks/{number}/done", {}),
        ("PATCH", f"/api/reasons/{number}", {"label": "x"}),
        ("POST", f"/api/cases/{number}/concessions", {"kind": "credit", "amount": 5}),
        ("GET", f"/api/cases/{number}/concessions", None),
        ("POST", f"/api/concessions/{number}/decide", {"decision": "refuse"}),
        ("GET", f"/api/users/{number}/limits", None),
    ]
    for method, path, body in calls:
        answer = client.request(method, path, json=body, headers=_auth(tokens, "admin"))
        if answer.status_code == 403:  # the admin may not do it: ask a manager
            answer = client.request(method, path, json=body, headers=_auth(tokens, "manager"))
        assert answer.status_code in ANSWERED, (method, path, answer.status_code, answer.text)


@pytest.mark.parametrize("number", [2**31, 2**63, 2**64])
def test_api_queries_and_bodies_out_of_range_are_422(
    client: TestClient, db: Session, tokens: dict[str, str], scanned: None, number: int
) -> None:
    case_id = _case_id(db)
    manager = _auth(tokens, "manager")
    asks = [
        ("GET", f"/api/queue?page={number}", None),
        ("GET", f"/api/queue?size={number}", None),
        ("GET", f"/api/cases?page={number}&size={number}", None),
        ("GET", f"/api/cases?owner_id={number}", None),
        ("GET", f"/api/audit?before_id={number}", None),
        ("GET", f"/api/audit?limit={number}", None),
        ("GET", "/api/audit?limit=-1", None),
        ("POST", "/api/filters", {"name": "big", "query": {"owner_id": number}}),
        ("POST", f"/api/cases/{case_id}/assign", {"owner_id": number}),
        (
            "POST",
            f"/api/cases/{case_id}/concessions",
            {"kind": "credit", "amount": 5, "call_id": number},
        ),
    ]
    for method, path, body in asks:
        answer = client.request(method, path, json=body, headers=manager)
        assert answer.status_code == 422, (method, path, answer.status_code, answer.text)


@pytest.mark.parametrize("number", [2**31, 2**63])
def test_ids_inside_a_call_and_its_commitments_out_of_range_are_422(
    client: TestClient, db: Session, tokens: dict[str, str], scanned: None, number: int
) -> None:
    manager = _auth(tokens, "manager")
    call = client.post(f"/api/cases/{_case_id(db)}/calls", headers=manager).json()
    commitment = {"text": "refund the fee", "owner_id": number, "due_on": "2999-01-01"}
    added = client.post(f"/api/calls/{call['id']}/commitments", json=commitment, headers=manager)
    assert added.status_code == 422, added.text
    answers = {"outcome": "not_pursued"}
    assert (
        client.post(
            f"/api/calls/{call['id']}/steps/outcome", json=answers, headers=manager
        ).status_code
        == 200
    )
    follow_up = {"follow_up_on": "2999-01-01", "follow_up_owner_id": str(number)}
    answer = client.post(
        f"/api/calls/{call['id']}/steps/follow_up", json=follow_up, headers=manager
    )
    assert answer.status_code == 422, answer.text
    assert "follow_up_owner_id" in answer.json()["error"]["message"]


@pytest.mark.parametrize("number", [2**31, 2**63, 2**64])
def test_pages_and_forms_out_of_range_are_404_or_422(
    client: TestClient, db: Session, people: dict[str, User], scanned: None, number: int
) -> None:
    csrf = log_in(client, "manager")
    case_id = _case_id(db)
    for path in (
        f"/queue?page={number}",
        f"/cases?page={number}",
        f"/cases?owner_id={number}",
        f"/audit?before_id={number}",
        f"/calls/{number}",
    ):
        answer = client.get(path)
        assert answer.status_code in ANSWERED, (path, answer.status_code)
    forms = [
        (f"/cases/{case_id}/assign", {"owner_id": str(number)}),
        (f"/cases/{case_id}/assign", {"owner_id": "someone"}),
        (
            f"/cases/{case_id}/concessions",
            {"kind": "credit", "amount": "5", "call_id": str(number)},
        ),
        (f"/cases/{number}/close", {"outcome": "declined"}),
        (f"/users/{number}/active", {"active": "true"}),
        (f"/concessions/{number}/decide", {"decision": "refuse"}),
    ]
    for path, form in forms:
        answer = client.post(path, data={"csrf_token": csrf, **form})
        assert answer.status_code in ANSWERED, (path, form, answer.status_code)
    call = client.post(f"/cases/{case_id}/calls", data={"csrf_token": csrf})
    assert call.status_code == 303
    commitment = {"text": "refund", "owner_id": str(number), "due_on": "2999-01-01"}
    answer = client.post(
        f"{call.headers['location']}/commitments", data={"csrf_token": csrf, **commitment}
    )
    assert answer.status_code == 422
