"""Migrating the desk database from several threads and processes at once.

The desk and the cycle's scheduler both open the desk database when a server starts; a
race between their migrations once failed a scheduled pass (Alembic keeps its running
context in module globals, and two migrations made the same index twice).
"""

from __future__ import annotations

import multiprocessing
import secrets
import threading
from pathlib import Path

from sqlalchemy import inspect

from tests.conftest import service_missing
from tests.desk.conftest import _pg_admin
from winback.desk.db import make_engine, migrate
from winback.desk.models import Base


def _migrate_url(url: str) -> None:
    engine = make_engine(url)
    try:
        migrate(engine)
    finally:
        engine.dispose()


def _race(url: str, threads: int = 6, processes: int = 2) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def run() -> None:
        start.wait()
        try:
            _migrate_url(url)
        except BaseException as error:
            errors.append(error)

    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_migrate_url, args=(url,)) for _ in range(processes)]
    for worker in workers:
        worker.start()
    pool = [threading.Thread(target=run, daemon=True) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(120)
        if thread.is_alive():
            errors.append(RuntimeError("a migrating thread still waits after 120 s"))
    for worker in workers:
        worker.join(120)
        if worker.exitcode != 0:
            worker.kill()
            errors.append(RuntimeError(f"a migrating process exited with {worker.exitcode}"))
    return errors


def _assert_migrated(url: str) -> None:
    engine = make_engine(url)
    try:
        tables = set(inspect(engine).get_table_names())
        assert {t.name for t in Base.metadata.sorted_tables} <= tables
        with engine.connect() as connection:
            versions = connection.exec_driver_sql("SELECT version_num FROM alembic_version").all()
        assert len(versions) == 1
    finally:
        engine.dispose()


def test_migrations_racing_on_one_sqlite_file_all_succeed_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'desk.sqlite3'}"
    assert _race(url) == []
    _assert_migrated(url)


def test_migrations_racing_on_one_postgresql_database_all_succeed_once() -> None:
    admin, admin_url = _pg_admin()
    if admin is None:
        service_missing("PostgreSQL on 127.0.0.1:5432")
    name = "winback_migrate_" + secrets.token_hex(4)
    admin.execute(f'CREATE DATABASE "{name}"')
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    try:
        assert _race(url) == []
        _assert_migrated(url)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
