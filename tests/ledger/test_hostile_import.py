"""The issue's acceptance case: a deliberately hostile orders file."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

from tests.ledger.conftest import rows
from winback.ledger.store import Ledger

# Line numbers are those a person sees in an editor (the header is line 1).
HOSTILE = (
    b"\xef\xbb\xbfOrder ID , CUSTOMER,order-date,Total\r\n"  # BOM, odd spacing and case
    b"A1,c1,2024-01-05,10.50\r\n"  # 2: good
    b"A2,c2,2024-13-01,3.00\r\n"  # 3: bad date
    b"\r\n"  # 4: blank line (not a record)
    b"A3,c3,2024-02-01,abc\r\n"  # 5: non-numeric amount
    b"A4,c4,2024-02-02,-4\r\n"  # 6: negative amount
    b"A5,,2024-02-03,5\r\n"  # 7: missing customer id
    b"A6,c6,2024-02-04,1,extra\r\n"  # 8: too many columns
    b"A7,c7\r\n"  # 9: too few columns
    b'A8,"Smith, J",2024-02-05,7\r\n'  # 10: quoted comma, good
    b"A9,c9\xff,2024-02-06,8\r\n"  # 11: not UTF-8
    b"A10,c10,2024-02-07,9\r\n"  # 12: good
    b"A10,c10,2024-02-07,9\r\n"  # 13: exact duplicate of 12
    b'A11,c11,2024-02-08,"1,234.50"\r\n'  # 14: thousands separator, good
    b",c12,2024-02-09,12\r\n"  # 15: missing order id
    b'A13,"multi\r\nline note",2024-02-10,13\r\n'  # 16-17: quoted line break, good
    b"A14,c14,2024-02-11,-1\r\n"  # 18: negative again, after the multi-line record
    b"A15,c15,2024-02-12,15"  # 19: good, no line break at the end
)

EXPECTED_REJECTS = {
    "line 3": ("order_date", "order_date '2024-13-01' is not a date (expected YYYY-MM-DD)"),
    "line 5": ("amount", "amount 'abc' is not an amount of money"),
    "line 6": ("amount", "amount '-4' is negative"),
    "line 7": ("customer_id", "customer_id is missing"),
    "line 8": ("", "more fields than the header (expected 4 fields, found 5)"),
    "line 9": ("", "fewer fields than the header (expected 4 fields, found 2)"),
    "line 11": ("", "not UTF-8"),
    "line 15": ("order_id", "order_id is missing"),
    "line 18": ("amount", "amount '-1' is negative"),
}
STORED = [
    ("A1", "c1", Decimal("10.50")),
    ("A10", "c10", Decimal("9.00")),
    ("A11", "c11", Decimal("1234.50")),
    ("A13", "multi\r\nline note", Decimal("13.00")),
    ("A15", "c15", Decimal("15.00")),
    ("A8", "Smith, J", Decimal("7.00")),
]


def test_hostile_file_stores_good_rows_and_names_every_bad_line(
    tmp_path: Path, ledger: Ledger, do_import
) -> None:
    path = tmp_path / "orders.csv"
    path.write_bytes(HOSTILE)

    result = do_import("orders", path)

    # 16 records: every non-blank line after the header, the two-line record counted once.
    assert (result.read, result.stored, result.duplicates, result.rejected) == (16, 6, 1, 9)
    assert result.balanced
    found = {r.place: (r.field, r.reason) for r in result.rejects}
    assert set(found) == set(EXPECTED_REJECTS)
    for place, (field, fragment) in EXPECTED_REJECTS.items():
        assert found[place][0] == field, place
        assert fragment in found[place][1], (place, found[place])
    order = "SELECT order_id, customer_id, amount FROM orders ORDER BY order_id"
    assert rows(ledger, order) == STORED


def test_rejects_file_holds_every_rejected_record_with_file_line_field_and_reason(
    tmp_path: Path, do_import
) -> None:
    path = tmp_path / "orders.csv"
    path.write_bytes(HOSTILE)

    result = do_import("orders", path)

    assert result.rejects_file is not None
    with open(result.rejects_file, encoding="utf-8", newline="") as handle:
        written = list(csv.DictReader(handle))
    assert [w["place"] for w in written] == list(EXPECTED_REJECTS)
    assert {w["file"] for w in written} == {str(path)}
    by_place = {w["place"]: w for w in written}
    assert by_place["line 6"]["record"] == "A4,c4,2024-02-02,-4"
    assert by_place["line 8"]["record"] == "A6,c6,2024-02-04,1,extra"
    assert by_place["line 6"]["field"] == "amount"


def test_second_import_of_the_same_file_stores_nothing_new(
    tmp_path: Path, ledger: Ledger, do_import
) -> None:
    path = tmp_path / "orders.csv"
    path.write_bytes(HOSTILE)
    do_import("orders", path)

    again = do_import("orders", path)

    assert (again.read, again.stored, again.updated, again.rejected) == (16, 0, 0, 9)
    assert again.duplicates == 7  # the six stored records, and the in-file repeat
    assert len(rows(ledger, "SELECT * FROM orders")) == len(STORED)
