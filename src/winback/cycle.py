"""The cycle: every sequence of steps that crosses rooms, in one place.

The rooms each do one thing (the ledger stores facts, the scan judges, the desk holds the
work); the order in which they run after something happens lives here and nowhere else.
The command line, the web app, the demo and the scheduler call these functions:

* :func:`after_import`: a file reached the ledger, so red-carpet customers' new orders and
  interactions are counted down.
* :func:`scan`: the desk's closed cases go to the ledger first (so the win-back odds learn
  from them), the scan runs, and its run is synced into the desk.
* :func:`sync`: the desk's cases follow one scan run; outcomes go to the ledger; the red
  carpet counts and watches; the customer timeline copy is rebuilt.
* :func:`after_close`: a case was closed (side effects after the desk's commit).
* :func:`run_pass`: the periodic pass: the drop folder imported, then :func:`scan` (with
  its sync), then each user's daily digest of unread notices queued and the outbox's
  queued e-mail sent (:func:`send_outbox`, when SMTP is set up), each step recorded in
  the desk so managers see whether last night worked.

Every function takes one :class:`~winback.policy.Policy`, read once by the caller
(:func:`policy_in_force`), so one run of the cycle never mixes two policy files.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from winback.desk import complaints, digests, feeds, passes, red_carpet, scan_lookup, search
from winback.desk.campaign_outcomes import export_campaign_outcomes
from winback.desk.complaints import IncomingPost, Routing, TakeResult
from winback.desk.db import desk_engine, open_session
from winback.desk.matching import Customer, Directory, order_tokens
from winback.desk.models import CyclePass, User
from winback.desk.outbox import SendReport, SmtpSettings, send_queued
from winback.desk.outcomes import ExportResult, export_outcomes
from winback.desk.sync import SyncResult, sync_cases
from winback.errors import NoScanRunError, WinbackError
from winback.ledger import reads, timeline
from winback.ledger.inbox import import_inbox
from winback.ledger.store import Ledger
from winback.policy import Policy, load_policy
from winback.scan.pipeline import run_scan
from winback.scan.runs import ScanRun, latest_run
from winback.settings import Settings

# How long a close waits for the ledger's write lock before leaving its outcome pending
# for the next sync or scan (a person is waiting on the answer).
CLOSE_EXPORT_WAIT_SECONDS = 2.0
# The longest a pass of the cycle sends e-mail; what is left waits for the next pass (or
# winback outbox send), so a big campaign never holds the pass lock for hours.
PASS_SEND_SECONDS = 50 * 60
log = logging.getLogger(__name__)


def policy_in_force(settings: Settings, path: Path | None = None) -> Policy:
    """The policy one pass of the cycle uses: ``path`` when given, else the workspace's
    (``WINBACK_POLICY``, else ``policy.toml`` in the workspace, else the defaults)."""
    return load_policy(path) if path is not None else settings.read_policy()


@contextmanager
def desk_session(settings: Settings) -> Iterator[Session]:
    """A session on the workspace's desk database (migrated), its engine let go after."""
    engine = desk_engine(settings.desk_database_url)
    try:
        with open_session(engine) as db:
            yield db
    finally:
        engine.dispose()


def _ledger(settings: Settings) -> Ledger | None:
    """The workspace's ledger, or None before anything was imported."""
    ledger = Ledger(settings.ledger_dir)
    return ledger if ledger.manifest_path.exists() else None


def export_outcomes_of(settings: Settings) -> ExportResult | None:
    """Send the desk's closed cases to the ledger's winback_outcomes (None: no desk or no
    ledger yet)."""
    ledger = _ledger(settings)
    if not settings.has_desk or ledger is None:
        return None
    with desk_session(settings) as db:
        exported = export_outcomes(db, ledger, settings.rejects_dir, memory=settings.import_memory)
        _campaign_outcomes(db, settings, ledger)
        return exported


def _campaign_outcomes(db: Session, settings: Settings, ledger: Ledger) -> None:
    """Finished campaigns' members to the ledger too (desk/campaign_outcomes.py); a busy
    ledger leaves them for the next export."""
    done = export_campaign_outcomes(db, ledger, settings.rejects_dir, memory=settings.import_memory)
    if done.problem:
        log.warning("campaign outcomes not exported: %s", done.problem)


