"""Concessions through the JSON API and the form POSTs: the same limits hold both ways
(SQLite and PostgreSQL). Starting limits: rep 10% / 50 / 1, manager 25% / 500 / 5,
executive 50% / 5000 / 20."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.web.conftest import log_in
from winback.desk import concessions as cx
from winback.desk.models import Case, Concession, User

ROLES = ("admin", "manager", "executive", "rep")


@pytest.fixture
def owned(db: Session, people: dict[str, User], scanned: None) -> dict[str, Case]:
    """c1 (Acme Ltd) is the rep's case, c2 rep2's, c3 the executive's."""
    found = {c.customer_id: c for c in db.scalars(select(Case))}
    for customer, owner in (("c1", "rep"), ("c2", "rep2"), ("c3", "executive")):
        found[customer].owner_id = people[owner].id
    db.commit()
    return found


def _auth(tokens: dict[str, str], role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[role]}"}


def _stored(db: Session) -> list[Concession]:
    db.expire_all()
    return list(db.scalars(select(Concession).order_by(Concession.id)))


def _ask_api(
    client: TestClient, tokens: dict[str, str], role: str, case: Case, body: dict[str, Any]
) -> Any:
    return client.post(f"/api/cases/{case.id}/concessions", json=body, headers=_auth(tokens, role))


# --- API ------------------------------------------------------------------------------


def test_api_grants_within_the_limit_and_queues_above_it(
    client: TestClient, db: Session, owned: dict[str, Case], tokens: dict[str, str]
) -> None:
    case = owned["c1"]
    within = _ask_api(client, tokens, "rep", case, {"kind": "discount_pct", "amount": 6})
    assert within.status_code == 201, within.text
    assert (within.json()["state"], within.json()["granted"], within.json()["route"]) == (
        "granted",
        6,
        "self",
    )
    # The second half of a split request is judged on the case's total: 6 + 6 > 10.
    split = _ask_api(client, tokens, "rep", case, {"kind": "discount_pct", "amount": 6})
    assert (split.json()["state"], split.json()["granted"]) == ("pending", None)
    again = _ask_api(client, tokens, "rep", case, {"kind": "discount_pct", "amount": 1})
    assert again.status_code == 409, again.text
    listed = client.get(f"/api/cases/{case.id}/concessions", headers=_auth(tokens, "rep2"))
    assert [c["state"] for c in listed.json()] == ["granted", "pending"]


@pytest.mark.parametrize(
    "extra", [{"state": "granted"}, {"granted": 50}, {"route": "self"}, {"decided_by": 1}]
)
def test_api_refuses_injected_fields(
    client: TestClient,
    db: Session,
    owned: dict[str, Case],
    tokens: dict[str, str],
    extra: dict[str, Any],
) -> None:
    body = {"kind": "discount_pct", "amount": 50, **extra}
    answer = _ask_api(client, tokens, "rep", owned["c1"], body)
    assert answer.status_code == 422, answer.text
    assert next(iter(extra)) in answer.json()["error"]["message"]
    assert _stored(db) == []


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ('{"kind": "credit", "amount": 1e309}', "finite"),
        ('{"kind": "credit", "amount": -1e309}', "finite"),
        ('{"kind": "credit", "amount": "NaN"}', "amount"),
        ('{"kind": "credit", "amount": true}', "amount"),
        ('{"kind": "credit", "amount": "5"}', "amount"),
        ('{"kind": "credit", "amount": -5}', "more than 0"),
        ('{"kind": "credit", "amount": 0}', "more than 0"),
        ('{"kind": "discount_pct", "amount": 100.01}', "at most 100"),
        ('{"kind": "free_items", "amount": 0.5}', "whole number"),
        ('{"kind": "cash", "amount": 5}', "kind"),
        ('{"kind": "credit"}', "amount"),
    ],
)
def test_api_refuses_bad_amounts(
    client: TestClient,
    db: Session,
    owned: dict[str, Case],
    tokens: dict[str, str],
    raw: str,
    says: str,
) -> None:
    answer = client.post(
        f"/api/cases/{owned['c1'].id}/concessions",
        content=raw,
        headers={**_auth(tokens, "rep"), "Content-Type": "application/json"},
    )
    assert answer.status_code == 422, answer.text
    assert says in answer.json()["error"]["message"]
    assert _stored(db) == []


