"""The desk's lists on the pages and the API (SQLite and PostgreSQL): the compact queue,
sorting, pages, totals, CSV export, bulk reassign, and the API's lists of one case's
calls and one customer's tasks and concessions."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.desk.conftest import make_run, win_back
from tests.web.conftest import import_csv, log_in
from winback.desk import calls, concessions, tasks
from winback.desk.models import AuditEntry, Case, User


@pytest.fixture
def owned(db: Session, people: dict[str, User], scanned: None) -> dict[str, Case]:
    """All three scanned cases are the rep's: Acme (900), Bolt & Co, Cogs plc."""
    found = {c.customer_id: c for c in db.scalars(select(Case))}
    for c in found.values():
        c.owner_id = people["rep"].id
    found["c1"].reasons = ["late deliveries", "price rise", "support slow"]
    found["c2"].expected_value = 50.0
    found["c3"].expected_value = 400.0
    db.commit()
    return found


def _rows(html: str) -> list[str]:
    """The customers' names in the order the table shows them."""
    return re.findall(r'<a href="/customers/[^"]+">([^<]+)</a>', html)


def test_queue_is_one_line_a_customer_with_the_top_reason_and_all_on_demand(
    client: TestClient, owned: dict[str, Case]
) -> None:
    log_in(client, "rep")
    page = client.get("/queue").text
    acme = page[page.index(f'id="queue-{owned["c1"].id}"') :].split("</tr>")[0]
    assert '<span class="top-reason">late deliveries</span>' in acme
    assert '<details class="more-reasons"><summary>2 more</summary>' in acme
    assert "$900" in acme
    assert "Rep" in acme  # the owner
    expanded = client.get("/queue?reasons=all").text
    assert '<details class="more-reasons" open>' in expanded
    assert "Show the top reason only" in expanded


def test_queue_sorts_by_worth_pages_and_counts_the_whole_list(
    client: TestClient, owned: dict[str, Case]
) -> None:
    log_in(client, "rep")
    page = client.get("/queue?sort=worth&dir=desc").text
    assert _rows(page)[:3] == ["Acme Ltd", "Cogs plc", "Bolt &amp; Co"]
    assert 'class="total-count">3</strong>' in page
    assert 'class="total-value">$1,350</strong>' in page
    second = client.get("/queue?sort=worth&dir=asc&size=1&page=2").text
    names = _rows(second)
    assert "Cogs plc" in names
    assert "Acme Ltd" not in names
    assert "Bolt &amp; Co" not in names
    assert 'aria-current="page">2</strong>' in second
    refused = client.get("/queue?sort=owner_id%20desc")
    assert refused.status_code == 422
    assert "sort by one of" in refused.text


def test_cases_csv_is_the_filtered_sorted_list(client: TestClient, owned: dict[str, Case]) -> None:
    log_in(client, "manager")
    answer = client.get("/cases?status=lapsed&sort=worth&dir=asc&format=csv")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [r["customer_name"] for r in rows] == ["Cogs plc", "Acme Ltd"]
    assert rows[1]["top_reason"] == "late deliveries"
    page = client.get("/cases?status=lapsed&sort=worth").text
    # Filtering again keeps the sort.
    assert '<input type="hidden" name="sort" value="worth">' in page
    assert (
        'href="/cases?state=active&amp;status=lapsed&amp;sort=worth&amp;dir=desc&amp;format=csv"'
        in page
    )


def test_manager_bulk_reassigns_ticked_cases_once_and_each_is_audited(
    client: TestClient, db: Session, people: dict[str, User], owned: dict[str, Case]
) -> None:
    csrf = log_in(client, "manager")
    ids = [str(owned["c1"].id), str(owned["c2"].id)]
    form = {"csrf_token": csrf, "case_ids": ids, "owner_id": str(people["rep2"].id)}
    answer = client.post("/cases/bulk-assign?sort=worth&dir=desc", data=form)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/cases?sort=worth&dir=desc&moved=2"
    assert "2 cases reassigned." in client.get(answer.headers["location"]).text
    db.expire_all()
    assert [db.get(Case, int(i)).owner_id for i in ids] == [people["rep2"].id] * 2  # type: ignore[union-attr]
    # The same form sent twice (a double click) moves nothing the second time.
    again = client.post("/cases/bulk-assign", data=form)
    assert again.headers["location"] == "/cases?moved=0"
    entries = db.scalars(select(AuditEntry).where(AuditEntry.action == "case.reassign")).all()
    assert sorted(e.entity_id for e in entries) == sorted(ids)


