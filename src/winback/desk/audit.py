"""The audit log: one append-only row per change. Written only by the service functions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Table, select, text
from sqlalchemy.orm import Session

from winback.desk.bulk import insert_rows
from winback.desk.models import AuditEntry, User, utcnow
from winback.desk.permissions import Action, require

SYSTEM = "system"
# Audit ids are drawn when a row is inserted, committed later: a transaction may commit an
# id below one already seen. A reader of the log (:func:`entries_since`) looks this far
# back again for ids it has not seen, so a late commit is not missed.
SLACK = 500


def _plain(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def record(
    db: Session,
    actor: User | None,
    action: str,
    entity: str,
    entity_id: object,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    *,
    system_name: str = SYSTEM,
) -> AuditEntry:
    """Add an audit row to the session (the caller commits with the change itself)."""
    entry = AuditEntry(
        actor_id=actor.id if actor else None,
        actor_name=actor.username if actor else system_name,
        action=action,
        entity=entity,
        entity_id=str(entity_id),
        before=_plain(before) if before is not None else None,
        after=_plain(after) if after is not None else None,
    )
    db.add(entry)
    return entry


def record_many(
    db: Session,
    actor: User | None,
    rows: list[dict[str, Any]],
    system_name: str,
    at: datetime | None = None,
) -> None:
    """Add many audit rows in one bulk INSERT (``rows``: action, entity, entity_id, before,
    after); for winback sync, which may open 100k cases at once. ``at``: their moment
    (now by default; a sync writing in pieces gives all of them its own)."""
    if not rows:
        return
    now = utcnow() if at is None else at
    insert_rows(
        db,
        cast(Table, AuditEntry.__table__),
        [
            {
                "at": now,
                "actor_id": actor.id if actor else None,
                "actor_name": actor.username if actor else system_name,
                "action": r["action"],
                "entity": r["entity"],
                "entity_id": str(r["entity_id"]),
                "before": _plain(r["before"]) if r["before"] is not None else None,
                "after": _plain(r["after"]) if r["after"] is not None else None,
            }
            for r in rows
        ],
    )


def changes(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the fields that differ, as (before, after)."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


def read_log(
    db: Session,
    actor: User,
    *,
    entity: str | None = None,
    entity_id: str | None = None,
    limit: int = 100,
    before_id: int | None = None,
    after_id: int | None = None,
) -> list[AuditEntry]:
    """The newest audit rows first (keyset-paged by id: below ``before_id``, or the
    oldest ``limit`` above ``after_id`` for the page before). Runs one SQL query."""
    require(actor, Action.VIEW_AUDIT)
    newer = after_id is not None and before_id is None
    order = AuditEntry.id.asc() if newer else AuditEntry.id.desc()
    query = select(AuditEntry).order_by(order).limit(min(limit, 500))
    if entity:
        query = query.where(AuditEntry.entity == entity)
    if entity_id:
        query = query.where(AuditEntry.entity_id == entity_id)
    if before_id:
        query = query.where(AuditEntry.id < before_id)
    if newer:
        query = query.where(AuditEntry.id > after_id)
    rows = list(db.scalars(query))
    return rows[::-1] if newer else rows


def has_entries(
    db: Session, *, entity: str | None = None, below: int | None = None, above: int | None = None
) -> bool:
    """Whether any audit row (of ``entity``) lies below or above an id: the pager's test."""
    query = select(AuditEntry.id)
    if entity:
        query = query.where(AuditEntry.entity == entity)
    if below is not None:
        query = query.where(AuditEntry.id < below)
    if above is not None:
        query = query.where(AuditEntry.id > above)
    return db.scalar(query.limit(1)) is not None


def case_history(db: Session, case_ids: list[int]) -> list[AuditEntry]:
    """Audit rows of the given cases, oldest first (for the customer page)."""
    if not case_ids:
        return []
    query = (
        select(AuditEntry)
        .where(AuditEntry.entity == "case", AuditEntry.entity_id.in_([str(i) for i in case_ids]))
        .order_by(AuditEntry.id)
    )
    return list(db.scalars(query))


@dataclass(frozen=True)
class Seen:
    """How far a reader of the log has read: the newest id then, and the ids it saw above
    ``floor`` (every id at or below it was read, or will never commit).

    On PostgreSQL a transaction may commit ids far below the newest (winback sync writes
    its entries, then reads the ledger for owners while reps commit theirs): an id missing
    from a read (a hole) keeps ``floor`` below it until every transaction of this database
    that may have been writing at that read has ended (``marks``: each such read's newest
    id and those transactions, see :func:`_writers`). ``complete`` False: writers were at
    work (or the reader's own transaction has written, and may roll back) and could still
    commit entries below what was read; the next read starts afresh (as with None)."""

    newest: int
    window: frozenset[int]
    floor: int = -1
    marks: tuple[tuple[int, frozenset[str]], ...] = ()
    complete: bool = True


