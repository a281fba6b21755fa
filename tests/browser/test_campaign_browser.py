"""A manager builds a campaign from the latest scan in a real browser, sees its audience
and the smallest lift it can detect, previews the e-mail and launches it: the outbox gets
one message per treated member and none for the holdout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from tests.browser.conftest import log_in, shoot
from tests.desk.conftest import make_run
from winback.desk.models import CampaignMember, OutboxMessage, User
from winback.settings import load_settings
from winback.web.app import create_app

CUSTOMERS = [f"k{i:02d}" for i in range(20)]


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
