"""A scan query that runs out of DuckDB's memory is run again on one thread.

DuckDB spills its joins, sorts and aggregates to disk when they outgrow the scan's memory
(``WINBACK_SCAN_MEMORY``), but each of its threads still needs room of its own: at 100M
orders the order lines grouped by customer, line and day (125M groups) ran out of 2GB on
two threads and finished on one, in the same CPU time. So the scan's DuckDB connection is
wrapped: a query that fails for memory is run once more on one thread, and the rest of
the scan stays on one thread (a second failure would cost as much again). A query that
fails for memory on one thread fails the scan (``pipeline.run_scan`` says what to set).
A query that no thread count helps (a median per customer cannot spill) is given another
way to the same result instead (:func:`or_instead`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, TypeVar

import duckdb

log = logging.getLogger(__name__)
T = TypeVar("T")

#: The backend's methods that run a query, wrapped by :func:`retry_on_one_thread`.
RUNNERS = ("execute", "to_pyarrow", "to_parquet")
# Set while :func:`or_instead` runs its first query: no retry on one thread then.
_WITHOUT_RETRY: ContextVar[bool] = ContextVar("winback_without_retry", default=False)


def retry_on_one_thread(con: Any) -> None:
    """Wrap the DuckDB backend ``con`` (Ibis's) so that each of :data:`RUNNERS` that runs
    out of memory is run again, once, on one thread."""
    for name in RUNNERS:
        method = getattr(con, name)
        setattr(con, name, _retrying(con, method))


def _retrying(con: Any, method: Callable[..., T]) -> Callable[..., T]:
    @functools.wraps(method)
    def run(*args: Any, **kwargs: Any) -> T:
        return retried(con, lambda: method(*args, **kwargs))

    return run


def retried(con: Any, query: Callable[[], T]) -> T:
    """``query()``, run again on one thread if it ran out of memory on more."""
    if _WITHOUT_RETRY.get():
        return query()
    try:
        return query()
    except duckdb.OutOfMemoryException as exc:
        threads = threads_of(con)
        if threads <= 1:
            raise
        log.warning(
            "a scan query ran out of memory on %d threads (%s): running it, and the rest "
            "of the scan, on one",
            threads,
            str(exc).splitlines()[0],
        )
        con.con.execute("SET threads = 1")
        return query()


def threads_of(con: Any) -> int:
    """How many threads DuckDB runs a query of ``con`` on."""
    # fetchall: a result left part-read blocks the connection's next query.
    rows = con.con.execute("SELECT current_setting('threads')").fetchall()
    return int(rows[0][0])


def or_instead(query: Callable[[], T], instead: Callable[[], T]) -> T:
    """``query()``, or ``instead()`` (the same result another way) if it ran out of memory:
    for a query that cannot spill, which one thread would not save. Neither the wasted
    retry nor the rest of the scan on one thread then."""
    token = _WITHOUT_RETRY.set(True)
    try:
        return query()
    except duckdb.OutOfMemoryException as exc:
        log.info("a scan query ran out of memory (%s): another way", str(exc).splitlines()[0])
    finally:
        _WITHOUT_RETRY.reset(token)
    return instead()
