"""The daily digest of unread notices: e-mailed through the outbox by the cycle's pass to a
real SMTP server on the loopback, one a user and day, never twice (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tests.desk.smtp_server import Inbox, smtp_inbox
from tests.desk.test_outbox_cli import smtp_env
from winback import clock, cycle
from winback.desk import digests, notices, users
from winback.desk.db import open_session
from winback.desk.models import OutboxMessage, User
from winback.errors import InvalidInput, PermissionDenied
from winback.settings import load_settings

__all__ = ["smtp_inbox"]


@pytest.fixture
def env(desk_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WINBACK_HOME", str(tmp_path / "ws"))
    monkeypatch.setenv("WINBACK_DESK_URL", desk_engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("WINBACK_CYCLE_SCHEDULE", "off")
    for key in ("WINBACK_SMTP_HOST", "WINBACK_SMTP_FROM", "WINBACK_PUBLIC_URL"):
        monkeypatch.delenv(key, raising=False)


def _tell(db: Session, user: User, text: str) -> None:
    notices.notify(db, user.id, "concession_decided", text, link="/customers/C1")
    db.commit()


def _by_recipient(inbox: Inbox) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for arrival in inbox.arrived:
        for to in arrival.recipients:
            found.setdefault(to, []).append(arrival.message.get_body(("plain",)).get_content())  # type: ignore[union-attr]
    return found


def test_the_pass_mails_one_digest_per_user_with_unread_notices_and_never_twice(
    env: None,
    db: Session,
    people: dict[str, User],
    smtp_inbox: tuple[Inbox, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inbox, port = smtp_inbox
    rep, rep2, manager, admin = people["rep"], people["rep2"], people["manager"], people["admin"]
    for user in (rep, rep2, manager):
        users.set_email(db, None, user.id, f"{user.username}@staff.example")
    _tell(db, rep, "Your request for 10 % off for C1 was approved by Manager.")
    _tell(db, rep, "Red-carpet customer C2 slipped: a late delivery.")
    _tell(db, manager, "Red-carpet customer C3 slipped: a refund refused.")
    _tell(db, admin, "Something for a user with no e-mail address.")  # no address: no digest
    read = notices.unread(db, manager)
    assert len(read) == 1
    notices.mark_read(db, manager, read[0].id)  # read on the desk before the pass

    # SMTP not set up: the pass queues no digest.
    quiet = cycle.run_pass(load_settings())
    assert quiet is not None
    assert "digests_queued" not in quiet.counts
    assert db.scalar(select(func.count()).select_from(OutboxMessage)) == 0

    smtp_env(monkeypatch, port)
    first = cycle.run_pass(load_settings())
    assert first is not None
    assert first.error is None, first.error
    assert first.counts["digests_queued"] == 1
    arrived = _by_recipient(inbox)
    assert list(arrived) == ["rep@staff.example"]  # rep2: no notice; manager: read it
    (body,) = arrived["rep@staff.example"]
    assert "10 % off for C1 was approved" in body
    assert "C2 slipped" in body
    assert "https://desk.example.com/customers/C1" in body
    assert inbox.arrived[0].message["Subject"] == "winback: 2 unread notices for you"

    # A second pass the same day, and a new notice meanwhile: nothing more today.
    _tell(db, rep, "Your request for a 20 credit for C4 was refused by Manager.")
    again = cycle.run_pass(load_settings())
    assert again is not None
    assert again.counts["digests_queued"] == 0
    assert len(inbox.arrived) == 1

    # Tomorrow: only the notice no digest has listed yet, though the others are unread.
    with open_session(db.get_bind()) as other:  # type: ignore[arg-type]
        tomorrow = digests.queue_digests(
            other, "https://desk.example.com", clock.today() + timedelta(days=1)
        )
    assert (tomorrow.queued, tomorrow.users) == (1, 1)
    text = db.scalar(
        select(OutboxMessage.text)
        .where(OutboxMessage.key.like(f"digest:{rep.id}:%"))
        .order_by(OutboxMessage.id.desc())
    )
    assert text is not None
    assert "C4 was refused" in text
    assert "C2 slipped" not in text
    # The day after that, nothing new: no digest at all.
    later = digests.queue_digests(db, "https://desk.example.com", clock.today() + timedelta(days=2))
    assert (later.queued, later.users) == (0, 0)


def test_two_passes_at_once_queue_one_digest(
    db: Session, desk_engine: Engine, people: dict[str, User]
) -> None:
    rep = people["rep"]
    users.set_email(db, None, rep.id, "rep@staff.example")
    _tell(db, rep, "Your request was approved.")
    day = date(2026, 11, 27)
    barrier = threading.Barrier(4)
    reports: list[digests.DigestReport] = []

    def one() -> None:
        with open_session(desk_engine) as session:
            barrier.wait()
            reports.append(digests.queue_digests(session, "https://desk.example.com", day))

    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r.queued for r in reports) == 1
    # The others found it queued (a duplicate key) or already listing every notice.
    assert all(r.queued + r.duplicates == r.users for r in reports)
    keys = db.scalars(select(OutboxMessage.key)).all()
    assert keys == [f"digest:{rep.id}:2026-11-27"]


def test_an_email_address_is_checked_and_set_by_its_owner_or_an_admin(
    db: Session, people: dict[str, User]
) -> None:
    rep, rep2, admin = people["rep"], people["rep2"], people["admin"]
    assert users.set_email(db, rep, rep.id, "  rep@staff.example ").email == "rep@staff.example"
    with pytest.raises(PermissionDenied):
        users.set_email(db, rep, rep2.id, "someone@staff.example")
    assert users.set_email(db, admin, rep2.id, "rep2@staff.example").email == "rep2@staff.example"
    with pytest.raises(InvalidInput) as refused:
        users.set_email(db, admin, rep2.id, "rep2 at staff")
    assert refused.value.field == "email"
    assert "rep2 at staff" in str(refused.value)
    assert users.set_email(db, admin, rep2.id, "").email is None
    made = users.create_user(
        db,
        admin,
        username="newrep",
        name="New Rep",
        role="rep",
        password="violet kettle drums at noon",
        email="new@staff.example",
    )
    assert made.email == "new@staff.example"
