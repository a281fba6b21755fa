"""The JSON API: shapes, errors and the OpenAPI description."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from winback.desk import tasks
from winback.desk.models import Case, User


def _auth(tokens: dict[str, str], role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[role]}"}


def test_every_error_has_the_same_shape(
    client: TestClient, people: dict[str, User], tokens: dict[str, str], scanned: None
) -> None:
    missing = client.get("/api/cases/999999", headers=_auth(tokens, "manager"))
    assert missing.status_code == 404
    assert missing.json() == {"error": {"code": "not_found", "message": "no case 999999"}}
    invalid = client.post("/api/tokens", json={}, headers=_auth(tokens, "rep"))
    assert invalid.status_code == 422
    assert invalid.json()["error"]["code"] == "invalid_input"
    assert "name" in invalid.json()["error"]["message"]
    nowhere = client.get("/api/no-such-thing", headers=_auth(tokens, "rep"))
    assert nowhere.json()["error"]["code"] == "not_found"


def test_queue_and_case_work_through_the_api(
    client: TestClient, db: Session, people: dict[str, User], tokens: dict[str, str], scanned: None
) -> None:
    case = db.scalars(select(Case).where(Case.customer_id == "c1")).one()
    case.owner_id = people["rep"].id
    db.commit()
    queue = client.get("/api/queue", headers=_auth(tokens, "rep")).json()
    assert [c["customer_id"] for c in queue["cases"]] == ["c1"]
    assert queue["cases"][0]["reasons"] == ["no order for 200 days, twice the usual 90"]
    logged = client.post(
        f"/api/cases/{case.id}/activities",
        json={"kind": "contact", "channel": "email", "text": "sent an apology"},
        headers=_auth(tokens, "rep"),
    )
    assert logged.status_code == 201
    won = {"outcome": "won_back", "follow_up_on": tasks.today().isoformat()}
    unconfirmed = client.post(f"/api/cases/{case.id}/close", json=won, headers=_auth(tokens, "rep"))
    assert unconfirmed.status_code == 422
    assert "confirm: true" in unconfirmed.json()["error"]["message"]
    closed = client.post(
        f"/api/cases/{case.id}/close", json={**won, "confirm": True}, headers=_auth(tokens, "rep")
    ).json()
    assert (closed["state"], closed["outcome"], closed["contacted"]) == ("closed", "won_back", True)
    again = client.post(
        f"/api/cases/{case.id}/close",
        json={"outcome": "declined", "confirm": True},
        headers=_auth(tokens, "rep"),
    )
    assert again.status_code == 409


def test_customer_360_through_the_api(
    client: TestClient, people: dict[str, User], tokens: dict[str, str], scanned: None
) -> None:
    view = client.get("/api/customers/c1", headers=_auth(tokens, "executive")).json()
    assert view["name"] == "Acme Ltd"
    assert view["scan"]["rank"] == 1
    # The case's history in words (winback.desk.readable): "opened; assigned to ...".
    assert [e["summary"].split(";")[0] for e in view["timeline"]] == ["opened"]


def test_a_new_token_is_shown_once_and_works(
    client: TestClient, people: dict[str, User], tokens: dict[str, str]
) -> None:
    made = client.post("/api/tokens", json={"name": "cron"}, headers=_auth(tokens, "rep")).json()
    assert made["token"].startswith(made["prefix"])
    listed = client.get("/api/tokens", headers={"Authorization": f"Bearer {made['token']}"}).json()
    assert {"token"} & set(listed[0]) == set()
    assert {t["name"] for t in listed} == {"tests", "cron"}


def test_openapi_describes_the_api(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "/api/queue" in spec["paths"]
    assert "/api/customers/{customer_id}" in spec["paths"]
    assert "/login" not in spec["paths"]
    assert client.get("/docs").status_code == 200


def test_customer_without_an_open_case_is_read_from_the_scan_run(
    client: TestClient, db: Session, people: dict[str, User], tokens: dict[str, str], scanned: None
) -> None:
    case = db.scalars(select(Case).where(Case.customer_id == "c2")).one()
    client.post(
        f"/api/cases/{case.id}/close",
        json={"outcome": "declined", "confirm": True},
        headers=_auth(tokens, "admin"),
    )
    view = client.get("/api/customers/c2", headers=_auth(tokens, "rep")).json()
    assert view["scan"]["status"] == "lost"
    assert view["scan"]["rank"] == 2
    assert "run_id" not in view["scan"]  # the run's own row, not the case's copy
    assert [c["outcome"] for c in view["cases"]] == ["declined"]


def test_a_body_field_the_api_does_not_know_is_refused_not_ignored(
    client: TestClient, db: Session, tokens: dict[str, str], scanned: None
) -> None:
    case = db.scalars(select(Case).where(Case.customer_id == "c1")).one()
    answer = client.post(
        f"/api/cases/{case.id}/close",
        json={"outcome": "declined", "state": "open"},
        headers=_auth(tokens, "manager"),
    )
    assert answer.status_code == 422
    assert "state" in answer.json()["error"]["message"]
    db.refresh(case)
    assert case.state != "closed"
