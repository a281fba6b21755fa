"""Each file format and its own failure modes."""

from __future__ import annotations

import gzip
import json
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.ledger.conftest import rows
from winback.errors import ImportFileError
from winback.ledger.store import Ledger


def test_tsv_with_day_first_dates_is_detected(tmp_path: Path, ledger: Ledger, do_import) -> None:
    path = tmp_path / "orders.tsv"
    path.write_text("order\tcustomer\tdate\tvalue\n1\ta\t31/01/2024\t5\n2\tb\t01/02/2024\t6\n")

    result = do_import("orders", path)

    assert (result.stored, result.rejected) == (2, 0)
    assert rows(ledger, "SELECT order_date FROM orders ORDER BY order_id") == [
        (date(2024, 1, 31),),
        (date(2024, 2, 1),),
    ]


def test_ambiguous_day_month_order_is_refused_with_the_fix(tmp_path: Path, do_import) -> None:
    path = tmp_path / "orders.csv"
    path.write_text("order_id,customer_id,order_date,amount\n1,a,01/02/2024,5\n2,b,03/04/2024,6\n")

    with pytest.raises(ImportFileError, match=r"day-first or month-first .*\[formats\] order_date"):
        do_import("orders", path)


def test_gzip_csv_is_read(tmp_path: Path, do_import) -> None:
    path = tmp_path / "orders.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("order_id,customer_id,order_date,amount\n1,a,20240105,5\n2,b,20240106,x\n")

    result = do_import("orders", path)

    assert (result.stored, result.rejected) == (1, 1)
    assert result.rejects[0].place == "line 3"


def test_latin1_file_imports_with_its_encoding(tmp_path: Path, ledger: Ledger, do_import) -> None:
    path = tmp_path / "customers.csv"
    path.write_bytes("customer_id,name\n1,Zoë Müller\n".encode("latin-1"))

    as_utf8 = do_import("customers", path)
    assert as_utf8.rejected == 1
    assert "--encoding latin-1" in as_utf8.rejects[0].reason

    as_latin1 = do_import("customers", path, encoding="latin-1")
    assert as_latin1.stored == 1
    assert rows(ledger, "SELECT name FROM customers") == [("Zoë Müller",)]


def test_parquet_rows_are_checked_and_named_by_row_number(
    tmp_path: Path, ledger: Ledger, do_import
) -> None:
    path = tmp_path / "orders.parquet"
    pq.write_table(
        pa.table(
            {
                "OrderID": ["1", "2", "3"],
                "customer_id": ["a", None, "c"],
                "order_date": [date(2024, 1, 1), date(2024, 1, 2), date(2024, 1, 3)],
                "amount": [10.0, 20.0, -1.0],
            }
        ),
        path,
    )

    result = do_import("orders", path)

    assert (result.read, result.stored, result.rejected) == (3, 1, 2)
    assert [(r.place, r.field) for r in result.rejects] == [
        ("row 2", "customer_id"),
        ("row 3", "amount"),
    ]
    assert rows(ledger, "SELECT order_id, order_date FROM orders") == [("1", date(2024, 1, 1))]


def test_json_lines_with_a_broken_line(tmp_path: Path, ledger: Ledger, do_import) -> None:
    path = tmp_path / "interactions.jsonl"
    good = {
        "interaction_id": "t1",
        "customer_id": "c1",
        "occurred_at": "2024-03-01T10:15:00Z",
        "channel": "Ticket",
        "sentiment": -0.5,
        "customer_rude": True,
    }
    lines = [
        json.dumps(good),
        '{"interaction_id": "t2", "customer_id": ',  # truncated
        "",
        json.dumps({**good, "interaction_id": "t3", "channel": "pigeon"}),
        "[1, 2]",
    ]
    path.write_text("\n".join(lines) + "\n")

    result = do_import("interactions", path)

    assert (result.read, result.stored, result.rejected) == (4, 1, 3)
    reasons = {r.place: r.reason for r in result.rejects}
    assert reasons["line 2"] == "line is not valid JSON"
    assert "channel 'pigeon' is not one of: ticket, call" in reasons["line 4"]
    assert "not an object" in reasons["line 5"]
    stored = rows(ledger, "SELECT channel, occurred_at, sentiment, customer_rude FROM interactions")
    assert stored == [("ticket", datetime(2024, 3, 1, 10, 15), -0.5, True)]


def test_unknown_format_and_missing_file_are_clear_errors(tmp_path: Path, do_import) -> None:
    with pytest.raises(ImportFileError, match="file not found"):
        do_import("orders", tmp_path / "nope.csv")
    odd = tmp_path / "orders.xlsx"
    odd.write_bytes(b"PK")
    with pytest.raises(ImportFileError, match="cannot tell the format"):
        do_import("orders", odd)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ImportFileError, match="empty"):
        do_import("orders", empty)
