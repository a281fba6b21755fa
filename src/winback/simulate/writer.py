"""Writing the world to disk as it is built, one chunk at a time.

Each contract table goes to one file, ``DIR/<table>.csv`` or ``DIR/<table>.parquet``,
appended chunk by chunk so memory never holds more than one chunk. The ground truth goes
under ``DIR/truth/`` (always Parquet), away from anything a scan reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from winback.ledger.contract import TABLES
from winback.simulate.tables import schema

Format = Literal["csv", "csv.gz", "parquet"]
FORMATS: tuple[Format, ...] = ("csv", "csv.gz", "parquet")
TRUTH_DIR = "truth"
TRUTH_FILE = "customers_truth.parquet"
#: Contract tables the simulator writes (the desk writes winback_outcomes later).
WRITTEN = tuple(name for name in TABLES if name != "winback_outcomes")
_UNSORTED = ("id", "text", "category")


class WorldWriter:
    """Appends chunks of tables to their files; use as a context manager."""

    def __init__(self, out: Path, fmt: Format) -> None:
        self.out = out
        self.fmt = fmt
        self.rows: dict[str, int] = dict.fromkeys(WRITTEN, 0)
        self._csv: dict[str, Any] = {}
        self._parquet: dict[str, Any] = {}
        self._truth: Any = None

    def __enter__(self) -> WorldWriter:
        (self.out / TRUTH_DIR).mkdir(parents=True, exist_ok=True)
        for name in WRITTEN:
            # A table left from an earlier run in another format would be a second,
            # different copy of it: remove it.
            for fmt in FORMATS:
                if fmt != self.fmt:
                    (self.out / f"{name}.{fmt}").unlink(missing_ok=True)
            self._open(name)
        return self

    def __exit__(self, *exc: object) -> None:
        for f in self._csv.values():
            f.close()
        for w in self._parquet.values():
            w.close()
        if self._truth is not None:
            self._truth.close()

    def path(self, name: str) -> Path:
        return self.out / f"{name}.{self.fmt}"

    def _open(self, name: str) -> None:
        if self.fmt == "csv.gz":
            f = pa.CompressedOutputStream(str(self.path(name)), "gzip")
            f.write((",".join(schema(name).names) + "\n").encode())
            self._csv[name] = f
        elif self.fmt == "csv":
            f = self.path(name).open("wb")
            # The header is written by hand: Arrow would quote every column name.
            f.write((",".join(schema(name).names) + "\n").encode())
            self._csv[name] = f
        else:
            # Dictionary-encode only the columns with few distinct values, and keep min/max
            # statistics only where readers can use them: identifiers are unique, and
            # trying both on them costs half the writing time for nothing.
            columns = TABLES[name].columns
            self._parquet[name] = pq.ParquetWriter(
                self.path(name),
                schema(name),
                use_dictionary=[c.name for c in columns if c.kind in ("category", "text")],
                write_statistics=[c.name for c in columns if c.kind not in _UNSORTED],
            )

    def write(self, name: str, table: pa.Table) -> None:
        """Append ``table`` to the file of contract table (or ``truth``) ``name``."""
        if name == "truth":
            if self._truth is None:
                path = self.out / TRUTH_DIR / TRUTH_FILE
                self._truth = pq.ParquetWriter(path, table.schema)
            self._truth.write_table(table)
            return
        self.rows[name] += table.num_rows
        if table.num_rows == 0:
            return
        if self.fmt != "parquet":
            options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
            pacsv.write_csv(table, self._csv[name], options)
        else:
            self._parquet[name].write_table(table)
