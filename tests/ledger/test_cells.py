"""CSV files winback writes for people never hold a cell a spreadsheet would run."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow as pa

from winback.ledger.cells import safe_cell, safe_table


def test_cells_starting_a_formula_get_a_leading_quote() -> None:
    assert [safe_cell(t) for t in ("=1+1", "+A1", "-A1", "@SUM(A1)", "\t=1", "\r=1")] == [
        "'=1+1",
        "'+A1",
        "'-A1",
        "'@SUM(A1)",
        "'\t=1",
        "'\r=1",
    ]


def test_numbers_and_plain_text_are_left_alone() -> None:
    plain = ("-12.5", "+3", "-0", "-.5", "1e-3", "-2E+4", "Ann", "a=b", "", "2024-01-05")
    assert [safe_cell(t) for t in plain] == list(plain)


def test_safe_table_quotes_text_columns_only() -> None:
    table = pa.table(
        {"name": ["=cmd|' /C calc'!A0", "-12.5", None, "Bo"], "amount": [-1.0, 2.0, 3.0, 4.0]}
    )
    safe = safe_table(table)
    assert safe.column("name").to_pylist() == ["'=cmd|' /C calc'!A0", "-12.5", None, "Bo"]
    assert safe.column("amount").to_pylist() == [-1.0, 2.0, 3.0, 4.0]


def test_rejects_file_quotes_a_record_that_starts_a_formula(tmp_path: Path, do_import) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(
        "customer_id,name,signup_date\nc1,Al,2024-01-05\n"
        '=HYPERLINK("http://evil"),Eve,2024-13-01\n'
        "-12.5,Ann,2024-13-01\n",
        encoding="utf-8",
    )
    result = do_import("customers", path)
    assert result.rejected == 2
    with open(result.rejects_file or "", encoding="utf-8", newline="") as handle:
        written = list(csv.reader(handle))
    assert [row[4] for row in written[1:]] == [
        '\'=HYPERLINK("http://evil"),Eve,2024-13-01',
        "'-12.5,Ann,2024-13-01",  # the cell is not a number: "-1+cmd|..." would run
    ]
