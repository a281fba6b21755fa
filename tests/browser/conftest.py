"""Browser tests: Playwright drives Debian's Chromium against the real app, served by
uvicorn on a free loopback port. Screenshots go to artifacts/screenshots/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session

from tests.conftest import serve, service_missing
from tests.desk.conftest import (  # noqa: F401 (fixtures)
    POLICY,
    _cheap_password_hashing,
    db,
    desk_engine,
    make_run,
    people,
    postgres_engine,
    sqlite_template,
)
from tests.web.conftest import app  # noqa: F401 (fixture)
from winback.desk.models import User
from winback.desk.sync import sync_cases
from winback.ledger.importer import import_file

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        service_missing("Chromium at /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def ledger_files() -> dict[str, str]:
    """CSV text per contract table, imported into the ledger before the sync (a test module
    overrides this fixture to give its customers a history)."""
    return {}


@pytest.fixture
def server(
    app: FastAPI,  # noqa: F811
    db: Session,  # noqa: F811
    people: dict[str, User],  # noqa: F811
    ledger_files: dict[str, str],
    tmp_path: Path,
) -> Iterator[str]:
    """The app, with a synced scan run, served for real on 127.0.0.1."""
    for table, text in ledger_files.items():
        path = tmp_path / f"{table}.csv"
        path.write_text(text, encoding="utf-8")
        result = import_file(app.state.ledger, table, path, rejects_dir=tmp_path / "rejects")
        assert result.rejected == 0, result.rejects
    rows = [
        {"customer_id": "c1", "name": "Acme Ltd", "rank": 1, "expected_value": 900.0},
        {
            "customer_id": "c2",
            "name": "Bolt & Co",
            "rank": 2,
            "status": "lost",
            "reasons": ["three late deliveries since March"],
        },
        {"customer_id": "c3", "name": "Cogs plc", "rank": 3, "tier": "executive"},
        {"customer_id": "c4", "name": "Dune Inc", "rank": 4, "rude": True},
    ]
    sync_cases(
        db,
        None,
        make_run(app.state.settings.runs_dir, rows),
        ledger=app.state.ledger,
        policy=POLICY,
    )
    with serve(app) as url:
        yield url


@pytest.fixture
def page(browser: Any, server: str, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(base_url=server, viewport={"width": 1280, "height": 800})
    # Nothing may come from another host: every request is checked.
    foreign: list[str] = []
    context.on(
        "request",
        lambda r: (
            None if r.url.startswith(server) or r.url.startswith("data:") else foreign.append(r.url)
        ),
    )
    opened = context.new_page()
    yield opened
    context.close()
    assert foreign == [], f"requests to other hosts: {foreign}"


def shoot(page: Any, request: pytest.FixtureRequest, name: str) -> None:
    """Keep a full-page screenshot as a test artifact."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    backend = request.node.callspec.params.get("desk_engine", "db")
    page.screenshot(path=str(SHOTS / f"{backend}-{name}.png"), full_page=True)


def log_in(page: Any, username: str, password: str = "correct horse battery") -> None:
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()