def test_api_request_on_another_reps_case_is_refused(
    client: TestClient, db: Session, owned: dict[str, Case], tokens: dict[str, str]
) -> None:
    answer = _ask_api(client, tokens, "rep", owned["c2"], {"kind": "credit", "amount": 5})
    assert answer.status_code == 403
    assert _stored(db) == []


def test_api_counter_and_executive_approval(
    client: TestClient, db: Session, owned: dict[str, Case], tokens: dict[str, str]
) -> None:
    asked = _ask_api(client, tokens, "rep", owned["c1"], {"kind": "credit", "amount": 200}).json()
    big = _ask_api(client, tokens, "rep2", owned["c2"], {"kind": "credit", "amount": 900}).json()
    assert (asked["route"], big["route"]) == ("manager", "executive")

    queue = client.get("/api/approvals", headers=_auth(tokens, "manager")).json()
    assert [(a["id"], a["customer_id"], a["already_granted"]) for a in queue] == [
        (asked["id"], "c1", 0)
    ]
    assert client.get("/api/approvals", headers=_auth(tokens, "rep")).status_code == 403

    decide = f"/api/concessions/{asked['id']}/decision"
    for body, status in (
        ({"decision": "counter", "amount": 200}, 422),  # not below the asked
        ({"decision": "counter", "amount": 0}, 422),
        ({"decision": "approve", "granted": 500}, 422),  # injected field
        ({"decision": "approve", "state": "granted"}, 422),
    ):
        answer = client.post(decide, json=body, headers=_auth(tokens, "manager"))
        assert answer.status_code == status, (body, answer.text)
    assert (
        client.post(decide, json={"decision": "approve"}, headers=_auth(tokens, "rep2")).status_code
        == 403
    )
    countered = client.post(
        decide,
        json={"decision": "counter", "amount": 120, "note": "half"},
        headers=_auth(tokens, "manager"),
    )
    assert countered.status_code == 200, countered.text
    assert (countered.json()["asked"], countered.json()["granted"], countered.json()["state"]) == (
        200,
        120,
        "countered",
    )
    twice = client.post(decide, json={"decision": "approve"}, headers=_auth(tokens, "executive"))
    assert twice.status_code == 409

    to_executive = f"/api/concessions/{big['id']}/decision"
    refused = client.post(
        to_executive, json={"decision": "approve"}, headers=_auth(tokens, "manager")
    )
    assert refused.status_code == 403
    approved = client.post(
        to_executive, json={"decision": "approve"}, headers=_auth(tokens, "executive")
    )
    assert (approved.json()["state"], approved.json()["granted"]) == ("granted", 900)


def test_api_decision_after_the_case_closed_is_a_conflict(
    client: TestClient, db: Session, owned: dict[str, Case], tokens: dict[str, str]
) -> None:
    asked = _ask_api(client, tokens, "rep", owned["c1"], {"kind": "credit", "amount": 200}).json()
    closed = client.post(
        f"/api/cases/{owned['c1'].id}/close",
        json={"outcome": "declined", "confirm": True},
        headers=_auth(tokens, "rep"),
    )
    assert closed.status_code == 200
    answer = client.post(
        f"/api/concessions/{asked['id']}/decision",
        json={"decision": "approve"},
        headers=_auth(tokens, "manager"),
    )
    assert answer.status_code == 409
    late = _ask_api(client, tokens, "rep", owned["c1"], {"kind": "credit", "amount": 1})
    assert late.status_code == 409


