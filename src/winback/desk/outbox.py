"""The outbox: e-mails queued under an idempotency key, then sent through SMTP at most once.

``enqueue`` records messages (a key already queued is skipped, so launching a campaign twice
queues nothing twice; do-not-contact customers are left out). ``send_queued`` hands them to
the SMTP server, throttled, and records each one's answer. docs/outreach.md explains the
states and why a sender killed mid-way can leave one message ``unknown`` but never sends
one twice.
"""

from __future__ import annotations

import contextlib
import email.policy
import logging
import os
import re
import secrets
import smtplib
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate, parseaddr
from typing import TYPE_CHECKING, Any, cast

from pydantic import SecretStr
from sqlalchemy import Engine, Table, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from winback.desk import do_not_contact
from winback.desk.models import OUTBOX_STATES, OutboxMessage, utcnow
from winback.errors import InvalidInput, MailError

if TYPE_CHECKING:
    from winback.settings import Settings

log = logging.getLogger(__name__)
# How stale a sender's view of the do-not-contact list may get while it sends a claim.
BLOCKS_FRESH_SECONDS = 5.0
_TABLE = cast(Table, OutboxMessage.__table__)

# Messages per INSERT statement (18 columns each: under SQLite's parameter limit).
_INSERT_CHUNK = 500
# Messages checked for an existing key per SELECT ... IN (...).
_KEY_CHUNK = 900
# A bad message's problems named in one error, at most (the rest are counted).
_MAX_PROBLEMS = 10
_HEADER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,76}$")
# Headers the outbox writes itself; a message may not set them.
_OWN_HEADERS = frozenset(
    {"from", "to", "subject", "date", "message-id", "mime-version", "content-type"}
)
# Something@something.something, no spaces, no line breaks: what an address must look like
# (the SMTP server has the last word; this keeps obvious junk out of the queue).
_ADDRESS = re.compile(r"^[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+\.[^@\s<>()\[\],;:\"]+$")


@dataclass(frozen=True)
class OutgoingMessage:
    """One e-mail for the outbox. ``key`` makes it unique for ever (e.g.
    ``"campaign:12:C00001:offer:3"``): queuing the same key again does nothing."""

    key: str
    customer_id: str
    to_address: str
    subject: str
    text: str
    html: str | None = None
    campaign_id: int | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EnqueueReport:
    queued: int
    duplicates: int  # keys already queued (before, or twice in this call)
    blocked: int  # do-not-contact customers, left out


def _problems(message: OutgoingMessage) -> list[str]:
    """What is wrong with ``message``, each naming the field and what to give."""
    found = []
    if not isinstance(message.key, str) or not message.key.strip() or len(message.key) > 200:
        found.append("key: give 1-200 characters")
    cid = message.customer_id
    if not isinstance(cid, str) or not cid.strip() or len(cid) > 100:
        found.append("customer_id: give the customer's id (1-100 characters)")
    address = message.to_address
    if not isinstance(address, str) or len(address) > 320 or not _ADDRESS.match(address):
        found.append(f"to_address {address!r}: give one e-mail address such as name@example.com")
    subject = message.subject
    if not isinstance(subject, str) or not subject.strip() or len(subject) > 900:
        found.append("subject: give 1-900 characters")
    elif "\r" in subject or "\n" in subject:
        found.append("subject: must be one line (no line breaks)")
    if not isinstance(message.text, str) or not message.text.strip():
        found.append("text: give the plain-text body")
    if message.html is not None and not isinstance(message.html, str):
        found.append("html: give the HTML body as text, or none")
    if message.campaign_id is not None and (
        isinstance(message.campaign_id, bool) or not isinstance(message.campaign_id, int)
    ):
        found.append("campaign_id: give the campaign's number, or none")
    for name, value in dict(message.headers).items():
        if not isinstance(name, str) or not _HEADER_NAME.match(name):
            found.append(f"header {name!r}: give a name of letters, digits and dashes")
        elif name.lower() in _OWN_HEADERS:
            found.append(f"header {name!r}: the outbox sets this one itself; leave it out")
        elif not isinstance(value, str) or "\r" in value or "\n" in value or len(value) > 2000:
            found.append(f"header {name}: give one line of up to 2,000 characters")
    return found


