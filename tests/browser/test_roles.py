"""Each role logs in to a real browser and works its main pages."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.browser.conftest import log_in, shoot
from winback.desk.models import Case, User


def _give_rep_cases(db: Session, people: dict[str, User]) -> None:
    for case in db.scalars(select(Case).where(Case.tier == "rep")):
        case.owner_id = people["rep"].id
    db.commit()


def test_rep_works_the_queue_and_logs_a_call(
    page: Any, db: Session, people: dict[str, User], request: pytest.FixtureRequest
) -> None:
    _give_rep_cases(db, people)
    log_in(page, "rep")
    assert page.url.endswith("/queue")
    rows = page.locator("table.cases tbody tr")
    assert rows.count() == 3
    assert "Acme Ltd" in rows.nth(0).inner_text()
    assert "three late deliveries since March" in rows.nth(1).inner_text()
    shoot(page, request, "rep-queue")

    page.click("text=Bolt & Co")
    page.wait_for_url("**/customers/c2")
    page.fill("input[name=text]", "Apologised for the deliveries; she will think about it")
    page.click("form.work >> text=Log")
    page.wait_for_url("**/customers/c2")
    assert "contacted" in page.locator("section.case h2").inner_text()
    assert "Apologised for the deliveries" in page.locator("section.timeline").inner_text()
    shoot(page, request, "rep-customer")


def test_manager_filters_reassigns_with_htmx_and_reads_the_audit_log(
    page: Any, db: Session, people: dict[str, User], request: pytest.FixtureRequest
) -> None:
    log_in(page, "manager")
    assert page.url.endswith("/cases")
    shoot(page, request, "manager-cases")

    page.select_option("select[name=status]", "lost")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/cases?**status=lost**")
    assert page.locator("table.cases tbody tr").count() == 1
    page.fill("input[name=name]", "Lost ones")
    page.click("text=Save filter")
    page.wait_for_selector("ul.saved-filters >> text=Lost ones")

    case = db.scalars(select(Case).where(Case.customer_id == "c2")).one()
    with page.expect_response(f"**/cases/{case.id}/assign"):
        page.select_option(f"#case-{case.id} select[name=owner_id]", str(people["rep2"].id))
    db.refresh(case)
    assert case.owner_id == people["rep2"].id
    assert page.locator(f"#case-{case.id} select[name=owner_id]").input_value() == str(
        people["rep2"].id
    )
    shoot(page, request, "manager-filtered")

    page.click("nav >> text=Audit log")
    page.wait_for_url("**/audit")
    audit = page.locator("table.audit").inner_text()
    assert f"Manager reassigned case {case.id}: assigned to Rep Two" in audit  # in words
    shoot(page, request, "manager-audit")

    page.goto("/customers/c4")
    assert "rude to staff: yes" in page.locator("ul.flags").inner_text()
    shoot(page, request, "manager-customer")


def test_executive_sees_the_big_account_and_not_the_manager_pages(
    page: Any, request: pytest.FixtureRequest
) -> None:
    log_in(page, "executive")
    assert "Cogs plc" in page.locator("table.cases").inner_text()
    assert page.locator("nav >> text=All cases").count() == 0
    shoot(page, request, "executive-queue")
    answer = page.goto("/cases")
    assert answer is not None
    assert answer.status == 403


def test_admin_adds_a_user_and_makes_an_api_token(
    page: Any, request: pytest.FixtureRequest
) -> None:
    log_in(page, "admin")
    page.goto("/users")
    page.fill("#add-user input[name=username]", "carol")
    page.fill("#add-user input[name=name]", "Carol Reyes")
    page.select_option("#add-user select[name=role]", "rep")
    page.fill("#add-user input[name=password]", "a long enough password")
    page.click("#add-user >> text=Add user")
    page.wait_for_selector("text=Carol Reyes")
    shoot(page, request, "admin-users")

    page.goto("/account")
    page.fill("input[name=name]", "reporting script")
    page.click("text=New token")
    token = page.locator("#new-token").inner_text()
    assert token.startswith("wb_")
    shoot(page, request, "admin-account")
    page.click("text=Log out")
    page.wait_for_url("**/login")