def test_api_limits(
    client: TestClient, db: Session, people: dict[str, User], tokens: dict[str, str]
) -> None:
    rep, manager = people["rep"], people["manager"]
    own = client.get(f"/api/users/{rep.id}/limits", headers=_auth(tokens, "rep"))
    assert own.json() == {"user_id": rep.id, "discount_pct": 10, "credit": 50, "free_items": 1}
    assert (
        client.get(f"/api/users/{manager.id}/limits", headers=_auth(tokens, "rep")).status_code
        == 403
    )
    assert (
        client.get(f"/api/users/{rep.id}/limits", headers=_auth(tokens, "executive")).status_code
        == 200
    )

    url = f"/api/users/{rep.id}/limits"
    body = {"discount_pct": 20, "credit": 100, "free_items": 2}
    for role, target, sent, status in (
        ("rep", rep.id, body, 403),  # raising one's own
        ("manager", manager.id, body, 403),  # nobody sets their own
        ("manager", people["executive"].id, body, 403),
        ("manager", rep.id, {**body, "discount_pct": 30}, 403),  # more than the manager holds
        ("manager", rep.id, {**body, "free_items": 1.5}, 422),
        ("manager", rep.id, {**body, "credit": -1}, 422),
        ("manager", rep.id, {**body, "limit_credit": 1}, 422),  # injected field
    ):
        answer = client.put(f"/api/users/{target}/limits", json=sent, headers=_auth(tokens, role))
        assert answer.status_code == status, (role, sent, answer.text)
    db.expire_all()
    assert (rep.limit_discount_pct, rep.limit_credit, rep.limit_free_items) == (10, 50, 1)
    done = client.put(url, json=body, headers=_auth(tokens, "manager"))
    assert done.json() == {"user_id": rep.id, **body}
    raised = client.put(
        f"/api/users/{manager.id}/limits",
        json={"discount_pct": 50, "credit": 5000, "free_items": 20},
        headers=_auth(tokens, "executive"),
    )
    assert raised.status_code == 200, raised.text


# Each role against ASK_CONCESSION, DECIDE_CONCESSION and SET_LIMITS through the API is in
# the whole permission matrix: tests/web/test_api_permissions.py.


# --- pages ----------------------------------------------------------------------------


