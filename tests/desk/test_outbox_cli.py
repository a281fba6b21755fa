"""winback outbox send / status, and the cycle's e-mail step, against a loopback SMTP
server: what a user runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.desk.smtp_server import Inbox, smtp_inbox
from tests.desk.test_outbox_queue import offer
from winback import cycle
from winback.cli import app
from winback.desk.outbox import enqueue, message_states
from winback.errors import SettingsError
from winback.settings import load_settings

__all__ = ["smtp_inbox"]


@pytest.fixture
def env(desk_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {
        "WINBACK_HOME": str(tmp_path / "ws"),
        "WINBACK_DESK_URL": desk_engine.url.render_as_string(hide_password=False),
        "WINBACK_CYCLE_SCHEDULE": "off",
        "COLUMNS": "200",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    for key in ("WINBACK_SMTP_HOST", "WINBACK_SMTP_FROM", "WINBACK_PUBLIC_URL"):
        monkeypatch.delenv(key, raising=False)
    return values


def smtp_env(monkeypatch: pytest.MonkeyPatch, port: int) -> None:
    monkeypatch.setenv("WINBACK_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("WINBACK_SMTP_PORT", str(port))
    monkeypatch.setenv("WINBACK_SMTP_SECURITY", "none")
    monkeypatch.setenv("WINBACK_SMTP_FROM", "Acme <hello@acme.example>")
    monkeypatch.setenv("WINBACK_SMTP_PASSWORD", "hunter2-secret")
    monkeypatch.setenv("WINBACK_PUBLIC_URL", "https://desk.example.com")


def test_outbox_send_without_smtp_says_which_setting(env: dict[str, str]) -> None:
    done = CliRunner().invoke(app, ["outbox", "send"])
    assert isinstance(done.exception, SettingsError)
    assert "WINBACK_SMTP_HOST" in str(done.exception)


def test_outbox_send_sends_and_status_counts(
    env: dict[str, str],
    db: Session,
    smtp_inbox: tuple[Inbox, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inbox, port = smtp_inbox
    smtp_env(monkeypatch, port)
    enqueue(db, [offer("C1"), offer("C2"), offer("C3", to_address="bounce@example.com")])
    runner = CliRunner()
    done = runner.invoke(app, ["outbox", "send", "--rate", "50"])
    assert done.exit_code == 0, done.output
    assert "sent 2 · bounced 1" in done.output
    assert "hunter2" not in done.output
    assert len(inbox.arrived) == 2
    status = runner.invoke(app, ["outbox", "status"])
    assert status.exit_code == 0, status.output
    assert "queued 0 · sending 0 · sent 2 · bounced 1" in status.output
    assert "hunter2" not in repr(load_settings())


def test_a_pass_of_the_cycle_sends_queued_mail_when_smtp_is_set_up(
    env: dict[str, str],
    db: Session,
    smtp_inbox: tuple[Inbox, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inbox, port = smtp_inbox
    enqueue(db, [offer("C1")])
    quiet = cycle.run_pass(load_settings())
    assert quiet is not None
    assert "emails_sent" not in quiet.counts
    assert message_states(db, 1)["queued"] == 1
    smtp_env(monkeypatch, port)
    report = cycle.run_pass(load_settings())
    assert report is not None
    assert report.error is None, report.error
    assert report.counts["emails_sent"] == 1
    assert [a.recipients for a in inbox.arrived] == [["c1@example.com"]]
