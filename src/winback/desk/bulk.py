"""Many rows into one desk table in one executemany, without SQLAlchemy's per-row work.

SQLAlchemy's executemany builds and processes a parameter dictionary per row (at a
200k-case sync, seconds of Python). Here each column's bind processor (the JSON
serializer, SQLite's date and boolean conversions) is looked up once and applied down its
column, the column defaults of the model are filled in the same way, and the rows go to
the driver as tuples: one plain INSERT's executemany on SQLite, one COPY on PostgreSQL.
Values are bound parameters or COPY's own escaping, never SQL text.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session


def insert_rows(db: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """INSERT ``rows`` (dictionaries with the same keys, column names of ``table``) in the
    session's transaction; a column missing from them gets its model default, if any."""
    if not rows:
        return
    connection = db.connection()
    dialect = connection.dialect
    names = list(rows[0])
    columns: list[list[Any]] = [[row[name] for row in rows] for name in names]
    for column in table.columns:
        default = column.default
        if column.name in names or default is None or column.primary_key:
            continue
        if getattr(default, "is_scalar", False):
            values = [default.arg] * len(rows)  # type: ignore[attr-defined]
        elif getattr(default, "is_callable", False):
            values = [default.arg(None) for _ in rows]  # type: ignore[attr-defined]
        else:
            continue
        names.append(column.name)
        columns.append(values)
    for i, name in enumerate(names):
        process = table.c[name].type._cached_bind_processor(dialect)
        if process is not None:
            columns[i] = [process(v) for v in columns[i]]
    quote = dialect.identifier_preparer.quote
    into = f"{quote(table.name)} ({', '.join(quote(n) for n in names)})"
    if dialect.name == "postgresql":
        # COPY: psycopg adapts each row in C and streams them, one statement for all.
        cursor = connection.connection.cursor()
        try:
            with cursor.copy(f"COPY {into} FROM STDIN") as copy:
                for row in zip(*columns, strict=True):
                    copy.write_row(row)
        finally:
            cursor.close()
        return
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    sql = f"INSERT INTO {into} VALUES ({', '.join([mark] * len(names))})"
    connection.exec_driver_sql(sql, list(zip(*columns, strict=True)))
