"""A customer calls in: the rep finds them from the header's search box despite a typo,
opens their page and opens a case for them, in a real browser."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI

from tests.browser.conftest import log_in, shoot
from winback.desk import search
from winback.scan.runs import latest_run


@pytest.fixture
def ledger_files() -> dict[str, str]:
    """John Smith is in the ledger, not on the scan's list: no case until he calls."""
    return {
        "customers": "customer_id,name,email,phone\n"
        "c1,Acme Ltd,buyer@acme.example,\n"
        "c7,John Smith,john.smith@example.com,+1 (555) 010-2000\n"
        "c8,Johan Smit,jsmit@example.com,020 7946 1111\n",
    }


def test_a_rep_finds_a_caller_with_a_typo_and_opens_a_case(
    page: Any, app: FastAPI, server: str, request: pytest.FixtureRequest
) -> None:
    settings = app.state.settings
    search.build(search.root_of(settings.home), app.state.ledger, latest_run(settings.runs_dir))
    log_in(page, "rep")
    box = page.locator("header form.find input[name=q]")
    box.fill("Jonh Smiht")
    box.press("Enter")
    page.wait_for_url("**/customers?q=*")
    first = page.locator("table.customer-results tbody tr").first
    assert "John Smith" in first.inner_text()
    assert "+1 (555) 010-2000" in first.inner_text()
    assert "none" in first.inner_text()  # no open case yet
    shoot(page, request, "search-results")

    first.locator("a", has_text="John Smith").click()
    page.wait_for_url("**/customers/c7")
    page.select_option("section.open-case select[name=reason]", "delivery")
    page.fill("section.open-case input[name=note]", "Parcel lost twice; wants to stay")
    page.click("section.open-case button[type=submit]")
    page.wait_for_url("**/customers/c7")
    case = page.locator("section.case h2")
    assert "open" in case.inner_text()
    assert "Owner: Rep" in page.locator("section.case").inner_text()
    assert page.locator("section.open-case").count() == 0
    assert "Parcel lost twice" in page.locator("section.timeline").inner_text()
    shoot(page, request, "search-case-opened")

    # The results now show the case.
    page.locator("header form.find input[name=q]").fill("555-010-2000")
    page.locator("header form.find input[name=q]").press("Enter")
    page.wait_for_url("**/customers?q=*")
    assert "case " in page.locator("table.customer-results tbody tr").first.inner_text()
