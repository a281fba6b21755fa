"""The desk's big-write helpers (winback.desk.db): a roomy SQLite page cache for one
transaction, and a table's indexes dropped for a bulk insert and made again after it.
Both are no-ops on PostgreSQL; on both databases the indexes after are the indexes before,
and one open case per customer still holds."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import psycopg
import pytest
from sqlalchemy import Table, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from winback.desk import db as desk_db
from winback.desk.bulk import insert_rows
from winback.desk.db import indexes_made_after, roomy_cache, write_lock
from winback.desk.models import Case

AT = datetime(2024, 7, 1, 6, 30)


def _indexes(db: Session) -> list[tuple[str, str]]:
    connection = db.connection()
    if connection.dialect.name == "sqlite":
        query = (
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'cases' "
            "AND sql IS NOT NULL ORDER BY name"
        )
    else:
        query = "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'cases' ORDER BY 1"
    return [(name, sql) for name, sql in connection.exec_driver_sql(query)]


def _case(customer: str, priority: int) -> dict[str, Any]:
    return {
        "customer_id": customer,
        "state": "open",
        "contacted": False,
        "priority": priority,
        "run_id": "r1",
        "customer_status": "lapsed",
        "opened_at": AT,
        "updated_at": AT,
    }


@pytest.fixture
def few_rows_are_many(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(desk_db, "REBUILD_FROM_ROWS", 2)


@pytest.mark.usefixtures("few_rows_are_many")
def test_indexes_made_again_after_a_big_insert(db: Session) -> None:
    before = _indexes(db)
    assert len(before) > 10
    write_lock(db)
    with indexes_made_after(db, "cases", 50):
        insert_rows(db, cast(Table, Case.__table__), [_case(f"c{i}", i) for i in range(50)])
    db.commit()

    assert _indexes(db) == before
    assert db.scalar(select(func.count()).select_from(Case).where(Case.state == "open")) == 50
    # The queue's order reads through the indexes made again.
    first = db.scalars(select(Case.customer_id).order_by(Case.priority).limit(2)).all()
    assert first == ["c0", "c1"]


@pytest.mark.usefixtures("few_rows_are_many")
def test_a_second_open_case_for_a_customer_is_refused_with_the_indexes_dropped(
    db: Session,
) -> None:
    before = _indexes(db)
    write_lock(db)
    rows = [_case("c1", 1), _case("c2", 2), _case("c1", 3)]
    # PostgreSQL's COPY (bulk.insert_rows) raises the driver's own error.
    refused = (IntegrityError, psycopg.IntegrityError)
    with pytest.raises(refused), indexes_made_after(db, "cases", len(rows)):
        insert_rows(db, cast(Table, Case.__table__), rows)
    db.rollback()

    assert _indexes(db) == before
    assert db.scalar(select(func.count()).select_from(Case)) == 0


@pytest.mark.usefixtures("few_rows_are_many")
def test_a_table_holding_more_rows_than_come_keeps_its_indexes(db: Session) -> None:
    insert_rows(db, cast(Table, Case.__table__), [_case(f"c{i}", i) for i in range(5)])
    db.commit()
    write_lock(db)
    seen: list[int] = []
    with indexes_made_after(db, "cases", 3):
        seen.append(len(_indexes(db)))
    db.rollback()
    assert seen == [len(_indexes(db))]


def test_the_roomy_cache_is_the_connections_own_again_after(db: Session) -> None:
    connection = db.connection()
    if connection.dialect.name != "sqlite":
        with roomy_cache(db, 4096):
            pass
        return
    own = connection.exec_driver_sql("PRAGMA cache_size").scalar()
    with roomy_cache(db, 4096):
        assert connection.exec_driver_sql("PRAGMA cache_size").scalar() == -4096
    assert connection.exec_driver_sql("PRAGMA cache_size").scalar() == own
    assert own != -4096


@pytest.mark.usefixtures("few_rows_are_many")
def test_nobody_else_sees_the_table_without_its_indexes_even_outside_a_transaction(
    db: Session,
) -> None:
    """Python's sqlite3 opens no transaction for DDL: called outside one, a DROP INDEX
    would commit at once (another connection would see the table without its indexes,
    the one open case per customer among them, and a crash before the CREATE would leave
    it so). The helper takes the write lock itself."""
    before = _indexes(db)
    db.commit()
    seen: list[list[tuple[str, str]]] = []
    with (
        indexes_made_after(db, "cases", 50),
        db.get_bind().connect() as other,
        Session(other) as elsewhere,
    ):
        seen.append(_indexes(elsewhere))
    db.commit()
    assert seen == [before]
    assert _indexes(db) == before
