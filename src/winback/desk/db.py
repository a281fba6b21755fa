"""Connecting to the desk database and bringing its schema up to date."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from winback.errors import InvalidInput

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# The largest whole number a desk column holds on both databases (PostgreSQL's INTEGER;
# SQLite's limit is 2**63 - 1). An id, page or count above it names nothing, so it is
# refused where it enters rather than handed to the database, which would fail with a 500.
MAX_INT = 2**31 - 1


def normalise_url(url: str) -> str:
    """Use psycopg 3 for a bare ``postgresql://`` URL."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def make_engine(url: str, **options: Any) -> Engine:
    """An engine for ``url``; SQLite gets foreign keys, WAL and a busy timeout."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **options
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, **options)


def parse_id(value: object, field: str, hint: str) -> int:
    """``value`` (text or a number) as an id from 1 to MAX_INT, else InvalidInput naming
    ``field`` and saying what to give (``hint``, e.g. "give the call's number"): for ids
    that arrive as text (form fields, a guided call's answers)."""
    number: int | None = None
    if not isinstance(value, bool):
        try:
            number = int(str(value).strip())
        except ValueError:
            number = None
    if number is None or not 1 <= number <= MAX_INT:
        raise InvalidInput(f"{field} {value!r}: {hint} (a whole number from 1 to {MAX_INT})")
    return number


# Alembic keeps the running migration's context in module globals, so two threads of one
# process migrating at once (the desk starting while the cycle's scheduler opens the same
# database) trip over each other: one fails with ``KeyError: 'config'``, the other finds the
# first one's index already made. One migration at a time per process.
_MIGRATING = threading.Lock()
# Any number, the same in every process: the PostgreSQL advisory lock taken while migrating.
_PG_MIGRATION_LOCK = 0x77696E62


def migrate(engine: Engine) -> None:
    """Run every Alembic migration not yet applied (a no-op when up to date).

    Safe to call from several threads and processes at once: a lock in this process, and
    across processes the database's own lock (a transaction-scoped advisory lock on
    PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), so the second caller waits and then finds
    the schema up to date.
    """
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with _MIGRATING, engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
        elif connection.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def open_session(engine: Engine) -> Iterator[Session]:
    """A session that is closed (and rolled back if uncommitted) on the way out."""
    with session_factory(engine)() as session:
        yield session


def write_lock(db: Session) -> None:
    """Take the desk's write lock now, before the reads that a write depends on.

    Python's sqlite3 starts a transaction only at the first write, so the checks read before
    it (a limit, a pending request, a case still open) can be overtaken by a parallel
    writer, and ``FOR UPDATE`` is not SQL that SQLite knows. ``BEGIN IMMEDIATE`` takes the
    write lock first (waiting up to the busy timeout), so check and write are one step.
    Already in a write transaction, the lock is held. On PostgreSQL this does nothing:
    callers lock the rows they depend on with ``FOR UPDATE``.
    """
    connection = db.connection()
    if connection.dialect.name != "sqlite":
        return
    if not connection.connection.driver_connection.in_transaction:  # type: ignore[union-attr]
        connection.exec_driver_sql("BEGIN IMMEDIATE")


# Page cache, in KiB, that SQLite gets for one big write (:func:`roomy_cache`). A first
# sync opening 64k cases (300k customers) writes ~60 MB of table and index pages: in
# SQLite's default 2 MB cache the index pages, keyed on random customer ids, are spilled
# and read back again and again (the INSERT cost 3.1-3.8 CPU s; 2.0 s in 64 MB, 1.7 s in
# 256 MB). SQLite takes pages only as it needs them: a small write uses no more.
BIG_WRITE_CACHE_KIB = 256 * 1024


@contextmanager
def roomy_cache(db: Session, kib: int = BIG_WRITE_CACHE_KIB) -> Iterator[None]:
    """On SQLite, a page cache of ``kib`` for the session's connection while the block
    runs, the connection's own size put back after (so a pooled connection does not keep
    it); call it inside the write transaction, and commit after the block. Elsewhere (the
    server keeps its own buffers) it does nothing."""
    connection = db.connection()
    if connection.dialect.name != "sqlite":
        yield
        return
    before = connection.exec_driver_sql("PRAGMA cache_size").scalar()
    connection.exec_driver_sql(f"PRAGMA cache_size = {-int(kib)}")
    try:
        yield
    finally:
        connection.exec_driver_sql(f"PRAGMA cache_size = {int(before or -2000)}")


# Rows a SQLite table must be about to gain, at least, before :func:`indexes_made_after`
# drops its indexes (below it, keeping them costs little).
REBUILD_FROM_ROWS = 10_000


@contextmanager
def indexes_made_after(db: Session, table: str, adding: int) -> Iterator[None]:
    """On SQLite, when ``adding`` rows would at least double ``table`` (a first sync
    opening every listed customer's case), its indexes dropped while the block inserts
    and made again after it, in the same transaction: one sort per index instead of a
    B-tree insert per row and index. The cases table has 13 indexes, 6 of them on
    values in no order (customer id, name, expected value): opening 64k cases cost 2.0 CPU s
    in SQLite with them, 0.9 s dropped and made again. Nobody else sees the table without
    them (SQLite's write lock is held; readers see the last commit), and a unique index
    made again refuses what it would have refused row by row: the transaction fails.
    Elsewhere, or for fewer rows, it does nothing."""
    connection = db.connection()
    if connection.dialect.name != "sqlite" or adding < REBUILD_FROM_ROWS:
        yield
        return
    # Python's sqlite3 opens no transaction for DDL: outside one, each DROP INDEX would
    # commit at once, seen by every other connection and kept if the CREATE never ran.
    write_lock(db)
    quoted = connection.dialect.identifier_preparer.quote
    held = connection.exec_driver_sql(f"SELECT count(*) FROM {quoted(table)}").scalar() or 0
    if adding < held:
        yield
        return
    made = connection.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
        "AND sql IS NOT NULL ORDER BY name",
        (table,),
    ).all()
    for name, _sql in made:
        connection.exec_driver_sql(f"DROP INDEX {quoted(name)}")
    try:
        yield
    finally:
        for _name, sql in made:
            connection.exec_driver_sql(sql)


# Connections an engine may open beyond its pool: for the rare request that holds a second
# session, and for the cycle's scheduler thread, which is outside the request threads.
SPARE_CONNECTIONS = 5


def desk_engine(url: str, threads: int | None = None) -> Engine:
    """An engine on the desk database at ``url``, migrated to the newest schema; with
    ``threads``, its pool keeps that many connections (plus a few spare), one for each
    request thread, so a request never waits for a connection inside its thread."""
    options = {} if threads is None else {"pool_size": threads}
    engine = make_engine(url, max_overflow=SPARE_CONNECTIONS, **options)
    migrate(engine)
    return engine
