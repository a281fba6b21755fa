"""The look of a tool used all day (issue 13, item 9): amounts in the business's currency,
people by name, a readable timeline and audit log, the customer page and call screen saying
what a rep needs, and unknown addresses answered inside the desk."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from tests.desk.conftest import POLICY, make_run, win_back
from tests.web.conftest import import_csv, log_in
from winback.desk import audit, calls, cases, do_not_contact, readable, red_carpet
from winback.desk.models import AuditEntry, Case, User
from winback.desk.sync import sync_cases
from winback.errors import WinbackError
from winback.settings import load_settings
from winback.web.app import create_app
from winback.web.templating import money


def test_money_shows_the_currency_symbol_whole_units_or_cents() -> None:
    assert money(1234.5) == "$1,235"
    assert money(1234.5, "EUR") == "€1,235"
    assert money(9.99, "GBP", cents=True) == "£9.99"
    assert money(1500, "JPY") == "¥1,500"
    assert money(None) == "–"


def test_the_currency_setting_takes_an_iso_code_and_refuses_anything_else() -> None:
    assert load_settings(currency="eur").currency == "EUR"
    with pytest.raises(WinbackError, match=r"WINBACK_CURRENCY.*unknown currency 'DOLLARS'"):
        load_settings(currency="DOLLARS")


def test_the_customer_page_shows_amounts_in_the_settings_currency(
    desk_engine: Engine, db: Session, people: dict[str, User], tmp_path: Path
) -> None:
    settings = load_settings(home=tmp_path / "ws", secret_key="k" * 40, currency="EUR")
    app = create_app(settings, engine=desk_engine)
    run = make_run(settings.runs_dir, [{"customer_id": "c1", "name": "Acme", "rank": 1}])
    sync_cases(db, None, run, policy=POLICY)
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as client:
        log_in(client, "manager")
        page = client.get("/customers/c1").text
    assert "<dd>€1,200</dd>" in page  # predicted value
    assert "<dd>€500</dd>" in page  # expected value


def test_the_timeline_reads_as_sentences_with_names_and_amounts(
    app: FastAPI,
    client: TestClient,
    db: Session,
    people: dict[str, User],
    scanned: None,
    tmp_path: Path,
) -> None:
    import_csv(app, tmp_path, "staff", "staff_id,name,role\nS00007,Dana Shop,rep\n")
    import_csv(
        app,
        tmp_path,
        "interactions",
        "interaction_id,customer_id,occurred_at,channel,staff_id\n"
        "t1,c1,2023-12-03T10:00:00,call,s-rep\n"
        "t2,c1,2023-12-04T10:00:00,email,S00007\n"
        "t3,c1,2023-12-05T10:00:00,chat,S00001\n",
    )
    import_csv(
        app, tmp_path, "orders", "order_id,customer_id,order_date,amount\no1,c1,2023-11-02,1420.5\n"
    )
    case = db.scalars(select(Case).where(Case.customer_id == "c1")).one()
    cases.reassign(db, people["manager"], case.id, people["rep2"].id)
    win_back(db, people["rep2"], case.id)
    log_in(client, "manager")
    page = client.get("/customers/c1").text
    timeline = page[page.index("<h2>Timeline</h2>") :]
    for said in (
        "assigned to Rep Two",
        "closed: won back",
        "order o1 for $1,420.50",
        "<td>Rep</td>",  # staff id s-rep is the desk user Rep
        "<td>Dana Shop</td>",  # the ledger's staff table
        "<td>staff S00001</td>",  # known to nobody
        "<td>Manager</td>",  # who reassigned: the name, not the username
    ):
        assert said in timeline, said
    for raw in ("owner_id", "outcome:", "won_back", "→ won", "<td>manager</td>", "S00007<"):
        assert raw not in timeline, raw


def test_the_audit_log_reads_in_words_filters_every_kind_and_pages(
    client: TestClient, db: Session, people: dict[str, User], scanned: None
) -> None:
    case = db.scalars(select(Case).where(Case.customer_id == "c1")).one()
    cases.reassign(db, people["manager"], case.id, people["rep2"].id)
    win_back(db, people["rep2"], case.id)  # a close and a red carpet start
    for n in range(120):  # enough for two pages
        audit.record(db, people["admin"], "token.revoke", "token", n, {"active": True}, None)
    db.commit()
    log_in(client, "manager")

    first = client.get("/audit").text
    assert first.count("<details>") == 100
    assert "Admin revoked token 119" in first
    assert 'rel="next"' in first
    assert 'rel="prev"' not in first
    older = client.get("/audit?" + first.split('href="/audit?')[-1].split('"')[0]).text
    assert older.count("<details>") == len(db.scalars(select(AuditEntry.id)).all()) - 100
    assert "Manager reassigned case" in older
    assert "assigned to Rep Two" in older
    assert "Rep Two closed case" in older
    assert "closed: won back" in older
    assert 'rel="prev"' in older
    assert 'rel="next"' not in older

    carpet = client.get("/audit?entity=red_carpet").text
    assert "Rep Two started red carpet" in carpet
    assert "token" not in carpet.split("<table")[1]
    for kind in readable.AUDIT_KINDS:
        assert f'<option value="{kind}"' in first, kind
    # The raw fields are inside each entry's <details>, not its sentence.
    assert first.count("<summary>") == 100
    assert "{&#34;" not in first.split("<summary>")[1].split("</summary>")[0]


def test_after_a_win_back_the_customer_page_says_the_desks_state_and_the_scans_date(
    client: TestClient, db: Session, people: dict[str, User], scanned: None
) -> None:
    case = db.scalars(select(Case).where(Case.customer_id == "c1")).one()
    case.owner_id = people["rep"].id
    db.commit()
    open_page = _page_as(client, "rep", "/customers/c1")
    assert f"Desk: <strong>case {case.id} open</strong>" in open_page
    assert "the scan of 1 Jul 2024 said:" in open_page  # make_run's as_of

    closed = win_back(db, people["rep"], case.id)
    red_carpet.record_experience(
        db, people["manager"], "c1", kind="order", ref="o9", occurred_at=None,
        gesture="hand-wrapped", rules=POLICY.red_carpet,
    )  # fmt: skip
    page = _page_as(client, "rep", "/customers/c1")
    standing = page[
        page.index('id="desk-state"') : page.index("</p>", page.index('id="desk-state"'))
    ]
    closed_on = f"{closed.closed_at.day} {closed.closed_at:%b %Y}"
    assert f"Desk: <strong>won back {closed_on}, on the red carpet</strong>" in standing
    assert "before that, the scan of 1 Jul 2024 said:" in standing
    experiences = page[page.index("red-carpet-experiences") :]
    assert "<th>Recorded by</th>" in experiences
    assert "<td>Manager</td>" in experiences
    assert "<td>api</td>" not in experiences


def test_an_executive_sees_a_call_they_may_not_open_without_a_link(
    client: TestClient, db: Session, people: dict[str, User], scanned: None
) -> None:
    case = db.scalars(select(Case).where(Case.customer_id == "c1")).one()
    case.owner_id = people["rep"].id
    db.commit()
    call = calls.start_call(db, people["rep"], case.id)
    link = f'href="/calls/{call.id}"'

    executive = _page_as(client, "executive", "/customers/c1")
    assert f"Call {call.id}" in executive
    assert link not in executive
    assert client.get(f"/calls/{call.id}").status_code == 403  # what the link would give
    assert link in _page_as(client, "rep", "/customers/c1")
    assert link in _page_as(client, "manager", "/customers/c1")


def _page_as(client: TestClient, username: str, path: str) -> str:
    return _page_as_status(client, username, path, 200)


def test_the_call_screen_shows_phone_e_mail_contact_state_and_the_scans_reasons(
    app: FastAPI,
    client: TestClient,
    db: Session,
    people: dict[str, User],
    scanned: None,
    tmp_path: Path,
) -> None:
    import_csv(
        app,
        tmp_path,
        "customers",
        "customer_id,name,email,phone\nc1,Acme Ltd,buy@acme.test,+44 20 7946 0000\n",
    )
    case = db.scalars(select(Case).where(Case.customer_id == "c1")).one()
    case.owner_id = people["rep"].id
    db.commit()
    call = calls.start_call(db, people["rep"], case.id)
    page = _page_as(client, "rep", f"/calls/{call.id}")
    card = page[
        page.index('id="call-customer"') : page.index(
            "</section>", page.index('id="call-customer"')
        )
    ]
    assert "+44 20 7946 0000" in card
    assert 'href="tel:+442079460000"' in card
    assert "buy@acme.test" in card
    assert "allowed" in card
    assert "no order for 200 days, twice the usual 90" in card
    assert "worth 1,200 a year" in card

    do_not_contact.block(db, people["manager"], "c1", note="asked us to stop")
    card = _page_as(client, "rep", f"/calls/{call.id}")
    assert "do not contact</strong> since" in card
    assert "asked us to stop" in card


def test_an_unknown_address_is_a_404_inside_the_desk_and_json_under_the_api(
    client: TestClient, people: dict[str, User], tokens: dict[str, str]
) -> None:
    logged_out = client.get("/no/such/page")
    assert logged_out.status_code == 404
    assert 'action="/customers"' not in logged_out.text  # no nav for a visitor

    page = _page_as_status(client, "rep", "/no/such/page", 404)
    assert 'href="/queue"' in page  # the nav
    assert 'name="q"' in page  # the search box
    assert "There is no page at /no/such/page." in page
    assert 'rel="icon" href="/static/app/favicon.svg"' in page

    api = client.get("/api/no/such/thing", headers={"Authorization": f"Bearer {tokens['rep']}"})
    assert api.status_code == 404
    assert api.json()["error"]["code"] == "not_found"
    icon = client.get("/static/app/favicon.svg")
    assert icon.status_code == 200
    assert icon.headers["content-type"].startswith("image/svg+xml")


def _page_as_status(client: TestClient, username: str, path: str, status: int) -> str:
    client.cookies.clear()
    log_in(client, username)
    answer = client.get(path)
    assert answer.status_code == status, answer.text
    return answer.text
