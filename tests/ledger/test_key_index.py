"""The key index: each segment's ``_key`` column of natural-key hashes, so that checking a
file against a large ledger reads one integer column, and a hash never decides alone."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import duckdb
import pytest

from tests.ledger.conftest import rows
from winback.ledger import importer, store
from winback.ledger.store import Ledger, Manifest

HEADER = "invoice_id,customer_id,issued_on,due_on,amount,paid_on\n"


def _invoices(path: Path, ids: range, paid: str = "") -> Path:
    lines = [f"I{i},c{i % 7},2024-06-01,2024-06-30,{10 + i},{paid}" for i in ids]
    path.write_text(HEADER + "\n".join(lines) + "\n")
    return path


def test_new_keys_are_checked_against_the_key_index_without_reading_stored_rows(
    tmp_path: Path, ledger: Ledger, do_import, monkeypatch: pytest.MonkeyPatch
) -> None:
    do_import("invoices", _invoices(tmp_path / "a.csv", range(500)))

    def no_full_read(*_args: object, **_kwargs: object) -> str:
        raise AssertionError("the stored rows were read to check keys none of which is stored")

    monkeypatch.setattr(Ledger, "select_sql", no_full_read)
    result = do_import("invoices", _invoices(tmp_path / "b.csv", range(500, 800)))

    assert (result.read, result.stored, result.duplicates, result.updated) == (300, 300, 0, 0)


def test_segments_carry_their_key_hashes_and_the_hash_functions_fingerprint(
    tmp_path: Path, ledger: Ledger, do_import
) -> None:
    do_import("invoices", _invoices(tmp_path / "a.csv", range(50)))

    (segment,) = ledger.manifest().segments("invoices")
    assert segment.key_hash == store.key_fingerprint()
    stored = duckdb.sql(
        f"SELECT count(*) FILTER (WHERE _key = hash(invoice_id)), count(*) "
        f"FROM read_parquet('{ledger.root / segment.file}')"
    ).fetchall()
    assert stored == [(50, 50)]


def test_colliding_hashes_never_make_a_new_record_a_duplicate(
    tmp_path: Path, ledger: Ledger, do_import, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every key hashing alike: the index finds a candidate for every record, and only
    # the comparison of keys and values may decide.
    monkeypatch.setattr(importer, "key_hash_sql", lambda _table: "CAST(7 AS UBIGINT)")
    do_import("invoices", _invoices(tmp_path / "a.csv", range(40)))

    new = do_import("invoices", _invoices(tmp_path / "b.csv", range(40, 60)))
    again = do_import("invoices", _invoices(tmp_path / "c.csv", range(30, 50)))
    paid = do_import("invoices", _invoices(tmp_path / "d.csv", range(5), "2024-07-01"))

    assert (new.stored, new.duplicates, new.updated) == (20, 0, 0)
    assert (again.stored, again.duplicates, again.updated) == (0, 20, 0)
    assert (paid.stored, paid.duplicates, paid.updated) == (0, 0, 5)
    assert rows(ledger, "SELECT count(*), count(paid_on) FROM invoices") == [(60, 5)]


@pytest.mark.parametrize("how", ["written before the index", "another hash function"])
def test_segments_whose_key_hashes_cannot_be_trusted_have_them_computed_again(
    tmp_path: Path, ledger: Ledger, do_import, how: str
) -> None:
    do_import("invoices", _invoices(tmp_path / "a.csv", range(100)))
    manifest = ledger.manifest()
    (segment,) = manifest.segments("invoices")
    path = ledger.root / segment.file
    if how == "written before the index":
        # As an older winback wrote it: no _key column, no fingerprint in the manifest.
        duckdb.sql(
            f"COPY (SELECT * EXCLUDE (_key) FROM read_parquet('{path}')) "
            f"TO '{path}.old' (FORMAT parquet)"
        )
        Path(f"{path}.old").replace(path)
        replaced = dataclasses.replace(segment, key_hash="")
    else:
        # Hashes from a hash function that is not this DuckDB's: none of them matches.
        duckdb.sql(
            f"COPY (SELECT * REPLACE (_key + 1 AS _key) FROM read_parquet('{path}')) "
            f"TO '{path}.old' (FORMAT parquet)"
        )
        Path(f"{path}.old").replace(path)
        replaced = dataclasses.replace(segment, key_hash="duckdb-0.0.0-other")
    rewritten = Manifest(batches=manifest.batches, tables={"invoices": [replaced]})
    ledger.manifest_path.write_text(rewritten.to_json())

    result = do_import("invoices", _invoices(tmp_path / "b.csv", range(90, 120)))

    assert (result.stored, result.duplicates) == (20, 10)
    assert rows(ledger, "SELECT count(*), min(issued_on) FROM invoices") == [
        (120, date(2024, 6, 1))
    ]
