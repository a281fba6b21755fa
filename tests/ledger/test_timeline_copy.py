"""The customer-sorted timeline copy after imports: a table that only gained rows keeps
the last copy's file and gains one of the new rows; updated keys, rewritten segments or
too many files write it whole. Either way it reads exactly as the ledger does."""

from __future__ import annotations

import itertools
import json
import os
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from winback.ledger import timeline
from winback.ledger.contract import TABLES as CONTRACT
from winback.ledger.importer import import_file
from winback.ledger.store import Ledger

HEADER = "order_id,customer_id,order_date,amount\n"


def _import(ledger: Ledger, tmp_path: Path, name: str, lines: str) -> None:
    path = tmp_path / f"{name}.csv"
    path.write_text(HEADER + lines, encoding="utf-8")
    result = import_file(ledger, "orders", path, rejects_dir=tmp_path / "rejects")
    assert result.rejected == 0, result.rejects


def _same_as_the_ledger(folder: Path, ledger: Ledger) -> list[tuple[object, ...]]:
    """Every timeline table reads the same through the copy as through the ledger (each
    customer's rows alike); the copy's orders, by customer and id."""
    copy, source = timeline.connect(folder), ledger.connect()
    try:
        for table in timeline.TABLES:
            columns = timeline.COLUMNS.get(table, CONTRACT[table].column_names)
            query = f"SELECT {', '.join(columns)} FROM {table} ORDER BY ALL"
            assert copy.sql(query).fetchall() == source.sql(query).fetchall(), table
            assert [d[0] for d in copy.sql(f"SELECT * FROM {table}").description] == list(columns)
        one = "SELECT order_id, amount FROM orders WHERE customer_id = 'c1' ORDER BY order_id"
        assert copy.sql(one).fetchall() == source.sql(one).fetchall()
        found: list[tuple[object, ...]] = copy.sql(
            "SELECT customer_id, order_id, amount FROM orders ORDER BY ALL"
        ).fetchall()
        return found
    finally:
        copy.close()
        source.close()


def test_new_orders_add_a_sorted_file_and_keep_the_last_copys(tmp_path: Path) -> None:
    ledger, root = Ledger(tmp_path / "ledger"), tmp_path / "timeline"
    _import(ledger, tmp_path, "first", "o1,c2,2024-01-02,10\no2,c1,2024-01-03,20\n")
    first = timeline.build(root, ledger)
    assert first is not None
    kept = (first / "orders.parquet").stat().st_ino
    _import(ledger, tmp_path, "second", "o3,c3,2024-02-01,5\no4,c1,2024-02-02,7\n")

    folder = timeline.build(root, ledger)

    assert folder is not None
    assert folder != first
    assert (folder / "orders.parquet").stat().st_ino == kept  # not written again
    assert (folder / "orders.1.parquet").exists()
    assert _same_as_the_ledger(folder, ledger) == [
        ("c1", "o2", 20),
        ("c1", "o4", 7),
        ("c2", "o1", 10),
        ("c3", "o3", 5),
    ]


def test_an_import_updating_stored_orders_writes_the_table_whole(tmp_path: Path) -> None:
    ledger, root = Ledger(tmp_path / "ledger"), tmp_path / "timeline"
    _import(ledger, tmp_path, "first", "o1,c1,2024-01-02,10\no2,c2,2024-01-03,20\n")
    first = timeline.build(root, ledger)
    assert first is not None
    _import(ledger, tmp_path, "fix", "o1,c1,2024-01-02,11\n")  # o1's amount corrected

    folder = timeline.build(root, ledger)

    assert folder is not None
    assert not (folder / "orders.1.parquet").exists()
    assert _same_as_the_ledger(folder, ledger) == [("c1", "o1", 11), ("c2", "o2", 20)]


def test_a_table_with_too_many_files_is_written_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(timeline, "MAX_PARTS", 2)
    ledger, root = Ledger(tmp_path / "ledger"), tmp_path / "timeline"
    for i in range(3):
        _import(ledger, tmp_path, f"batch{i}", f"o{i},c{i % 2},2024-01-0{i + 1},{i + 1}\n")
        folder = timeline.build(root, ledger)
        assert folder is not None
    assert sorted(p.name for p in folder.glob("orders*.parquet")) == ["orders.parquet"]
    assert _same_as_the_ledger(folder, ledger) == [
        ("c0", "o0", 1),
        ("c0", "o2", 3),
        ("c1", "o1", 2),
    ]


