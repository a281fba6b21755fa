"""A consistent copy of the ledger, taken while imports and readers carry on.

The copy is made manifest-first: the manifest is read once, then the segment files it
names are copied, and the manifest goes into the copy last. Segments are never changed
once written and never removed (an update or a compaction writes new ones), so every file
the manifest names is still there and still the same however many imports finish during
the copy: the copy holds exactly the ledger as that manifest describes it. No lock is
taken, so a backup neither waits for an import nor makes one wait.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from winback.errors import LedgerError
from winback.ledger.contract import TABLES
from winback.ledger.sources import quote_literal
from winback.ledger.store import MANIFEST, Ledger, Manifest


def copy_ledger(ledger: Ledger, dest: Path) -> dict[str, int]:
    """Copy the ledger as it is now into the folder ``dest`` (made here); returns the rows
    per table the copy holds (as written, counting superseded versions)."""
    try:
        text = ledger.manifest_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LedgerError(f"{ledger.root}: no ledger here (nothing was imported)") from None
    manifest = Manifest.from_json(text, ledger.manifest_path)
    dest.mkdir(parents=True)
    for table in sorted(manifest.tables):
        for segment in manifest.segments(table):
            target = dest / segment.file
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                shutil.copyfile(ledger.root / segment.file, target)
            except FileNotFoundError:
                raise LedgerError(
                    f"{ledger.root / segment.file}: a segment the manifest names is missing; "
                    "the ledger is damaged"
                ) from None
    (dest / MANIFEST).write_text(text, encoding="utf-8")
    return rows_named(manifest)


def rows_named(manifest: Manifest) -> dict[str, int]:
    """Rows per contract table as ``manifest`` counts them."""
    return {name: sum(s.rows for s in manifest.segments(name)) for name in TABLES}


def check_ledger(ledger: Ledger) -> dict[str, int]:
    """Read every segment the manifest names and count its rows; the rows per table, or
    LedgerError naming the first segment that is missing, unreadable or holds a number of
    rows other than the manifest says. This reads each file's Parquet footer, not its data."""
    manifest = ledger.manifest()
    with duckdb.connect() as con:
        for table in sorted(manifest.tables):
            for segment in manifest.segments(table):
                path = ledger.root / segment.file
                if not path.is_file():
                    raise LedgerError(f"{path}: a segment the manifest names is missing")
                try:
                    row = con.execute(
                        "SELECT count(*) FROM read_parquet(" + quote_literal(str(path)) + ")"
                    ).fetchone()
                except duckdb.Error as exc:
                    raise LedgerError(f"{path}: not a readable Parquet segment ({exc})") from None
                found = int(row[0]) if row else 0
                if found != segment.rows:
                    raise LedgerError(
                        f"{path}: holds {found:,} rows, the manifest says {segment.rows:,}"
                    )
    return rows_named(manifest)
