"""The desk's layout in Chromium (issue 13, item 9): the nav stays on one line at 1366 px,
no page scrolls sideways at 390 px (wide tables scroll inside their own box), the favicon
is served, and an unknown address keeps the desk's chrome."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.browser.conftest import log_in, shoot
from winback.desk import calls
from winback.desk.models import Case, User

#: The pages measured: every page of the nav an admin and a manager see, a customer page
#: and a call.
PAGES = (
    "/queue",
    "/tasks",
    "/cases",
    "/approvals",
    "/tasks/overdue",
    "/red-carpet",
    "/dashboard",
    "/campaigns",
    "/reasons",
    "/complaints",
    "/cycle",
    "/audit",
    "/users",
    "/account",
    "/customers/c1",
    "/customers?q=acme",
    "/no-such-page",
)

MEASURE = """() => {
  // What overflows the page (and is not inside a box that scrolls itself), for the message.
  const scrolled = e => { for (let p = e.parentElement; p; p = p.parentElement) {
    if (['auto', 'scroll'].includes(getComputedStyle(p).overflowX)) return true; } return false; };
  const nav = document.querySelector('header.top nav');
  const links = nav ? [...nav.querySelectorAll(':scope > a')] : [];
  const tops = new Set(links.map(a => Math.round(a.getBoundingClientRect().top)));
  const wide = [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1
                 && !scrolled(e) && getComputedStyle(e).position !== 'fixed')
    .slice(0, 3).map(e => e.tagName + '.' + e.className + ' ' + (e.name || ''));
  return {scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
          navLines: tops.size, navHeight: nav ? nav.getBoundingClientRect().height : 0,
          linkHeight: links.length ? links[0].getBoundingClientRect().height : 0,
          navFits: nav ? nav.scrollWidth <= nav.clientWidth : true,
          links: links.length, wide: wide};
}"""


def _pages_with_a_call(db: Session, people: dict[str, User]) -> list[str]:
    case = db.scalars(select(Case).where(Case.customer_id == "c1")).one()
    case.owner_id = people["manager"].id
    db.commit()
    call = calls.start_call(db, people["manager"], case.id)
    return [*PAGES, f"/calls/{call.id}"]


@pytest.mark.parametrize("username", ["admin", "manager"])
def test_the_nav_stays_on_one_line_at_1366_px(
    page: Any, db: Session, people: dict[str, User], username: str
) -> None:
    paths = _pages_with_a_call(db, people)
    page.set_viewport_size({"width": 1366, "height": 800})
    log_in(page, username)
    for path in paths:
        page.goto(path)
        got = page.evaluate(MEASURE)
        assert got["links"] >= 6, (path, got)
        assert got["navLines"] == 1, (path, got)
        assert got["navFits"], (path, got)  # every link in view, none scrolled off
        assert got["navHeight"] <= got["linkHeight"] * 1.6, (path, got)
        assert got["scrollWidth"] <= got["innerWidth"], (path, got["wide"], got)


def test_no_page_scrolls_sideways_at_390_px(
    page: Any, db: Session, people: dict[str, User], request: pytest.FixtureRequest
) -> None:
    paths = _pages_with_a_call(db, people)
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, "manager")
    for path in paths:
        page.goto(path)
        got = page.evaluate(MEASURE)
        assert got["scrollWidth"] <= got["innerWidth"], (path, got["wide"], got)
    page.goto("/customers/c1")
    shoot(page, request, "layout-customer-390")


def test_the_favicon_is_linked_and_served_and_an_unknown_address_keeps_the_chrome(
    page: Any, server: str
) -> None:
    log_in(page, "rep")
    answer = page.goto("/no-such-page")
    assert answer.status == 404
    assert page.locator("header.top nav a[href='/queue']").count() == 1
    assert page.locator("header form.find input[name=q]").count() == 1
    assert "There is no page at /no-such-page" in page.locator("main").inner_text()
    icon = page.locator("link[rel=icon]").get_attribute("href")
    served = page.request.get(server + icon)
    assert served.status == 200
    assert served.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in served.body()