def after_import(settings: Settings, policy: Policy) -> dict[str, int] | None:
    """Count the red carpets down with what the ledger now holds. None when the workspace
    has no desk database (no SQLite file and no WINBACK_DESK_URL)."""
    ledger = _ledger(settings)
    if not settings.has_desk or ledger is None:
        return None
    with desk_session(settings) as db:
        return red_carpet.absorb_ledger(db, ledger, policy.red_carpet)


@dataclass
class ScanResult:
    """What one :func:`scan` did: the outcomes sent first, the run, and its sync."""

    run: ScanRun
    exported: ExportResult | None
    synced: SyncResult | None


def scan(
    settings: Settings,
    policy: Policy,
    *,
    as_of: date | None = None,
    engine: str = "duckdb",
    step: Callable[[str], None] = lambda _name: None,
    sync_desk: bool = True,
) -> ScanResult:
    """Outcomes to the ledger, the scan, then (``sync_desk``) the desk synced with it."""
    exported = export_outcomes_of(settings)
    step("scanning")
    run = run_scan(
        Ledger(settings.ledger_dir),
        settings.runs_dir,
        policy,
        as_of=as_of,
        step=step,
        engine=engine,
        spark_master=settings.spark_master,
        spark_driver_memory=settings.spark_driver_memory,
        memory=settings.scan_memory,
    )
    synced = None
    if sync_desk:
        step("syncing the desk")
        synced = sync(settings, policy, run)
    return ScanResult(run, exported, synced)


def sync(
    settings: Settings,
    policy: Policy,
    run: ScanRun | None = None,
    *,
    db: Session | None = None,
    actor: User | None = None,
    rebuild_timeline: bool = True,
) -> SyncResult:
    """Open, refresh and close cases from ``run`` (default: the latest run), send the
    closed ones' outcomes to the ledger, count and watch the red carpet, rebuild the
    customer timeline copy and make the run's customer-sorted lookup copy. ``db`` and
    ``actor``: the web app's session and user."""
    run = run or latest_run(settings.runs_dir)
    if run is None:
        raise NoScanRunError(f"no scan run in {settings.runs_dir} yet: run a scan first")
    ledger = _ledger(settings)
    if db is None:
        with desk_session(settings) as own:
            result = _sync_in(own, settings, policy, run, ledger, actor)
    else:
        result = _sync_in(db, settings, policy, run, ledger, actor)
    if ledger is not None and rebuild_timeline:
        refresh_timeline(settings)
    # The customer page's lookup copy of the run, made now rather than by the first
    # customer page a rep opens (a few seconds at 1M customers).
    scan_lookup.lookup_file(run)
    return result


def _sync_in(
    db: Session,
    settings: Settings,
    policy: Policy,
    run: ScanRun,
    ledger: Ledger | None,
    actor: User | None,
) -> SyncResult:
    result = sync_cases(db, actor, run, ledger=ledger, policy=policy)
    if ledger is not None:
        result.outcomes = export_outcomes(
            db, ledger, settings.rejects_dir, memory=settings.import_memory
        )
        _campaign_outcomes(db, settings, ledger)
    # Red-carpet customers: count what arrived, then watch them through the run.
    rules = policy.red_carpet
    result.red_carpet = red_carpet.absorb_ledger(db, ledger, rules, actor=actor)
    result.red_carpet["slipped"] += red_carpet.check_run(db, run, rules, actor=actor)
    return result


def after_close(settings: Settings, sessions: Callable[[], Session]) -> ExportResult | None:
    """After a case closed (and its transaction committed): send its outcome to the ledger
    at once if the ledger is free, waiting at most 2 s; otherwise ``sync`` or the next
    ``scan`` sends it. Never raises: the close stands whatever happens here."""
    ledger = _ledger(settings)
    if ledger is None:
        return None
    try:
        with sessions() as db:
            return export_outcomes(
                db,
                ledger,
                settings.rejects_dir,
                wait_seconds=CLOSE_EXPORT_WAIT_SECONDS,
                memory=settings.import_memory,
            )
    except Exception:  # the close is committed; the next sync or scan sends the outcome
        log.exception("outcome export after a close failed; it stays pending")
        return None


def refresh_timeline(settings: Settings) -> Path | None:
    """Rebuild the customer-sorted copy of the ledger's timeline tables and, beside it,
    the customer search index (None: no ledger)."""
    ledger = _ledger(settings)
    if ledger is None:
        return None
    copy = timeline.build(timeline.root_of(settings.home), ledger, settings.import_memory)
    run = latest_run(settings.runs_dir)
    search.build(search.root_of(settings.home), ledger, run, settings.import_memory)
    return copy


