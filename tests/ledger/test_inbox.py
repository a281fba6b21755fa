"""The drop folder: each file imported once, then moved to done/ or failed/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from winback.errors import ContractError
from winback.ledger.inbox import import_inbox, table_of, waiting_files
from winback.ledger.store import Ledger

ORDERS = "order_id,customer_id,order_date,amount\no1,c1,2024-01-05,10.00\no2,c1,2024-02-05,20.00\n"


def test_the_table_comes_from_the_name_up_to_the_first_dot_or_dash() -> None:
    assert table_of(Path("orders.csv")) == "orders"
    assert table_of(Path("orders-2026-11-25.csv.gz")) == "orders"
    assert table_of(Path("order_lines.parquet")) == "order_lines"
    with pytest.raises(ContractError, match=r"notes\.csv: not named after a contract table"):
        table_of(Path("notes.csv"))


def test_files_still_being_written_wait_and_the_oldest_goes_first(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in ("orders-b.csv", "orders-a.csv", ".orders-c.csv", "orders-d.csv.part", "x.tmp"):
        (inbox / name).write_text(ORDERS, encoding="utf-8")
    os.utime(inbox / "orders-b.csv", (1_000, 1_000))
    (inbox / "done").mkdir()
    assert [p.name for p in waiting_files(inbox)] == ["orders-b.csv", "orders-a.csv"]
    assert waiting_files(tmp_path / "absent") == []


def test_imported_files_move_to_done_with_their_rejects_and_broken_ones_to_failed(
    tmp_path: Path,
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "orders.csv").write_text(ORDERS + "o3,c2,2024-13-01,5.00\n", encoding="utf-8")
    (inbox / "orders-broken.csv").write_text("foo,bar\n1,2\n", encoding="utf-8")
    (inbox / "notes.csv").write_text("a\n", encoding="utf-8")
    ledger = Ledger(tmp_path / "ledger")

    result = import_inbox(ledger, inbox, rejects_dir=tmp_path / "rejects")

    assert result.counts() == {
        "files_imported": 1,
        "files_failed": 2,
        "files_waiting": 0,
        "rows_stored": 2,
        "rows_rejected": 1,
    }
    assert sorted(p.name for p in inbox.iterdir()) == ["done", "failed"]
    done = sorted(p.name for p in (inbox / "done").iterdir())
    assert len(done) == 2
    assert done[0].endswith("-orders.csv")
    assert done[1].endswith("-orders.csv.rejects.csv")
    assert "2024-13-01" in (inbox / "done" / done[1]).read_text(encoding="utf-8")
    failed = sorted(
        (p.name for p in (inbox / "failed").iterdir()), key=lambda n: n.split("-", 1)[1]
    )
    assert [n.split("-", 1)[1] for n in failed] == [
        "notes.csv",
        "notes.csv.error.txt",
        "orders-broken.csv",
        "orders-broken.csv.error.txt",
    ]
    why = (inbox / "failed" / failed[3]).read_text(encoding="utf-8")
    assert "no column for required orders field(s): order_id" in why
    # The next pass finds nothing new: every file was handled once.
    again = import_inbox(ledger, inbox, rejects_dir=tmp_path / "rejects")
    assert again.counts()["files_imported"] == again.counts()["files_failed"] == 0


def test_a_folder_is_read_in_the_contracts_order_and_two_formats_of_one_file_are_refused(
    tmp_path: Path,
) -> None:
    from winback.errors import ImportFolderError
    from winback.ledger.inbox import table_files

    for name in ("orders-2.csv", "staff.csv", "orders-1.csv.gz", "notes.txt", "customers.csv"):
        (tmp_path / name).write_text("x\n", encoding="utf-8")
    assert [(t, p.name) for t, p in table_files(tmp_path)] == [
        ("customers", "customers.csv"),
        ("orders", "orders-1.csv.gz"),
        ("orders", "orders-2.csv"),
        ("staff", "staff.csv"),
    ]
    (tmp_path / "staff.parquet").write_text("x\n", encoding="utf-8")
    with pytest.raises(
        ImportFolderError, match=r"more than one file for staff: staff\.csv, staff\.parquet"
    ):
        table_files(tmp_path)
    with pytest.raises(ImportFolderError, match="not a folder"):
        table_files(tmp_path / "customers.csv")
