"""Dates outside the contract's range: refused at import, left out when already stored."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pytest

from tests.ledger.conftest import rows
from winback.errors import LedgerWarning
from winback.ledger.contract import TABLES
from winback.ledger.sources import quote_literal
from winback.ledger.store import Ledger, Segment, now_iso


def test_dates_outside_1900_to_2199_are_rejected_with_line_and_field(
    tmp_path: Path, ledger: Ledger, do_import
) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(
        "order_id,customer_id,order_date,amount\n"
        + "".join(f"G{i},c1,2024-01-{i + 1:02d},10\n" for i in range(20))  # lines 2-21
        + "B1,c1,0000-07-10,10\n"  # 22
        + "B2,c1,9999-12-31,10\n"  # 23
        + "B3,c1,1899-12-31,10\n"  # 24
        + "E1,c1,1900-01-01,10\n"  # 25: the first day in range
        + "E2,c1,2199-12-31,10\n"  # 26: the last
        + "B4,c1,2200-01-01,10\n",  # 27
        encoding="utf-8",
    )
    result = do_import("orders", path)
    assert (result.read, result.stored, result.rejected) == (26, 22, 4)
    assert [(r.place, r.field) for r in result.rejects] == [
        ("line 22", "order_date"),
        ("line 23", "order_date"),
        ("line 24", "order_date"),
        ("line 27", "order_date"),
    ]
    assert result.rejects[0].reason == (
        "order_date '0000-07-10' is outside 1900-01-01 to 2199-12-31 "
        "(a placeholder or a typo): correct the date"
    )
    with open(result.rejects_file or "", encoding="utf-8") as handle:
        written = list(csv.DictReader(handle))
    assert [w["record"] for w in written][1] == "B2,c1,9999-12-31,10"
    stored = rows(ledger, "SELECT min(order_date), max(order_date) FROM orders")
    assert [(a.isoformat(), b.isoformat()) for a, b in stored] == [("1900-01-01", "2199-12-31")]


def test_timestamp_outside_the_range_is_rejected(tmp_path: Path, do_import) -> None:
    path = tmp_path / "tickets.csv"
    path.write_text(
        "interaction_id,customer_id,occurred_at,channel\n"
        "I1,c1,2024-01-05 10:00:00,email\n"
        "I2,c1,0001-01-01 00:00:00,email\n",
        encoding="utf-8",
    )
    result = do_import("interactions", path)
    assert (result.stored, result.rejected) == (1, 1)
    assert result.rejects[0].place == "line 3"
    assert "occurred_at '0001-01-01 00:00:00' is outside" in result.rejects[0].reason


def _store_as_an_older_version_did(ledger: Ledger, select: str) -> None:
    """Write an orders segment without the importer's checks, as a ledger written before
    the date range was checked may hold."""
    with ledger.writing() as manifest:
        batch = manifest.batches + 1
        path, name = ledger.new_segment_path("orders", batch)
        columns = ", ".join(
            f"CAST(NULL AS {c.sql_type}) AS {c.name}"
            for c in TABLES["orders"].columns
            if c.name not in ("order_id", "customer_id", "order_date", "amount")
        )

        con = duckdb.connect()
        con.execute(
            f"COPY (SELECT *, {columns}, CAST({batch} AS BIGINT) AS _batch FROM ({select})) "
            f"TO {quote_literal(str(path))} (FORMAT parquet)"
        )
        count = con.sql(f"SELECT count(*) FROM ({select})").fetchall()[0][0]
        con.close()
        manifest.batches = batch
        segment = Segment(name, int(count), batch, False, "old.csv", now_iso())
        ledger.commit(manifest, {"orders": segment}, {"batch": batch})


def test_a_stored_year_0_date_drops_its_row_with_a_warning_instead_of_failing(
    ledger: Ledger,
) -> None:
    _store_as_an_older_version_did(
        ledger,
        "SELECT * FROM (VALUES ('O1', 'c1', DATE '2024-01-05', 10.0::DECIMAL(18,2)), "
        "('O2', 'c1', DATE '0000-07-10', 20.0::DECIMAL(18,2)), "
        "('O3', 'c2', DATE '9999-12-31', 30.0::DECIMAL(18,2))) "
        "AS t(order_id, customer_id, order_date, amount)",
    )
    with pytest.warns(LedgerWarning, match=r"order_date values outside 1900-01-01 to 2199-12-31"):
        con = ledger.connect()
    # to_pandas/fetchall turn dates into Python dates: year 0 raised here before.
    frame = con.sql("SELECT order_id, order_date FROM orders ORDER BY order_id").df()
    con.close()
    assert list(frame["order_id"]) == ["O1"]


def test_a_stored_out_of_range_optional_date_reads_as_missing(ledger: Ledger) -> None:
    _store_as_an_older_version_did(
        ledger,
        "SELECT 'O1' AS order_id, 'c1' AS customer_id, DATE '2024-01-05' AS order_date, "
        "10.0::DECIMAL(18,2) AS amount",
    )
    # invoices.paid_on is optional: its bad value becomes NULL, the row stays.
    with ledger.writing() as manifest:
        batch = manifest.batches + 1
        path, name = ledger.new_segment_path("invoices", batch)

        con = duckdb.connect()
        cols = []
        for c in TABLES["invoices"].columns:
            value = {
                "invoice_id": "'V1'",
                "customer_id": "'c1'",
                "issued_on": "DATE '2024-01-05'",
                "due_on": "DATE '2024-02-05'",
                "amount": "5.00",
                "paid_on": "DATE '0000-01-01'",
            }.get(c.name, "NULL")
            cols.append(f"CAST({value} AS {c.sql_type}) AS {c.name}")
        con.execute(
            f"COPY (SELECT {', '.join(cols)}, CAST({batch} AS BIGINT) AS _batch) "
            f"TO {quote_literal(str(path))} (FORMAT parquet)"
        )
        con.close()
        manifest.batches = batch
        ledger.commit(
            manifest,
            {"invoices": Segment(name, 1, batch, False, "old.csv", now_iso())},
            {"batch": batch},
        )
    with pytest.warns(LedgerWarning, match="paid_on"):
        got = rows(ledger, "SELECT invoice_id, paid_on, due_on FROM invoices")
    assert [(i, p, d.isoformat()) for i, p, d in got] == [("V1", None, "2024-02-05")]
    # The orders segment is clean: reading it again warns of nothing.
    assert rows(ledger, "SELECT count(*) FROM orders") == [(1,)]
