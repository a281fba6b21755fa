"""A customer's row of a scan run, found without decoding the run's whole file.

A run's ``customers.parquet`` is written in the scan's order, in one row group at a
million customers: a filtered read decodes every row of the columns it reads (0.3-0.4 s
of CPU for the customer page at 1M customers, 60 ms for the few sweet-spot columns).

The first lookup in a run writes a copy of that file beside it, sorted by customer id in
row groups of :data:`ROWS` rows (``customers.by_id.parquet``; written under a temporary
name and renamed, so a reader never sees half a file). A lookup then reads the one row
group whose id range (the row groups' statistics) holds the customer: a few milliseconds
whatever the run's size. A run never changes once written, so the copy never goes stale;
it is made again if deleted. Where the run's folder cannot be written, lookups read the
run's own file as before.
"""

from __future__ import annotations

import bisect
import functools
import logging
import os
import threading
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from winback.scan.runs import ScanRun

log = logging.getLogger(__name__)

LOOKUP = "customers.by_id.parquet"
ROWS = 4096
_lock = threading.Lock()


def lookup_file(run: ScanRun) -> Path:
    """The run's customer-sorted copy, written first if it is not there yet (the run's own
    file when it cannot be written)."""
    path = run.path / LOOKUP
    if path.exists():
        return path
    with _lock:
        if path.exists():
            return path
        temporary = path.with_name(f".{LOOKUP}.{os.getpid()}.tmp")
        try:
            _write_sorted(run.path / "customers.parquet", temporary)
            os.replace(temporary, path)
        except OSError as error:
            log.warning("scan run %s: no customer-sorted copy (%s)", run.info.run_id, error)
            temporary.unlink(missing_ok=True)
            return run.path / "customers.parquet"
    return path


def _write_sorted(source: Path, target: Path) -> None:
    """``source`` sorted by customer id into ``target``, in row groups of :data:`ROWS`.

    The scan writes its run in customer id order already: then the file is copied a row
    group at a time, never held whole (at 1M customers the run read whole and sorted held
    two copies of it, the desk sync's peak). Otherwise it is read whole and sorted.
    """
    ids = pq.read_table(source, columns=["customer_id"]).column("customer_id")
    ordered = len(ids) < 2 or pc.all(pc.less_equal(ids[:-1], ids[1:])).as_py()
    del ids
    if not ordered:
        table = pq.read_table(source).sort_by("customer_id")
        pq.write_table(table, target, row_group_size=ROWS, compression="zstd")
        return
    with (
        pq.ParquetFile(source) as reading,
        pq.ParquetWriter(target, reading.schema_arrow, compression="zstd") as writing,
    ):
        for batch in reading.iter_batches(batch_size=ROWS):
            writing.write_batch(batch, row_group_size=ROWS)


@functools.lru_cache(maxsize=4)
def _index(path: Path) -> tuple[pq.ParquetFile, list[str], threading.Lock]:
    """The copy opened once, the largest customer id of each of its row groups, and the
    lock its reads take (an opened ParquetFile is not safe to read from two threads at
    once: pyarrow's read cache fails with "ReadRangeCache did not find matching cache
    entry")."""
    opened = pq.ParquetFile(path)
    position = opened.schema_arrow.get_field_index("customer_id")
    metadata = opened.metadata
    tops = []
    for group in range(metadata.num_row_groups):
        stats = metadata.row_group(group).column(position).statistics
        tops.append(str(stats.max) if stats is not None and stats.has_min_max else "")
    return opened, tops, threading.Lock()


def customer_row(
    run: ScanRun, customer_id: str, columns: list[str] | tuple[str, ...] | None = None
) -> dict[str, Any] | None:
    """The customer's row in the run (only ``columns`` of it, those the run has, when
    given), or None when the run does not hold the customer."""
    path = lookup_file(run)
    opened, tops, reading = _index(path) if path.name == LOOKUP else (None, [""], _lock)
    if opened is None or "" in tops:  # no sorted copy, or no ranges: a filtered read
        data = ds.dataset(path)
        wanted = None if columns is None else [c for c in columns if c in data.schema.names]
        if wanted == []:
            return None
        rows = data.to_table(columns=wanted, filter=ds.field("customer_id") == customer_id)
        return rows.slice(0, 1).to_pylist()[0] if rows.num_rows else None
    names = opened.schema_arrow.names
    wanted = list(names) if columns is None else [c for c in columns if c in names]
    if not wanted:
        return None
    group = bisect.bisect_left(tops, customer_id)
    if group >= len(tops):
        return None
    read = wanted if "customer_id" in wanted else [*wanted, "customer_id"]
    with reading:
        rows = opened.read_row_group(group, columns=read)
    rows = rows.filter(pc.equal(rows["customer_id"], customer_id)).select(wanted)
    return rows.slice(0, 1).to_pylist()[0] if rows.num_rows else None
