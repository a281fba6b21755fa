"""winback.desk.bulk.insert_rows stores what the ORM stores: JSON (a null, nested values,
quotes and newlines), dates and times, booleans, and the model's defaults for columns the
rows leave out; on SQLite (executemany) and PostgreSQL (COPY)."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from winback.desk.bulk import _processed, insert_rows
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


# Values that compare (and hash) equal but bind differently: a key without the values'
# types would hand the second of each pair the first one's text.
LOOKALIKES: list[Any] = [
    ["1"],
    [1],
    [True],
    {"rude": True, "n": 1},
    {"rude": 1, "n": True},
    {"n": 1, "rude": True},  # the same items in another order: JSON keeps the order
    [0.0],
    [-0.0],
    None,
    ["a", "b"],
    ["a", "b"],
    [],
]


def _shown(bound: list[Any]) -> list[Any]:
    """Bound values as the database gets them (psycopg's Json wrapper holds the value,
    dumped as it is sent)."""
    return [json.dumps(b.obj) if hasattr(b, "obj") else b for b in bound]


def test_values_processed_once_each_bind_as_when_processed_one_by_one(db: Session) -> None:
    dialect = db.connection().dialect
    json_type = AuditEntry.__table__.c.after.type
    process = json_type._cached_bind_processor(dialect)
    assert process is not None
    assert _shown(_processed(process, LOOKALIKES)) == _shown([process(v) for v in LOOKALIKES])
    stamps = [AT, AT.replace(microsecond=0), AT, None]
    at_process = Case.__table__.c.opened_at.type._cached_bind_processor(dialect)
    if at_process is not None:  # SQLite's formatting; PostgreSQL binds them as they are
        assert _processed(at_process, stamps) == [at_process(v) for v in stamps]


def test_many_audit_rows_sharing_values_read_back_as_written(db: Session) -> None:
    row = {"actor_name": "winback sync", "entity": "case", "before": None, "at": AT}
    rows = [
        {**row, "action": f"bulk{i}", "entity_id": str(i), "after": after}
        for i, after in enumerate(LOOKALIKES * 200)  # past the trial of distinct values
    ]
    insert_rows(db, cast(Table, AuditEntry.__table__), rows)
    db.commit()

    stored = {
        e.action: e.after for e in db.scalars(select(AuditEntry).where(AuditEntry.entity == "case"))
    }
    assert len(stored) == len(rows)
    # As text: true is not 1, and the keys keep their order.
    assert {a: json.dumps(v) for a, v in stored.items()} == {
        r["action"]: json.dumps(r["after"]) for r in rows
    }
