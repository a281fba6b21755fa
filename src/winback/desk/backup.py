"""Copying a SQLite desk while it serves, and the commands that back up a PostgreSQL one.

A SQLite desk runs in WAL mode: recent commits live in the ``-wal`` file until a
checkpoint, so a plain copy of ``desk.sqlite3`` can miss them or catch a page half
written. SQLite's online backup API (``sqlite3.Connection.backup``) copies the database
as one consistent snapshot while the app keeps reading and writing. A PostgreSQL desk is
backed up by PostgreSQL's own tools (``pg_dump``); winback says which commands to run.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from sqlalchemy.engine import make_url

from winback.errors import BackupError


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite desk URL; None for any other database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    if not parsed.database or parsed.database == ":memory:":
        raise BackupError(f"{url}: an in-memory desk has nothing to back up")
    return Path(parsed.database)


def copy_sqlite(source: Path, dest: Path) -> dict[str, int]:
    """Copy the SQLite desk at ``source`` into the new file ``dest`` with the online backup
    API (the app may keep serving); returns the rows of each table of the copy."""
    if not source.is_file():
        raise BackupError(f"{source}: no desk database here")
    # A read-only open would need the -shm file to be writable anyway; the backup only reads.
    live = sqlite3.connect(source, timeout=30)
    copy = sqlite3.connect(dest)
    with closing(live), closing(copy):
        live.backup(copy)
        # One self-contained file: no -wal beside it to lose on the way.
        copy.execute("PRAGMA journal_mode=DELETE")
        copy.commit()
    return check_sqlite(dest)


def check_sqlite(path: Path) -> dict[str, int]:
    """SQLite's integrity check of the desk file at ``path``, then the rows of each table;
    BackupError when the file is not a sound SQLite database."""
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as con:
            verdict = con.execute("PRAGMA integrity_check").fetchone()
            if verdict is None or verdict[0] != "ok":
                raise BackupError(f"{path}: the desk database fails SQLite's check ({verdict})")
            names = [
                row[0]
                for row in con.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' "
                    "AND name NOT LIKE 'sqlite_%' ORDER BY name"
                )
            ]
            counts = {}
            for name in names:
                # The name comes from the file's own catalogue, quoted as an identifier.
                quoted = '"' + name.replace('"', '""') + '"'
                counts[name] = int(con.execute(f"SELECT count(*) FROM {quoted}").fetchone()[0])
            return counts
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path}: not a readable SQLite database ({exc})") from None


def pg_dump_commands(url: str, dump: str = "desk.pgdump") -> tuple[str, str]:
    """The commands that back up and restore the PostgreSQL desk at ``url`` (the password,
    if the URL holds one, left out: give it with PGPASSWORD or ~/.pgpass)."""
    parsed = make_url(url).set(drivername="postgresql", password=None)
    plain = parsed.render_as_string(hide_password=False)
    return (
        f"pg_dump --format=custom --file={dump} '{plain}'",
        f"pg_restore --clean --if-exists --no-owner --dbname='{plain}' {dump}",
    )
