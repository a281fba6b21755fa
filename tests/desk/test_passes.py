"""The cycle's passes in the desk: one at a time across processes, each slot once."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from winback.desk import passes
from winback.desk.models import CycleLock, CyclePass, User, utcnow
from winback.desk.passes import PassLock, begin_pass, finish_pass, recent_passes
from winback.errors import PermissionDenied


def test_a_second_holder_cannot_take_the_lock_until_the_first_lets_go(
    desk_engine: Engine,
) -> None:
    first, second = PassLock(desk_engine, "server-a:1"), PassLock(desk_engine, "server-b:2")
    assert first.acquire()
    try:
        assert not second.acquire()
        first.renew()
        assert not second.acquire()
    finally:
        first.release()
    assert second.acquire()
    second.release()


def test_parallel_holders_get_the_lock_exactly_once(desk_engine: Engine) -> None:
    locks = [PassLock(desk_engine, f"worker:{i}") for i in range(8)]
    start = threading.Barrier(len(locks))
    got: list[bool] = [False] * len(locks)

    def take(i: int) -> None:
        start.wait()
        got[i] = locks[i].acquire()

    threads = [threading.Thread(target=take, args=(i,)) for i in range(len(locks))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert sum(got) == 1
    finally:
        for lock in locks:
            lock.release()


def test_a_dead_holders_lock_is_taken_over(desk_engine: Engine) -> None:
    dead = PassLock(desk_engine, "crashed:9")
    assert dead.acquire()
    if desk_engine.dialect.name == "postgresql":
        # The server lets an advisory lock go with the connection of a process that died.
        assert dead._connection is not None
        dead._connection.invalidate()
        dead._connection = None
    else:
        with desk_engine.begin() as connection:
            connection.execute(update(CycleLock).values(expires_at=utcnow() - timedelta(seconds=1)))
    alive = PassLock(desk_engine, "server-b:2")
    assert alive.acquire()
    alive.release()


def test_a_scheduled_slot_runs_once_and_an_interrupted_pass_is_marked_failed(
    db: Session,
) -> None:
    first = begin_pass(db, trigger="schedule", slot="2026-11-26T02:00:00Z")
    assert first is not None
    # The process running it died: the next pass (holding the lock) finds it running.
    second = begin_pass(db, trigger="command", slot=None)
    assert second is not None
    db.refresh(first)
    assert (first.outcome, first.error) == ("failed", passes.INTERRUPTED)
    assert begin_pass(db, trigger="schedule", slot="2026-11-26T02:00:00Z") is None
    finish_pass(db, second, {"files_imported": 2}, None)
    assert db.scalars(select(CyclePass.outcome).order_by(CyclePass.id)).all() == [
        "failed",
        "succeeded",
    ]


def test_managers_and_admins_see_the_passes_and_reps_do_not(
    db: Session, people: dict[str, User]
) -> None:
    record = begin_pass(db, trigger="command", slot=None)
    assert record is not None
    finish_pass(db, record, {"rows_stored": 5}, "orders-bad.csv: unreadable")
    for role in ("manager", "admin"):
        [seen] = recent_passes(db, people[role])
        assert (seen.outcome, seen.error) == ("failed", "orders-bad.csv: unreadable")
    for role in ("rep", "executive"):
        with pytest.raises(PermissionDenied):
            recent_passes(db, people[role])
