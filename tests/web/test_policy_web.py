"""The policy in the web app: read once per request through one dependency
(``deps.Rules``), passed to the desk; a bad policy file answers 400 with its message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.web.conftest import log_in
from winback.desk import tasks
from winback.desk.models import Case, User
from winback.web import api, calls, concessions, pages, red_carpet, reports
from winback.web.deps import policy_of_request

BAD = "[assignment]\nrecent_days = -5\n"
PROBLEM = "[assignment] recent_days: Input should be greater than or equal to 0"

# Every route that applies a policy rule: (method, path) -> (role, URL, JSON body).
API_CALLS: dict[tuple[str, str], tuple[str, str, dict[str, Any] | None]] = {
    ("POST", "/api/cases/{case_id}/close"): ("rep", "/api/cases/{c1}/close", {"outcome": "x"}),
    ("POST", "/api/cases/{case_id}/calls/logged"): ("rep", "/api/cases/{c1}/calls/logged", {}),
    ("POST", "/api/calls/{call_id}/steps/{step}"): ("rep", "/api/calls/1/steps/apology", {}),
    ("POST", "/api/customers/{customer_id}/experiences"): (
        "rep",
        "/api/customers/c1/experiences",
        {"kind": "order", "ref": "o1", "gesture": "a card"},
    ),
    ("POST", "/api/red-carpet/refresh"): ("manager", "/api/red-carpet/refresh", None),
}
PAGE_CALLS: dict[tuple[str, str], tuple[str, dict[str, str]]] = {
    ("POST", "/cases/{case_id}/close"): ("/cases/{c1}/close", {"outcome": "declined"}),
    ("POST", "/calls/{call_id}/steps/{step}"): ("/calls/1/steps/apology", {"apology": "sorry"}),
    ("POST", "/customers/{customer_id}/experiences"): ("/customers/c1/experiences", {}),
}


def _uses_the_policy(dependant: Dependant) -> bool:
    return any(d.call is policy_of_request or _uses_the_policy(d) for d in dependant.dependencies)


def _routes_with_the_policy() -> set[tuple[str, str]]:
    # The routers create_app includes (FastAPI keeps included routers lazily in app.routes).
    routers = [api.router, pages.router]
    for feature in (calls, concessions, red_carpet, reports):
        routers += [feature.api_router, feature.page_router]
    return {
        (method, route.path)
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute) and _uses_the_policy(route.dependant)
        for method in route.methods
    }


def _write_policy(app: FastAPI, text: str) -> None:
    home: Path = app.state.settings.home
    home.mkdir(parents=True, exist_ok=True)
    (home / "policy.toml").write_text(text, encoding="utf-8")


@pytest.fixture
def c1(db: Session, people: dict[str, User], scanned: None) -> Case:
    case = db.scalars(select(Case).where(Case.customer_id == "c1")).one()
    case.owner_id = people["rep"].id
    db.commit()
    return case


def test_the_routes_that_apply_a_rule_are_the_ones_tested_here() -> None:
    assert _routes_with_the_policy() == set(API_CALLS) | set(PAGE_CALLS)


def test_a_bad_policy_file_answers_400_with_its_message_on_every_api_route(
    app: FastAPI, client: TestClient, db: Session, tokens: dict[str, str], c1: Case
) -> None:
    _write_policy(app, BAD)
    for (_, path), (role, url, body) in API_CALLS.items():
        answer = client.post(
            url.format(c1=c1.id), json=body, headers={"Authorization": f"Bearer {tokens[role]}"}
        )
        assert answer.status_code == 400, (path, answer.text)
        assert answer.json()["error"]["code"] == "policy_error"
        assert PROBLEM in answer.json()["error"]["message"]
    db.refresh(c1)
    assert c1.state == "open"


def test_a_bad_policy_file_answers_400_with_its_message_on_every_page_form(
    app: FastAPI, client: TestClient, db: Session, c1: Case
) -> None:
    _write_policy(app, BAD)
    csrf = log_in(client, "rep")
    for (_, path), (url, form) in PAGE_CALLS.items():
        answer = client.post(url.format(c1=c1.id), data={**form, "csrf_token": csrf})
        assert answer.status_code == 400, (path, answer.text)
        assert PROBLEM in answer.text
    db.refresh(c1)
    assert c1.state == "open"


def test_a_stranger_is_told_to_authenticate_before_the_policy_is_read(
    app: FastAPI, client: TestClient, c1: Case
) -> None:
    _write_policy(app, BAD)
    answer = client.post(f"/api/cases/{c1.id}/close", json={"outcome": "declined"})
    assert answer.status_code == 401


def test_a_fixed_policy_file_applies_on_the_next_request(
    app: FastAPI, client: TestClient, db: Session, tokens: dict[str, str], c1: Case
) -> None:
    rep = {"Authorization": f"Bearer {tokens['rep']}"}
    _write_policy(app, BAD)
    contact = {"kind": "contact", "channel": "call", "text": "spoke"}
    client.post(f"/api/cases/{c1.id}/activities", json=contact, headers=rep)
    won = {"outcome": "won_back", "confirm": True, "follow_up_on": tasks.today().isoformat()}
    refused = client.post(f"/api/cases/{c1.id}/close", json=won, headers=rep)
    assert refused.status_code == 400
    _write_policy(app, "[red_carpet]\nexperiences = 4\n")

    closed = client.post(f"/api/cases/{c1.id}/close", json=won, headers=rep)

    assert closed.status_code == 200, closed.text
    assert (closed.json()["red_carpet"]["total"], closed.json()["outcome"]) == (4, "won_back")
