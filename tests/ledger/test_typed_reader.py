"""DuckDB's typed reader takes clean CSV files; anything else goes the text path, and the
stored values and rejects are the same either way."""

from __future__ import annotations

from pathlib import Path

import pytest

from winback.ledger import importer
from winback.ledger.importer import ImportResult, import_file
from winback.ledger.store import Ledger

HEADER = "order_id,customer_id,order_date,amount,quantity\n"
CLEAN = "A1,c1,2024-01-05,10.50,2\nA2,c2,2024-02-29,0,1\n"

# Values where a reader could part ways with the text path's casts: (field, value).
TRICKY = [
    ("amount", "12.345"),
    ("amount", "12.355"),
    ("amount", "1e3"),
    ("amount", "1_000"),
    ("amount", "+5"),
    ("amount", " 5"),
    ("amount", "5 "),
    ("amount", ".5"),
    ("amount", "5."),
    ("amount", "-0"),
    ("amount", '"1,234.50"'),
    ("amount", "$5"),
    ("amount", "99999999999999999.99"),
    ("amount", "Infinity"),
    ("amount", "-3"),
    ("amount", ""),
    ("quantity", "1.5"),
    ("quantity", "2.5"),
    ("quantity", "0x10"),
    ("quantity", " 3 "),
    ("quantity", "1.0"),
    ("order_date", " 2024-01-05"),
    ("order_date", "2024-1-5"),
    ("order_date", "2024-01-05 "),
    ("order_date", "2024-01-05T10:00"),
    ("order_date", "2024-01-05 10:00:00"),
    ("order_date", "2024-01-05 BC"),
    ("order_date", "0001-01-01"),
    ("order_date", "20240105"),
    ("order_date", ""),
    ("customer_id", ""),
    ("customer_id", "  c9 "),
]


def _line(field: str, value: str) -> str:
    row = {"order_id": "B1", "customer_id": "c3", "order_date": "2024-03-01", "amount": "7"}
    row["quantity"] = "1"
    row[field] = value
    return ",".join(row.values()) + "\n"


def _stored(ledger: Ledger) -> list[tuple[object, ...]]:
    con = ledger.connect()
    try:
        return con.sql(
            "SELECT order_id, customer_id, order_date, amount, quantity FROM orders "
            "ORDER BY order_id"
        ).fetchall()
    finally:
        con.close()


def _outcome(result: ImportResult, ledger: Ledger) -> tuple[object, ...]:
    rejects = [(r.place, r.field, r.reason) for r in result.rejects]
    return (result.read, result.stored, result.rejected, rejects, _stored(ledger))


@pytest.mark.parametrize(("field", "value"), TRICKY)
def test_a_value_is_stored_or_rejected_alike_by_the_typed_reader_and_the_text_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, field: str, value: str
) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(HEADER + CLEAN + _line(field, value))
    typed_calls: list[str] = []
    reader = importer.typed_relation

    def counted(*args: object) -> object:
        typed_calls.append("typed")
        return reader(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(importer, "typed_relation", counted)
    both = Ledger(tmp_path / "both")
    with_reader = import_file(both, "orders", path, rejects_dir=tmp_path / "rj1")
    monkeypatch.setattr(importer, "typed_relation", lambda *_args: None)
    text = Ledger(tmp_path / "text")
    text_only = import_file(text, "orders", path, rejects_dir=tmp_path / "rj2")

    assert typed_calls == ["typed"]
    assert with_reader.balanced
    assert _outcome(with_reader, both) == _outcome(text_only, text)


def test_a_clean_file_is_read_once_by_the_typed_reader(
    tmp_path: Path, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(HEADER + CLEAN)

    def text_path(*_args: object) -> None:
        raise AssertionError("a clean file went the text path")

    monkeypatch.setattr(importer, "clear_rejects", text_path)
    result = import_file(ledger, "orders", path, rejects_dir=tmp_path / "rj")

    assert (result.read, result.stored, result.rejected) == (2, 2, 0)


@pytest.mark.parametrize(
    "late",
    [
        "A9,c9,2024-13-01,5,1\n",  # a date that is no date
        "A9,c9,2024-01-01,-5,1\n",  # a negative amount, which converts fine
        "A9,c9,2024-01-01,5,1,extra\n",  # a line the reader cannot split
    ],
)
def test_a_file_whose_last_record_is_bad_is_read_again_as_text(
    tmp_path: Path, ledger: Ledger, late: str
) -> None:
    lines = [f"A{i:05d},c{i % 50},2024-01-{1 + i % 28:02d},{i % 90}.25,1\n" for i in range(5000)]
    path = tmp_path / "orders.csv"
    path.write_text(HEADER + "".join(lines) + late)

    result = import_file(ledger, "orders", path, rejects_dir=tmp_path / "rj")

    assert (result.read, result.stored, result.rejected) == (5001, 5000, 1)
    assert result.rejects[0].place == "line 5002"
    assert len(_stored(ledger)) == 5000
