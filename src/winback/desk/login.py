"""Logging in: the password check behind a throttle and a cap on checks at once.

Each password check runs argon2 (64 MiB, tens of milliseconds), so an unguarded login
form is both a way to guess passwords and a way to take the server down. Two guards:

- **The throttle**, stored in the desk database so it holds across workers and servers:
  attempts are counted per account (the username as typed, known or not, so an unknown
  name costs and tells the same as a known one) and per client address, in a window;
  once either reaches its limit, every login for that account or from that address is
  refused with TooManyAttempts until the lock-out ends, the right password too. An
  attempt is counted *before* its password is checked, in one atomic step, so parallel
  requests cannot all slip past the limit; a successful login clears its account's count
  and gives its address back the attempt.
- **The cap**: at most ``password_checks.limit`` password checks run at once in one
  process; one more is refused at once with Busy (answered 503) rather than queued, so a
  flood of logins cannot pile up argon2's memory or starve the other requests.

Only digests of the username and address are stored, so no typed secret is kept.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from winback.desk import audit, users
from winback.desk.db import write_lock
from winback.desk.models import LoginThrottle, User, utcnow
from winback.errors import Busy, TooManyAttempts


@dataclass(frozen=True)
class Throttle:
    """How many attempts an account and an address get in a window, and for how long
    either is then locked out."""

    account_attempts: int = 5
    # An office or a VPN puts several people behind one address, so it gets more.
    address_attempts: int = 20
    window: timedelta = timedelta(minutes=15)
    lockout: timedelta = timedelta(minutes=15)


THROTTLE = Throttle()
# Who the audit log names for a lock-out.
_ACTOR = "login throttle"


class PasswordChecks:
    """At most ``limit`` password checks at once in this process; beyond it, Busy."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._slots = threading.BoundedSemaphore(limit)

    @contextmanager
    def slot(self) -> Iterator[None]:
        if not self._slots.acquire(blocking=False):
            raise Busy("the desk is busy checking other logins; try again in a second")
        try:
            yield
        finally:
            self._slots.release()


# One check per core (argon2 is CPU-bound), at most 8: 8 x 64 MiB is the most that logins
# can hold in one worker at a time.
password_checks = PasswordChecks(min(8, max(2, os.cpu_count() or 2)))


def _key(kind: str, value: str) -> str:
    return f"{kind}:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def _locked_rows(db: Session, keys: list[str], now: datetime) -> dict[str, LoginThrottle]:
    """The throttle rows of ``keys``, created when missing and locked for this transaction
    (SQLite: the desk's write lock; PostgreSQL: the rows, in key order, so two logins never
    wait on each other crosswise)."""
    write_lock(db)
    dialect = db.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    for key in sorted(keys):
        db.execute(
            insert(LoginThrottle)
            .values(key=key, attempts=0, window_start=now, locked_until=None)
            .on_conflict_do_nothing(index_elements=["key"])
        )
    rows = db.scalars(
        select(LoginThrottle)
        .where(LoginThrottle.key.in_(keys))
        .order_by(LoginThrottle.key)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {row.key: row for row in rows}


def _minutes(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


def _reserve(
    db: Session, username: str, address: str, throttle: Throttle, now: datetime
) -> tuple[str, str]:
    """Count one attempt for the account and the address (committed), or raise
    TooManyAttempts if either is locked out."""
    account, source = _key("account", username), _key("address", address)
    rows = _locked_rows(db, [account, source], now)
    for key, whose in ((account, "this account"), (source, "your address")):
        until = rows[key].locked_until
        if until is not None and until > now:
            db.commit()
            wait = math.ceil((until - now).total_seconds())
            raise TooManyAttempts(
                f"too many failed logins for {whose}: try again in {_minutes(wait)}", wait
            )
    limits = {account: throttle.account_attempts, source: throttle.address_attempts}
    for key, row in rows.items():
        if now - row.window_start >= throttle.window:
            row.attempts, row.window_start, row.locked_until = 0, now, None
        row.attempts += 1
        if row.attempts >= limits[key]:
            row.locked_until = now + throttle.lockout
            _audit_lockout(db, key == account, username, address, row)
    db.commit()
    return account, source


def _audit_lockout(
    db: Session, is_account: bool, username: str, address: str, row: LoginThrottle
) -> None:
    """A lock-out is worth a manager's notice: an audit row (for a real user's account, or
    for the address; a username nobody has is not recorded, it may be a typed password)."""
    after = {"attempts": row.attempts, "locked_until": row.locked_until}
    if not is_account:
        audit.record(db, None, "login.locked", "address", address, None, after, system_name=_ACTOR)
        return
    user_id = db.scalar(select(User.id).where(User.username == username))
    if user_id is not None:
        audit.record(db, None, "login.locked", "user", user_id, None, after, system_name=_ACTOR)


def _succeeded(db: Session, account: str, source: str, throttle: Throttle) -> None:
    """Clear the account's count and give the address back this attempt."""
    rows = _locked_rows(db, [account, source], utcnow())
    rows[account].attempts, rows[account].locked_until = 0, None
    address = rows[source]
    address.attempts = max(0, address.attempts - 1)
    if address.attempts < throttle.address_attempts:
        address.locked_until = None
    db.commit()


def log_in(
    db: Session,
    username: str,
    password: str,
    address: str,
    *,
    throttle: Throttle = THROTTLE,
    checks: PasswordChecks | None = None,
) -> User:
    """The active user with this username and password, checked behind the throttle and
    the cap: NotAuthenticated, TooManyAttempts or Busy otherwise. Writes the throttle's
    rows (and commits) whatever the outcome."""
    username = username.strip().lower()
    with (checks or password_checks).slot():
        account, source = _reserve(db, username, address, throttle, utcnow())
        user = users.authenticate(db, username, password)
        _succeeded(db, account, source, throttle)
    return user