def _check(messages: list[OutgoingMessage]) -> None:
    """Raise InvalidInput naming every bad message (by key) and field; queue nothing."""
    bad: list[str] = []
    count = 0
    for position, message in enumerate(messages, start=1):
        if not isinstance(message, OutgoingMessage):
            problems = ["give an OutgoingMessage"]
        else:
            problems = _problems(message)
        if problems:
            count += 1
            if len(bad) < _MAX_PROBLEMS:
                name = getattr(message, "key", None)
                label = f"message {position} (key {name!r})" if name else f"message {position}"
                bad.append(f"{label}: " + "; ".join(problems))
    if bad:
        more = f" (and {count - len(bad)} more)" if count > len(bad) else ""
        raise InvalidInput(
            f"{count} message(s) cannot be queued, so none were{more}: " + " | ".join(bad)
        )


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def new_message_token() -> str:
    """The unique part of a Message-ID (``<token@sender's domain>``), fixed when queued."""
    return secrets.token_hex(16)


def enqueue(db: Session, messages: Iterable[OutgoingMessage]) -> EnqueueReport:
    """Queue ``messages``; commits. A key queued already (before, by a parallel call, or
    twice in ``messages``) is skipped and counted as a duplicate; a do-not-contact customer's
    message is left out and counted as blocked. Any bad message raises InvalidInput naming
    it, and nothing is queued."""
    given = list(messages)
    _check(given)
    unique: dict[str, OutgoingMessage] = {}
    for message in given:
        unique.setdefault(message.key, message)
    duplicates = len(given) - len(unique)
    blocked_ids = do_not_contact.blocked_among(db, (m.customer_id.strip() for m in unique.values()))
    wanted = [m for m in unique.values() if m.customer_id.strip() not in blocked_ids]
    blocked = len(unique) - len(wanted)
    known: set[str] = set()
    for chunk in _chunks([m.key for m in wanted], _KEY_CHUNK):
        known.update(db.scalars(select(OutboxMessage.key).where(OutboxMessage.key.in_(chunk))))
    fresh = [m for m in wanted if m.key not in known]
    duplicates += len(wanted) - len(fresh)
    now = utcnow()
    insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    queued = 0
    for chunk in _chunks(fresh, _INSERT_CHUNK):
        rows = [
            {
                "key": m.key,
                "customer_id": m.customer_id.strip(),
                "campaign_id": m.campaign_id,
                "to_address": m.to_address,
                "subject": m.subject,
                "text": m.text,
                "html": m.html,
                "headers": dict(m.headers),
                "message_id": new_message_token(),
                "state": "queued",
                "attempts": 0,
                "error": "",
                "created_at": now,
            }
            for m in chunk
        ]
        # A parallel call may queue the same key between the check above and here: the
        # unique key decides, and the loser counts it as a duplicate.
        statement = (
            insert(OutboxMessage)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(OutboxMessage.id)
        )
        inserted = len(db.execute(statement).all())
        queued += inserted
        duplicates += len(rows) - inserted
    db.commit()
    return EnqueueReport(queued=queued, duplicates=duplicates, blocked=blocked)


def message_states(db: Session, campaign_id: int) -> dict[str, int]:
    """How many of ``campaign_id``'s messages are in each state (every state, zeros too)."""
    return state_counts(db, campaign_id)


def state_counts(db: Session, campaign_id: int | None = None) -> dict[str, int]:
    """Messages in each state (every state, zeros too): all, or ``campaign_id``'s."""
    counts: dict[str, int] = dict.fromkeys(OUTBOX_STATES, 0)
    query = select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)
    if campaign_id is not None:
        query = query.where(OutboxMessage.campaign_id == campaign_id)
    for state, count in db.execute(query):
        counts[state] = count
    return counts


def unknown_messages(db: Session, limit: int = 50) -> list[OutboxMessage]:
    """The oldest messages in state ``unknown``: for a person to look up on the SMTP server."""
    query = select(OutboxMessage).where(OutboxMessage.state == "unknown")
    return list(db.scalars(query.order_by(OutboxMessage.id).limit(limit)))


