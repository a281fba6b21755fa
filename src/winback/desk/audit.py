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
    db: Session, actor: User | None, rows: list[dict[str, Any]], system_name: str
) -> None:
    """Add many audit rows in one bulk INSERT (``rows``: action, entity, entity_id, before,
    after); for winback sync, which may open 100k cases at once."""
    if not rows:
        return
    now = utcnow()
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
    from a read (a hole) keeps ``floor`` below it until every transaction in progress at
    that read has ended (``marks``: each such read's newest id and snapshot xmax).
    ``complete`` False: the read began while writers were at work and could not know
    where their entries would land; the next read starts afresh (as with None)."""

    newest: int
    window: frozenset[int]
    floor: int = -1
    marks: tuple[tuple[int, int], ...] = ()
    complete: bool = True


def _snapshot(db: Session) -> tuple[int, int] | None:
    """PostgreSQL's (xmin, xmax) of a snapshot taken now: every transaction below xmin
    has ended; None elsewhere (SQLite commits writers one at a time, in id order)."""
    if db.connection().dialect.name != "postgresql":
        return None
    xmin, xmax = db.execute(
        text(
            "SELECT pg_snapshot_xmin(s)::text::bigint, pg_snapshot_xmax(s)::text::bigint "
            "FROM pg_current_snapshot() AS s"
        )
    ).one()
    return int(xmin), int(xmax)


def entries_since(db: Session, seen: Seen | None) -> tuple[list[tuple[str, str]], Seen]:
    """The (entity, entity_id) of the entries committed since ``seen`` (with None or an
    incomplete one: those among the last :data:`SLACK` ids), and how far this read got:
    one query, the ids above ``seen``'s floor (the newest of them is the log's newest).
    Caches that keep what the desk's data was use it: every change is audited in its own
    transaction."""
    snap = _snapshot(db)  # before the read: what ended by now is in it
    columns = select(AuditEntry.id, AuditEntry.entity, AuditEntry.entity_id)
    if seen is None or not seen.complete:
        rows = db.execute(columns.order_by(AuditEntry.id.desc()).limit(SLACK)).all()
        newest = max((n for n, _, _ in rows), default=0)
        ids = frozenset(n for n, _, _ in rows)
        fresh = [(entity, i) for _, entity, i in rows]
        # Writers at work now may commit entries anywhere below: read afresh next time.
        complete = snap is None or snap[0] >= snap[1]
        return fresh, Seen(newest, ids, newest - SLACK, complete=complete)
    floor = min(seen.floor, seen.newest - SLACK)
    rows = db.execute(columns.where(AuditEntry.id > floor)).all()
    newest = max((n for n, _, _ in rows), default=seen.newest)
    fresh = [(entity, i) for n, entity, i in rows if n not in seen.window]
    seen_now = {n for n, _, _ in rows}
    lowest = newest - SLACK
    marks: tuple[tuple[int, int], ...] = ()
    if snap is not None:
        # Holes at or below a mark whose transactions have all ended will stay holes.
        settled = max((top for top, xmax in seen.marks if xmax <= snap[0]), default=floor)
        marks = tuple(m for m in seen.marks if m[1] > snap[0])
        hole = next((n for n in range(max(floor, settled) + 1, newest) if n not in seen_now), None)
        if hole is not None:
            lowest = min(lowest, hole - 1)
            if snap[0] < snap[1]:
                marks = (*marks, (newest, snap[1]))
        if not marks:
            lowest = newest - SLACK
    window = frozenset(n for n in seen_now if n > lowest)
    return fresh, Seen(newest, window, lowest, marks)
