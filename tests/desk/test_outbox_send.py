"""Sending the outbox to a real SMTP server on the loopback: what arrives, 5xx bounced, 4xx
retried then failed, the rate held, parallel senders and a dead sender's claim never
e-mailing anyone twice, do-not-contact honoured up to the moment of sending."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from tests.desk.smtp_server import Inbox, free_port, smtp_inbox
from tests.desk.test_outbox_queue import offer
from winback.desk import do_not_contact, outbox
from winback.desk.models import OutboxMessage, utcnow
from winback.desk.outbox import SendReport, SmtpSettings, enqueue, send_queued
from winback.errors import MailError

__all__ = ["smtp_inbox"]


def server(port: int, **changes: object) -> SmtpSettings:
    options: dict[str, object] = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "sender": "Acme <hello@acme.example>",
        "timeout": 5.0,
        "retry_seconds": 0.0,
    }
    options.update(changes)
    return SmtpSettings(**options)  # type: ignore[arg-type]


def states(db: Session) -> dict[str, str]:
    db.expire_all()
    return {r.customer_id: r.state for r in db.scalars(select(OutboxMessage))}


def test_queued_mail_arrives_once_with_its_headers_and_is_marked_sent(
    desk_engine: Engine, db: Session, smtp_inbox: tuple[Inbox, int]
) -> None:
    inbox, port = smtp_inbox
    link = "https://desk.example/unsubscribe/abc"
    enqueue(
        db,
        [
            offer(
                "C1",
                html="<p>Hello C1</p>",
                headers={"X-Campaign": "1", "List-Unsubscribe": f"<{link}>"},
            ),
            offer("C2"),
        ],
    )
    seen: list[tuple[int, int]] = []
    report = send_queued(
        desk_engine, server(port), rate_per_second=None, progress=lambda d, t: seen.append((d, t))
    )
    assert (report.sent, report.handled) == (2, 2)
    assert seen == [(1, 2), (2, 2)]
    assert states(db) == {"C1": "sent", "C2": "sent"}
    first = inbox.arrived[0]
    assert first.sender == "hello@acme.example"
    assert first.recipients == ["c1@example.com"]
    assert first.message["Subject"] == "We miss you"
    assert first.message["List-Unsubscribe"] == f"<{link}>"
    # An https link gets the one-click header (RFC 8058) when the message has none.
    assert first.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert inbox.arrived[1].message["List-Unsubscribe-Post"] is None
    assert first.message["X-Campaign"] == "1"
    row = db.scalars(select(OutboxMessage).where(OutboxMessage.customer_id == "C1")).one()
    assert first.message["Message-ID"] == f"<{row.message_id}@acme.example>"
    body = first.message.get_body(("plain",))
    html = first.message.get_body(("html",))
    assert body is not None
    assert "Hello C1" in body.get_content()
    assert html is not None
    assert "<p>Hello C1</p>" in html.get_content()
    again = send_queued(desk_engine, server(port), rate_per_second=None)
    assert again.handled == 0
    assert len(inbox.arrived) == 2


def test_5xx_bounces_and_4xx_is_retried_then_failed(
    desk_engine: Engine, db: Session, smtp_inbox: tuple[Inbox, int]
) -> None:
    inbox, port = smtp_inbox
    enqueue(
        db,
        [
            offer("C1", to_address="bounce@example.com"),
            offer("C2", to_address="defer@example.com"),
            offer("C3"),
        ],
    )
    report = send_queued(desk_engine, server(port, max_attempts=3), rate_per_second=None)
    assert (report.sent, report.bounced, report.deferred, report.failed) == (1, 1, 2, 1)
    assert states(db) == {"C1": "bounced", "C2": "failed", "C3": "sent"}
    rows = {r.customer_id: r for r in db.scalars(select(OutboxMessage))}
    assert rows["C1"].error.startswith("550")
    assert rows["C2"].attempts == 3
    assert "451" in rows["C2"].error
    assert [a.recipients for a in inbox.arrived] == [["c3@example.com"]]


def test_a_deferred_message_waits_for_its_retry_time(
    desk_engine: Engine, db: Session, smtp_inbox: tuple[Inbox, int]
) -> None:
    _inbox, port = smtp_inbox
    enqueue(db, [offer("C1", to_address="defer@example.com")])
    report = send_queued(desk_engine, server(port, retry_seconds=3600), rate_per_second=None)
    assert (report.deferred, report.failed) == (1, 0)
    row = db.scalars(select(OutboxMessage)).one()
    assert (row.state, row.attempts) == ("queued", 1)
    assert row.not_before is not None
    assert row.not_before > utcnow()


def test_the_rate_limit_spaces_the_messages(
    desk_engine: Engine, db: Session, smtp_inbox: tuple[Inbox, int]
) -> None:
    inbox, port = smtp_inbox
    enqueue(db, [offer(f"C{i}") for i in range(8)])
    started = time.monotonic()
    report = send_queued(desk_engine, server(port), rate_per_second=10.0)
    elapsed = time.monotonic() - started
    assert report.sent == 8
    # 8 messages at 10 a second: 7 gaps of 0.1 s at least.
    assert elapsed >= 0.69
    # Arrival times carry the server's own delays, so the span is checked, not each gap.
    times = [a.at for a in inbox.arrived]
    assert times[-1] - times[0] >= 0.5


def test_a_customer_blocked_after_queuing_is_not_sent(
    desk_engine: Engine, db: Session, smtp_inbox: tuple[Inbox, int]
) -> None:
    inbox, port = smtp_inbox
    enqueue(db, [offer("C1"), offer("C2")])
    do_not_contact.block(db, None, "C1", source="unsubscribe")
    report = send_queued(desk_engine, server(port), rate_per_second=None)
    assert (report.sent, report.blocked) == (1, 1)
    assert states(db) == {"C1": "blocked", "C2": "sent"}
    assert [a.recipients for a in inbox.arrived] == [["c2@example.com"]]


def test_a_dead_senders_claim_leaves_one_unknown_and_the_rest_are_sent_once(
    desk_engine: Engine, db: Session, smtp_inbox: tuple[Inbox, int]
) -> None:
    inbox, port = smtp_inbox
    enqueue(db, [offer(f"C{i}") for i in range(6)])
    here = socket.gethostname()[:60]
    # A sender on this machine whose process is gone (no pid this high) claimed C0-C2 and
    # sent C0; one on another machine claimed C3-C4 a moment ago and is alive.
    ids = db.scalars(select(OutboxMessage.id).order_by(OutboxMessage.id)).all()
    now = utcnow()
    db.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(ids[:3]))
        .values(state="sending", claim_id=f"{here}:4999999:dead", claimed_at=now)
    )
    db.execute(update(OutboxMessage).where(OutboxMessage.id == ids[0]).values(state="sent"))
    db.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(ids[3:5]))
        .values(state="sending", claim_id="elsewhere:12:live", claimed_at=now)
    )
    db.commit()
    report = send_queued(desk_engine, server(port), rate_per_second=None)
    assert (report.unknown, report.requeued, report.sent) == (1, 1, 2)
    assert states(db) == {
        "C0": "sent",
        "C1": "unknown",
        "C2": "sent",
        "C3": "sending",
        "C4": "sending",
        "C5": "sent",
    }
    assert sorted(r for a in inbox.arrived for r in a.recipients) == [
        "c2@example.com",
        "c5@example.com",
    ]
    # The other machine's sender goes quiet for longer than the claim time: taken over.
    taken = send_queued(desk_engine, server(port, claim_seconds=0.0), rate_per_second=None)
    assert (taken.unknown, taken.requeued, taken.sent) == (1, 1, 1)
    assert states(db)["C3"] == "unknown"


@pytest.mark.parametrize("senders", [4])
def test_parallel_senders_email_each_customer_once(
    desk_engine: Engine, db: Session, smtp_inbox: tuple[Inbox, int], senders: int
) -> None:
    inbox, port = smtp_inbox
    enqueue(db, [offer(f"C{i}") for i in range(120)])
    reports: list[SendReport] = []
    barrier = threading.Barrier(senders)

    def run() -> None:
        barrier.wait()
        reports.append(send_queued(desk_engine, server(port), rate_per_second=None, batch=7))

    threads = [threading.Thread(target=run) for _ in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(reports) == senders
    assert sum(r.sent for r in reports) == 120
    recipients = [r for a in inbox.arrived for r in a.recipients]
    assert len(recipients) == len(set(recipients)) == 120
    assert set(states(db).values()) == {"sent"}


def test_an_unreachable_server_is_named_and_the_mail_stays_queued(
    desk_engine: Engine, db: Session
) -> None:
    enqueue(db, [offer("C1"), offer("C2")])
    with pytest.raises(MailError, match=r"cannot reach the SMTP server 127\.0\.0\.1"):
        send_queued(desk_engine, server(free_port()), rate_per_second=None)
    assert states(db) == {"C1": "queued", "C2": "queued"}
    assert db.scalars(select(OutboxMessage.claim_id)).all() == [None, None]


def test_a_sender_stopped_between_messages_leaves_nothing_in_doubt(
    desk_engine: Engine, db: Session, smtp_inbox: tuple[Inbox, int]
) -> None:
    inbox, port = smtp_inbox
    enqueue(db, [offer(f"C{i}") for i in range(4)])

    def stop(done: int, _total: int) -> None:
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        send_queued(desk_engine, server(port), rate_per_second=None, progress=stop)
    assert states(db) == {"C0": "sent", "C1": "sent", "C2": "queued", "C3": "queued"}
    assert len(inbox.arrived) == 2


def test_a_sender_stopped_while_offering_marks_that_one_unknown(
    desk_engine: Engine,
    db: Session,
    smtp_inbox: tuple[Inbox, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _inbox, port = smtp_inbox
    enqueue(db, [offer(f"C{i}") for i in range(3)])

    def interrupted(*_args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(outbox, "_hand_over", interrupted)
    with pytest.raises(KeyboardInterrupt):
        send_queued(desk_engine, server(port), rate_per_second=None)
    assert states(db) == {"C0": "unknown", "C1": "queued", "C2": "queued"}
    row = db.scalars(select(OutboxMessage).where(OutboxMessage.customer_id == "C0")).one()
    assert "Message-ID" in row.error
