"""A customer-ordered copy of the ledger's timeline tables, so the customer page is fast.

The ledger's segments are in import order, so finding one customer's orders means reading
every segment's ``customer_id`` column: ~0.5 s at 20M orders. ``winback sync`` therefore
writes, once per ledger state, the timeline tables sorted by customer with small row
groups, holding only the columns the customer page reads (:data:`COLUMNS`); DuckDB then
skips every row group whose customer-id range misses, and a customer's events cost a
few milliseconds. The copy is named by the ledger's batch count: when an import has
happened since, the copy does not match, and the customer page reads the ledger itself
(slower, never stale) until the next sync.

After an import the copy need not be written whole: a table that only gained rows keeps
the last copy's files (linked) and gains one file of the new segments, sorted; the
views read all of a table's files (at most :data:`MAX_PARTS`).

Layout: ``$WINBACK_HOME/desk/timeline/<batches>/<table>[.<n>].parquet``, and
``parts.json``: each table's segments, files and columns (a table whose last copy holds
other columns is written whole).
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import shutil
import threading
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from winback.ledger import published
from winback.ledger.contract import TABLES as CONTRACT
from winback.ledger.sources import quote_ident, quote_literal
from winback.ledger.store import Ledger, Manifest, Segment, bound_memory

TABLES = (
    "customers",
    "orders",
    "incidents",
    "interactions",
    "marketing_events",
    "invoices",
    "returns",
    "subscriptions",
)
# The columns the customer page reads (winback.ledger.reads' timeline queries) of the
# tables it reads in part; the others are copied whole. Fewer columns, less to sort and
# write: at 100k customers the orders' copy costs 0.68 CPU s instead of 1.13.
COLUMNS: dict[str, tuple[str, ...]] = {
    "orders": ("customer_id", "order_id", "order_date", "amount", "staff_id", "status"),
    "incidents": (
        "customer_id",
        "incident_id",
        "occurred_on",
        "type",
        "severity",
        "description",
        "resolved_on",
    ),
    "interactions": (
        "customer_id",
        "interaction_id",
        "occurred_at",
        "channel",
        "direction",
        "staff_id",
        "subject",
        "customer_rude",
    ),
    "invoices": ("customer_id", "invoice_id", "issued_on", "due_on", "amount", "paid_on"),
    "returns": ("customer_id", "return_id", "returned_on", "amount", "reason"),
}
# Rows of a timeline table sorted per GB of the memory budget without spilling (measured:
# the orders' six columns, 1.8M rows, sort in memory within 400-500 MB), with room to spare.
ROWS_PER_GB = 3_000_000
SAMPLE = 100_000  # rows sampled for the customer-id ranges of a table sorted in pieces
ROW_GROUP = 65_536  # measured: 3x faster lookups than 16k rows at 20M orders (fewer footers)
MAX_PARTS = 8  # files per table before it is written whole again (each adds a footer read)
PARTS = "parts.json"  # what a copy was built from: each table's segments, and its files


def root_of(home: Path) -> Path:
    """Where the copies live in a workspace."""
    return home / "desk" / "timeline"


def current(root: Path, ledger: Ledger) -> Path | None:
    """The copy matching the ledger as it is now, if one was built."""
    folder = root / str(ledger.manifest().batches)
    return folder if (folder / "done").exists() else None


def build(root: Path, ledger: Ledger, memory: str = "1GB") -> Path | None:
    """Write the copy for the ledger's current state (a no-op when it exists already).

    Sorts every timeline table by customer: ~30 s for 20M orders on two cores. A table
    whose segments since the last copy are all new rows (no new versions of stored keys)
    keeps the last copy's files and gains one more, of the new segments alone, sorted;
    one that would then have more than :data:`MAX_PARTS` files, or whose segments were
    rewritten or updated, is written whole again.
    """
    manifest = ledger.manifest()
    if manifest.batches == 0:
        return None
    final = root / str(manifest.batches)
    if (final / "done").exists():
        return final
    before = _last_copy(root)
    partial = published.partial_folder(root, str(manifest.batches))
    con = ledger.connect(manifest)
    made: dict[str, Any] = {"segments": {}, "parts": {}, "columns": {}, "whole": {}}
    whole: dict[str, int] = made["whole"]  # files of each table's last whole write
    budget = memory_bytes(memory)
    try:
        bound_memory(con, memory, partial / "tmp")
        con.execute("SET preserve_insertion_order = false")
        for table in TABLES:
            segments = manifest.segments(table)
            columns = list(COLUMNS.get(table, CONTRACT[table].column_names))
            kept = _kept_parts(before, table, segments, columns, partial)
            if kept is not None and before is not None:
                whole[table] = before[4].get(table, 1)
            parts: list[str]
            if kept is None:  # written whole
                parts, source = [], quote_ident(table)
            else:
                parts, added = kept
                new_rows = Manifest(manifest.batches, {table: added})
                source = f"({ledger.select_sql(CONTRACT[table], new_rows)})" if added else ""
            if source:
                read = segments if kept is None else kept[1]
                rows = sum(s.rows for s in read)
                files = [ledger.root / s.file for s in read]
                if _in_customer_order(con, source, files, any(s.updates for s in segments)):
                    written = [_write_as_is(con, source, columns, partial, table, parts)]
                else:
                    written = _write_sorted(
                        con, source, columns, rows, budget, partial, table, parts
                    )
                parts = [*parts, *written]
                if kept is None:
                    whole[table] = len(written)
            made["segments"][table] = [s.file for s in segments]
            made["parts"][table] = parts
            made["columns"][table] = columns
    finally:
        con.close()
    (partial / PARTS).write_text(json.dumps(made), encoding="utf-8")
    return published.publish(partial, final, str(manifest.batches))


# A published copy: its folder, and each table's segments, files, columns and the number
# of files its last whole write made.
_Copy = tuple[
    Path, dict[str, list[str]], dict[str, list[str]], dict[str, list[str]], dict[str, int]
]


def memory_bytes(memory: str) -> int:
    """A DuckDB size such as ``1GB`` or ``512MiB`` in bytes."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B)\s*", memory, re.IGNORECASE)
    if found is None:
        raise ValueError(f"not a memory size: {memory!r}")
    unit = found.group(2).upper()
    base = 1024 if "I" in unit else 1000
    return int(float(found.group(1)) * base ** ("KMGT".index(unit[0]) + 1))


