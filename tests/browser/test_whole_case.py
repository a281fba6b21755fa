"""A whole case, played in a real browser on SQLite and on PostgreSQL: a rep calls,
diagnoses, the customer verifies, the rep asks for a concession above their limit, a
manager counters, the customer is won back, three later orders count the red carpet down,
and the dashboard shows the reason with its revenue."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.browser.conftest import log_in, shoot
from tests.conftest import run_winback
from winback.desk.models import Case, Concession, User


@pytest.fixture
def ledger_files() -> dict[str, str]:
    """Bolt & Co's history: 1,200 + 1,800 + 1,000 in the year up to their last order
    (4,000 before they left; the 2021 order is older than that), and the incident that
    drove them away."""
    return {
        "orders": "order_id,customer_id,order_date,amount\n"
        "b0,c2,2021-05-01,700\n"
        "b1,c2,2023-03-01,1200\n"
        "b2,c2,2023-08-15,1800\n"
        "b3,c2,2024-01-10,1000\n",
        "incidents": "incident_id,customer_id,occurred_on,type,severity,description\n"
        "n1,c2,2024-01-20,late_delivery,4,three pallets arrived a week late\n",
    }


def _submit(page: Any) -> None:
    """Answer the call's current step (its form, not the concession panel beside it)."""
    page.click("form.step-form button[type=submit]")
    page.wait_for_load_state()


def test_a_whole_case(
    browser: Any,
    page: Any,
    server: str,
    app: FastAPI,
    db: Session,
    people: dict[str, User],
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    case = db.scalars(select(Case).where(Case.customer_id == "c2")).one()
    case.owner_id = people["rep"].id
    db.commit()
    assert case.value_before == pytest.approx(4000.0)

    # --- the rep calls ----------------------------------------------------------------
    log_in(page, "rep")
    page.goto("/customers/c2")
    page.click("text=Start a guided call")
    page.wait_for_url("**/calls/*")
    apology = page.locator("textarea[name=apology]")
    assert "three pallets arrived a week late on 20 January 2024" in apology.input_value()
    _submit(page)
    page.fill("textarea[name=listening]", "Moved to a rival after the late pallets.")
    _submit(page)
    page.check("input[name=reasons][value=delivery]")
    _submit(page)
    # The customer verifies the diagnosis, in their own words.
    page.check("input[name=verification][value=yes]")
    page.fill("textarea[name=customer_words]", "We cannot run a warehouse on maybe-Tuesdays.")
    _submit(page)
    page.fill("textarea[name=asks]", "A fixed delivery day and something for the trouble.")
    _submit(page)
    page.fill("form.commitment input[name=text]", "Book fixed Tuesday slots")
    page.click("text=Add commitment")
    page.wait_for_load_state()
    assert "Book fixed Tuesday slots" in page.locator("table.commitments").inner_text()
    page.click("text=The plan is agreed: go on")
    page.wait_for_load_state()

    # --- a concession above the rep's limit (10%) goes to a manager -------------------
    page.select_option("form.concession-form select[name=kind]", "discount_pct")
    page.fill("form.concession-form input[name=amount]", "20")
    page.fill("form.concession-form input[name=note]", "for the late pallets")
    page.click("text=Ask for / grant a concession")
    page.wait_for_url("**/calls/*step=offer")
    assert "waiting for a manager" in page.locator("div.concessions").inner_text()
    shoot(page, request, "case-offer-pending")

    manager = browser.new_context(base_url=server).new_page()
    log_in(manager, "manager")
    manager.goto("/approvals")
    pending = db.scalars(select(Concession)).one()
    row = manager.locator(f"#concession-{pending.id}")
    assert "Bolt & Co" in row.inner_text()
    row.locator("input[name=amount]").fill("15")
    row.locator("text=Counter").click()
    manager.wait_for_load_state()
    assert "Nothing waits for you" in manager.content()

    # The rep sees the answer on the case: asked 20%, granted 15%.
    page.reload()
    answer = page.locator("tr.concession").inner_text()
    assert re.search(r"20%\s+15%\s+countered", answer), answer
    page.select_option("select[name=offer_kind]", "price_break")
    page.select_option("select[name=offer_concession_id]", str(pending.id))
    page.fill("textarea[name=offer_text]", "15% off the next three orders, fixed Tuesdays")
    _submit(page)

    # --- won back ---------------------------------------------------------------------
    page.check("input[name=outcome][value=won_back]")
    _submit(page)
    page.fill("input[name=follow_up_on]", "2099-01-01")
    _submit(page)
    page.wait_for_url("**/customers/c2")
    banner = page.locator(".red-carpet").first
    assert "10 of 10" in banner.inner_text()
    # The closed case still shows what was asked and what was given.
    given = page.locator("div.past-concessions").inner_text()
    assert re.search(r"20%\s+15%\s+countered", given), given

    # --- three later orders arrive by import and count the red carpet down ------------
    orders = tmp_path / "later-orders.csv"
    today = case.closed_at.date() if case.closed_at else None
    db.refresh(case)
    today = case.closed_at.date() if case.closed_at else None
    assert today is not None
    orders.write_text(
        "order_id,customer_id,order_date,amount\n"
        + "".join(
            f"r{i},c2,{today.isoformat()},{amount}\n" for i, amount in enumerate((300, 450, 250))
        )
        + "",
        encoding="utf-8",
    )
    # The way a business brings them in: `winback import`, against the same workspace and
    # desk database as the app.
    url = db.get_bind().url.render_as_string(hide_password=False)
    env = {"WINBACK_HOME": str(app.state.settings.home), "WINBACK_DESK_URL": url}
    done = run_winback("import", "orders", str(orders), env=env)
    assert done.returncode == 0, done.stderr
    assert "red carpet: 3 experience(s) counted" in done.stdout
    page.reload()
    assert "7 of 10" in page.locator(".red-carpet").first.inner_text()
    shoot(page, request, "case-red-carpet")

    # --- the dashboard shows the reason with its revenue --------------------------------
    manager.goto("/dashboard")
    board = manager.locator("main").inner_text()
    assert "Delivery" in board
    assert "4,000" in board  # revenue lost and won back: the customer's year before leaving
    assert "1,000" in board  # revenue since the win-back: the three later orders
    assert "We cannot run a warehouse on maybe-Tuesdays." in board
    shoot(manager, request, "case-dashboard")
    manager.context.close()