def test_rep_grants_within_the_limit_from_the_customer_page(
    client: TestClient, db: Session, owned: dict[str, Case]
) -> None:
    csrf = log_in(client, "rep")
    page = client.get("/customers/c1").text
    assert f'action="/cases/{owned["c1"].id}/concessions"' in page
    assert "Ask for / grant a concession" in page
    answer = client.post(
        f"/cases/{owned['c1'].id}/concessions",
        data={"kind": "credit", "amount": "40", "note": "for the late van", "csrf_token": csrf},
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/customers/c1"
    [stored] = _stored(db)
    assert (stored.state, stored.granted, stored.note) == ("granted", 40, "for the late van")
    page = client.get("/customers/c1").text
    assert "40.00 credit" in page
    assert "for the late van" in page
    # Nobody gets a form on another rep's case.
    assert "Ask for / grant a concession" not in client.get("/customers/c2").text


def test_rep_sees_the_managers_counter_on_the_customer_page(
    client: TestClient, db: Session, owned: dict[str, Case]
) -> None:
    case = owned["c1"]
    csrf = log_in(client, "rep")
    client.post(
        f"/cases/{case.id}/concessions",
        data={"kind": "discount_pct", "amount": "20", "csrf_token": csrf},
    )
    [asked] = _stored(db)
    assert (asked.state, asked.route) == ("pending", "manager")
    assert "waiting for a manager" in client.get("/customers/c1").text

    csrf = log_in(client, "manager")
    approvals = client.get("/approvals").text
    assert f'id="concession-{asked.id}"' in approvals
    assert 'href="/customers/c1">Acme Ltd</a>' in approvals
    assert ">Rep<" in approvals
    answer = client.post(
        f"/concessions/{asked.id}/decide",
        data={"decision": "counter", "amount": "15", "note": "15 is our best", "csrf_token": csrf},
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == f"/approvals?decided={asked.id}"
    assert "Nothing waits for you" in client.get("/approvals").text

    log_in(client, "rep")
    page = client.get("/customers/c1").text
    row = page[page.index('class="concession state-countered"') :]
    row = row[: row.index("</tr>")]
    assert "20%" in row  # asked
    assert "15%" in row  # granted
    assert "Manager" in row
    assert "15 is our best" in row


def test_executive_approves_from_the_approvals_page(
    client: TestClient, db: Session, people: dict[str, User], owned: dict[str, Case]
) -> None:
    cx.request_concession(db, people["rep"], owned["c1"].id, kind="free_items", amount=6)
    [asked] = _stored(db)
    assert asked.route == "executive"
    csrf = log_in(client, "manager")
    assert f'id="concession-{asked.id}"' not in client.get("/approvals").text
    refused = client.post(
        f"/concessions/{asked.id}/decide", data={"decision": "approve", "csrf_token": csrf}
    )
    assert refused.status_code == 403
    csrf = log_in(client, "executive")
    assert f'id="concession-{asked.id}"' in client.get("/approvals").text
    answer = client.post(
        f"/concessions/{asked.id}/decide",
        data={"decision": "approve", "csrf_token": csrf, "next": "/customers/c1"},
    )
    assert answer.headers["location"] == "/customers/c1"
    assert (_stored(db)[0].state, _stored(db)[0].granted) == ("granted", 6)


@pytest.mark.parametrize(
    ("kind", "amount", "says"),
    [
        # Typed into a form, these are no numbers a person writes (the API's JSON
        # numbers meet the service's own "finite" check).
        ("credit", "NaN", "give a number"),
        ("credit", "inf", "give a number"),
        ("credit", "1e309", "give a number"),
        ("credit", "-5", "more than 0"),
        ("credit", "0", "more than 0"),
        ("credit", "", "amount: fill this in"),
        ("credit", "ten", "give a number"),
        ("discount_pct", "101", "at most 100"),
        ("free_items", "1.5", "whole number"),
        ("cash", "5", "kind"),
    ],
)
def test_form_refuses_bad_amounts(
    client: TestClient, db: Session, owned: dict[str, Case], kind: str, amount: str, says: str
) -> None:
    csrf = log_in(client, "rep")
    answer = client.post(
        f"/cases/{owned['c1'].id}/concessions",
        data={"kind": kind, "amount": amount, "csrf_token": csrf},
    )
    assert answer.status_code == 422, answer.text
    assert says in answer.text
    assert _stored(db) == []


def test_form_ways_around_are_refused(
    client: TestClient, db: Session, people: dict[str, User], owned: dict[str, Case]
) -> None:
    csrf = log_in(client, "rep")
    case = owned["c1"]
    # No CSRF token: nothing happens.
    bare = client.post(f"/cases/{case.id}/concessions", data={"kind": "credit", "amount": "5"})
    assert bare.status_code == 403
    assert _stored(db) == []
    # Another rep's case.
    theirs = client.post(
        f"/cases/{owned['c2'].id}/concessions",
        data={"kind": "credit", "amount": "5", "csrf_token": csrf},
    )
    assert theirs.status_code == 403
    # Fields the form does not have are not read.
    sneaky = client.post(
        f"/cases/{case.id}/concessions",
        data={
            "kind": "credit",
            "amount": "400",
            "state": "granted",
            "granted": "400",
            "csrf_token": csrf,
        },
    )
    assert sneaky.status_code == 303
    [asked] = _stored(db)
    assert (asked.state, asked.granted) == ("pending", None)
    # A rep may not decide, not even through the form; nor open the approvals page.
    for decision in ("approve", "counter", "refuse"):
        answer = client.post(
            f"/concessions/{asked.id}/decide",
            data={"decision": decision, "amount": "1", "csrf_token": csrf},
        )
        assert answer.status_code == 403
    assert client.get("/approvals").status_code == 403
    # Nor raise their own limits.
    own = client.post(
        f"/users/{people['rep'].id}/limits",
        data={
            "discount_pct": "100",
            "credit": "1,000,000,000",
            "free_items": "99",
            "csrf_token": csrf,
        },
    )
    assert own.status_code == 403
    csrf = log_in(client, "manager")
    for amount in ("400", "NaN", "-1"):
        answer = client.post(
            f"/concessions/{asked.id}/decide",
            data={"decision": "counter", "amount": amount, "csrf_token": csrf},
        )
        assert answer.status_code == 422, answer.text
    no_csrf = client.post(f"/concessions/{asked.id}/decide", data={"decision": "approve"})
    assert no_csrf.status_code == 403
    assert _stored(db)[0].state == "pending"


@pytest.mark.parametrize(
    ("next_field", "goes_to"),
    [
        ("/queue", "/queue"),
        ("//evil.example/x", "/customers/c1"),
        ("https://evil.example", "/customers/c1"),
        ("/\\evil", "/customers/c1"),
    ],
)
def test_the_request_form_returns_only_to_a_local_path(
    client: TestClient, db: Session, owned: dict[str, Case], next_field: str, goes_to: str
) -> None:
    csrf = log_in(client, "rep")
    answer = client.post(
        f"/cases/{owned['c1'].id}/concessions",
        data={"kind": "credit", "amount": "1", "next": next_field, "csrf_token": csrf},
    )
    assert answer.headers["location"] == goes_to


def test_limits_forms_on_the_users_and_limits_pages(
    client: TestClient, db: Session, people: dict[str, User]
) -> None:
    rep, manager = people["rep"], people["manager"]
    csrf = log_in(client, "manager")
    page = client.get("/users").text
    assert f'action="/users/{rep.id}/limits"' in page
    assert f'action="/users/{manager.id}/limits"' not in page  # not their own
    assert f'action="/users/{people["executive"].id}/limits"' not in page
    assert "10% · $50.00 credit · 1 free item" in page
    over = client.post(
        f"/users/{rep.id}/limits",
        data={"discount_pct": "30", "credit": "50", "free_items": "1", "csrf_token": csrf},
    )
    assert over.status_code == 403
    assert "more than you hold" in over.text
    for bad in ("NaN", "-1", "1e309", ""):
        answer = client.post(
            f"/users/{rep.id}/limits",
            data={"discount_pct": bad, "credit": "50", "free_items": "1", "csrf_token": csrf},
        )
        assert answer.status_code == 422, bad
    for target in (manager, people["executive"]):
        answer = client.post(
            f"/users/{target.id}/limits",
            data={"discount_pct": "1", "credit": "1", "free_items": "0", "csrf_token": csrf},
        )
        assert answer.status_code == 403
    done = client.post(
        f"/users/{rep.id}/limits",
        data={"discount_pct": "12.5", "credit": "75", "free_items": "2", "csrf_token": csrf},
    )
    assert done.headers["location"] == "/users"
    db.expire_all()
    assert (rep.limit_discount_pct, rep.limit_credit, rep.limit_free_items) == (12.5, 75, 2)
    no_csrf = client.post(
        f"/users/{rep.id}/limits", data={"discount_pct": "1", "credit": "1", "free_items": "1"}
    )
    assert no_csrf.status_code == 403

    # Executives cannot list users; they set managers' and reps' limits on /limits.
    csrf = log_in(client, "executive")
    assert client.get("/users").status_code == 403
    limits = client.get("/limits").text
    assert f'action="/users/{manager.id}/limits"' in limits
    assert f'action="/users/{people["executive"].id}/limits"' not in limits
    assert 'href="/limits"' in client.get("/approvals").text
    answer = client.post(
        f"/users/{manager.id}/limits",
        data={
            "discount_pct": "40",
            "credit": "500",
            "free_items": "5",
            "next": "/limits",
            "csrf_token": csrf,
        },
    )
    assert answer.headers["location"] == "/limits"
    db.expire_all()
    assert manager.limit_discount_pct == 40
    log_in(client, "rep")
    assert client.get("/limits").status_code == 403


def test_no_concession_is_stored_by_a_refused_request(
    client: TestClient, db: Session, owned: dict[str, Case], tokens: dict[str, str]
) -> None:
    """The count is what a refused request leaves behind: nothing, on any path."""
    _ask_api(client, tokens, "admin", owned["c1"], {"kind": "credit", "amount": 1})
    _ask_api(client, tokens, "rep2", owned["c1"], {"kind": "credit", "amount": 1})
    assert db.scalar(select(func.count()).select_from(Concession)) == 0
