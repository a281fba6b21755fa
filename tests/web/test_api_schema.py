"""The API keeps the schema it publishes: moments with their UTC offset, every error
status declared, a 405 that names the allowed methods, and bodies read strictly (a key
the API does not know, 0 for false, a number for a date: 422, nothing stored)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from winback.desk.models import Call, Case, User

ERROR_STATUSES = {"400", "401", "403", "404", "409", "422"}


def _auth(tokens: dict[str, str], role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[role]}"}


def _c1(db: Session, people: dict[str, User]) -> Case:
    case = db.scalars(select(Case).where(Case.customer_id == "c1")).one()
    case.owner_id = people["rep"].id
    db.commit()
    return case


def test_timestamps_in_answers_carry_the_utc_offset(
    client: TestClient, db: Session, people: dict[str, User], tokens: dict[str, str], scanned: None
) -> None:
    case = _c1(db, people)
    stored = case.opened_at  # naive UTC, as the desk stores it
    answer = client.get(f"/api/cases/{case.id}", headers=_auth(tokens, "rep")).json()
    assert answer["opened_at"].endswith("Z"), answer["opened_at"]
    opened = datetime.fromisoformat(answer["opened_at"])
    assert opened == stored.replace(tzinfo=UTC)
    call = client.post(f"/api/cases/{case.id}/calls", headers=_auth(tokens, "rep")).json()
    assert datetime.fromisoformat(call["started_at"]).utcoffset() is not None
    made = client.post("/api/tokens", json={"name": "cron"}, headers=_auth(tokens, "rep")).json()
    assert made["created_at"].endswith("Z")


def test_every_api_operation_declares_the_bearer_token_it_requires(
    client: TestClient, app: FastAPI
) -> None:
    schema = app.openapi()
    scheme = schema["components"]["securitySchemes"]["apiToken"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    operations = [
        (method, path, operation)
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
    ]
    assert len(operations) >= 40
    # Every operation takes the token but the public-post webhook, which is signed instead.
    signed = {("post", "/api/public-posts")}
    undeclared = [
        (m, p)
        for m, p, op in operations
        if op.get("security") != [{"webhookSignature" if (m, p) in signed else "apiToken": []}]
    ]
    assert undeclared == []
    webhook = schema["components"]["securitySchemes"]["webhookSignature"]
    assert (webhook["type"], webhook["in"], webhook["name"]) == (
        "apiKey",
        "header",
        "X-Winback-Signature",
    )
    # What it declares holds: without the token, or with a wrong one, the desk's own 401.
    for headers in ({}, {"Authorization": "Bearer wb_not_a_token"}, {"Authorization": "Basic x"}):
        answer = client.get("/api/queue", headers=headers)
        assert answer.status_code == 401, headers
        assert answer.json()["error"]["code"] == "not_authenticated"
        assert answer.headers["WWW-Authenticate"] == "Bearer"


def test_every_api_operation_declares_each_error_status_with_the_error_body(
    app: FastAPI,
) -> None:
    paths = app.openapi()["paths"]
    operations = 0
    for path, methods in paths.items():
        for method, operation in methods.items():
            operations += 1
            declared = set(operation["responses"])
            assert declared >= ERROR_STATUSES, (method, path, declared)
            body = operation["responses"]["409"]["content"]["application/json"]["schema"]
            assert body == {"$ref": "#/components/schemas/ErrorBody"}, (method, path)
    assert operations >= 40
    error = app.openapi()["components"]["schemas"]["ErrorDetail"]
    assert set(error["required"]) == {"code", "message"}


def test_a_method_not_allowed_names_the_allowed_ones(
    client: TestClient, tokens: dict[str, str]
) -> None:
    answer = client.delete("/api/me", headers=_auth(tokens, "rep"))
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET"
    assert answer.json()["error"]["code"] == "method_not_allowed"
    # Two routes share the path (GET and POST): the answer names both.
    both = client.put("/api/filters", headers=_auth(tokens, "rep"))
    assert (both.status_code, both.headers["allow"]) == (405, "GET, POST")
    page = client.put("/login")
    assert page.status_code == 405
    assert page.headers["allow"] == "GET, POST"


def test_a_saved_filter_with_a_filter_the_api_does_not_know_is_refused(
    client: TestClient, tokens: dict[str, str]
) -> None:
    auth = _auth(tokens, "manager")
    body = {"name": "mine", "query": {"state": "open", "tierr": "executive"}}
    answer = client.post("/api/filters", json=body, headers=auth)
    assert answer.status_code == 422, answer.text
    assert "query.tierr" in answer.json()["error"]["message"]
    assert client.get("/api/filters", headers=auth).json() == []


def test_a_call_step_with_a_key_the_step_does_not_know_is_refused(
    client: TestClient, db: Session, people: dict[str, User], tokens: dict[str, str], scanned: None
) -> None:
    case = _c1(db, people)
    auth = _auth(tokens, "rep")
    call = client.post(f"/api/cases/{case.id}/calls", headers=auth).json()
    # "listening" belongs to the next step: the old API stored the apology and dropped it.
    answer = client.post(
        f"/api/calls/{call['id']}/steps/apology",
        json={"apology": "sorry", "listening": "they left"},
        headers=auth,
    )
    assert answer.status_code == 422, answer.text
    assert "listening" in answer.json()["error"]["message"]
    db.expire_all()
    stored = db.get(Call, call["id"])
    assert stored is not None
    assert (stored.step, stored.apology) == ("apology", "")
    typo = client.post(
        f"/api/calls/{call['id']}/steps/apology", json={"apolgy": "sorry"}, headers=auth
    )
    assert typo.status_code == 422
    assert "apolgy" in typo.json()["error"]["message"]
    saved = client.post(
        f"/api/calls/{call['id']}/steps/apology", json={"apology": "sorry"}, headers=auth
    )
    assert saved.json()["step"] == "listening"


@pytest.mark.parametrize("active", [0, 1, "false", "yes", None])
def test_active_is_a_json_boolean_not_a_number_or_a_string(
    client: TestClient, db: Session, people: dict[str, User], tokens: dict[str, str], active: object
) -> None:
    rep = people["rep2"]
    answer = client.patch(
        f"/api/users/{rep.id}", json={"active": active}, headers=_auth(tokens, "admin")
    )
    assert answer.status_code == 422, answer.text
    assert "active" in answer.json()["error"]["message"]
    db.expire_all()
    assert db.get(User, rep.id).active is True  # type: ignore[union-attr]
    retire = client.patch("/api/reasons/1", json={"active": 0}, headers=_auth(tokens, "manager"))
    assert retire.status_code == 422


def test_dates_are_yyyy_mm_dd_never_a_number(
    client: TestClient, tokens: dict[str, str], scanned: None
) -> None:
    report = client.get("/api/reports/reasons?since=0", headers=_auth(tokens, "manager"))
    assert report.status_code == 422, report.text
    assert "since" in report.json()["error"]["message"]
    good = client.get("/api/reports/reasons?since=2026-01-01", headers=_auth(tokens, "manager"))
    assert (good.status_code, good.json()["since"]) == (200, "2026-01-01")