# --- sending -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpSettings:
    """How to reach the SMTP server (from WINBACK_SMTP_*; ``password`` never printed)."""

    host: str
    sender: str  # the From header, e.g. "Acme <hello@acme.example>"
    port: int = 587
    security: str = "starttls"  # "starttls", "tls" or "none"
    username: str | None = None
    password: SecretStr | None = None
    timeout: float = 30.0
    max_attempts: int = 3
    retry_seconds: float = 900.0  # the first wait after a 4xx; doubles each time
    claim_seconds: float = 600.0  # a quiet sender's claim is taken over after this

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpSettings | None:
        """The configured server, or None when WINBACK_SMTP_HOST is unset."""
        if not settings.smtp_host or not settings.smtp_from:
            return None
        return cls(
            host=settings.smtp_host,
            sender=settings.smtp_from,
            port=settings.smtp_port,
            security=settings.smtp_security,
            username=settings.smtp_username,
            password=settings.smtp_password,
            timeout=settings.smtp_timeout_seconds,
            max_attempts=settings.smtp_max_attempts,
            retry_seconds=settings.smtp_retry_minutes * 60,
            claim_seconds=settings.smtp_claim_minutes * 60,
        )

    @property
    def envelope_sender(self) -> str:
        return parseaddr(self.sender)[1]

    @property
    def domain(self) -> str:
        return self.envelope_sender.rpartition("@")[2] or "localhost"


@dataclass
class SendReport:
    """What one ``send_queued`` run did, message by message."""

    sent: int = 0
    bounced: int = 0  # refused for good (5xx)
    deferred: int = 0  # a 4xx: queued again for a later try
    failed: int = 0  # a 4xx on the last try
    unknown: int = 0  # handed over, answer lost (a person checks); recovered ones too
    blocked: int = 0  # do-not-contact since queued: not sent
    requeued: int = 0  # claimed by a sender that died before trying them: queued again
    seconds: float = 0.0

    @property
    def handled(self) -> int:
        return self.sent + self.bounced + self.deferred + self.failed + self.unknown + self.blocked


def _claim_id() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(4)}"


def _claim_is_dead(claim_id: str) -> bool:
    """Whether ``claim_id``'s sender is a process on this machine that has ended."""
    parts = claim_id.split(":")
    if len(parts) < 3 or ":".join(parts[:-2]) != socket.gethostname()[:60]:
        return False
    try:
        pid = int(parts[-2])
    except ValueError:
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def recover(engine: Engine, claim_seconds: float) -> tuple[int, int]:
    """Take back the messages of senders that stopped mid-claim: a dead process on this
    machine at once, any other after ``claim_seconds`` without a sign of life. In each such
    claim the first message still ``sending`` may have reached the SMTP server (the sender
    records each answer before it sends the next), so it becomes ``unknown`` for a person to
    check; the rest were never tried and are queued again. (unknown, requeued)."""
    unknown = requeued = 0
    cutoff = utcnow() - timedelta(seconds=claim_seconds)
    with Session(engine) as db:
        claims = db.execute(
            select(OutboxMessage.claim_id, func.max(OutboxMessage.claimed_at))
            .where(OutboxMessage.state == "sending", OutboxMessage.claim_id.is_not(None))
            .group_by(OutboxMessage.claim_id)
        ).all()
        for claim_id, last_seen in claims:
            alive = last_seen is not None and last_seen >= cutoff
            if claim_id is None or (alive and not _claim_is_dead(claim_id)):
                continue
            rows = db.scalars(
                select(OutboxMessage.id)
                .where(OutboxMessage.claim_id == claim_id, OutboxMessage.state == "sending")
                .order_by(OutboxMessage.id)
                .with_for_update()
            ).all()
            if not rows:
                db.rollback()
                continue
            _mark_unknown(db, claim_id, rows[0], "the sender stopped")
            _release(db, claim_id, list(rows[1:]))
            db.commit()
            unknown += 1
            requeued += len(rows) - 1
            log.warning(
                "outbox: claim %s was abandoned: message %s marked unknown, %s queued again",
                claim_id,
                rows[0],
                len(rows) - 1,
            )
    return unknown, requeued


