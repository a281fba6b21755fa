"""Running one desk call from many threads at once, each with its own session (its own
database connection), all released together by a barrier: how the race tests make a
double-click or a burst of parallel requests happen for real."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from tests.desk.conftest import POLICY, make_run
from winback.desk.db import open_session
from winback.desk.models import Case, User
from winback.desk.sync import sync_cases
from winback.errors import WinbackError

T = TypeVar("T")
# Below the engines' pool (5 + 10 overflow), so no thread waits for a connection.
THREADS = 12


def in_parallel(
    engine: Engine,
    user_ids: int | list[int],
    work: Callable[[Session, User, int], T],
    threads: int = THREADS,
) -> list[T | WinbackError]:
    """``work(session, user, i)`` in ``threads`` threads started together; each result, or
    the desk error it raised, in thread order. Any other exception fails the test. Thread
    ``i`` acts as ``user_ids[i % len(user_ids)]``."""
    ids = [user_ids] if isinstance(user_ids, int) else user_ids
    barrier = threading.Barrier(threads)
    results: list[T | WinbackError | None] = [None] * threads
    crashes: list[BaseException] = []

    def run(i: int) -> None:
        with open_session(engine) as db:
            user = db.get(User, ids[i % len(ids)])
            assert user is not None
            barrier.wait(timeout=30)
            try:
                results[i] = work(db, user, i)
            except WinbackError as exc:
                db.rollback()
                results[i] = exc
            except BaseException as exc:
                crashes.append(exc)

    running = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join(timeout=120)
    assert not crashes, f"unexpected errors: {crashes!r}"
    assert all(r is not None for r in results), "a thread did not finish"
    return [r for r in results if r is not None]


def wins(results: list[T | WinbackError]) -> list[T]:
    return [r for r in results if not isinstance(r, WinbackError)]


def kinds_of_errors(results: list[T | WinbackError]) -> list[str]:
    return sorted(type(r).__name__ for r in results if isinstance(r, WinbackError))


def rep_case(db: Session, rep: User, runs: Path) -> int:
    """One open case, the rep's, for the threads to race over."""
    sync_cases(db, None, make_run(runs, [{"customer_id": "c1", "rank": 1}]), policy=POLICY)
    case = db.scalars(select(Case)).one()
    case.owner_id = rep.id
    db.commit()
    return case.id
