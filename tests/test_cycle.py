"""The cycle end to end: the scheduler in a served app works a drop folder pass after pass,
records every pass where managers see it, and every entry point applies one policy file."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, select
from sqlalchemy.orm import Session

from tests.conftest import run_winback, serve
from tests.desk.conftest import (  # noqa: F401 (fixtures)
    _cheap_password_hashing,
    db,
    desk_engine,
    people,
    postgres_engine,
    sqlite_template,
)
from winback import cycle
from winback.desk import users
from winback.desk.models import Case, User
from winback.ledger.contract import TABLES
from winback.ledger.importer import import_file
from winback.ledger.store import Ledger
from winback.settings import Settings, load_settings
from winback.simulate.run import simulate
from winback.web.app import create_app

FIRST_TABLES = ("customers", "staff", "orders", "order_lines", "incidents")


@pytest.fixture(scope="module")
def business(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small simulated retail business, one CSV per contract table."""
    out = tmp_path_factory.mktemp("business")
    simulate("retail", 240, 24, 3, out, "csv")
    return out


def _url_of(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _drop(inbox: Path, source: Path, name: str) -> None:
    """Leave a file in the drop folder as a careful sender does: written, then renamed."""
    inbox.mkdir(parents=True, exist_ok=True)
    part = inbox / f"{name}.part"
    shutil.copy(source, part)
    part.rename(inbox / name)


def _served(settings: Settings, engine: Engine) -> Any:
    """The app with its scheduler, served by uvicorn (lifespan on) on a free port."""
    return serve(create_app(settings, engine=engine, schedule=True), lifespan="on")


def _wait_for(
    client: httpx.Client, done: Any, what: str, timeout: float = 240
) -> list[dict[str, Any]]:
    """Poll the passes API until ``done(passes)``, answering every poll with 200."""
    deadline = time.monotonic() + timeout
    while True:
        answer = client.get("/api/cycle/passes")
        assert answer.status_code == 200, answer.text
        found: list[dict[str, Any]] = answer.json()[::-1]  # oldest first
        if done(found):
            return found
        assert time.monotonic() < deadline, f"waited {timeout} s for {what}; passes: {found}"
        time.sleep(0.2)


def _finished(found: list[dict[str, Any]], n: int) -> bool:
    return len(found) >= n and all(p["outcome"] != "running" for p in found[:n])


def test_scheduled_passes_work_the_drop_folder_and_a_broken_file_fails_one_while_the_desk_answers(
    business: Path,
    desk_engine: Engine,  # noqa: F811
    db: Session,  # noqa: F811
    people: dict[str, User],  # noqa: F811
    tmp_path: Path,
) -> None:
    settings = load_settings(
        home=tmp_path / "ws",
        desk_url=_url_of(desk_engine),
        secret_key="k" * 40,
        cycle_schedule="every 2 seconds",
    )
    # The models are not what this test is about: a policy that skips their fits keeps
    # each pass to a few seconds.
    settings.home.mkdir(parents=True)
    (settings.home / "policy.toml").write_text("[models]\nmin_customers = 100000\n")
    inbox = settings.inbox_dir
    for table in FIRST_TABLES:
        _drop(inbox, business / f"{table}.csv", f"{table}.csv")
    _, token = users.create_api_token(db, people["manager"], "cycle test")
    broken = tmp_path / "broken.csv"
    broken.write_text("foo,bar\n1,2\n", encoding="utf-8")

    with (
        _served(settings, desk_engine) as url,
        httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as client,
    ):
        # Pass 1 imports what was waiting. While it scans, a new file arrives: pass 2 takes it.
        _wait_for(client, lambda f: len(f) >= 1 and f[0]["step"] == "scan", "pass 1 to scan")
        _drop(inbox, business / "interactions.csv", "interactions-2026-06.csv")
        found = _wait_for(client, lambda f: len(f) >= 2 and f[1]["step"] == "scan", "pass 2")
        # While pass 2 scans, a broken file arrives: pass 3 fails, and says which file.
        _drop(inbox, broken, "orders-broken.csv")
        found = _wait_for(client, lambda f: _finished(f, 3), "three finished passes")

        first, second, third = found[:3]
        assert first["outcome"] == "succeeded", first
        assert first["trigger"] == "schedule"
        assert first["slot"] < second["slot"] < third["slot"]
        assert first["counts"]["files_imported"] == len(FIRST_TABLES)
        assert first["counts"]["rows_rejected"] == 0
        assert first["counts"]["cases_opened"] > 0
        assert second["outcome"] == "succeeded", second
        assert second["counts"]["files_imported"] == 1
        lines = (business / "interactions.csv").read_text(encoding="utf-8").count("\n")
        assert second["counts"]["rows_stored"] == lines - 1  # every record but the header
        assert third["outcome"] == "failed"
        assert third["counts"]["files_failed"] == 1
        assert "orders-broken.csv" in third["error"]
        assert "no column for required orders field(s)" in third["error"]
        # The desk answered every poll above, and answers its pages now.
        assert client.get("/api/cases").status_code == 200

        page = httpx.get(f"{url}/login", timeout=30)
        csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        browser = httpx.Client(base_url=url, timeout=30, cookies=page.cookies)
        answer = browser.post(
            "/login",
            data={"username": "manager", "password": "correct horse battery", "csrf_token": csrf},
        )
        assert answer.status_code == 303, answer.text
        runs_page = browser.get("/cycle")
        assert runs_page.status_code == 200
        for record in (first, second, third):
            assert f'id="pass-{record["id"]}"' in runs_page.text
        assert "orders-broken.csv" in runs_page.text
        assert runs_page.text.count("succeeded") >= 2
        browser.close()

    assert sorted(p.name.split("-", 1)[1] for p in (inbox / "done").iterdir()) == sorted(
        [f"{t}.csv" for t in FIRST_TABLES] + ["interactions-2026-06.csv"]
    )
    assert [
        p.name.split("-", 1)[1] for p in (inbox / "failed").iterdir() if p.suffix == ".csv"
    ] == ["orders-broken.csv"]


POLICY = """
[assignment]
case_tiers = ["executive"]
recent_days = 30

[tiers]
executive_top = 8
executive_min_value = 0.0

[models]
min_customers = 100000
"""


def _opened(url: str) -> set[tuple[str, str]]:
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            return {(c.customer_id, c.tier or "") for c in session.scalars(select(Case))}
    finally:
        engine.dispose()


def test_scan_sync_the_api_and_a_scheduled_pass_open_the_same_cases_under_one_policy(
    business: Path, tmp_path: Path
) -> None:
    home = tmp_path / "ws"
    home.mkdir()
    (home / "policy.toml").write_text(POLICY, encoding="utf-8")
    env: dict[str, str | None] = {"WINBACK_HOME": str(home), "WINBACK_DESK_URL": None}
    ledger = Ledger(home / "ledger")
    for table in TABLES:
        if (business / f"{table}.csv").exists():
            import_file(ledger, table, business / f"{table}.csv", rejects_dir=home / "rejects")
    desks = {
        name: f"sqlite:///{tmp_path / name}.sqlite3" for name in ("scan", "sync", "api", "pass")
    }

    scanned = run_winback("scan", env={**env, "WINBACK_DESK_URL": desks["scan"]}, timeout=300)
    assert scanned.returncode == 0, scanned.stderr
    synced = run_winback("sync", env={**env, "WINBACK_DESK_URL": desks["sync"]}, timeout=300)
    assert synced.returncode == 0, synced.stderr

    settings = load_settings(home=home, desk_url=desks["api"], secret_key="k" * 40)
    with cycle.desk_session(settings) as session:
        admin = users.create_user(
            session,
            None,
            username="boss",
            name="Boss",
            role="manager",
            password="correct horse battery",
        )
        _, token = users.create_api_token(session, admin, "t")
    with TestClient(create_app(settings)) as client:
        answer = client.post("/api/sync", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200, answer.text

    report = cycle.run_pass(
        load_settings(home=home, desk_url=desks["pass"]),
        trigger="schedule",
        slot="2026-11-26T02:00:00Z",
    )
    assert report is not None
    assert report.outcome == "succeeded", report.error

    opened = {name: _opened(url) for name, url in desks.items()}
    expected = opened["scan"]
    assert expected, "the policy opened no case at all"
    assert {tier for _, tier in expected} == {"executive"}
    assert opened == dict.fromkeys(desks, expected)


def test_the_served_app_runs_the_scheduler_while_it_runs_and_stops_it_after(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from winback.web.app import served_app

    monkeypatch.setenv("WINBACK_CYCLE_SCHEDULE", "every 6 hours")
    app = served_app()
    with TestClient(app):
        scheduler = app.state.scheduler
        assert scheduler is not None
        deadline = time.monotonic() + 10
        while scheduler.next_at is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert scheduler.next_at is not None
        assert scheduler.next_at.hour % 6 == 0
        assert scheduler.next_at.minute == 0
    assert not scheduler._thread.is_alive()

    monkeypatch.setenv("WINBACK_CYCLE_SCHEDULE", "off")
    quiet = served_app()
    with TestClient(quiet):
        assert quiet.state.scheduler is None
