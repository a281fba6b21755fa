"""Do-not-contact and the last outcome through the API and the pages (issue 13)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.desk.conftest import POLICY, make_run
from tests.web.conftest import log_in
from winback.desk import cases
from winback.desk.models import AuditEntry, Case, User


def _auth(tokens: dict[str, str], role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[role]}"}


def _case(db: Session, customer_id: str) -> Case:
    return db.scalars(select(Case).where(Case.customer_id == customer_id)).one()


def test_anyone_sets_do_not_contact_and_only_a_manager_lifts_it(
    client: TestClient, db: Session, tokens: dict[str, str], scanned: None
) -> None:
    url = "/api/customers/c1/do-not-contact"
    assert client.get(url, headers=_auth(tokens, "rep")).json()["blocked"] is False

    for _ in range(2):  # a double-click sets it once
        answer = client.post(url, json={"note": "asked on the phone"}, headers=_auth(tokens, "rep"))
        assert answer.status_code == 200, answer.text
        assert answer.json()["blocked"] is True
        assert answer.json()["source"] == "desk"
    read = client.get(url, headers=_auth(tokens, "rep2")).json()
    assert (read["blocked"], read["note"]) == (True, "asked on the phone")
    assert read["since"].endswith("Z")

    case = _case(db, "c1")
    refused = client.post(
        f"/api/cases/{case.id}/activities",
        json={"kind": "contact", "channel": "call", "text": "hello"},
        headers=_auth(tokens, "manager"),
    )
    assert refused.status_code == 409
    assert "do-not-contact" in refused.json()["error"]["message"]

    assert client.delete(url, headers=_auth(tokens, "rep")).status_code == 403
    for _ in range(2):
        lifted = client.delete(url, headers=_auth(tokens, "manager"))
        assert lifted.status_code == 200, lifted.text
        assert lifted.json()["blocked"] is False
    actions = db.scalars(
        select(AuditEntry.action).where(AuditEntry.entity == "customer").order_by(AuditEntry.id)
    ).all()
    assert actions == ["do_not_contact", "contact_allowed"]


def test_the_api_refuses_a_bad_body_and_a_bad_customer_id(
    client: TestClient, tokens: dict[str, str], scanned: None
) -> None:
    extra = client.post(
        "/api/customers/c1/do-not-contact", json={"reason": "x"}, headers=_auth(tokens, "rep")
    )
    assert extra.status_code == 422
    long_id = "x" * 101
    bad = client.post(f"/api/customers/{long_id}/do-not-contact", headers=_auth(tokens, "rep"))
    assert bad.status_code == 422
    assert "customer id" in bad.json()["error"]["message"]


def test_sync_through_the_api_counts_what_each_rule_held_back(
    app: FastAPI,
    client: TestClient,
    db: Session,
    people: dict[str, User],
    tokens: dict[str, str],
    scanned: None,
) -> None:
    cases.close_case(db, people["manager"], _case(db, "c1").id, "declined", policy=POLICY)
    client.post("/api/customers/c2/do-not-contact", headers=_auth(tokens, "rep"))
    rows = [{"customer_id": c, "rank": i} for i, c in enumerate(("c1", "c2", "c4"), 1)]
    make_run(app.state.settings.runs_dir, rows)

    answer = client.post("/api/sync", headers=_auth(tokens, "manager"))

    assert answer.status_code == 200, answer.text
    counts = answer.json()
    assert (counts["held_declined"], counts["held_do_not_contact"]) == (1, 0)
    assert counts["opened"] == 1  # c4; c2 keeps the case it had (nobody may call)


def test_the_pages_show_the_flag_the_buttons_and_the_last_outcome(
    client: TestClient, db: Session, people: dict[str, User], scanned: None
) -> None:
    c1 = _case(db, "c1")
    c1.owner_id = people["rep"].id
    db.commit()
    cases.close_case(db, people["manager"], c1.id, "declined", policy=POLICY)
    # A new case for c1 anyway (a manager's choice, say): the queue shows how the last ended.
    db.add(
        Case(
            customer_id="c1",
            state="open",
            owner_id=people["rep"].id,
            priority=1,
            run_id="x",
            customer_status="lapsed",
        )
    )
    db.commit()
    csrf = log_in(client, "rep")
    queue = client.get("/queue").text
    assert "last: declined" in queue

    page = client.get("/customers/c1").text
    assert "Last case:" in page
    assert "Mark do not contact" in page
    assert "Allow contact again" not in page
    assert "Start a guided call" in page
    done = client.post(
        "/customers/c1/do-not-contact", data={"note": "no more calls", "csrf_token": csrf}
    )
    assert done.status_code == 303
    page = client.get("/customers/c1").text
    assert "<strong>Do not contact</strong>" in page
    assert "no more calls" in page
    assert "Start a guided call" not in page
    assert "Allow contact again" not in page  # a rep may not lift it

    refused = client.post("/customers/c1/do-not-contact/lift", data={"csrf_token": csrf})
    assert refused.status_code == 403
