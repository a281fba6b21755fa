"""A rep wins a customer back in a real browser: the red carpet shows and counts down."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.browser.conftest import log_in, shoot
from tests.browser.test_closing_browser import ask_to_win_back
from winback.desk.models import Case, User


def test_rep_wins_back_a_customer_and_rolls_out_the_red_carpet(
    page: Any, db: Session, people: dict[str, User], request: pytest.FixtureRequest
) -> None:
    for case in db.scalars(select(Case).where(Case.tier == "rep")):
        case.owner_id = people["rep"].id
    db.commit()
    log_in(page, "rep")
    page.goto("/customers/c1")
    assert page.locator(".red-carpet").count() == 0

    ask_to_win_back(page, "c1")
    page.click("text=Yes, close as won back")
    page.wait_for_url("**/customers/c1")
    banner = page.locator("p.red-carpet.banner")
    assert banner.is_visible()
    assert "Red carpet: 10 of 10 experiences left" in banner.inner_text()
    assert "owner Rep" in banner.inner_text()

    page.fill("input[name=gesture]", "Called to thank her; delivery upgraded for free")
    page.click("text=Record experience")
    page.wait_for_url("**/customers/c1")
    assert "9 of 10 experiences left" in page.locator("p.red-carpet.banner").inner_text()
    assert "delivery upgraded" in page.locator("section.red-carpet-experiences").inner_text()
    shoot(page, request, "red-carpet-customer")

    page.click("header nav >> text=Red carpet")
    page.wait_for_url("**/red-carpet")
    row = page.locator("table.red-carpet-list tbody tr").first
    assert "Acme Ltd" in row.inner_text()
    assert "9 of 10" in row.inner_text()
    shoot(page, request, "red-carpet-list")