def test_bulk_reassign_with_a_closed_case_moves_nothing_and_says_which(
    client: TestClient, db: Session, people: dict[str, User], owned: dict[str, Case]
) -> None:
    win_back(db, people["rep"], owned["c3"].id)
    csrf = log_in(client, "manager")
    ids = [str(owned["c1"].id), str(owned["c3"].id)]
    form = {"csrf_token": csrf, "case_ids": ids, "owner_id": str(people["rep2"].id)}
    answer = client.post("/queue/bulk-assign", data=form)
    assert answer.status_code == 409
    assert f"case {owned['c3'].id} is closed; nothing was reassigned" in answer.text
    db.expire_all()
    assert db.get(Case, owned["c1"].id).owner_id == people["rep"].id  # type: ignore[union-attr]
    rep = TestClient(client.app, base_url="http://testserver", follow_redirects=False)
    rep_csrf = log_in(rep, "rep")
    refused = rep.post(
        "/cases/bulk-assign", data={**form, "csrf_token": rep_csrf, "case_ids": ids[:1]}
    )
    assert refused.status_code == 403


def test_tasks_overdue_red_carpet_and_approvals_sort_total_and_export(
    client: TestClient, db: Session, people: dict[str, User], owned: dict[str, Case]
) -> None:
    rep, manager = people["rep"], people["manager"]
    past = tasks.today().replace(year=tasks.today().year - 1)
    for title, case in (("old call", owned["c2"]), ("older call", owned["c1"])):
        tasks.add_task(
            db,
            manager,
            kind="commitment",
            title=title,
            customer_id=case.customer_id,
            owner_id=rep.id,
            due_on=past,
            case_id=case.id,
        )
    db.commit()
    win_back(db, rep, owned["c3"].id)
    concessions.request_concession(db, rep, owned["c1"].id, kind="credit", amount=300, note="=1+1")
    log_in(client, "manager")
    overdue = client.get("/tasks/overdue?sort=worth&dir=desc").text
    assert overdue.index("older call") < overdue.index("old call")
    assert 'class="total-count">2</strong>' in overdue
    for path, name in (
        ("/tasks/overdue", "older call"),
        ("/red-carpet", "Cogs plc"),
        ("/approvals", "'=1+1"),
    ):
        answer = client.get(f"{path}?format=csv")
        assert answer.status_code == 200, path
        assert name in answer.text, path
        assert client.get(f"{path}?sort=nonsense").status_code == 422
    red = client.get("/red-carpet?sort=worth").text
    assert "Cogs plc" in red
    assert "$400" in red
    approvals = client.get("/approvals?sort=amount&dir=desc").text
    assert "Acme Ltd" in approvals
    assert 'class="total-count">1</strong>' in approvals
    log_in(client, "rep")
    mine = client.get("/tasks?sort=name&dir=asc").text
    assert mine.index("Acme Ltd") < mine.index("Bolt &amp; Co")
    assert "older call" in client.get("/tasks?format=csv").text


def _auth(tokens: dict[str, str], role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[role]}"}