def _write_sorted(
    con: duckdb.DuckDBPyConnection,
    source: str,
    columns: list[str],
    rows: int,
    budget: int,
    folder: Path,
    table: str,
    parts: list[str],
) -> list[str]:
    """Write ``columns`` of ``source`` sorted by customer into ``folder``, as the next
    file(s) of ``table`` after ``parts``; the names written. More rows than sort in
    ``budget`` bytes without spilling are cut into customer-id ranges (from a sample),
    each sorted and written on its own: a sort that spills to disk costs about half as
    much CPU again."""
    wanted = ", ".join(map(quote_ident, columns))
    pieces = max(1, math.ceil(rows / (ROWS_PER_GB * budget / 1e9)))
    ranges: list[str] = [""]
    if pieces > 1:
        marks = [i / pieces for i in range(1, pieces)]
        cuts = con.execute(
            f"SELECT quantile_disc(customer_id, {marks}) FROM {source} "
            f"USING SAMPLE {SAMPLE} ROWS (reservoir, 16)"
        ).fetchall()[0][0]
        bounds = sorted({c for c in cuts or [] if c is not None})
        ranges = []
        for lo, hi in itertools.pairwise([None, *bounds, None]):
            conditions = []
            if lo is not None:
                conditions.append(f"customer_id >= {quote_literal(lo)}")
            if hi is not None:
                conditions.append(f"customer_id < {quote_literal(hi)}")
            ranges.append(" AND ".join(conditions) or "true")
        ranges[-1] = f"({ranges[-1]}) OR customer_id IS NULL"
    names: list[str] = []
    for where in ranges:
        n = len(parts) + len(names)
        name = f"{table}.parquet" if n == 0 else f"{table}.{n}.parquet"
        filtered = f"{source} WHERE {where}" if where else source
        con.execute(
            f"COPY (SELECT {wanted} FROM {filtered} ORDER BY customer_id) "
            f"TO {quote_literal(str(folder / name))} "
            f"(FORMAT parquet, ROW_GROUP_SIZE {ROW_GROUP}, COMPRESSION zstd)"
        )
        names.append(name)
    return names


def _in_customer_order(
    con: duckdb.DuckDBPyConnection, source: str, files: list[Path], updates: bool
) -> bool:
    """Whether ``source`` (a table of the ledger, or its new segments, read from
    ``files``) gives its rows in customer-id order already, no id missing: then the copy
    is written as read, without sorting. Written whole, orders sorted by DuckDB cost 3.4
    CPU s at 300k customers (5.5M orders), 1.9 s written as read.

    Told from the files' row-group statistics first (each group's ids above the last's:
    a file in any other order, the usual case, costs only its footer), then checked row
    by row on the ids as ``source`` gives them. A table with updated rows is never taken
    as read (the latest version of each row is picked by a window, in no set order)."""
    if updates or not files:
        return False
    top: str | None = None
    for path in files:
        metadata = pq.ParquetFile(path).metadata
        names = metadata.schema.to_arrow_schema().names
        if "customer_id" not in names:
            return False
        position = names.index("customer_id")
        for group in range(metadata.num_row_groups):
            column = metadata.row_group(group).column(position)
            stats = column.statistics
            if metadata.row_group(group).num_rows == 0:
                continue
            if stats is None or not stats.has_min_max or stats.null_count:
                return False
            low, high = str(stats.min), str(stats.max)
            if top is not None and low < top:
                return False
            top = high
    return _ids_ascending(con, source)


