"""Closing a case in a real browser (issue 13): no outcome is chosen for you, "won back"
without a contact on record is refused, and a close asks for confirmation first."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.browser.conftest import log_in, shoot
from winback.desk.models import Case, Task, User


def ask_to_win_back(page: Any, customer_id: str) -> None:
    """On the customer's page: log a call, and ask to close the case as won back with a
    first follow-up (the confirmation page shows next)."""
    page.fill("input[name=text]", "rang them; they will order again")
    page.click("form.work >> text=Log")
    page.wait_for_url(f"**/customers/{customer_id}")
    page.select_option("select[name=outcome]", "won_back")
    page.fill("input[name=follow_up_on]", "2099-01-01")
    page.click("form.work >> text=Close case")


def test_a_close_is_confirmed_and_won_back_needs_a_contact(
    page: Any, db: Session, people: dict[str, User], request: pytest.FixtureRequest
) -> None:
    case = db.scalars(select(Case).where(Case.customer_id == "c1")).one()
    case.owner_id = people["rep"].id
    db.commit()
    log_in(page, "rep")
    page.goto("/customers/c1")
    outcome = page.locator("select[name=outcome]")
    assert outcome.input_value() == ""  # nothing chosen for the rep
    assert outcome.get_attribute("required") is not None

    # Won back with nobody spoken to: refused, saying what to do.
    outcome.select_option("won_back")
    page.fill("input[name=follow_up_on]", "2099-01-01")
    page.click("form.work >> text=Close case")
    assert "nobody has recorded talking to the customer" in page.content()
    shoot(page, request, "close-refused-without-contact")
    db.refresh(case)
    assert case.state != "closed"

    # A contact logged, the close asks for confirmation, then closes.
    page.goto("/customers/c1")
    ask_to_win_back(page, "c1")
    confirm = page.locator("section.close-confirm")
    assert "closing the case as won back" in confirm.inner_text()
    assert "2099-01-01" in confirm.inner_text()
    shoot(page, request, "close-confirm")
    db.refresh(case)
    assert case.state != "closed"  # not before the confirmation
    page.click("text=Yes, close as won back")
    page.wait_for_url("**/customers/c1")
    db.refresh(case)
    assert (case.state, case.outcome) == ("closed", "won_back")
    follow = db.scalars(select(Task).where(Task.case_id == case.id)).one()
    assert (follow.kind, str(follow.due_on)) == ("follow_up", "2099-01-01")
