"""Issue 13 item 9's lists in a real browser: the compact queue (one line a customer, the
top reason, all on demand), sorting by a heading, and a manager's bulk reassign."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.browser.conftest import log_in, shoot
from winback.desk.models import Case, User


def test_the_compact_queue_sorts_expands_and_a_manager_reassigns_in_bulk(
    page: Any, db: Session, people: dict[str, User], request: pytest.FixtureRequest
) -> None:
    found = {c.customer_id: c for c in db.scalars(select(Case))}
    for cid, worth in (("c1", 900.0), ("c2", 300.0), ("c4", 1500.0)):
        found[cid].owner_id = people["manager"].id
        found[cid].expected_value = worth
    found["c2"].reasons = ["three late deliveries since March", "price rise", "slow support"]
    db.commit()

    log_in(page, "manager")
    page.goto("/queue")
    rows = page.locator("table.cases tbody tr")
    assert rows.count() == 3
    bolt = page.locator(f"#queue-{found['c2'].id}")
    assert "three late deliveries since March" in bolt.inner_text()
    assert not bolt.locator("details.more-reasons li").first.is_visible()
    assert "$300" in bolt.inner_text()
    shoot(page, request, "lists-queue")

    page.click("text=Expand all reasons")
    page.wait_for_url("**/queue?**reasons=all**")
    assert page.locator(f"#queue-{found['c2'].id} details.more-reasons li").first.is_visible()

    page.click("table.cases thead >> text=Worth")
    page.wait_for_url("**sort=worth**")
    names = page.locator("table.cases tbody tr td:nth-child(3)").all_inner_texts()
    assert [n.strip() for n in names] == ["Dune Inc", "Acme Ltd", "Bolt & Co"]
    assert "3 open cases" in page.locator("p.totals").inner_text()
    assert "$2,700" in page.locator("p.totals").inner_text()

    page.check(f"#queue-{found['c1'].id} input[name=case_ids]")
    page.check(f"#queue-{found['c4'].id} input[name=case_ids]")
    page.select_option("form.bulk select[name=owner_id]", str(people["rep2"].id))
    page.click("form.bulk >> text=Reassign ticked")
    page.wait_for_url("**moved=2**")
    assert "2 cases reassigned." in page.locator("#bulk-done").inner_text()
    assert page.locator("table.cases tbody tr").count() == 1
    shoot(page, request, "lists-bulk-reassigned")
    db.expire_all()
    owners = {c.customer_id: c.owner_id for c in db.scalars(select(Case))}
    assert (owners["c1"], owners["c4"], owners["c2"]) == (
        people["rep2"].id,
        people["rep2"].id,
        people["manager"].id,
    )
