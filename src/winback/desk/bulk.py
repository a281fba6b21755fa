"""Many rows into (or updated in) one desk table in one executemany, without SQLAlchemy's
per-row work.

SQLAlchemy's executemany builds and processes a parameter dictionary per row (at a
200k-case sync, seconds of Python). Here each column's bind processor (the JSON
serializer, SQLite's date and boolean conversions) is looked up once and applied down its
column, the column defaults of the model are filled in the same way, and the rows go to
the driver as tuples: one plain INSERT's executemany on SQLite, one COPY on PostgreSQL.
Values are bound parameters or COPY's own escaping, never SQL text.

A column's values are processed once per distinct value (:func:`_processed`): a sync's
200k cases share a few hundred lists of reasons, one time stamp and a few thousand dates,
and the JSON serializer and SQLite's date formatting were a fifth of the insert's Python.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table, inspect
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
            columns[i] = _processed(process, columns[i])
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


def update_rows(db: Session, entity: Any, rows: list[dict[str, Any]], key: str = "id") -> None:
    """UPDATE the rows of ``entity``'s table (a mapped class) whose ``key`` column holds
    each of ``rows``' ``key``,
    setting its other values (dictionaries with the same keys, column names of ``table``),
    in the session's transaction: one executemany of one plain UPDATE, each column's
    values bound as :func:`insert_rows` binds them. What the ORM's bulk UPDATE by primary
    key stores (tests/desk/test_bulk.py), without its per-row dictionaries and statement
    compilation: at a nightly sync refreshing 214k cases, about half of its time. Like it,
    no column default and no ``onupdate`` is applied: the rows give every value set.
    The session's pending changes are flushed first, so none lands after these; objects
    of these rows the session holds have the columns set expired, so they read the new
    values (as after the ORM's bulk UPDATE)."""
    if not rows:
        return
    db.flush()
    table: Table = entity.__table__
    connection = db.connection()
    dialect = connection.dialect
    names = [name for name in rows[0] if name != key]
    columns: list[list[Any]] = [[row[name] for row in rows] for name in [*names, key]]
    for i, name in enumerate([*names, key]):
        process = table.c[name].type._cached_bind_processor(dialect)
        if process is not None:
            columns[i] = _processed(process, columns[i])
    quote = dialect.identifier_preparer.quote
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    sets = ", ".join(f"{quote(name)} = {mark}" for name in names)
    sql = f"UPDATE {quote(table.name)} SET {sets} WHERE {quote(key)} = {mark}"
    connection.exec_driver_sql(sql, list(zip(*columns, strict=True)))
    mapper = inspect(entity)
    attributes = [mapper.get_property_by_column(table.c[name]).key for name in names]
    updated = {row[key] for row in rows}
    for held in list(db.identity_map.values()):
        identity = inspect(held).identity
        if isinstance(held, entity) and identity is not None and identity[0] in updated:
            db.expire(held, attributes)


# Scalar types whose equal values always bind alike (no float: 0.0 == -0.0; no bool beside
# int: True == 1; the exact type is part of the key).
_PLAIN = frozenset({str, int, bool, date, type(None)})


def _memo_key(value: Any) -> Any:
    """A key under which ``value`` binds as every value with the same key does, or None
    (process it on its own): a plain scalar, a naive time stamp, a list or tuple of them,
    or a dict of them with text keys (in its own key order: JSON keeps the order)."""
    kind = type(value)
    if kind in _PLAIN:
        return (kind, value)
    if kind is datetime:
        return (kind, value) if value.tzinfo is None else None
    if kind is list or kind is tuple:
        if all(type(v) in _PLAIN for v in value):
            return (kind, tuple((type(v), v) for v in value))
        return None
    if kind is dict:
        if all(type(k) is str and type(v) in _PLAIN for k, v in value.items()):
            return (kind, tuple((k, type(v), v) for k, v in value.items()))
        return None
    return None


# Values looked at before a column mostly of distinct values (the audit rows' ``after``,
# each naming its customer) is processed value by value, without building keys.
_TRIAL = 1000


def _processed(process: Callable[[Any], Any], values: list[Any]) -> list[Any]:
    """``process`` applied to each of ``values``, once per distinct value (by
    :func:`_memo_key`; a value without a key is processed on its own)."""
    done: dict[Any, Any] = {}
    out: list[Any] = []
    for i, value in enumerate(values):
        if i == _TRIAL and len(done) > _TRIAL // 2:
            out.extend(process(v) for v in values[i:])
            break
        key = _memo_key(value)
        if key is None:
            out.append(process(value))
            continue
        try:
            out.append(done[key])
        except KeyError:
            done[key] = bound = process(value)
            out.append(bound)
    return out