def routing_of(settings: Settings) -> Routing:
    """What routing a public post needs: the ledger, the latest scan run and the customers
    to match against (read now, once)."""
    ledger = _ledger(settings)
    directory = Directory(Customer(**row) for row in reads.customer_directory(ledger))
    return Routing(ledger=ledger, run=latest_run(settings.runs_dir), directory=directory)


def take_public_posts(
    settings: Settings, db: Session, policy: Policy, incoming: list[IncomingPost]
) -> TakeResult:
    """Store, match and route posts from any source (a feed, the webhook, the import):
    a matched complaint opens its urgent case now. The customers are read only when a
    post is new."""
    fresh = complaints.new_posts(db, incoming)
    if not fresh:
        db.commit()  # what the caller flushed stands (the webhook's signature, seen once)
        return TakeResult(duplicates=len(incoming))
    routing = routing_of(settings)
    tokens = sorted({t for post in fresh for t in order_tokens(post.text)})
    orders = reads.order_customers(routing.ledger, tokens)
    assert routing.directory is not None
    done = complaints.take_posts(db, fresh, routing.directory, policy, routing, orders=orders)
    done.duplicates += len(incoming) - len(fresh)
    return done


def imported_posts(settings: Settings) -> list[IncomingPost]:
    """The ledger's imported ``public_posts`` rows as posts for the desk."""
    return [
        IncomingPost(
            origin="import",
            source_name=str(row["source"] or "import"),
            external_id=str(row["post_id"]),
            url=row["url"],
            author=row["author"],
            text=row["text"] or "",
            posted_at=row["posted_at"],
            customer_id=row["customer_id"],
        )
        for row in reads.public_posts(_ledger(settings))
    ]


def sources_step(
    settings: Settings, db: Session, policy: Policy
) -> tuple[dict[str, int], list[str]]:
    """The pass's public-posts step: the policy's feeds added as sources, every feed
    polled, the imported posts taken in, then overdue urgent cases escalated."""
    feeds.add_policy_feeds(db, policy)
    polled, poll = feeds.poll_feeds(db, policy)
    taken = take_public_posts(settings, db, policy, polled + imported_posts(settings))
    counts = {**poll.counts(), **{f"posts_{k}": v for k, v in taken.counts().items()}}
    counts["posts_escalated"] = complaints.escalate_overdue(db)
    return counts, poll.problems


@dataclass
class PassReport:
    """What one pass of the cycle did (also recorded in the desk's ``cycle_passes``)."""

    pass_id: int
    outcome: str
    counts: dict[str, Any]
    error: str | None


def run_pass(
    settings: Settings,
    *,
    trigger: str = "command",
    slot: str | None = None,
    say: Callable[[str], None] = lambda _text: None,
) -> PassReport | None:
    """One pass: import the drop folder, then scan and sync under the policy in force.

    Returns None, doing nothing, when another pass holds the lock or ``slot`` has been
    run already. Never raises for a failed step: the pass is recorded as failed, with the
    error, and the next pass tries again. Every pass's record is in the desk.
    """
    engine = desk_engine(settings.desk_database_url)
    lock = passes.PassLock(engine)
    try:
        if not lock.acquire():
            return None
        with open_session(engine) as db:
            record = passes.begin_pass(db, trigger=trigger, slot=slot)
            if record is None:
                return None
            counts: dict[str, Any] = {}
            error = _pass_steps(settings, db, record, lock, counts, say)
            error = _outbox_step(settings, engine, db, record, lock, counts, error)
            passes.finish_pass(db, record, counts, error)
            return PassReport(record.id, record.outcome, counts, error)
    finally:
        lock.release()
        engine.dispose()