def _claim(engine: Engine, claim_id: str, size: int) -> list[Any]:
    """Mark up to ``size`` due queued messages ``sending`` under ``claim_id`` (one
    statement: parallel senders never claim one message twice); the claimed rows."""
    now = utcnow()
    due = (
        select(OutboxMessage.id)
        .where(
            OutboxMessage.state == "queued",
            or_(OutboxMessage.not_before.is_(None), OutboxMessage.not_before <= now),
        )
        .order_by(OutboxMessage.id)
        .limit(size)
        .with_for_update(skip_locked=True)
    )
    with engine.begin() as connection:
        connection.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(due.scalar_subquery()), OutboxMessage.state == "queued")
            .values(state="sending", claim_id=claim_id, claimed_at=now)
            .execution_options(synchronize_session=False)
        )
    with engine.connect() as connection:
        return list(
            connection.execute(
                select(OutboxMessage.__table__)
                .where(OutboxMessage.claim_id == claim_id, OutboxMessage.state == "sending")
                .order_by(OutboxMessage.id)
            )
        )


# The e-mail's bytes: CRLF line ends, as SMTP wants them. The legacy (compat32) classes
# build a message about ten times faster than EmailMessage, which parses every header it is
# given; the values were checked when queued (one line each), non-ASCII ones are encoded.
_WIRE = email.policy.compat32.clone(linesep="\r\n")


def _header(value: str) -> str:
    return value if value.isascii() else Header(value, "utf-8").encode()


def _part(text: str, subtype: str) -> MIMEText:
    plain = text.isascii() and all(len(line) < 990 for line in text.splitlines())
    return MIMEText(text, subtype, "us-ascii" if plain else "utf-8")


def build_message(row: Any, smtp: SmtpSettings) -> bytes:
    """The e-mail for an outbox row, as the bytes handed to the SMTP server."""
    message: Message
    if row.html:
        message = MIMEMultipart("alternative")
        message.attach(_part(row.text, "plain"))
        message.attach(_part(row.html, "html"))
    else:
        message = _part(row.text, "plain")
    message["From"] = formataddr(parseaddr(smtp.sender), charset="utf-8")
    message["To"] = _header(row.to_address)
    message["Subject"] = _header(row.subject)
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = f"<{row.message_id}@{smtp.domain}>"
    headers = dict(row.headers or {})
    for name, value in headers.items():
        message[name] = _header(value)
    names = {name.lower() for name in headers}
    link = headers.get("List-Unsubscribe", "")
    if "list-unsubscribe-post" not in names and "<https://" in link:
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"  # RFC 8058
    return message.as_bytes(policy=_WIRE)


