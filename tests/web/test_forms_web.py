"""Forms that keep what was typed: a refused form shows its page again (422, or 409 for
a clash) with the values as typed and the message beside the field; no Python error text
ever reaches the page (SQLite and PostgreSQL)."""

from __future__ import annotations

import html

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.web.conftest import log_in
from winback.desk import concessions as cx
from winback.desk.models import Case, ReasonCode, User

LEAKS = ("could not convert", "Traceback", "ValueError", "float(")


def _clean(text: str) -> str:
    for leak in LEAKS:
        assert leak not in text, f"{leak!r} reached the page"
    return html.unescape(text)


@pytest.fixture(autouse=True)
def _everyone(people: dict[str, User]) -> None:
    """One user of every role, for each test to log in as."""


@pytest.fixture
def mine(db: Session, people: dict[str, User], scanned: None) -> Case:
    case = db.scalar(select(Case).where(Case.customer_id == "c1"))
    assert case is not None
    case.owner_id = people["rep"].id
    db.commit()
    return case


def test_a_refused_concession_keeps_the_amount_and_says_why(
    client: TestClient, db: Session, mine: Case
) -> None:
    csrf = log_in(client, "rep")
    form = {"csrf_token": csrf, "kind": "credit", "amount": "1,5", "note": "late twice"}
    refused = client.post(f"/cases/{mine.id}/concessions", data=form)
    assert refused.status_code == 422
    page = _clean(refused.text)
    assert "Acme Ltd" in page  # the customer page, not a dead end
    assert 'value="1,5"' in page
    assert 'value="late twice"' in page
    assert '<option value="credit" selected>' in page
    assert "amount '1,5': is the comma a decimal point" in page
    assert cx.list_for_case(db, db.get(User, mine.owner_id), mine.id) == []  # type: ignore[arg-type]
    # Written as a person writes money, it is taken.
    taken = client.post(f"/cases/{mine.id}/concessions", data={**form, "amount": "$40"})
    assert taken.status_code == 303, taken.text
    db.expire_all()
    [given] = cx.list_for_case(db, db.get(User, mine.owner_id), mine.id)  # type: ignore[arg-type]
    assert (given.kind, given.asked, given.state) == ("credit", 40.0, "granted")


def test_limits_accept_thousands_and_a_bad_one_stays_in_its_row(
    client: TestClient, db: Session, people: dict[str, User]
) -> None:
    csrf = log_in(client, "manager")
    rep = people["rep"]
    url = f"/users/{rep.id}/limits"
    good = {"csrf_token": csrf, "discount_pct": " 15 % ", "credit": "$300.50", "free_items": "2"}
    assert client.post(url, data={**good, "next": "/limits"}).status_code == 303
    db.expire_all()
    assert (rep.limit_discount_pct, rep.limit_credit, rep.limit_free_items) == (15, 300.5, 2)
    refused = client.post(url, data={**good, "credit": "lots", "next": "/limits"})
    assert refused.status_code == 422
    page = _clean(refused.text)
    assert "<h1>Concession limits</h1>" in page
    assert 'value="lots"' in page
    assert "credit 'lots': give a number" in page
    assert 'value=" 15 % "' in page  # the row's other fields as typed too
    db.expire_all()
    assert rep.limit_credit == 300.5  # nothing changed


def test_adding_a_user_has_no_default_role_and_keeps_what_was_typed(
    client: TestClient, db: Session
) -> None:
    csrf = log_in(client, "admin")
    page = client.get("/users").text
    assert '<option value="">choose a role</option>' in page
    form = {"csrf_token": csrf, "username": "dana", "name": "Dana Q", "password": "x" * 3}
    refused = client.post("/users", data=form)
    assert refused.status_code == 422
    shown = _clean(refused.text)
    assert 'value="dana"' in shown
    assert 'value="Dana Q"' in shown
    assert "role: choose one of" in shown
    assert 'value="xxx"' not in shown  # a password is never echoed
    assert db.scalar(select(User).where(User.username == "dana")) is None
    # A field missing altogether is named too, on the same page.
    missing = client.post("/users", data={"csrf_token": csrf, "name": "Dana Q", "role": "rep"})
    assert missing.status_code == 422
    assert "username: fill this in" in _clean(missing.text)
    assert "<option selected>rep</option>" in missing.text


