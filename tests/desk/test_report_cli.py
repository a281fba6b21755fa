"""winback report, as a user runs it: the desk of tests/desk/test_report.py, a real ledger."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.conftest import run_winback
from tests.desk.test_report import ORDERS, build_cases
from winback.cli import app
from winback.desk.models import User
from winback.errors import WinbackError
from winback.ledger.importer import import_file
from winback.ledger.store import Ledger


@pytest.fixture
def env(
    desk_engine: Engine,
    db: Session,
    people: dict[str, User],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, str]:
    """A workspace whose desk holds the hand-worked cases and whose ledger holds ORDERS."""
    home = tmp_path / "ws"
    values = {
        "WINBACK_HOME": str(home),
        "WINBACK_DESK_URL": desk_engine.url.render_as_string(hide_password=False),
        "COLUMNS": "200",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    build_cases(db, people)
    orders = tmp_path / "orders.csv"
    orders.write_text(ORDERS, encoding="utf-8")
    import_file(Ledger(home / "ledger"), "orders", orders, rejects_dir=tmp_path / "rejects")
    return values


def test_report_writes_the_file_into_the_current_folder(
    env: dict[str, str], tmp_path: Path
) -> None:
    here = tmp_path / "here"
    here.mkdir()
    done = run_winback("report", env=env, cwd=here)
    assert done.returncode == 0, done.stderr
    written = here / "reasons-report.html"
    assert f"wrote {written}" in done.stdout
    # 7 worked cases, 3,400 at stake, cA + cC won back of 4 attempts, 120 + 30 since.
    assert (
        "7 case(s) worked: revenue lost 3,400, won back 1,400 (2 of 4 attempts, 50%), "
        "150 since the win-back" in done.stdout
    )
    html = written.read_text(encoding="utf-8")
    assert html.count("<svg") == 5
    assert re.search(r"https?://", html) is None
    assert '<th scope="row">Price too high</th><td>2</td><td>1,100</td>' in html


def test_report_since_and_out(env: dict[str, str], tmp_path: Path) -> None:
    target = tmp_path / "april.html"
    done = CliRunner().invoke(app, ["report", "--out", str(target), "--since", "2024-04-01"])
    assert done.exit_code == 0, done.output
    assert "4 case(s) worked: revenue lost 1,600" in done.output
    assert "(cases since 2024-04-01)" in target.read_text(encoding="utf-8")


def test_report_refuses_a_bad_date(env: dict[str, str], tmp_path: Path) -> None:
    done = CliRunner().invoke(app, ["report", "--since", "April"])
    assert isinstance(done.exception, WinbackError)
    assert "--since 'April' is not a date (expected YYYY-MM-DD)" in str(done.exception)


def test_report_names_a_missing_folder(env: dict[str, str], tmp_path: Path) -> None:
    done = CliRunner().invoke(app, ["report", "--out", str(tmp_path / "nowhere" / "r.html")])
    assert isinstance(done.exception, WinbackError)
    assert f"the folder {tmp_path / 'nowhere'} does not exist" in str(done.exception)


def test_report_to_a_folder_names_the_file_to_give(env: dict[str, str], tmp_path: Path) -> None:
    done = CliRunner().invoke(app, ["report", "--out", str(tmp_path)])
    assert isinstance(done.exception, WinbackError)
    assert f"--out {tmp_path} is a folder: give the file to write" in str(done.exception)


def test_report_without_a_desk_says_how_to_make_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WINBACK_HOME", str(tmp_path / "empty"))
    monkeypatch.delenv("WINBACK_DESK_URL", raising=False)
    done = CliRunner().invoke(app, ["report", "--out", str(tmp_path / "r.html")])
    assert isinstance(done.exception, WinbackError)
    assert "no desk in" in str(done.exception)
    assert not (tmp_path / "empty" / "desk.sqlite3").exists()
    assert not (tmp_path / "r.html").exists()
