"""What the pages show and do."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.desk.conftest import POLICY, make_run
from tests.web.conftest import import_csv, log_in
from winback.desk import tasks
from winback.desk.models import AuditEntry, Case, User
from winback.desk.sync import sync_cases

LINK = re.compile(r'(?:src|href|action)\s*=\s*["\']([^"\']+)["\']', re.IGNORECASE)


def test_rep_queue_lists_their_cases_in_order_with_reasons(
    client: TestClient, db: Session, people: dict[str, User], scanned: None
) -> None:
    for case in db.scalars(select(Case)):
        case.owner_id = people["rep"].id
    db.commit()
    log_in(client, "rep")
    page = client.get("/queue").text
    assert page.index("Acme Ltd") < page.index("Bolt &amp; Co") < page.index("Cogs plc")
    assert "no order for 200 days, twice the usual 90" in page


def test_manager_filters_saves_a_filter_and_uses_it(
    client: TestClient, people: dict[str, User], scanned: None
) -> None:
    csrf = log_in(client, "manager")
    lost = client.get("/cases?status=lost").text
    assert "Bolt &amp; Co" in lost
    assert "Acme Ltd" not in lost
    saved = client.post(
        "/cases/filters", data={"name": "the lost", "status": "lost", "csrf_token": csrf}
    )
    assert saved.headers["location"] == "/cases?state=active&status=lost"
    page = client.get("/cases").text
    assert 'href="/cases?state=active&amp;status=lost">the lost</a>' in page


def test_manager_reassigns_a_case_with_htmx_and_the_audit_log_shows_it(
    client: TestClient, db: Session, people: dict[str, User], scanned: None
) -> None:
    csrf = log_in(client, "manager")
    case = db.scalars(select(Case).where(Case.customer_id == "c1")).one()
    before = case.owner_id
    row = client.post(
        f"/cases/{case.id}/assign",
        data={"owner_id": str(people["rep2"].id)},
        headers={"HX-Request": "true", "X-CSRF-Token": csrf},
    )
    assert row.status_code == 200
    assert row.text.lstrip().startswith(f'<tr id="case-{case.id}">')
    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "case.reassign")).one()
    assert (entry.actor_name, entry.before, entry.after) == (
        "manager",
        {"owner_id": before},
        {"owner_id": people["rep2"].id},
    )
    audit_page = client.get("/audit").text
    assert "case.reassign" in audit_page


def test_customer_page_shows_scores_intangibles_and_a_timeline_of_everything(
    app: FastAPI,
    client: TestClient,
    db: Session,
    people: dict[str, User],
    scanned: None,
    tmp_path: Path,
) -> None:
    import_csv(app, tmp_path, "customers", "customer_id,name,email\nc1,Acme Ltd,buy@acme.test\n")
    import_csv(
        app, tmp_path, "orders", "order_id,customer_id,order_date,amount\no1,c1,2023-11-02,420.50\n"
    )
    import_csv(
        app,
        tmp_path,
        "incidents",
        "incident_id,customer_id,occurred_on,type,severity\ni1,c1,2023-12-01,late_delivery,4\n",
    )
    import_csv(
        app,
        tmp_path,
        "interactions",
        "interaction_id,customer_id,occurred_at,channel,staff_id,customer_rude\n"
        "t1,c1,2023-12-03T10:00:00,call,s-rep,true\n",
    )
    import_csv(
        app,
        tmp_path,
        "marketing_events",
        "customer_id,campaign_id,event,occurred_at\nc1,spring,opened,2024-03-01T09:00:00\n",
    )
    import_csv(
        app,
        tmp_path,
        "invoices",
        "invoice_id,customer_id,issued_on,due_on,amount,paid_on\nv1,c1,2023-11-02,2023-12-02,420.50,2023-12-20\n",
    )
    import_csv(
        app,
        tmp_path,
        "returns",
        "return_id,customer_id,returned_on,amount,reason\nr1,c1,2023-11-20,40,broken\n",
    )
    case = db.scalars(select(Case).where(Case.customer_id == "c1")).one()
    case.owner_id = people["rep"].id
    db.commit()
    csrf = log_in(client, "rep")
    client.post(
        f"/cases/{case.id}/activity",
        data={"kind": "contact", "channel": "call", "text": "apologised", "csrf_token": csrf},
    )

    page = client.get("/customers/c1").text
    for expected in (
        "buy@acme.test",
        "order o1 for $420.50",
        "late_delivery (severity 4), unresolved",
        "call (customer rude to staff)",
        "opened spring",
        "paid late on 2023-12-20",
        "return r1 of $40.00",
        "apologised",
        "no order for 200 days, twice the usual 90",
        "worth 1,200 a year",
        "contacted",
    ):
        assert expected in page, expected


def test_rep_logs_a_contact_and_closes_their_case_from_the_customer_page(
    client: TestClient, db: Session, people: dict[str, User], scanned: None
) -> None:
    case = db.scalars(select(Case).where(Case.customer_id == "c2")).one()
    case.owner_id = people["rep"].id
    db.commit()
    csrf = log_in(client, "rep")
    logged = client.post(
        f"/cases/{case.id}/activity",
        data={"kind": "contact", "channel": "call", "text": "spoke", "csrf_token": csrf},
    )
    assert logged.status_code == 303
    due = tasks.today().isoformat()
    form = {"outcome": "won_back", "follow_up_on": due, "csrf_token": csrf}
    # The first request only asks for confirmation; the second closes.
    asked = client.post(f"/cases/{case.id}/close", data=form)
    assert asked.status_code == 200
    assert "Yes, close as won back" in asked.text
    db.refresh(case)
    assert case.state != "closed"
    answer = client.post(f"/cases/{case.id}/close", data={**form, "confirm": "yes"})
    assert answer.headers["location"] == "/customers/c2"
    db.refresh(case)
    assert (case.state, case.outcome) == ("closed", "won_back")


def test_unknown_customer_is_a_404_page(client: TestClient, people: dict[str, User]) -> None:
    log_in(client, "rep")
    assert client.get("/customers/nobody").status_code == 404


def test_no_page_loads_anything_from_another_host(
    client: TestClient, people: dict[str, User], scanned: None
) -> None:
    log_in(client, "admin")
    pages = ("/login", "/queue", "/cases", "/customers/c1", "/audit", "/users", "/account", "/docs")
    for path in pages:
        html = client.get(path).text
        for target in LINK.findall(html):
            assert not re.match(r"^(https?:)?//", target), (path, target)


def test_htmx_is_served_by_the_app_from_its_npm_package(client: TestClient) -> None:
    answer = client.get("/static/vendor/htmx/htmx.min.js")
    assert answer.status_code == 200
    assert "htmx" in answer.text[:2000]
    assert client.get("/static/app/desk.css").status_code == 200
    assert client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200


def test_owner_picker_marks_the_current_owner_and_escapes_names() -> None:
    from winback.desk.models import User
    from winback.web.templating import owner_options, with_selected

    people = [
        User(id=1, name="A & B", role="rep", active=True),
        User(id=2, name="C", role="rep", active=True),
    ]
    html = str(with_selected(owner_options(people), 2))
    assert html == (
        '<option value="1">A &amp; B (rep)</option><option value="2" selected>C (rep)</option>'
    )


def test_customer_page_reads_the_sorted_copy_when_it_matches_and_the_ledger_when_not(
    app: FastAPI, client: TestClient, people: dict[str, User], scanned: None, tmp_path: Path
) -> None:
    from winback.ledger import timeline as timeline_index

    import_csv(
        app, tmp_path, "orders", "order_id,customer_id,order_date,amount\no1,c1,2023-11-02,10\n"
    )
    root = app.state.timeline.root
    folder = timeline_index.build(root, app.state.ledger)
    assert folder is not None
    assert timeline_index.current(root, app.state.ledger) == folder
    log_in(client, "rep")
    assert "order o1 for $10.00" in client.get("/customers/c1").text

    import_csv(
        app, tmp_path, "orders", "order_id,customer_id,order_date,amount\no2,c1,2024-02-02,20\n"
    )
    assert timeline_index.current(root, app.state.ledger) is None  # an import since: stale
    page = client.get("/customers/c1").text
    assert "order o2 for $20.00" in page
    assert "order o1 for $10.00" in page


def test_customer_page_shows_an_intangible_the_data_cannot_tell_as_unknown(
    app: FastAPI, client: TestClient, db: Session, people: dict[str, User]
) -> None:
    # c1: rude on record, contacts known and ordinary, no invoices at all (unknown).
    row = {"customer_id": "c1", "name": "Acme Ltd", "rank": 1, "rude": True}
    row |= {"heavy_contact": False, "late_payer": None, "return_abuser": None}
    sync_cases(db, None, make_run(app.state.settings.runs_dir, [row]), policy=POLICY)
    case = db.scalars(select(Case).where(Case.customer_id == "c1")).one()
    assert case.intangibles["late_payer"] is None
    assert case.intangibles["rude"] is True
    assert case.intangibles["heavy_contact"] is False
    log_in(client, "manager")

    page = client.get("/customers/c1").text

    assert "rude to staff: yes" in page
    assert "contacts far more than peers: no" in page
    assert "pays late: unknown" in page
    assert "pays late: no" not in page
    assert "abuses returns: unknown" in page
