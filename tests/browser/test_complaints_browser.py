"""A public complaint in a real browser (SQLite and PostgreSQL): a signed webhook post
names a customer; the rep finds the urgent case on top of the queue with the post, works
it with the guided call (the post's reason suggested for the diagnosis) and records the
public reply; the manager sees an overdue one escalated."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.browser.conftest import log_in, shoot
from winback.desk import complaints
from winback.desk.models import Case, PublicPost, User


@pytest.fixture
def ledger_files() -> dict[str, str]:
    """The customers the posts are matched against."""
    return {
        "customers": "customer_id,name,email,region,country\n"
        "c1,Acme Ltd,buyer@acme.example,West,GB\n"
        "c2,Bolt & Co,ops@bolt.example,North,US\n"
        "c3,Cogs plc,cfo@cogs.example,East,US\n"
        "c4,Dune Inc,dana@dune.example,South,CA\n",
    }


def _post(server: str, secret: str, said: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps(said).encode()
    stamp = str(int(time.time()))
    answer = httpx.post(
        f"{server}/api/public-posts",
        content=body,
        headers={
            "X-Winback-Source": "listening",
            "X-Winback-Timestamp": stamp,
            "X-Winback-Signature": "sha256=" + complaints.sign(secret, stamp, body),
            "Content-Type": "application/json",
        },
    )
    assert answer.status_code == 202, answer.text
    found: dict[str, Any] = answer.json()["post"]
    return found


def test_the_rep_works_the_urgent_case_and_the_manager_sees_an_overdue_one_escalated(
    browser: Any,
    page: Any,
    server: str,
    app: FastAPI,
    db: Session,
    people: dict[str, User],
    request: pytest.FixtureRequest,
) -> None:
    rep = people["rep"]
    for case in db.scalars(select(Case)):
        case.owner_id = rep.id
    db.commit()
    _, secret = complaints.add_source(db, people["manager"], name="listening", kind="webhook")
    assert secret is not None
    text = "Dune Inc here: never again. Our order arrived two weeks late and nobody answered."
    said = {"id": "t-1", "author": "Dana", "text": f"{text} dana@dune.example"}
    post = _post(server, secret, {**said, "url": "https://social.example/t-1"})
    assert post["customer_id"] == "c4"

    # --- the rep: the urgent case is on top, with the post --------------------------
    log_in(page, "rep")
    page.goto("/queue")
    first = page.locator("table.cases tbody tr").first
    assert "Dune Inc" in first.inner_text()
    assert "URGENT" in first.inner_text().upper()
    assert "arrived two weeks late" in first.locator("blockquote.post").inner_text()
    shoot(page, request, "complaint-queue")
    first.locator("a", has_text="Dune Inc").click()
    page.wait_for_url("**/customers/c4")
    assert "arrived two weeks late" in page.locator("#public-post").inner_text()
    page.click("text=Start a guided call")
    page.wait_for_url("**/calls/*")
    assert "arrived two weeks late" in page.locator("blockquote.post").inner_text()
    page.click("form.step-form button[type=submit]")
    page.wait_for_load_state()
    page.fill("textarea[name=listening]", "Two weeks late, and nobody picked up the phone.")
    page.click("form.step-form button[type=submit]")
    page.wait_for_load_state()
    # The post's reason is suggested for the diagnosis.
    assert page.locator("input[name=reasons][value=delivery]").is_checked()
    assert not page.locator("input[name=reasons][value=price]").is_checked()
    page.click("form.step-form button[type=submit]")
    page.wait_for_load_state()
    assert "Delivery" in page.locator("#step-verification").inner_text()
    # The public answer is recorded on the case.
    page.goto("/customers/c4")
    page.fill("input[name=reply]", "We are sorry, Dana: we called you and fixed the slot.")
    page.click("text=Record the public reply")
    page.wait_for_url("**/customers/c4")
    assert "Answered in public" in page.locator("#public-post").inner_text()
    # The post is on the customer's record, with its answer.
    record = page.locator("#public-posts").inner_text()
    assert "arrived two weeks late" in record
    assert "we called you and fixed the slot" in record
    stored = db.scalars(select(PublicPost).where(PublicPost.id == post["id"])).one()
    db.refresh(stored)
    assert stored.reply is not None

    # --- the manager: a complaint nobody answered in time is escalated --------------
    angry = "Never again, buyer@acme.example was charged twice and nobody answered."
    late = _post(server, secret, {"id": "t-2", "author": "Acme", "text": angry})
    overdue = db.scalars(select(Case).where(Case.id == late["case_id"])).one()
    db.refresh(overdue)
    assert overdue.due_at is not None
    assert complaints.escalate_overdue(db, now=overdue.due_at + timedelta(minutes=1)) == 1
    manager = browser.new_context(base_url=server).new_page()
    log_in(manager, "manager")
    manager.goto("/complaints")
    escalated = manager.locator("#escalated").inner_text()
    assert "Acme Ltd" in escalated
    assert "Dune Inc" not in escalated
    manager.goto("/tasks")
    assert "Escalated: the public complaint of Acme Ltd" in manager.locator("main").inner_text()
    shoot(manager, request, "complaint-escalated")
    manager.context.close()
