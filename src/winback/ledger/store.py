"""The ledger on disk: immutable Parquet segments per table, and a manifest naming them.

Layout of ``$WINBACK_HOME/ledger``::

    manifest.json          the tables' current segments (replaced atomically on commit)
    write.lock             held by the one process writing (an import, a compaction)
    orders/000001-….parquet
    customers/…

Why segments and not one DuckDB file: DuckDB lets one process open a database file for
writing and then no other process may open it, even to read. A web app that must keep
serving while a two-minute import runs cannot live with that. Here a writer builds new
segment files beside the old ones and then swaps the manifest with one ``os.replace``;
a reader takes the manifest as it finds it and sees a consistent snapshot for as long as it
keeps it. Segments are only ever added (compaction writes new ones and retires the old),
so a reader never finds a file pulled from under it. The same Parquet files are what
PySpark reads when the scan runs on Spark.

Every segment row carries ``_batch``, the import that wrote it, and ``_key``, the 64-bit
hash of its natural key: the ledger's key index, so that an import checks its records
against the stored keys by reading one integer column (:meth:`Ledger.keys_sql`). When an
import changes a stored row (an invoice now paid), the new version goes in a new segment
and readers see the latest version of each key.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from winback.errors import LedgerBusyError, LedgerError, LedgerWarning
from winback.ledger.contract import DATE_RANGE, TABLES, Table
from winback.ledger.sources import quote_ident, quote_literal

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
# An import's scratch files beside its ``.staged`` file (the typed read's records, those
# read again as text, and the small file of their lines): a killed writer's are orphans.
TYPED_SUFFIXES = (".typed", ".reread", ".reread.csv")

# Segment file -> its date columns holding values outside DATE_RANGE. Segments never
# change, so each is looked at once per process (its Parquet footer only).
_OUT_OF_RANGE: dict[str, frozenset[str]] = {}
_OUT_OF_RANGE_LOCK = threading.Lock()


def bound_memory(con: duckdb.DuckDBPyConnection, memory: str, scratch: str | Path) -> None:
    """DuckDB's queries on ``con`` bounded to ``memory``, spilling to ``scratch``, and the
    memory a query freed given back to the system. Every connection of winback's that
    reads or writes a whole table (the scan, imports, the timeline copy, the search index)
    is set so.

    DuckDB's default is 80 % of the machine's memory; bounded, its joins and sorts spill
    instead. And its allocator keeps what a query freed for the next one unless its
    background threads are on: after an aggregate that took 500MB, the process stayed
    500MB larger with nothing in use; with them, back within a second. At 100M orders
    that was up to the scan's whole 2GB held idle while its frames were built in Python.
    """
    con.execute(f"SET temp_directory = {quote_literal(str(scratch))}")
    con.execute(f"SET memory_limit = {quote_literal(memory)}")
    con.execute("SET allocator_background_threads = true")


@dataclass(frozen=True)
class Segment:
    """One Parquet file of one table."""

    file: str  # relative to the ledger folder
    rows: int
    batch: int
    updates: bool  # holds new versions of keys stored by earlier batches
    source: str
    written_at: str
    # The fingerprint (:func:`key_fingerprint`) of the hash function that wrote the
    # segment's ``_key`` column; "" for a segment without one (written before it existed).
    key_hash: str = ""


@dataclass
class Manifest:
    """The ledger's table of contents at one moment."""

    batches: int = 0
    tables: dict[str, list[Segment]] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)

    def segments(self, table: str) -> list[Segment]:
        return self.tables.get(table, [])

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT_VERSION,
                "batches": self.batches,
                "tables": {
                    name: [seg.__dict__ for seg in segs] for name, segs in self.tables.items()
                },
                "history": self.history,
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str, where: Path) -> Manifest:
        try:
            data = json.loads(text)
            if data.get("format") != FORMAT_VERSION:
                raise LedgerError(
                    f"{where}: ledger format {data.get('format')!r} is not {FORMAT_VERSION}; "
                    "this ledger was written by another version of winback"
                )
            tables = {
                name: [Segment(**seg) for seg in segs] for name, segs in data["tables"].items()
            }
            return cls(batches=int(data["batches"]), tables=tables, history=data["history"])
        except (ValueError, KeyError, TypeError) as exc:
            raise LedgerError(f"{where}: the ledger manifest is damaged ({exc})") from None


