"""The periodic cycle's passes as the desk records them, and the lock that lets one pass
run at a time across processes and servers sharing one desk database.

* :class:`PassLock`: on PostgreSQL a session-level advisory lock on a connection of its
  own (the server lets it go if the process dies); on SQLite a lease in the one row of
  ``cycle_lock``, taken with a single conditional UPDATE and renewed as the pass goes (it
  expires if the process dies).
* :func:`begin_pass`: a pass's record. A scheduled pass carries its ``slot`` (the time
  it was scheduled for), which is unique: when two servers wake for the same slot, the
  second finds it taken and does nothing, so each scheduled pass runs once.

These are system records, written by the cycle, not by a person: there is no audit row.
"""

from __future__ import annotations

import os
import socket
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from winback.desk.models import CycleLock, CyclePass, User, utcnow
from winback.desk.permissions import Action, require

# Any 64-bit number no other part of winback uses as an advisory lock key.
ADVISORY_KEY = 0x77696E6261636B  # "winback"
LEASE = timedelta(minutes=10)
INTERRUPTED = "interrupted: the process running this pass ended before it finished"


def this_process() -> str:
    """Who holds the lock: host and process id, as an operator would look them up."""
    return f"{socket.gethostname()}:{os.getpid()}"


class PassLock:
    """One pass at a time. ``acquire()`` never waits: False means another pass runs."""

    def __init__(self, engine: Engine, holder: str | None = None) -> None:
        self.engine = engine
        self.holder = holder or this_process()
        self._connection: Connection | None = None
        self.held = False

    @property
    def _postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def acquire(self) -> bool:
        if self._postgres:
            connection = self.engine.connect()
            got = connection.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_KEY}
            ).scalar_one()
            connection.commit()
            if got:
                self._connection = connection
            else:
                connection.close()
            self.held = bool(got)
            return self.held
        self.held = self._take_lease()
        return self.held

    def _take_lease(self) -> bool:
        now = utcnow()
        with self.engine.begin() as connection:
            taken = connection.execute(
                update(CycleLock)
                .where(CycleLock.id == 1)
                .where((CycleLock.holder.is_(None)) | (CycleLock.expires_at < now))
                .values(holder=self.holder, expires_at=now + LEASE)
            ).rowcount
            if taken:
                return True
            exists = connection.execute(select(func.count()).select_from(CycleLock)).scalar_one()
        if exists:
            return False
        try:  # the row is missing (an emptied table): make it, holding the lease
            with self.engine.begin() as connection:
                connection.execute(
                    insert(CycleLock).values(id=1, holder=self.holder, expires_at=now + LEASE)
                )
        except IntegrityError:
            return False
        return True

    def renew(self) -> None:
        """Push the lease on (SQLite); a no-op for the advisory lock."""
        if self.held and not self._postgres:
            with self.engine.begin() as connection:
                connection.execute(
                    update(CycleLock)
                    .where(CycleLock.id == 1, CycleLock.holder == self.holder)
                    .values(expires_at=utcnow() + LEASE)
                )

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        if self._connection is not None:
            try:
                self._connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_KEY}
                )
                self._connection.commit()
            finally:
                self._connection.close()
                self._connection = None
            return
        with self.engine.begin() as connection:
            connection.execute(
                update(CycleLock)
                .where(CycleLock.id == 1, CycleLock.holder == self.holder)
                .values(holder=None, expires_at=None)
            )


def begin_pass(db: Session, *, trigger: str, slot: str | None) -> CyclePass | None:
    """Record a pass as running; None when ``slot`` was already run (by this server or
    another). Call it holding the :class:`PassLock`: any pass still marked running then
    belongs to a process that died, and is marked failed."""
    now = utcnow()
    db.execute(
        update(CyclePass)
        .where(CyclePass.outcome == "running")
        .values(outcome="failed", finished_at=now, error=INTERRUPTED)
    )
    record = CyclePass(
        slot=slot, trigger=trigger, started_at=now, outcome="running", host=this_process()
    )
    db.add(record)
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        return None
    return record


def mark_step(db: Session, record: CyclePass, step: str, counts: dict[str, Any]) -> None:
    """The step a pass has reached, and what it has counted so far (seen on the page)."""
    record.step, record.counts = step, dict(counts)
    db.commit()


def finish_pass(
    db: Session, record: CyclePass, counts: dict[str, Any], error: str | None
) -> CyclePass:
    record.finished_at = utcnow()
    record.outcome = "failed" if error else "succeeded"
    record.step = "done" if error is None else record.step
    record.counts, record.error = dict(counts), error
    db.commit()
    return record


def recent_passes(db: Session, actor: User, limit: int = 50) -> list[CyclePass]:
    """The newest passes first (managers and admins)."""
    require(actor, Action.VIEW_CYCLE)
    query = select(CyclePass).order_by(CyclePass.started_at.desc(), CyclePass.id.desc())
    return list(db.scalars(query.limit(limit)))
