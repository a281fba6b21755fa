"""Reports kept, so a dashboard read again and again is built once.

A report is kept under what it was built from. Every change the desk makes is written to
the audit log in the same transaction, so a new entry in the log means the desk's data
changed: the store reads the log with :func:`winback.desk.audit.entries_since` (which also
sees an entry committed late, below an id already read) and counts the reads that found
any; the ledger's batch count covers the revenue since the win-back. A report built again
re-reads only the worked cases the audit log names as changed since the last build
(:class:`winback.insights.reasons.WorkedCache`).
"""

from __future__ import annotations

import gc
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from winback.desk import audit
from winback.desk.dashboard import OpenCases
from winback.desk.models import User
from winback.desk.permissions import Action, require
from winback.insights.reasons import ReasonsReport, WorkedCache, build_report
from winback.insights.render import report_context
from winback.ledger.store import Ledger
from winback.scan.runs import ScanRun

KEEP = 8  # reports kept per store: a few `since` dates for a few desk states


@dataclass
class Kept:
    """A report built, and its drawn charts once a page has asked for them."""

    report: ReasonsReport
    _context: dict[str, Any] | None = None

    def context(self) -> dict[str, Any]:
        """What the report's templates need; the charts are drawn the first time only."""
        if self._context is None:
            self._context = report_context(self.report)
        return self._context


@contextmanager
def _collection_paused() -> Iterator[None]:
    """The cyclic garbage collector held off while a report is built: the build makes some
    100k short-lived objects over 10,000s of worked cases, and a full collection of the
    app's heap started by them cost 50-150 ms of a rebuild. Collection resumes after (and
    catches up then); reference counting frees the build's objects as usual meanwhile."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


class ReportStore:
    """The reasons x revenue reports of one app, newest used last; safe across threads."""

    def __init__(self, keep: int = KEEP) -> None:
        self.keep = keep
        self._lock = threading.Lock()
        self._kept: OrderedDict[Any, Kept] = OrderedDict()
        # How far the audit log was read, and how many reads found the desk changed.
        self._seen: audit.Seen | None = None
        self._desk_state = 0
        # The worked cases, re-read only where the audit log says they changed.
        self.worked = WorkedCache()
        # The headline's open cases, kept the same way.
        self.open_cases = OpenCases()

    def get(
        self,
        db: Session,
        user: User,
        ledger: Ledger,
        since: date | None,
        run: ScanRun | None = None,
    ) -> Kept:
        """The report for ``since`` as the desk and ledger are now: built when they changed
        since it was kept (one audit-log lookup and one manifest read otherwise)."""
        require(user, Action.VIEW_REPORTS)
        batches = ledger.manifest().batches if ledger.manifest_path.exists() else 0
        run_id = run.info.run_id if run else None
        key = (since, self._desk_now(db), batches, run_id)
        with self._lock:
            if key in self._kept:
                self._kept.move_to_end(key)
                return self._kept[key]
        with _collection_paused():
            entry = Kept(build_report(db, user, ledger, since=since, run=run, cache=self.worked))
        with self._lock:
            self._kept[key] = entry
            while len(self._kept) > self.keep:
                self._kept.popitem(last=False)
        return entry

    def _desk_now(self, db: Session) -> int:
        """A number that changes whenever the desk's data has since the last call: one
        read of the audit log's newest entries. The newest id alone would miss a
        transaction that drew a lower id and committed after it was read."""
        with self._lock:
            fresh, seen = audit.entries_since(db, self._seen)
            if fresh or self._seen is None or not self._seen.complete:
                self._desk_state += 1
            self._seen = seen
            return self._desk_state
