"""The outbox: e-mails queued under an idempotency key, then sent through SMTP at most once.

``enqueue`` records messages (a key already queued is skipped, so launching a campaign twice
queues nothing twice; do-not-contact customers are left out). ``send_queued`` hands them to
the SMTP server, throttled, and records each one's answer. docs/outreach.md explains the
states and why a sender killed mid-way can leave one message ``unknown`` but never sends
one twice.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from winback.desk import do_not_contact
from winback.desk.models import OUTBOX_STATES, OutboxMessage, utcnow
from winback.errors import InvalidInput

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
    counts: dict[str, int] = dict.fromkeys(OUTBOX_STATES, 0)
    rows = db.execute(
        select(OutboxMessage.state, func.count())
        .where(OutboxMessage.campaign_id == campaign_id)
        .group_by(OutboxMessage.state)
    )
    for state, count in rows:
        counts[state] = count
    return counts