def _pass_steps(
    settings: Settings,
    db: Session,
    record: CyclePass,
    lock: passes.PassLock,
    counts: dict[str, Any],
    say: Callable[[str], None],
) -> str | None:
    """Run the pass's steps in order, counting into ``counts``; the error, if any."""
    problems: list[str] = []
    try:
        passes.mark_step(db, record, "policy", counts)
        policy = policy_in_force(settings)
        passes.mark_step(db, record, "inbox", counts)
        ledger = Ledger(settings.ledger_dir)
        arrived = import_inbox(
            ledger,
            settings.inbox_dir,
            rejects_dir=settings.rejects_dir,
            memory=settings.import_memory,
            say=say,
        )
        counts.update(arrived.counts())
        problems += [f"{name}: {why} (moved to failed/)" for name, why in arrived.failed]
        lock.renew()
        passes.mark_step(db, record, "sources", counts)
        try:
            found, trouble = sources_step(settings, db, policy)
            counts.update(found)
            if trouble:  # a feed backing off: seen on the page, the pass goes on
                counts["feed_problems"] = trouble
        except Exception as exc:  # the scan still runs; the next pass tries the sources again
            db.rollback()
            log.exception("the public-posts step of pass %s failed", record.id)
            problems.append(f"public posts: {type(exc).__name__}: {exc}")
        lock.renew()
        if not _has_orders(ledger):
            counts["scan"] = "nothing to scan: the ledger holds no orders yet"
            return "; ".join(problems) or None
        passes.mark_step(db, record, "scan", counts)
        done = scan(settings, policy, step=say)
        counts["run_id"] = done.run.info.run_id
        counts.update({f"customers_{k}": v for k, v in done.run.info.counts.items()})
        if done.synced is not None:
            counts.update({f"cases_{k}": v for k, v in done.synced.counts().items()})
            counts.update({f"red_carpet_{k}": v for k, v in (done.synced.red_carpet or {}).items()})
        lock.renew()
    except WinbackError as exc:
        problems.append(str(exc))
    except Exception as exc:  # a bug: recorded for the page, the traceback to the log
        log.exception("the cycle's pass %s failed", record.id)
        problems.append(f"unexpected error ({type(exc).__name__}: {exc}); see the server log")
    return "; ".join(problems) or None


def send_outbox(
    settings: Settings,
    engine: Engine,
    *,
    rate: float | None = None,
    progress: Callable[[int, int], None] | None = None,
    stop_after: float | None = None,
) -> SendReport | None:
    """Send the outbox's queued e-mail through the configured SMTP server, at ``rate`` a
    second (default WINBACK_SMTP_RATE); None, sending nothing, when SMTP is not set up."""
    smtp = SmtpSettings.from_settings(settings)
    if smtp is None:
        return None
    return send_queued(
        engine,
        smtp,
        rate_per_second=rate if rate is not None else settings.smtp_rate,
        progress=progress,
        stop_after=stop_after,
    )


def _outbox_step(
    settings: Settings,
    engine: Engine,
    db: Session,
    record: CyclePass,
    lock: passes.PassLock,
    counts: dict[str, Any],
    error: str | None,
) -> str | None:
    """The pass's last steps, after sync (when SMTP is set up): queue each user's daily
    digest of unread notices, then send queued e-mail. A failure here is added to the
    pass's error; what was not sent stays queued."""
    if SmtpSettings.from_settings(settings) is None:
        return error
    passes.mark_step(db, record, "digests", counts)
    digest_problem: str | None = None
    try:
        digested = digests.queue_digests(db, settings.public_url or "")
        counts["digests_queued"] = digested.queued
    except Exception as exc:  # the e-mail already queued is still sent
        db.rollback()
        log.exception("the digest step of pass %s failed", record.id)
        digest_problem = f"digests: {type(exc).__name__}: {exc}"
    error = "; ".join(p for p in (error, digest_problem) if p) or None
    passes.mark_step(db, record, "outbox", counts)
    renewed = [time.monotonic()]

    def keep_lock(_done: int, _total: int) -> None:
        if time.monotonic() - renewed[0] > 60:
            lock.renew()
            renewed[0] = time.monotonic()

    problem: str | None = None
    try:
        sent = send_outbox(settings, engine, progress=keep_lock, stop_after=PASS_SEND_SECONDS)
        if sent is not None:
            counts.update(
                {
                    f"emails_{name}": getattr(sent, name)
                    for name in ("sent", "bounced", "deferred", "failed", "unknown", "blocked")
                }
            )
    except WinbackError as exc:
        problem = f"e-mail: {exc}"
    except Exception as exc:  # a bug: recorded for the page, the traceback to the log
        log.exception("the e-mail step of pass %s failed", record.id)
        problem = f"e-mail: unexpected error ({type(exc).__name__}: {exc}); see the server log"
    return "; ".join(p for p in (error, problem) if p) or None


def _has_orders(ledger: Ledger) -> bool:
    return ledger.manifest_path.exists() and bool(ledger.manifest().segments("orders"))