def test_api_lists_a_cases_calls_and_a_customers_tasks_and_concessions_in_pages(
    client: TestClient,
    db: Session,
    people: dict[str, User],
    owned: dict[str, Case],
    tokens: dict[str, str],
) -> None:
    rep = people["rep"]
    case = owned["c1"]
    call = calls.start_call(db, rep, case.id)
    for n in range(3):
        tasks.add_task(
            db,
            rep,
            kind="commitment",
            title=f"task {n}",
            customer_id="c1",
            owner_id=rep.id,
            due_on=tasks.today(),
            case_id=case.id,
        )
    db.commit()
    concessions.request_concession(db, rep, case.id, kind="credit", amount=20, note="")
    found = client.get(f"/api/cases/{case.id}/calls", headers=_auth(tokens, "executive"))
    assert found.status_code == 200, found.text
    assert [c["id"] for c in found.json()["calls"]] == [call.id]
    page = client.get("/api/customers/c1/tasks?size=2&page=2", headers=_auth(tokens, "rep2"))
    body = page.json()
    assert (body["total"], body["page"], body["size"], body["has_next"]) == (3, 2, 2, False)
    assert [t["title"] for t in body["tasks"]] == ["task 0"]  # newest first
    given = client.get("/api/customers/c1/concessions", headers=_auth(tokens, "rep")).json()
    assert [(c["kind"], c["asked"]) for c in given["concessions"]] == [("credit", 20)]
    assert client.get("/api/cases/999999/calls", headers=_auth(tokens, "rep")).status_code == 404
    assert client.get("/api/customers/c1/tasks").status_code == 401
    typo = client.get("/api/customers/c1/tasks?sise=2", headers=_auth(tokens, "rep"))
    assert typo.status_code == 422
    assert "'sise': this call takes only page, size" in typo.text


def _user_rows(html: str) -> list[str]:
    """The usernames in the order the users table shows them."""
    return re.findall(r'<tr id="user-\d+"><td>([^<]+)</td>', html)


def test_users_page_sorts_pages_counts_and_exports_every_user(
    client: TestClient, people: dict[str, User]
) -> None:
    log_in(client, "admin")
    page = client.get("/users").text
    assert _user_rows(page) == ["admin", "executive", "manager", "rep", "rep2"]
    assert 'class="total-count">5</strong> users' in page
    by_name = client.get("/users?sort=name&dir=desc").text
    assert _user_rows(by_name) == ["rep2", "rep", "manager", "executive", "admin"]
    assert 'aria-sort="descending"' in by_name
    second = client.get("/users?sort=role&dir=asc&size=2&page=2").text
    # admin, executive | manager, rep (tie broken by id), rep2
    assert _user_rows(second) == ["manager", "rep"]
    assert 'aria-current="page">2</strong>' in second
    assert 'class="total-count">5</strong> users' in second
    answer = client.get("/users?sort=name&dir=asc&format=csv")
    assert answer.status_code == 200
    assert "attachment" in answer.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [r["username"] for r in rows] == ["admin", "executive", "manager", "rep", "rep2"]
    assert rows[3]["role"] == "rep"
    assert rows[3]["staff_id"] == "s-rep"
    assert "argon" not in answer.text  # no password hashes
    assert "password" not in answer.text
    refused = client.get("/users?sort=password_hash")
    assert refused.status_code == 422
    assert "sort by one of" in refused.text
    log_in(client, "rep")
    assert client.get("/users?format=csv").status_code == 403


@pytest.mark.parametrize("what", ["tasks", "concessions"])
def test_api_lists_of_an_unknown_customer_are_404_in_the_error_shape(
    client: TestClient, owned: dict[str, Case], tokens: dict[str, str], what: str
) -> None:
    known = client.get(f"/api/customers/c2/{what}", headers=_auth(tokens, "rep"))
    assert known.status_code == 200  # on the scan, nothing of this kind yet: an empty page
    assert known.json()["total"] == 0
    unknown = client.get(f"/api/customers/C1/{what}", headers=_auth(tokens, "rep"))
    assert unknown.status_code == 404, unknown.text
    assert unknown.json() == {
        "error": {
            "code": "not_found",
            "message": "no customer 'C1' in the ledger, the scan or the desk",
        }
    }
    assert client.get(f"/api/customers/C1/{what}").status_code == 401


def test_api_lists_know_a_customer_from_the_scan_run_or_the_ledger_alone(
    app: FastAPI,
    client: TestClient,
    db: Session,
    people: dict[str, User],
    tokens: dict[str, str],
    tmp_path: Path,
) -> None:
    make_run(app.state.settings.runs_dir, [{"customer_id": "s1", "name": "Scan only", "rank": 1}])
    import_csv(app, tmp_path, "customers", "customer_id,name\nl1,Ledger only\n")
    for customer in ("s1", "l1"):
        answer = client.get(f"/api/customers/{customer}/tasks", headers=_auth(tokens, "rep"))
        assert answer.status_code == 200, (customer, answer.text)
    assert client.get("/api/customers/x9/tasks", headers=_auth(tokens, "rep")).status_code == 404
