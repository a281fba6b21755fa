"""Extra fields at the end of a line: stored when empty (a spreadsheet's trailing
delimiters), rejected when they hold anything, as docs/import.md says."""

from __future__ import annotations

from pathlib import Path

from tests.ledger.conftest import rows
from winback.ledger.store import Ledger


def test_empty_trailing_fields_are_stored_and_filled_ones_rejected(
    tmp_path: Path, ledger: Ledger, do_import
) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(
        "order_id,customer_id,order_date,amount\n"
        "A1,c1,2024-01-05,10\n"  # 2
        "A2,c1,2024-01-05,10,\n"  # 3: one empty extra field
        "A3,c1,2024-01-05,10,,,\n"  # 4: three
        'A4,c1,2024-01-05,10,""\n'  # 5: an empty quoted one
        "A5,c1,2024-01-05,10, \n"  # 6: a space is not empty
        "A6,c1,2024-01-05,10,x\n",  # 7
        encoding="utf-8",
    )
    result = do_import("orders", path)
    assert (result.read, result.stored, result.rejected) == (6, 4, 2)
    assert [r.place for r in result.rejects] == ["line 6", "line 7"]
    assert "more fields than the header" in result.rejects[1].reason
    assert rows(ledger, "SELECT order_id FROM orders ORDER BY order_id") == [
        ("A1",),
        ("A2",),
        ("A3",),
        ("A4",),
    ]