class _Connection:
    """One SMTP connection, opened when first needed and again after a drop."""

    def __init__(self, smtp: SmtpSettings) -> None:
        self.smtp = smtp
        self.client: smtplib.SMTP | None = None
        # True while a message is being offered (its fate unknown until the answer comes).
        self.offering = False

    def open(self) -> smtplib.SMTP:
        if self.client is not None:
            return self.client
        smtp = self.smtp
        where = f"{smtp.host}:{smtp.port}"
        try:
            if smtp.security == "tls":
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    smtp.host, smtp.port, timeout=smtp.timeout, context=ssl.create_default_context()
                )
            else:
                client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
            client.ehlo()
            if smtp.security == "starttls":
                client.starttls(context=ssl.create_default_context())
                client.ehlo()
            if smtp.username:
                password = smtp.password.get_secret_value() if smtp.password else ""
                client.login(smtp.username, password)
        except smtplib.SMTPAuthenticationError:
            raise MailError(
                f"the SMTP server {where} refused the login of {smtp.username!r}: check "
                "WINBACK_SMTP_USERNAME and WINBACK_SMTP_PASSWORD"
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(
                f"cannot reach the SMTP server {where} ({type(exc).__name__}: {exc}): check "
                "WINBACK_SMTP_HOST, WINBACK_SMTP_PORT and WINBACK_SMTP_SECURITY"
            ) from None
        self.client = client
        return client

    def drop(self) -> None:
        if self.client is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self.client.close()
        self.client = None

    def close(self) -> None:
        if self.client is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self.client.quit()
        self.drop()


# What the SMTP server said about one message: ("sent" | "refused", code, text), or
# ("lost", 0, text) when the connection failed after the message's text was handed over.
_Answer = tuple[str, int, str]


def _hand_over(connection: _Connection, sender: str, to: str, data: bytes) -> _Answer:
    """Offer one message; the connection is re-opened once if it dropped before the text
    was handed over (nothing was delivered then)."""
    for attempt in (1, 2):
        client = connection.open()
        try:
            code, text = client.mail(sender)
            if code == 250:
                code, text = client.rcpt(to)
            if code not in (250, 251):
                client.rset()
                return "refused", code, text.decode(errors="replace")
        except (OSError, smtplib.SMTPServerDisconnected):
            connection.drop()
            if attempt == 2:
                raise
            continue
        try:
            code, text = client.data(data)
        except smtplib.SMTPDataError as exc:  # DATA itself refused: the text never went
            client.rset()
            said = exc.smtp_error
            return (
                "refused",
                exc.smtp_code,
                said.decode(errors="replace") if isinstance(said, bytes) else str(said),
            )
        except (OSError, smtplib.SMTPException) as exc:
            connection.drop()
            return "lost", 0, f"{type(exc).__name__}: {exc}"
        if code == 250:
            return "sent", code, text.decode(errors="replace")
        return "refused", code, text.decode(errors="replace")
    raise AssertionError("unreachable")


class _Pace:
    """At most ``rate`` messages a second, evenly spaced (None: no limit)."""

    def __init__(self, rate: float | None) -> None:
        self.gap = 1.0 / rate if rate else 0.0
        self.next_at = time.monotonic()

    def wait(self) -> None:
        if not self.gap:
            return
        now = time.monotonic()
        if self.next_at > now:
            time.sleep(self.next_at - now)
        self.next_at = max(self.next_at, now) + self.gap


def send_queued(
    engine: Engine,
    smtp: SmtpSettings,
    *,
    rate_per_second: float | None,
    batch: int = 500,
    progress: Callable[[int, int], None] | None = None,
    stop_after: float | None = None,
) -> SendReport:
    """Send every due queued message through ``smtp``, at most ``rate_per_second``.

    At most once: a batch is claimed (``sending``, with this sender's claim id) in one
    transaction; each message's answer is committed before the next is offered, so a
    sender killed at any moment leaves at most one message of its claim in doubt, which the
    next run marks ``unknown`` (see :func:`recover`). 2xx: ``sent``; 5xx: ``bounced``; 4xx:
    queued again after a wait, ``failed`` after ``smtp.max_attempts`` tries. A customer
    who became do-not-contact since is ``blocked``, not sent. ``progress(done, total)``
    after each message. ``stop_after`` seconds: claim no new batch after that long (the
    rest waits for the next run). Raises MailError if the server cannot be reached; the messages not
    yet offered stay queued.
    """
    started = time.monotonic()
    report = SendReport()
    report.unknown, report.requeued = recover(engine, smtp.claim_seconds)
    with engine.connect() as connection:
        total = connection.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.state == "queued")
        )
    total = int(total or 0)
    pace = _Pace(rate_per_second)
    claim_size = max(1, batch)
    if rate_per_second:  # a claim that lasts about a minute at most
        claim_size = max(1, min(claim_size, int(rate_per_second * 60)))
    claim_id = _claim_id()
    heartbeat_every = max(1.0, smtp.claim_seconds / 4)
    server = _Connection(smtp)
    done = 0
    try:
        while stop_after is None or time.monotonic() - started < stop_after:
            rows = _claim(engine, claim_id, claim_size)
            if not rows:
                break
            last_beat = time.monotonic()
            with Session(engine) as db:
                blocked = _Blocked(db, rows)
                for position, row in enumerate(rows):
                    if time.monotonic() - last_beat > heartbeat_every:
                        _heartbeat(db, claim_id)
                        last_beat = time.monotonic()
                    try:
                        outcome = _send_one(db, server, smtp, pace, claim_id, row, blocked)
                        setattr(report, outcome, getattr(report, outcome) + 1)
                        done += 1
                        if progress is not None:
                            progress(done, max(total, done))
                    except MailError:  # nothing was handed over: all of it stays queued
                        db.rollback()
                        _release(db, claim_id, [r.id for r in rows[position:]])
                        db.commit()
                        raise
                    except BaseException:  # Ctrl-C, or a bug: only an offered one is in doubt
                        doubt = server.offering
                        with contextlib.suppress(Exception):  # else recover() does it later
                            db.rollback()
                            if doubt:
                                _mark_unknown(db, claim_id, row.id, "the sender was stopped")
                            _release(db, claim_id, [r.id for r in rows[position:]])
                            db.commit()
                        raise
    finally:
        server.close()
        report.seconds = time.monotonic() - started
    return report


