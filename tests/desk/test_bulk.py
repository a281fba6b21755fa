"""winback.desk.bulk.insert_rows stores what the ORM stores: JSON (a null, nested values,
quotes and newlines), dates and times, booleans, and the model's defaults for columns the
rows leave out; on SQLite (executemany) and PostgreSQL (COPY)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from winback.desk.bulk import insert_rows
from winback.desk.models import AuditEntry, Case

AT = datetime(2024, 7, 1, 6, 30, 15, 123456)
AFTER: dict[str, Any] = {
    "reasons": ['said "no"\tthen\nleft', "ünïcode, back\\slash"],
    "n": 3,
    "x": None,
}


def _read(db: Session, action: str) -> tuple[Any, ...]:
    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == action)).one()
    return entry.at, entry.actor_name, entry.entity_id, entry.before, entry.after


def test_audit_rows_read_back_as_the_orms(db: Session) -> None:
    row = {"actor_name": "winback sync", "entity": "case", "entity_id": "7", "before": None}
    db.add(AuditEntry(at=AT, action="orm", after=AFTER, **row))
    db.flush()
    insert_rows(
        db, cast(Table, AuditEntry.__table__), [{"at": AT, "action": "bulk", "after": AFTER, **row}]
    )
    db.commit()

    assert _read(db, "bulk") == _read(db, "orm")
    assert _read(db, "bulk")[4] == AFTER


def test_a_case_gets_the_models_defaults_for_columns_left_out(db: Session) -> None:
    values = {
        "customer_id": "c1",
        "state": "open",
        "priority": 1,
        "run_id": "r1",
        "customer_status": "lapsed",
        "contacted": False,
        "last_order_date": date(2024, 1, 10),
        "opened_at": AT,
        "updated_at": AT,
    }
    db.add(Case(**{**values, "customer_id": "c2"}))
    db.flush()
    insert_rows(db, cast(Table, Case.__table__), [values])
    db.commit()

    bulk, orm = (db.scalars(select(Case).where(Case.customer_id == c)).one() for c in ("c1", "c2"))
    columns = [c.key for c in Case.__table__.columns if c.key not in ("id", "customer_id")]
    assert {k: getattr(bulk, k) for k in columns} == {k: getattr(orm, k) for k in columns}
    assert (bulk.contacted, bulk.last_order_date, bulk.opened_at) == (False, date(2024, 1, 10), AT)