class Ledger:
    """The store of facts. Cheap to create; touches the disk only when used."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    def manifest(self) -> Manifest:
        """The current manifest (an empty one for a new ledger). Reads one small file."""
        try:
            text = self.manifest_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return Manifest()
        return Manifest.from_json(text, self.manifest_path)

    def row_counts(self) -> dict[str, int]:
        """Rows per table as written, counting superseded versions; no data is read."""
        manifest = self.manifest()
        return {name: sum(s.rows for s in manifest.segments(name)) for name in TABLES}

    # --- reading -------------------------------------------------------------------

    def connect(self, manifest: Manifest | None = None) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB connection with one view per contract table.

        The views read the segments named by ``manifest`` (default: the current one), so
        the connection keeps one consistent snapshot however many imports finish meanwhile.
        """
        manifest = manifest or self.manifest()
        con = duckdb.connect()
        for table in TABLES.values():
            con.execute(
                f"CREATE VIEW {quote_ident(table.name)} AS {self.select_sql(table, manifest)}"
            )
        return con

    def ibis(self, manifest: Manifest | None = None) -> Any:
        """An Ibis backend over :meth:`connect`; ``.table("orders")`` gives an expression."""
        import ibis

        return ibis.duckdb.from_connection(self.connect(manifest))

    def select_sql(self, table: Table, manifest: Manifest, with_batch: bool = False) -> str:
        """SQL selecting the current rows of ``table`` from ``manifest``'s segments."""
        columns = ", ".join(quote_ident(c) for c in table.column_names)
        if with_batch:
            columns += ", _batch"
        segments = manifest.segments(table.name)
        if not segments:
            typed = ", ".join(
                f"CAST(NULL AS {c.sql_type}) AS {quote_ident(c.name)}" for c in table.columns
            )
            if with_batch:
                typed += ", CAST(NULL AS BIGINT) AS _batch"
            return f"SELECT {typed} WHERE false"
        files = ", ".join(quote_literal(str(self.root / s.file)) for s in segments)
        # Segments written before a column joined the contract lack it: read by name, and
        # a typed empty row set gives the column (NULL) even when no segment has it.
        typed = ", ".join(
            f"CAST(NULL AS {c.sql_type}) AS {quote_ident(c.name)}" for c in table.columns
        )
        scan = (
            f"(SELECT * FROM read_parquet([{files}], union_by_name = true) "
            f"UNION ALL BY NAME SELECT {typed}, CAST(NULL AS BIGINT) AS _batch WHERE false)"
        )
        bad = self._dates_out_of_range(table, segments)
        if bad:
            scan, columns = _without_bad_dates(table, bad, scan, with_batch)
        if not any(s.updates for s in segments):
            return f"SELECT {columns} FROM {scan}"
        key = ", ".join(quote_ident(k) for k in table.key)
        return (
            f"SELECT {columns} FROM {scan} "
            f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY _batch DESC) = 1"
        )

    def keys_sql(self, table: Table, manifest: Manifest) -> str:
        """SQL giving ``_key``, the hash of the natural key, of every row in ``manifest``'s
        segments of ``table`` (superseded versions too; the key index of the ledger).

        A segment stores its rows' key hashes in its ``_key`` column, written at import,
        so this reads one integer column instead of the keys and every value. A segment
        without the column, or whose hashes another DuckDB's hash function wrote, has them
        computed from its key columns instead: never a stale hash, only a slower read.
        """
        current = key_fingerprint()
        indexed = [s for s in manifest.segments(table.name) if s.key_hash == current]
        others = [s for s in manifest.segments(table.name) if s.key_hash != current]
        parts = []
        if indexed:
            files = ", ".join(quote_literal(str(self.root / s.file)) for s in indexed)
            parts.append(f"SELECT _key FROM read_parquet([{files}])")
        if others:
            files = ", ".join(quote_literal(str(self.root / s.file)) for s in others)
            parts.append(
                f"SELECT {key_hash_sql(table)} AS _key "
                f"FROM read_parquet([{files}], union_by_name = true)"
            )
        if not parts:
            return "SELECT CAST(NULL AS UBIGINT) AS _key WHERE false"
        return " UNION ALL ".join(parts)

    def _dates_out_of_range(self, table: Table, segments: list[Segment]) -> set[str]:
        """Date columns of ``table`` holding a value outside DATE_RANGE in any segment.

        Imports refuse such dates, but a ledger written before they did may hold one
        (year 0 cannot even become a Python date, so one value would stop every scan).
        Reads the Parquet statistics of segments not seen before; warns once per segment.
        """
        dated = [c.name for c in table.columns if c.kind in ("date", "timestamp")]
        if not dated:
            return set()
        bad: set[str] = set()
        for segment in segments:
            path = str(self.root / segment.file)
            with _OUT_OF_RANGE_LOCK:
                found = _OUT_OF_RANGE.get(path)
            if found is None:
                found = _segment_dates_out_of_range(path, dated)
                with _OUT_OF_RANGE_LOCK:
                    _OUT_OF_RANGE[path] = found
                if found:
                    first, last = (d.isoformat() for d in DATE_RANGE)
                    warnings.warn(
                        f"ledger segment {segment.file} ({table.name}) holds "
                        f"{', '.join(sorted(found))} values outside {first} to {last}, stored "
                        "by an older winback: reads leave those values out (a required date "
                        "drops its row). "
                        "Re-import the corrected records to replace them.",
                        LedgerWarning,
                        stacklevel=3,
                    )
            bad |= found
        return bad

    # --- writing -------------------------------------------------------------------

    @contextlib.contextmanager
    def writing(self, wait_seconds: float = 30.0) -> Iterator[Manifest]:
        """Hold the write lock; yields the manifest as it is once the lock is held."""
        self.root.mkdir(parents=True, exist_ok=True)
        lock_path = self.root / "write.lock"
        with open(lock_path, "a+", encoding="utf-8") as lock:
            deadline = time.monotonic() + wait_seconds
            while True:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        lock.seek(0)
                        holder = lock.read().strip() or "another process"
                        raise LedgerBusyError(
                            f"the ledger at {self.root} is being written by {holder}; "
                            "try again when it has finished"
                        ) from None
                    time.sleep(0.2)
            lock.seek(0)
            lock.truncate()
            lock.write(f"pid {os.getpid()}")
            lock.flush()
            try:
                manifest = self.manifest()
                self._remove_orphans(manifest)
                yield manifest
            finally:
                lock.seek(0)
                lock.truncate()
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _remove_orphans(self, manifest: Manifest) -> None:
        """Delete what a writer killed mid-way left behind. Call with the write lock held.

        With the lock held no other writer is at work, so a ``.staged`` file, a segment of
        a batch the manifest has not reached, or a manifest draft is nobody's: readers only
        open segments a manifest names, and committed batches are never above
        ``manifest.batches``.
        """
        named = {seg.file for segs in manifest.tables.values() for seg in segs}
        for table in TABLES:
            folder = self.root / table
            if not folder.is_dir():
                continue
            for path in folder.iterdir():
                name = f"{table}/{path.name}"
                if path.suffix == ".staged" or path.name.endswith(TYPED_SUFFIXES):
                    path.unlink(missing_ok=True)
                elif path.suffix == ".parquet" and name not in named:
                    batch = path.name.split("-", 1)[0]
                    if batch.isdigit() and int(batch) > manifest.batches:
                        path.unlink(missing_ok=True)
        for draft in self.root.glob(f".{MANIFEST}.*.tmp"):
            draft.unlink(missing_ok=True)

    def new_segment_path(self, table: str, batch: int) -> tuple[Path, str]:
        folder = self.root / table
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{table}/{batch:06d}-{uuid.uuid4().hex[:8]}.parquet"
        return self.root / name, name

    def commit(self, manifest: Manifest, added: dict[str, Segment], record: dict[str, Any]) -> None:
        """Publish new segments: one atomic replace of the manifest. Call under :meth:`writing`."""
        # The segments reach the disk before a manifest names them: after a power cut the
        # manifest never points at a file that is missing or short.
        for segment in added.values():
            _fsync_file(self.root / segment.file)
        for folder in {(self.root / s.file).parent for s in added.values()}:
            _fsync_dir(folder)
        for table, segment in added.items():
            manifest.tables.setdefault(table, []).append(segment)
        manifest.history.append(record)
        tmp = self.root / f".{MANIFEST}.{uuid.uuid4().hex}.tmp"
        tmp.write_text(manifest.to_json(), encoding="utf-8")
        _fsync_file(tmp)
        os.replace(tmp, self.manifest_path)
        _fsync_dir(self.root)  # the rename itself


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _segment_dates_out_of_range(path: str, columns: list[str]) -> frozenset[str]:
    """Columns whose Parquet statistics reach outside DATE_RANGE (reads the footer only)."""
    import pyarrow.parquet as pq

    metadata = pq.ParquetFile(path).metadata
    bad: set[str] = set()
    for group in range(metadata.num_row_groups):
        row_group = metadata.row_group(group)
        for index in range(row_group.num_columns):
            chunk = row_group.column(index)
            name = chunk.path_in_schema
            if name not in columns or name in bad:
                continue
            stats = chunk.statistics
            if stats is None or not stats.has_min_max:  # only NULLs
                continue
            if not (_in_range(stats, "min") and _in_range(stats, "max")):
                bad.add(name)
    return frozenset(bad)