def _heartbeat(db: Session, claim_id: str) -> None:
    db.execute(
        update(OutboxMessage)
        .where(OutboxMessage.claim_id == claim_id, OutboxMessage.state == "sending")
        .values(claimed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.commit()


def _mark_unknown(db: Session, claim_id: str, message_id: int, why: str) -> None:
    """Mark a claimed message ``unknown`` (the caller commits)."""
    db.execute(
        update(_TABLE)
        .where(_TABLE.c.id == message_id, _TABLE.c.claim_id == claim_id)
        .where(_TABLE.c.state == "sending")
        .values(
            state="unknown",
            error=f"{why} while handing this e-mail to the SMTP server: look for its "
            "Message-ID in the server's log before sending it again",
        )
    )


def _release(db: Session, claim_id: str, ids: list[int]) -> None:
    """Queue again claimed messages never offered to the server (the caller commits)."""
    db.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.claim_id == claim_id,
            OutboxMessage.state == "sending",
            OutboxMessage.id.in_(ids),
        )
        .values(state="queued", claim_id=None, claimed_at=None)
        .execution_options(synchronize_session=False)
    )


class _Blocked:
    """Which of a claim's customers are do-not-contact, read again every few seconds while
    the claim is sent (one query, not one a message)."""

    def __init__(self, db: Session, rows: list[Any]) -> None:
        self.db, self.customers = db, [r.customer_id for r in rows]
        self.read_at = -BLOCKS_FRESH_SECONDS
        self.found: set[str] = set()

    def __contains__(self, customer_id: str) -> bool:
        if time.monotonic() - self.read_at >= BLOCKS_FRESH_SECONDS:
            self.found = do_not_contact.blocked_among(self.db, self.customers)
            self.db.commit()  # end the read, so SQLite's snapshot does not hold writers back
            self.read_at = time.monotonic()
        return customer_id in self.found


def _send_one(
    db: Session,
    connection: _Connection,
    smtp: SmtpSettings,
    pace: _Pace,
    claim_id: str,
    row: Any,
    blocked: _Blocked,
) -> str:
    """Offer one claimed message and commit its answer; the SendReport field to count."""
    values: dict[str, Any]
    if row.customer_id in blocked:
        values, outcome = {"state": "blocked", "error": "do-not-contact since queued"}, "blocked"
    else:
        pace.wait()
        try:
            data = build_message(row, smtp)
            connection.offering = True
            kind, code, text = _hand_over(connection, smtp.envelope_sender, row.to_address, data)
            connection.offering = False
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(
                f"the SMTP server {smtp.host}:{smtp.port} dropped the connection twice "
                f"({type(exc).__name__}: {exc}); the unsent e-mails stay queued"
            ) from None
        attempts = row.attempts + 1
        answer = f"{code} {text}".strip()[:2000]
        if kind == "sent":
            values = {"state": "sent", "sent_at": utcnow(), "error": ""}
            outcome = "sent"
        elif kind == "lost":
            values = {"state": "unknown", "error": f"connection lost after handing over: {text}"}
            outcome = "unknown"
        elif 500 <= code < 600:
            values, outcome = {"state": "bounced", "error": answer}, "bounced"
        elif attempts >= smtp.max_attempts:
            values = {"state": "failed", "error": f"{attempts} tries; last: {answer}"}
            outcome = "failed"
        else:
            wait = smtp.retry_seconds * 2 ** (attempts - 1)
            values = {
                "state": "queued",
                "error": answer,
                "not_before": utcnow() + timedelta(seconds=wait),
                "claim_id": None,
                "claimed_at": None,
            }
            outcome = "deferred"
        values["attempts"] = attempts
    db.execute(  # Core, not the ORM's bulk update: this runs once a message
        update(_TABLE).where(_TABLE.c.id == row.id, _TABLE.c.claim_id == claim_id).values(**values)
    )
    db.commit()
    return outcome