@dataclass(frozen=True)
class _Activity:
    writers: frozenset[str]  # the transactions of this database that may be writing
    unsure: bool  # this transaction has written, or reads from an older snapshot


# Transactions of this database, other than the reader's, that hold a transaction id or
# a snapshot (running a statement): an INSERT draws its audit id (nextval) before it takes
# its transaction id, so a statement without one yet may be writing. Each is named by its
# backend and start, which stay the same when it takes its id; a session of another role
# shows only its pid and ids (without pg_read_all_stats), so it is named by its pid alone
# and counts as at work as long as it holds either.
_WRITERS = text(
    "SELECT coalesce(array_agg(pid::text || coalesce('@' || xact_start::text, '')), '{}'),"
    " pg_current_xact_id_if_assigned() IS NOT NULL"
    " OR current_setting('transaction_isolation') <> 'read committed' "
    "FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    " AND coalesce(backend_type, 'client backend') = 'client backend'"
    " AND (backend_xid IS NOT NULL OR backend_xmin IS NOT NULL)"
)


def _writers(db: Session) -> _Activity | None:
    """The transactions of this database that may be writing audit entries now; None
    elsewhere (SQLite commits writers one at a time, in id order)."""
    return _at_work(db) if db.connection().dialect.name == "postgresql" else None


def _at_work(db: Session) -> _Activity:
    """:func:`_writers` on PostgreSQL (two SQL queries). Not PostgreSQL's snapshot: its
    xmax is one past the newest transaction that *ended*, so a writer holding the newest
    transaction id is neither listed nor above xmax; and it counts the writers of every
    database on the server."""
    # The sessions' states are read once per transaction and kept: read them anew.
    db.execute(text("SELECT pg_stat_clear_snapshot()"))
    writers, unsure = db.execute(_WRITERS).one()
    return _Activity(frozenset(writers), bool(unsure))


def entries_since(db: Session, seen: Seen | None) -> tuple[list[tuple[str, str]], Seen]:
    """The (entity, entity_id) of the entries committed since ``seen`` (with None or an
    incomplete one: those among the last :data:`SLACK` ids), and how far this read got:
    one query, the ids above ``seen``'s floor (the newest of them is the log's newest),
    and on PostgreSQL a look at the writers at work before and after it.
    Caches that keep what the desk's data was use it, and read the data after it: every
    change is audited in its own transaction."""
    columns = select(AuditEntry.id, AuditEntry.entity, AuditEntry.entity_id)
    if seen is None or not seen.complete:
        rows = db.execute(columns.order_by(AuditEntry.id.desc()).limit(SLACK)).all()
        newest = max((n for n, _, _ in rows), default=0)
        ids = frozenset(n for n, _, _ in rows)
        fresh = [(entity, i) for _, entity, i in rows]
        # Any entry missing from the read was drawn before it, by a transaction that has
        # ended by now (what the caller reads next shows it) or is still at work (it may
        # commit entries anywhere below: read afresh next time).
        after = _writers(db)
        complete = after is None or not (after.writers or after.unsure)
        return fresh, Seen(newest, ids, newest - SLACK, complete=complete)
    before = _writers(db)  # before the read: what ended by now is in it
    floor = min(seen.floor, seen.newest - SLACK)
    rows = db.execute(columns.where(AuditEntry.id > floor)).all()
    newest = max((n for n, _, _ in rows), default=seen.newest)
    fresh = [(entity, i) for n, entity, i in rows if n not in seen.window]
    seen_now = {n for n, _, _ in rows}
    lowest = newest - SLACK
    marks: tuple[tuple[int, frozenset[str]], ...] = ()
    if before is not None:
        # Holes at or below a mark whose writers have all ended will stay holes.
        ended = [top for top, writers in seen.marks if not writers & before.writers]
        settled = max(ended, default=floor)
        marks = tuple(m for m in seen.marks if m[0] > settled)
        hole = next(
            (n for n in range(max(floor, settled, 0) + 1, newest) if n not in seen_now), None
        )
        if hole is None:
            marks = ()
        else:
            # Its writer drew it before this read: it is at work after the read, or it has
            # ended, and then the next read, still from below the hole, sees its entries.
            lowest = min(lowest, hole - 1)
            marks = (*marks, (newest, _at_work(db).writers))
    window = frozenset(n for n in seen_now if n > lowest)
    complete = before is None or not before.unsure
    return fresh, Seen(newest, window, lowest, marks, complete)