def _in_range(stats: Any, end: str) -> bool:
    try:
        value = getattr(stats, end)  # year 0 cannot become a Python date: OverflowError
    except (OverflowError, ValueError):
        return False
    day = value.date() if isinstance(value, datetime) else value
    return bool(DATE_RANGE[0] <= day <= DATE_RANGE[1])


def _without_bad_dates(table: Table, bad: set[str], scan: str, with_batch: bool) -> tuple[str, str]:
    """``scan`` without rows whose required date is out of range, and the column list with
    optional out-of-range dates as NULL."""
    first = DATE_RANGE[0].isoformat()
    after = (DATE_RANGE[1] + timedelta(days=1)).isoformat()

    def inside(name: str) -> str:
        return f"({quote_ident(name)} >= DATE '{first}' AND {quote_ident(name)} < DATE '{after}')"

    required = [c.name for c in table.columns if c.name in bad and c.required]
    if required:
        scan = f"(SELECT * FROM {scan} WHERE {' AND '.join(inside(n) for n in required)})"
    parts = []
    for column in table.columns:
        name = quote_ident(column.name)
        if column.name in bad and not column.required:
            parts.append(f"CASE WHEN {inside(column.name)} THEN {name} END AS {name}")
        else:
            parts.append(name)
    if with_batch:
        parts.append("_batch")
    return scan, ", ".join(parts)


