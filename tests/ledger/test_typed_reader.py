"""DuckDB's typed reader takes the clean records of a CSV file and the text path reads the
rest (or the whole file, when its records are not one a line), and the stored values and
rejects are the same either way."""

from __future__ import annotations

from pathlib import Path

import pytest

from winback.ledger import importer, reread
from winback.ledger.importer import ImportResult, import_file
from winback.ledger.sources import Source
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


def _messy(tmp_path: Path, extra: str = "") -> Path:
    """3,000 clean records with, here and there, a record the typed reader cannot convert
    (some the text path takes), one failing a check, and one it cannot split."""
    spoiled = {
        40: "B040,c1,2024-13-01,5,1",  # no such date: rejected
        700: 'B700,c2,2024-01-02,"1,234.50",1',  # an amount the text path reads
        1200: "B1200,c3,2024-01-03,-3,1",  # converts, but negative: rejected
        1500: "B1500,c4,2024-01-04,5,1,extra",  # cannot be split
        2100: "B2100,,2024-01-05,5,1",  # no customer: rejected
        2999: "B2999,c5,05/01/2024,5,two",  # two fields wrong
    }
    lines = [
        spoiled.get(i, f"A{i:05d},c{i % 50},2024-01-{1 + i % 28:02d},{i % 90}.25,1")
        for i in range(3000)
    ]
    path = tmp_path / "orders.csv"
    path.write_text(
        HEADER + "\n".join(lines[:2000]) + extra + "\n" + "\n".join(lines[2000:]) + "\n"
    )
    return path


def _both_ways(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: Path
) -> tuple[tuple[object, ...], tuple[object, ...], list[str], list[str]]:
    """The outcome with the typed reader and with the text path alone; which paths the
    first took; the records it read again."""
    paths: list[str] = []
    reread_lines: list[str] = []
    clear = importer.clear_rejects
    small = reread.small_source

    def text_path(con: object) -> None:
        paths.append("text")
        clear(con)  # type: ignore[arg-type]

    def spied(source: Source, planned: reread.Reread, at: Path) -> Source:
        reread_lines.extend(line.decode().strip() for line in planned.lines[1:])
        return small(source, planned, at)

    monkeypatch.setattr(importer, "clear_rejects", text_path)
    monkeypatch.setattr(reread, "small_source", spied)
    both = Ledger(tmp_path / "both")
    with_reader = import_file(both, "orders", path, rejects_dir=tmp_path / "rj1")
    assert with_reader.balanced
    records = [r.record for r in with_reader.rejects]
    monkeypatch.setattr(importer, "typed_relation", lambda *_args: None)
    text = Ledger(tmp_path / "text")
    text_only = import_file(text, "orders", path, rejects_dir=tmp_path / "rj2")
    assert records == [r.record for r in text_only.rejects]
    return _outcome(with_reader, both), _outcome(text_only, text), paths, reread_lines


def test_a_messy_file_is_read_again_as_text_only_where_the_typed_reader_left_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    typed, text, paths, again = _both_ways(tmp_path, monkeypatch, _messy(tmp_path))

    assert typed == text
    assert paths == ["text"]  # the text-only import's, none of the typed reader's
    assert again == [
        "B040,c1,2024-13-01,5,1",
        'B700,c2,2024-01-02,"1,234.50",1',
        "B1200,c3,2024-01-03,-3,1",
        "B2100,,2024-01-05,5,1",
        "B2999,c5,05/01/2024,5,two",
    ]
    read, stored, rejected, rejects, _rows = typed
    assert (read, stored, rejected) == (3000, 2995, 5)  # B700 stored, as 1234.50
    assert [place for place, _, _ in rejects] == [
        "line 42", "line 1202", "line 1502", "line 2102", "line 3001"
    ]  # fmt: skip


def test_a_file_not_one_record_a_line_is_read_whole_as_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A blank line and a quoted line break: line numbers are no longer record numbers.
    path = _messy(tmp_path, extra='\n\nC1,c1,2024-01-01,"5",1\nC2,"c\n2",2024-01-01,5,1')
    typed, text, paths, again = _both_ways(tmp_path, monkeypatch, path)

    assert typed == text
    assert paths == ["text", "text"]  # both imports read the file whole as text
    assert again == []


def test_a_file_with_many_records_to_read_again_is_read_whole_as_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Past the cap, keeping each line to read again costs more than the text path: the
    # whole file goes that way, with the same outcome.
    monkeypatch.setattr(importer, "REREAD_AT_MOST", 3)  # the messy file has 5
    monkeypatch.setattr(importer, "REREAD_ONE_IN", 10**9)
    typed, text, paths, again = _both_ways(tmp_path, monkeypatch, _messy(tmp_path))

    assert typed == text
    assert paths == ["text", "text"]  # both imports read the file whole as text
    assert again == []