def test_a_last_copy_swept_away_mid_build_is_written_whole_not_through_its_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another build (a second sync's refresh) publishes meanwhile and sweeps the copy this
    # build links from: after the orders' first file is linked, the rest are gone.
    ledger, root = Ledger(tmp_path / "ledger"), tmp_path / "timeline"
    for i in range(3):
        _import(ledger, tmp_path, f"batch{i}", f"o{i},c{i % 2},2024-01-0{i + 1},{i + 1}\n")
        if i < 2:
            assert timeline.build(root, ledger) is not None
    real_link, held = os.link, []

    def link(source: Path, target: Path) -> None:
        real_link(source, target)
        if Path(source).name == "orders.parquet":
            held.append((open(source, "rb"), Path(source).read_bytes()))  # noqa: SIM115
            shutil.rmtree(Path(source).parent)

    monkeypatch.setattr(os, "link", link)
    folder = timeline.build(root, ledger)
    monkeypatch.undo()

    assert folder is not None
    assert _same_as_the_ledger(folder, ledger) == [
        ("c0", "o0", 1),
        ("c0", "o2", 3),
        ("c1", "o1", 2),
    ]
    kept, before = held[0]
    with kept:
        assert kept.read() == before  # the linked file was never written through


def test_a_copy_holding_other_columns_is_written_whole(tmp_path: Path) -> None:
    # A copy from before the columns were narrowed (its parts.json names none: every
    # column): new orders must not add a file of fewer columns beside it.
    ledger, root = Ledger(tmp_path / "ledger"), tmp_path / "timeline"
    _import(ledger, tmp_path, "first", "o1,c2,2024-01-02,10\n")
    first = timeline.build(root, ledger)
    assert first is not None
    parts = json.loads((first / timeline.PARTS).read_text(encoding="utf-8"))
    del parts["columns"]
    (first / timeline.PARTS).write_text(json.dumps(parts), encoding="utf-8")
    _import(ledger, tmp_path, "second", "o2,c1,2024-02-01,5\n")

    folder = timeline.build(root, ledger)

    assert folder is not None
    assert sorted(p.name for p in folder.glob("orders*.parquet")) == ["orders.parquet"]
    assert _same_as_the_ledger(folder, ledger) == [("c1", "o2", 5), ("c2", "o1", 10)]


def test_a_table_too_big_to_sort_in_memory_is_written_in_customer_ranges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two rows "fit" per GB: the six orders are sorted in three customer-id ranges, each
    # its own file; read together they are the ledger's orders, and the next import still
    # adds one file (the whole write's three count as one against MAX_PARTS).
    monkeypatch.setattr(timeline, "ROWS_PER_GB", 2)
    monkeypatch.setattr(timeline, "MAX_PARTS", 2)
    ledger, root = Ledger(tmp_path / "ledger"), tmp_path / "timeline"
    lines = "".join(f"o{i},c{i % 5},2024-01-0{i + 1},{i + 1}\n" for i in range(6))
    _import(ledger, tmp_path, "first", lines)
    first = timeline.build(root, ledger)
    assert first is not None
    files = sorted(first.glob("orders*.parquet"))
    assert len(files) == 3
    con = timeline.connect(first)
    try:
        spans = [
            con.sql(f"SELECT min(customer_id), max(customer_id) FROM '{f}'").fetchall()[0]
            for f in files
        ]
    finally:
        con.close()
    spans = sorted(span for span in spans if span[0] is not None)  # a range may be empty
    assert len(spans) >= 2
    assert all(a[1] < b[0] for a, b in itertools.pairwise(spans))  # disjoint
    assert len(_same_as_the_ledger(first, ledger)) == 6
    _import(ledger, tmp_path, "second", "o9,c1,2024-02-01,9\n")

    folder = timeline.build(root, ledger)

    assert folder is not None
    assert len(list(folder.glob("orders*.parquet"))) == 4
    assert ("c1", "o9", 9) in _same_as_the_ledger(folder, ledger)


def _file_in_customer_order(path: Path) -> bool:
    ids = pq.read_table(path, columns=["customer_id"]).column("customer_id").to_pylist()
    return bool(ids) and ids == sorted(ids)


@pytest.fixture
def sorted_tables(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tables the build sorts (the others it copies as read)."""
    seen: list[str] = []
    write_sorted = timeline._write_sorted

    def spy(*args: object, **kwargs: object) -> list[str]:
        seen.append(str(args[6]))
        return write_sorted(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(timeline, "_write_sorted", spy)
    return seen


def test_orders_imported_in_customer_order_are_copied_as_read(
    tmp_path: Path, sorted_tables: list[str]
) -> None:
    ledger, root = Ledger(tmp_path / "ledger"), tmp_path / "timeline"
    lines = "".join(f"o{i},c{i // 3:04d},2024-01-{1 + i % 28:02d},{i}\n" for i in range(300))
    _import(ledger, tmp_path, "sorted", lines)
    folder = timeline.build(root, ledger)

    assert folder is not None
    assert "orders" not in sorted_tables
    assert _file_in_customer_order(folder / "orders.parquet")
    assert len(_same_as_the_ledger(folder, ledger)) == 300


def test_orders_out_of_order_inside_a_row_group_are_sorted(
    tmp_path: Path, sorted_tables: list[str]
) -> None:
    """One row group (its statistics say nothing of the order inside it) whose ids go
    down once: the check row by row sends it to the sort."""
    ledger, root = Ledger(tmp_path / "ledger"), tmp_path / "timeline"
    ids = [f"c{i:04d}" for i in range(200)]
    ids[100], ids[101] = ids[101], ids[100]
    lines = "".join(f"o{i},{c},2024-01-02,{i}\n" for i, c in enumerate(ids))
    _import(ledger, tmp_path, "almost", lines)
    folder = timeline.build(root, ledger)

    assert folder is not None
    assert "orders" in sorted_tables
    assert _file_in_customer_order(folder / "orders.parquet")
    assert len(_same_as_the_ledger(folder, ledger)) == 200
