from __future__ import annotations

from pathlib import Path

import pytest

from winback.ledger.importer import ImportResult, import_file
from winback.ledger.store import Ledger


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(tmp_path / "ledger")


@pytest.fixture
def do_import(ledger: Ledger, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Import a file into the test ledger, rejects going to tmp_path/rejects."""

    def run(table: str, path: Path, **options: object) -> ImportResult:
        return import_file(ledger, table, path, rejects_dir=tmp_path / "rejects", **options)  # type: ignore[arg-type]

    return run


def rows(ledger: Ledger, sql: str) -> list[tuple[object, ...]]:
    con = ledger.connect()
    try:
        return con.sql(sql).fetchall()
    finally:
        con.close()
