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
- **The cap**: at most ``limit`` password checks run at once in one process (one per
  core by default), so a flood of logins cannot pile up argon2's memory or starve the
  other requests. Logins beyond it wait their turn in a bounded line (``queue`` long, at
  most ``wait`` seconds each), holding no thread while they wait: a morning's rush of
  people logging in is served in order instead of refused, and only a flood past the
  line, or a wait past its bound, is refused with Busy (answered 503, Retry-After 1).

Every number is a setting (WINBACK_LOGIN_*, docs/operations.md).

Only digests of the username and address are stored, so no typed secret is kept.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import os
import threading
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from winback.desk import audit, users
from winback.desk.db import write_lock
from winback.desk.models import LoginThrottle, User, utcnow
from winback.errors import Busy, TooManyAttempts
from winback.settings import Settings


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
    """At most ``limit`` password checks at once in this process. One more waits its turn
    (first come, first served) while fewer than ``queue`` wait already, for at most
    ``wait`` seconds; otherwise Busy. A waiting login holds no thread and no argon2
    memory, only its request, so the queue costs little while the cap bounds memory.

    ``turn()`` is for a request on an event loop (it waits without a thread); ``slot()``
    for a caller outside one (it never waits). Both count against the same ``limit``.
    """

    def __init__(self, limit: int, queue: int = 0, wait: float = 0.0) -> None:
        self.limit, self.queue, self.wait = limit, queue, wait
        self._lock = threading.Lock()
        self._running = 0
        self._waiting: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = deque()

    def _busy(self) -> Busy:
        return Busy("the desk is busy checking other logins; try again in a second")

    def _take_now(self) -> bool:
        """A place at once if one is free and nobody waits for it (callers hold the lock)."""
        if self._running < self.limit and not self._waiting:
            self._running += 1
            return True
        return False

    def _release(self) -> None:
        """Give the place to the longest waiting login, else free it."""
        with self._lock:
            if not self._waiting:
                self._running -= 1
                return
            loop, turn = self._waiting.popleft()
        try:
            loop.call_soon_threadsafe(self._hand_over, turn)
        except RuntimeError:  # that login's event loop has closed: the next one's turn
            self._release()

    def _hand_over(self, turn: asyncio.Future[None]) -> None:
        if turn.done():  # it gave up (waited too long, or its client left) just now
            self._release()
        else:
            turn.set_result(None)

    def _leave(self, loop: asyncio.AbstractEventLoop, waiting: asyncio.Future[None]) -> bool:
        """Leave the line unless the place was handed over already: whether it left."""
        if waiting.done() and not waiting.cancelled():
            return False
        with self._lock:
            if (loop, waiting) in self._waiting:
                self._waiting.remove((loop, waiting))
        waiting.cancel()  # a hand-over on its way sees it and passes the place on
        return True

    @contextmanager
    def slot(self) -> Iterator[None]:
        """A place for one check now, else Busy (no waiting)."""
        with self._lock:
            if not self._take_now():
                raise self._busy()
        try:
            yield
        finally:
            self._release()

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """A place for one check, waiting in line for it (at most ``wait`` seconds)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._take_now():
                waiting = None
            elif len(self._waiting) >= self.queue:
                raise self._busy()
            else:
                waiting = loop.create_future()
                self._waiting.append((loop, waiting))
        if waiting is not None:
            try:
                await asyncio.wait({waiting}, timeout=self.wait)
            except BaseException:  # its client left: out of the line (or the place back)
                if not self._leave(loop, waiting):
                    self._release()
                raise
            if self._leave(loop, waiting):
                raise self._busy()
        try:
            yield
        finally:
            self._release()

    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        return len(self._waiting)


def default_checks() -> int:
    """One check per core (argon2 is CPU-bound), from 2 to 8: 8 x 64 MiB is the most that
    logins can hold in one worker at a time."""
    return min(8, max(2, os.cpu_count() or 2))


password_checks = PasswordChecks(default_checks())


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
    the cap (a place among the checks now, or Busy): see ``check_login``."""
    with (checks or password_checks).slot():
        return check_login(db, username, password, address, throttle=throttle)


def check_login(
    db: Session, username: str, password: str, address: str, *, throttle: Throttle = THROTTLE
) -> User:
    """The active user with this username and password, checked behind the throttle, for
    a caller that holds a place among the password checks (``PasswordChecks.turn`` or
    ``slot``): NotAuthenticated or TooManyAttempts otherwise. Writes the throttle's rows
    (and commits) whatever the outcome."""
    username = username.strip().lower()
    account, source = _reserve(db, username, address, throttle, utcnow())
    user = users.authenticate(db, username, password)
    _succeeded(db, account, source, throttle)
    return user


def throttle_of(settings: Settings) -> Throttle:
    """The throttle the settings ask for (WINBACK_LOGIN_*)."""
    return Throttle(
        account_attempts=settings.login_account_attempts,
        address_attempts=settings.login_address_attempts,
        window=timedelta(minutes=settings.login_window_minutes),
        lockout=timedelta(minutes=settings.login_lockout_minutes),
    )


def checks_of(settings: Settings) -> PasswordChecks:
    """The cap and the line the settings ask for (WINBACK_LOGIN_CHECKS, _QUEUE, _WAIT_SECONDS)."""
    return PasswordChecks(
        settings.login_checks or default_checks(),
        queue=settings.login_queue,
        wait=settings.login_wait_seconds,
    )