_FINGERPRINT: list[str] = []


def hash_sql(expressions: list[str]) -> str:
    """SQL for DuckDB's 64-bit hash of ``expressions`` (SQL): equal values hash equal, but
    different values may too, so a hash only ever selects candidates to compare."""
    return f"hash({', '.join(expressions)})"


def key_hash_sql(table: Table) -> str:
    """SQL for a row's ``_key``: the hash (:func:`hash_sql`) of ``table``'s natural key."""
    return hash_sql([quote_ident(k) for k in table.key])


def key_fingerprint() -> str:
    """What this process's DuckDB hashes a few keys of each key type to.

    ``hash`` is not promised to stay the same across DuckDB versions; a segment's stored
    ``_key`` values are trusted only while this fingerprint matches the one it was written
    with (see :meth:`Ledger.keys_sql`).
    """
    if not _FINGERPRINT:
        con = duckdb.connect()
        values = con.execute(
            "SELECT hash('winback'), hash('O-1', 'C 2'), hash(CAST(42 AS BIGINT)), "
            "hash('c', 'x', 'sent', TIMESTAMP '2024-01-02 03:04:05')"
        ).fetchall()[0]
        con.close()
        _FINGERPRINT.append(f"duckdb-{duckdb.__version__}-" + "-".join(f"{v:x}" for v in values))
    return _FINGERPRINT[0]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
