"""A manager builds a campaign from the latest scan in a real browser, sees its audience
and the smallest lift it can detect, previews the e-mail and launches it: the outbox gets
one message per treated member and none for the holdout."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from tests.browser.conftest import log_in, shoot
from tests.desk.conftest import make_run, win_back
from tests.desk.smtp_server import Arrival, Inbox, smtp_inbox
from winback import clock
from winback.desk.campaign_audience import members_of
from winback.desk.models import Campaign, CampaignMember, Case, OutboxMessage, User
from winback.desk.outbox import SmtpSettings, send_queued
from winback.ledger.importer import import_file
from winback.settings import load_settings
from winback.web.app import create_app

CUSTOMERS = [f"k{i:02d}" for i in range(20)]
__all__ = ["smtp_inbox"]


@pytest.fixture
def app(desk_engine: Engine, tmp_path: Path) -> FastAPI:
    """The app with a public address, so the e-mails carry unsubscribe links."""
    settings = load_settings(
        home=tmp_path / "ws",
        secret_key="k" * 40,
        public_url="http://127.0.0.1:9",
        business_name="Shop",
    )
    return create_app(settings, engine=desk_engine)


@pytest.fixture
def ledger_files() -> dict[str, str]:
    lines = ["customer_id,name,email"]
    lines += [f"{c},Customer {c},{c}@example.com" for c in CUSTOMERS]
    return {"customers": "\n".join(lines) + "\n"}


def test_manager_builds_previews_and_launches_a_campaign(
    page: Any,
    app: FastAPI,
    db: Session,
    people: dict[str, User],
    request: pytest.FixtureRequest,
) -> None:
    rows = [
        {
            "customer_id": c,
            "name": f"Customer {c}",
            "tier": "campaign",
            "segment": "retail",
            "reasons": ["price rise of 8 %"],
        }
        for c in CUSTOMERS
    ]
    make_run(app.state.settings.runs_dir, rows)  # the latest scan run now
    log_in(page, "manager")
    page.click("header nav >> text=Campaigns")
    page.wait_for_url("**/campaigns")
    page.fill("input[name=name]", "Price rise apology")
    page.fill("input[name=holdout_pct]", "20")
    page.click("text=Build and preview")
    page.wait_for_url("**/campaigns/*")
    assert page.locator("#audience-size").inner_text() == "20"
    assert "points of win-back rate" in page.locator("#mde").inner_text()
    preview = page.locator("#email-preview").inner_text()
    assert "Customer k" in preview
    assert "10 % off your next order" in preview
    shoot(page, request, "campaign-preview")

    page.click("#launch")
    page.wait_for_selector("text=Launched")
    shoot(page, request, "campaign-launched")
    members = list(db.scalars(select(CampaignMember)))
    treated = {m.customer_id for m in members if not m.holdout}
    held = {m.customer_id for m in members if m.holdout}
    assert (len(treated), len(held)) == (16, 4)
    queued = list(db.scalars(select(OutboxMessage)))
    assert sorted(q.customer_id for q in queued) == sorted(treated)
    codes = {m.customer_id: m.code for m in members}
    assert all(codes[q.customer_id] in q.text for q in queued)
    assert all(q.headers["List-Unsubscribe"].startswith("<http://127.0.0.1:9/") for q in queued)


CODE = re.compile(r"WB-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}")
LINK = re.compile(r"http://127\.0\.0\.1:\d+/unsubscribe/\S+")


def _text_of(arrival: Arrival) -> str:
    body = arrival.message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())  # type: ignore[attr-defined]


def test_the_campaign_done_when_from_the_scan_to_the_lift_and_the_leaderboard(
    page: Any,
    server: str,
    app: FastAPI,
    db: Session,
    desk_engine: Engine,
    people: dict[str, User],
    smtp_inbox: tuple[Inbox, int],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    """Issue 14's done-when, in a real browser: build from the scan, preview, launch; the
    loopback SMTP server gets one message per treated member through the outbox's sender
    and none for the holdout; a customer unsubscribes through the link in what arrived and
    is left out of the next campaign; imported orders redeem codes; the campaign page shows
    the lift with its interval and the rep leaderboard."""
    inbox, port = smtp_inbox
    # The desk's public address is where it is served, so the links in the e-mails work.
    app.state.settings = app.state.settings.model_copy(update={"public_url": server})
    rows = [
        {"customer_id": c, "name": f"Customer {c}", "tier": "campaign", "segment": "retail",
         "reasons": ["price rise of 8 %"]}
        for c in CUSTOMERS
    ]  # fmt: skip
    make_run(app.state.settings.runs_dir, rows)
    # A rep wins a customer back while the campaign runs (the leaderboard's row).
    case = db.scalar(select(Case).where(Case.customer_id == "c1"))
    assert case is not None
    case.owner_id = people["rep"].id
    db.commit()
    win_back(db, people["rep"], case.id)

    log_in(page, "manager")
    page.click("header nav >> text=Campaigns")
    page.fill("input[name=name]", "Price rise apology")
    page.fill("input[name=holdout_pct]", "20")
    page.click("text=Build and preview")
    page.wait_for_url("**/campaigns/*")
    first_url = page.url
    assert page.locator("#audience-size").inner_text() == "20"
    assert "10 % off your next order" in page.locator("#email-preview").inner_text()
    page.click("#launch")
    page.wait_for_selector("text=Launched")

    # The outbox's sender hands the e-mails to the SMTP server on the loopback.
    smtp = SmtpSettings(host="127.0.0.1", port=port, security="none",
                        sender="Shop <hello@shop.example>", timeout=5.0)  # fmt: skip
    report = send_queued(desk_engine, smtp, rate_per_second=None)
    assert report.sent == 16
    members = list(db.scalars(select(CampaignMember)))
    treated = {f"{m.customer_id}@example.com" for m in members if not m.holdout}
    held = {f"{m.customer_id}@example.com" for m in members if m.holdout}
    arrived = [r for a in inbox.arrived for r in a.recipients]
    assert sorted(arrived) == sorted(treated)  # one each, none twice
    assert not held & set(arrived)  # nothing for the holdout
    codes = {a.recipients[0].split("@")[0]: CODE.findall(_text_of(a)) for a in inbox.arrived}
    assert all(len(found) == 1 for found in codes.values())

    # One customer follows the link in the e-mail they got and unsubscribes.
    leaving = inbox.arrived[0]
    gone = leaving.recipients[0].split("@")[0]
    [link] = LINK.findall(_text_of(leaving))
    assert link.startswith(server)
    page.goto(link)
    page.click("button:has-text('Unsubscribe')")
    page.wait_for_selector("text=You are unsubscribed")

    # Orders imported with the codes from the e-mails: three treated customers redeem.
    today = clock.today().isoformat()
    buyers = sorted(c for c in codes if c != gone)[:3]
    lines = ["order_id,customer_id,order_date,amount,discount_code"]
    lines += [f"r{i},{c},{today},90,{codes[c][0]}" for i, c in enumerate(buyers)]
    orders = tmp_path / "orders-campaign.csv"
    orders.write_text("\n".join(lines) + "\n", encoding="utf-8")
    imported = import_file(app.state.ledger, "orders", orders, rejects_dir=tmp_path / "rejects")
    assert imported.rejected == 0, imported.rejects

    page.goto(first_url)
    lift_row = page.locator("table.lift tr.total")
    cells = lift_row.locator("td")
    assert cells.nth(1).inner_text() == "16 / 4"
    rate = cells.nth(2).inner_text()
    assert re.search(r"18\.8 % vs 0\.0 %: \+18\.8 points \(.+ to .+, Newcombe", rate), rate
    assert cells.nth(4).inner_text() == "3"  # redeemed
    board = page.locator("#campaign-leaderboard tbody tr").first.inner_text()
    assert "Rep" in board
    assert "10.00" in board
    shoot(page, request, "campaign-lift-and-leaderboard")

    # The next campaign leaves out the one who unsubscribed, and the first one's holdout.
    page.click("header nav >> text=Campaigns")
    page.fill("input[name=name]", "Second go")
    page.click("text=Build and preview")
    page.wait_for_url("**/campaigns/*")
    assert page.url != first_url
    assert page.locator("#audience-size").inner_text() == "15"
    assert "1 do-not-contact, 4 held out of another campaign" in page.content()
    second = db.scalar(select(Campaign).where(Campaign.name == "Second go"))
    assert second is not None
    assert gone not in {m.customer_id for m in members_of(db, second.id)}