def test_a_taken_username_is_a_409_on_the_same_form(client: TestClient) -> None:
    csrf = log_in(client, "admin")
    form = {"csrf_token": csrf, "username": "rep", "role": "rep", "password": "violet kettle drums"}
    clash = client.post("/users", data=form)
    assert clash.status_code == 409
    assert "the username 'rep' is taken" in _clean(clash.text)
    assert 'id="add-user"' in clash.text


def test_a_bad_filter_shows_the_cases_with_the_filter_as_typed(
    client: TestClient, scanned: None
) -> None:
    log_in(client, "manager")
    refused = client.get("/cases", params={"min_value": "lots", "reason": "late"})
    assert refused.status_code == 422
    page = _clean(refused.text)
    assert 'value="lots"' in page
    assert 'value="late"' in page
    assert "min_value 'lots': give a number" in page
    assert "Acme Ltd" in page  # the list is there, unfiltered
    ok = client.get("/cases", params={"min_value": "$1,000"})
    assert ok.status_code == 200
    assert 'value="1000.0"' in ok.text or 'value="1000"' in ok.text


def test_a_counter_that_is_no_number_stays_on_its_row(
    client: TestClient, db: Session, people: dict[str, User], mine: Case
) -> None:
    asked = cx.request_concession(db, people["rep"], mine.id, kind="credit", amount=400)
    csrf = log_in(client, "manager")
    url = f"/concessions/{asked.id}/decide"
    refused = client.post(url, data={"csrf_token": csrf, "decision": "counter", "amount": "1,5"})
    assert refused.status_code == 422
    page = _clean(refused.text)
    assert "<h1>Approvals</h1>" in page
    assert 'value="1,5"' in page
    assert "amount '1,5'" in page
    done = client.post(url, data={"csrf_token": csrf, "decision": "counter", "amount": "$250"})
    assert done.status_code == 303
    assert done.headers["location"] == f"/approvals?decided={asked.id}"
    confirmed = _clean(client.get(done.headers["location"]).text)
    assert "You countered Rep's request of 400.00 credit with 250.00 instead" in confirmed
    assert "Rep has been told." in confirmed
    # A double click: the second finds it decided and says so on the page, nothing more.
    again = client.post(url, data={"csrf_token": csrf, "decision": "counter", "amount": "200"})
    assert again.status_code == 409
    assert f"request {asked.id} was decided already" in _clean(again.text)
    db.expire_all()
    assert db.get(type(asked), asked.id).granted == 250  # type: ignore[union-attr]


def test_reasons_keep_a_clashing_label(client: TestClient, db: Session) -> None:
    csrf = log_in(client, "manager")
    code = db.scalars(select(ReasonCode.code)).first()
    refused = client.post(
        "/reasons", data={"csrf_token": csrf, "label": "Something new", "code": code}
    )
    assert refused.status_code == 409
    page = _clean(refused.text)
    assert 'value="Something new"' in page
    assert "exists already" in page


def test_a_form_without_its_page_still_answers_without_a_traceback(client: TestClient) -> None:
    csrf = log_in(client, "rep")
    answer = client.post("/cases/999999/activity", data={"csrf_token": csrf, "kind": "zzz"})
    assert answer.status_code in (403, 404, 422)
    _clean(answer.text)


def test_a_concession_refused_from_the_call_shows_the_call_again(
    client: TestClient, db: Session, people: dict[str, User], mine: Case
) -> None:
    from winback.desk import calls

    call = calls.start_call(db, people["rep"], mine.id)
    call.step = "offer"  # the rep has reached the offer step
    db.commit()
    csrf = log_in(client, "rep")
    form = {
        "csrf_token": csrf,
        "kind": "credit",
        "amount": "1,5",
        "note": "from the call",
        "call_id": str(call.id),
        "next": f"/calls/{call.id}?step=offer",
    }
    refused = client.post(f"/cases/{mine.id}/concessions", data=form)
    assert refused.status_code == 422
    page = _clean(refused.text)
    assert "Guided call:" in page  # the call, not the customer page
    assert "7. The offer" in page
    assert 'value="1,5"' in page
    assert 'value="from the call"' in page
    assert "amount '1,5': is the comma a decimal point" in page
    # Without a call, the customer page as before.
    del form["call_id"]
    assert "Guided call:" not in client.post(f"/cases/{mine.id}/concessions", data=form).text
