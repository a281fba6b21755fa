"""The Content-Security-Policy in a real browser: the pages (htmx, the charts, the API
docs) break none of it, and another site cannot frame a page."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.browser.conftest import log_in
from winback.desk.models import Case, User


def _violations(page: Any) -> list[str]:
    said: list[str] = []
    page.on(
        "console",
        lambda m: said.append(m.text) if "Content Security Policy" in m.text else None,
    )
    return said


def test_the_pages_break_none_of_the_content_security_policy(
    page: Any, db: Session, people: dict[str, User]
) -> None:
    violations = _violations(page)
    log_in(page, "manager")
    for path in ("/cases", "/customers/c2", "/dashboard", "/red-carpet", "/cycle", "/users"):
        page.goto(path)
        page.wait_for_load_state("networkidle")
    page.goto("/docs")
    page.wait_for_selector(".swagger-ui .info", timeout=20_000)
    # htmx still works: the owner select posts and swaps its row.
    page.goto("/cases")
    case = db.scalars(select(Case).where(Case.customer_id == "c2")).one()
    with page.expect_response(f"**/cases/{case.id}/assign"):
        page.select_option(f"#case-{case.id} select[name=owner_id]", str(people["rep2"].id))
    page.wait_for_selector(f"#case-{case.id}")
    assert violations == []


def test_another_site_cannot_frame_a_page(page: Any, server: str) -> None:
    refused: list[str] = []
    page.on(
        "console",
        lambda m: (
            refused.append(m.text)
            if "frame-ancestors" in m.text or "X-Frame-Options" in m.text
            else None
        ),
    )
    page.set_content(f'<iframe id="victim" src="{server}/login"></iframe>')
    page.wait_for_timeout(1500)
    frame = page.frame_locator("#victim")
    assert frame.locator("text=Log in to the desk").count() == 0
    assert refused, "the browser did not report refusing the frame"
