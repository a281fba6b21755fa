"""Issue 13 in a real browser: a customer a rep just heard "no" from stays off the queue
after a re-scan, and a rep marks a customer do-not-contact on the customer page."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.browser.conftest import log_in, shoot
from tests.desk.conftest import POLICY, make_run
from winback.desk.models import Case, User
from winback.desk.sync import sync_cases


def test_a_rescan_keeps_a_declined_customer_off_the_queue_and_do_not_contact_is_set(
    page: Any,
    app: FastAPI,
    db: Session,
    people: dict[str, User],
    request: pytest.FixtureRequest,
) -> None:
    for case in db.scalars(select(Case).where(Case.tier == "rep")):
        case.owner_id = people["rep"].id
    people["rep2"].active = False  # so any new rep case would land on this rep's queue
    db.commit()
    log_in(page, "rep")
    page.goto("/queue")
    assert "Acme Ltd" in page.locator("table.cases").inner_text()

    # The rep hears "no" from Acme and closes the case declined.
    page.goto("/customers/c1")
    page.select_option("select[name=outcome]", "declined")
    page.click("form.work >> text=Close case")
    page.click("text=Yes, close as declined")  # the confirmation step
    page.wait_for_url("**/customers/c1")
    assert "last: declined" in page.locator(".last-outcome-line").inner_text()

    # The next scan still ranks Acme first; the sync keeps them off the queue.
    rows = [
        {"customer_id": "c1", "name": "Acme Ltd", "rank": 1, "expected_value": 900.0},
        {"customer_id": "c2", "name": "Bolt & Co", "rank": 2, "status": "lost"},
    ]
    result = sync_cases(db, None, make_run(app.state.settings.runs_dir, rows), policy=POLICY)
    assert result.held_back["declined"] == 1
    page.goto("/queue")
    queue = page.locator("table.cases").inner_text()
    assert "Acme Ltd" not in queue
    assert "Bolt & Co" in queue
    shoot(page, request, "contact-queue-after-rescan")

    # Bolt asks not to be called again: the rep marks them do-not-contact.
    page.goto("/customers/c2")
    assert page.locator("text=Start a guided call").count() == 1
    page.fill("#do-not-contact input[name=note]", "asked us to stop calling")
    page.click("#do-not-contact >> text=Mark do not contact")
    page.wait_for_url("**/customers/c2")
    flag = page.locator("#do-not-contact")
    assert "Do not contact" in flag.inner_text()
    assert "asked us to stop calling" in flag.inner_text()
    assert page.locator("text=Start a guided call").count() == 0
    assert page.locator("text=Allow contact again").count() == 0  # managers lift it
    shoot(page, request, "contact-do-not-contact")
