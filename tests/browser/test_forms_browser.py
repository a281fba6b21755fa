"""In a real browser: a refused form keeps what was typed, a deactivated user's open
page is logged out on its next request, and the nav counts what waits."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.browser.conftest import log_in, shoot
from winback.desk import concessions as cx
from winback.desk.models import Case, User


def test_a_refused_limit_keeps_what_was_typed(
    page: Any, people: dict[str, User], request: pytest.FixtureRequest
) -> None:
    log_in(page, "manager")
    page.goto("/limits")
    row = page.locator(f"#limits-{people['rep'].id}")
    row.locator("input[name=credit]").fill("1,5")
    row.locator("input[name=discount_pct]").fill(" 12 % ")
    row.locator("button[type=submit]").click()
    page.wait_for_load_state()
    row = page.locator(f"#limits-{people['rep'].id}")
    assert row.locator("input[name=credit]").input_value() == "1,5"
    assert row.locator("input[name=discount_pct]").input_value() == " 12 % "
    error = row.locator(".field-error").inner_text()
    assert "credit '1,5': is the comma a decimal point" in error
    assert "could not convert" not in page.content()
    shoot(page, request, "forms-limits-refused")
    # Above the manager's own limit (500): refused beside the field too.
    row.locator("input[name=credit]").fill("$1,500")
    row.locator("button[type=submit]").click()
    page.wait_for_load_state()
    row = page.locator(f"#limits-{people['rep'].id}")
    assert "you cannot give more than you hold yourself" in row.inner_text()
    assert row.locator("input[name=credit]").input_value() == "$1,500"
    # Corrected, it is taken.
    row.locator("input[name=credit]").fill("$450.50")
    row.locator("button[type=submit]").click()
    page.wait_for_load_state()
    shown = page.locator(f"tr:has(#limits-{people['rep'].id})").inner_text()
    assert "450.50 credit" in shown


def test_a_deactivated_users_open_page_is_logged_out(
    page: Any, browser: Any, server: str, people: dict[str, User]
) -> None:
    log_in(page, "rep")
    assert page.url.endswith("/queue")
    admin = browser.new_context(base_url=server).new_page()
    try:
        log_in(admin, "admin")
        admin.goto("/users")
        admin.locator(f"#user-{people['rep'].id} >> text=Deactivate").click()
        admin.wait_for_load_state()
    finally:
        admin.context.close()
    page.click("nav >> text=My tasks")
    page.wait_for_load_state()
    assert "/login" in page.url
    assert page.locator("input[name=password]").count() == 1


def test_the_nav_counts_pending_approvals(
    page: Any, db: Session, people: dict[str, User], request: pytest.FixtureRequest
) -> None:
    case = db.scalar(select(Case).where(Case.customer_id == "c1"))
    assert case is not None
    case.owner_id = people["rep"].id
    db.commit()
    cx.request_concession(db, people["rep"], case.id, kind="credit", amount=300)
    log_in(page, "manager")
    assert page.locator("#approval-count").inner_text() == "1"
    shoot(page, request, "forms-nav-count")
    page.click("nav >> text=Approvals")
    page.locator("form >> text=Approve").click()
    page.wait_for_load_state()
    assert "You approved Rep's request" in page.locator("#decided").inner_text()
    assert page.locator("#approval-count").count() == 0
