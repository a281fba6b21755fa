"""Web fixtures: the real app over a real desk database (SQLite, then PostgreSQL)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.desk.conftest import (  # noqa: F401 (fixtures)
    PASSWORD,
    POLICY,
    _cheap_password_hashing,
    db,
    desk_engine,
    make_run,
    people,
    postgres_engine,
    sqlite_template,
)
from winback.desk import users
from winback.desk.models import User
from winback.desk.sync import sync_cases
from winback.ledger.importer import import_file
from winback.settings import load_settings
from winback.web.app import create_app

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def app(desk_engine: Engine, tmp_path: Path) -> FastAPI:  # noqa: F811
    settings = load_settings(home=tmp_path / "ws", secret_key="k" * 40)
    return create_app(settings, engine=desk_engine)


@pytest.fixture
def scanned(app: FastAPI, db: Session, people: dict[str, User]) -> None:  # noqa: F811
    """A scan run with three customers on the list, synced into cases."""
    rows = [
        {"customer_id": "c1", "name": "Acme Ltd", "rank": 1, "expected_value": 900.0},
        {"customer_id": "c2", "name": "Bolt & Co", "rank": 2, "status": "lost"},
        {"customer_id": "c3", "name": "Cogs plc", "rank": 3, "tier": "executive"},
    ]
    run = make_run(app.state.settings.runs_dir, rows)
    sync_cases(db, None, run, policy=POLICY)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as c:
        yield c


def import_csv(app: FastAPI, tmp_path: Path, table: str, text: str) -> None:
    """Import ``text`` as the CSV of contract table ``table`` into the app's ledger (each
    call in a folder of its own under ``tmp_path``)."""
    folder = tmp_path / f"import-{len(list(tmp_path.glob('import-*')))}"
    folder.mkdir()
    path = folder / f"{table}.csv"
    path.write_text(text, encoding="utf-8")
    import_file(app.state.ledger, table, path, rejects_dir=folder / "rejects")


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def log_in(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Log in through the form; returns the session's CSRF token."""
    page = client.get("/login")
    answer = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_of(page.text)},
    )
    assert answer.status_code == 303, answer.text
    return csrf_of(client.get("/account").text)


@pytest.fixture
def tokens(db: Session, people: dict[str, User]) -> dict[str, str]:  # noqa: F811
    """An API token for every role."""
    return {role: users.create_api_token(db, u, "tests")[1] for role, u in people.items()}
