"""winback.desk.bulk.insert_rows stores what the ORM stores: JSON (a null, nested values,
quotes and newlines), dates and times, booleans, and the model's defaults for columns the
rows leave out; on SQLite (executemany) and PostgreSQL (COPY)."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from winback.desk.bulk import _processed, insert_rows, update_rows
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


def _case(customer_id: str) -> Case:
    return Case(
        customer_id=customer_id,
        state="open",
        priority=1,
        run_id="r1",
        customer_status="lapsed",
        contacted=False,
        last_order_date=date(2024, 1, 10),
        opened_at=AT,
        updated_at=AT,
    )


def test_rows_updated_read_back_as_the_orms_bulk_update(db: Session) -> None:
    cases = [_case(c) for c in ("c1", "c2", "c3")]
    db.add_all(cases)
    db.flush()
    ids = [c.id for c in cases]
    values: dict[str, Any] = {
        "customer_name": 'Zoë "Z" O\'Neil',
        "reasons": ['said "no"\tthen\nleft', "ünïcode, back\\slash"],
        "decision_reasons": [],
        "intangibles": {"rude": None, "heavy_contact": True, "recent_incidents": 2},
        "p_alive": 0.123456789,
        "predicted_value": None,
        "last_order_date": date(2024, 3, 5),
        "priority": 42,
        "updated_at": AT.replace(second=59),
        "run_id": "r2",
    }
    db.execute(update(Case), [{"id": ids[0], **values}])
    update_rows(db, Case, [{"id": ids[1], **values}])
    # The session's own object reads the new values, as after the ORM's update.
    assert (cases[1].priority, cases[1].reasons) == (42, values["reasons"])
    db.commit()
    db.expire_all()

    orm, bulk, untouched = (db.get(Case, i) for i in ids)
    columns = [c.key for c in Case.__table__.columns if c.key not in ("id", "customer_id")]
    assert {k: getattr(bulk, k) for k in columns} == {k: getattr(orm, k) for k in columns}
    assert bulk is not None
    assert untouched is not None
    assert (bulk.reasons, bulk.intangibles, bulk.priority) == (
        values["reasons"],
        values["intangibles"],
        42,
    )
    assert (untouched.priority, untouched.run_id, untouched.reasons) == (1, "r1", [])


def test_an_update_lands_after_the_sessions_pending_changes(db: Session) -> None:
    case = _case("c1")
    db.add(case)
    db.flush()
    case.priority = 5  # pending: flushed before the update, not over it at commit
    update_rows(db, Case, [{"id": case.id, "priority": 7}])
    db.commit()
    db.expire_all()

    assert db.scalar(select(Case.priority).where(Case.id == case.id)) == 7