def _ids_ascending(con: duckdb.DuckDBPyConnection, source: str) -> bool:
    """Whether ``source``'s customer ids, in the order it gives them (the order a COPY
    writes them in with insertion order kept), never go down, none missing."""
    last: pa.Scalar | None = None
    con.execute("SET preserve_insertion_order = true")
    try:
        for batch in con.sql(f"SELECT customer_id FROM {source}").to_arrow_reader(1 << 20):
            ids = batch.column(0)
            if ids.null_count:
                return False
            if len(ids) == 0:
                continue
            if last is not None and pc.less(ids[0], last).as_py():
                return False
            if len(ids) > 1 and not pc.all(pc.less_equal(ids[:-1], ids[1:])).as_py():
                return False
            last = ids[len(ids) - 1]
    finally:
        con.execute("SET preserve_insertion_order = false")
    return True


def _write_as_is(
    con: duckdb.DuckDBPyConnection,
    source: str,
    columns: list[str],
    folder: Path,
    table: str,
    parts: list[str],
) -> str:
    """Write ``columns`` of ``source``, in customer order already, as the next file of
    ``table`` after ``parts``, in the order read (one file: nothing to sort in memory)."""
    wanted = ", ".join(map(quote_ident, columns))
    name = f"{table}.parquet" if not parts else f"{table}.{len(parts)}.parquet"
    con.execute("SET preserve_insertion_order = true")
    try:
        con.execute(
            f"COPY (SELECT {wanted} FROM {source}) TO {quote_literal(str(folder / name))} "
            f"(FORMAT parquet, ROW_GROUP_SIZE {ROW_GROUP}, COMPRESSION zstd)"
        )
    finally:
        con.execute("SET preserve_insertion_order = false")
    return name


def _last_copy(root: Path) -> _Copy | None:
    """The published copy (its folder, the segments, the files and the columns of each
    table), if any says what it was built from."""
    if not root.exists():
        return None
    for folder in sorted(root.iterdir()):
        if folder.name.startswith(".") or not (folder / "done").exists():
            continue
        try:
            held = json.loads((folder / PARTS).read_text(encoding="utf-8"))
            columns = dict(held.get("columns", {}))  # none kept: all the table's columns
            wholes = dict(held.get("whole", {}))  # none kept: one file each
            return folder, dict(held["segments"]), dict(held["parts"]), columns, wholes
        except (OSError, ValueError, KeyError):  # a copy from before parts were kept
            continue
    return None


def _kept_parts(
    before: _Copy | None,
    table: str,
    segments: list[Segment],
    columns: list[str],
    partial: Path,
) -> tuple[list[str], list[Segment]] | None:
    """The last copy's files of ``table`` linked into ``partial``, and the segments added
    since, when the table only gained new rows and the copy holds the same columns; else
    None (write it whole)."""
    if before is None or table not in before[1] or table not in before[2]:
        return None
    if before[3].get(table) != columns:
        return None
    folder, held, parts = before[0], before[1][table], before[2][table]
    files = [s.file for s in segments]
    added = segments[len(held) :]
    if files[: len(held)] != held or any(s.updates for s in added) or not parts:
        return None
    if added and len(parts) - before[4].get(table, 1) + 1 >= MAX_PARTS:
        return None
    try:
        for name in parts:
            try:
                os.link(folder / name, partial / name)
            except OSError:
                shutil.copyfile(folder / name, partial / name)
    except OSError:
        # The last copy was swept away meanwhile (another build published): write the
        # table whole, first dropping what was linked, so that no write goes through a
        # link into a file another copy holds.
        for name in parts:
            (partial / name).unlink(missing_ok=True)
        return None
    return list(parts), added


class TimelineReader:
    """Keeps one DuckDB connection over the current copy (its Parquet footers cached) and
    hands out a cursor per request; opening a connection costs ~45 ms, a cursor ~0."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._folder: Path | None = None
        self._con: duckdb.DuckDBPyConnection | None = None

    def cursor(self, ledger: Ledger) -> duckdb.DuckDBPyConnection | None:
        """A cursor over the copy matching ``ledger`` now, or None (read the ledger)."""
        folder = current(self.root, ledger)
        if folder is None:
            return None
        with self._lock:
            if folder != self._folder or self._con is None:
                # The old connection is dropped, not closed: a request may still use it.
                self._con = connect(folder)
                self._con.execute("SET parquet_metadata_cache = true")
                self._folder = folder
            return self._con.cursor()


def connect(folder: Path) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with one view per timeline table over the copy in ``folder``."""
    try:
        parts = json.loads((folder / PARTS).read_text(encoding="utf-8"))["parts"]
    except (OSError, ValueError, KeyError):  # a copy from before parts were kept
        parts = {}
    con = duckdb.connect()
    for table in TABLES:
        files = ", ".join(
            quote_literal(str(folder / name)) for name in parts.get(table, [f"{table}.parquet"])
        )
        con.execute(f"CREATE VIEW {quote_ident(table)} AS SELECT * FROM read_parquet([{files}])")
    return con
