"""The ledger store: snapshots for readers, one writer at a time."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest

from winback.errors import LedgerBusyError, LedgerError
from winback.ledger.store import Ledger

HEADER = "order_id,customer_id,order_date,amount\n"


def _hold_lock(
    root: str, held: multiprocessing.synchronize.Event, release: multiprocessing.synchronize.Event
) -> None:  # type: ignore[name-defined]
    with Ledger(Path(root)).writing():
        held.set()
        release.wait(30)


def test_reader_keeps_its_snapshot_while_an_import_commits(
    tmp_path: Path, ledger: Ledger, do_import
) -> None:
    first = tmp_path / "a.csv"
    first.write_text(HEADER + "O1,c1,2024-01-01,1\n")
    second = tmp_path / "b.csv"
    second.write_text(HEADER + "O2,c2,2024-01-02,2\n")
    do_import("orders", first)
    reader = ledger.connect()

    do_import("orders", second)

    assert reader.sql("SELECT count(*) FROM orders").fetchall() == [(1,)]
    assert ledger.connect().sql("SELECT count(*) FROM orders").fetchall() == [(2,)]


def test_a_second_writer_is_told_who_holds_the_ledger(tmp_path: Path, ledger: Ledger) -> None:
    ctx = multiprocessing.get_context("spawn")
    held, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(str(ledger.root), held, release))
    holder.start()
    try:
        assert held.wait(30)
        started = time.monotonic()
        with (
            pytest.raises(LedgerBusyError, match=rf"being written by pid {holder.pid}"),
            ledger.writing(wait_seconds=0.5),
        ):
            pass
        assert time.monotonic() - started < 5
    finally:
        release.set()
        holder.join(30)
    with ledger.writing(wait_seconds=1):
        pass  # free again once the holder is done


def test_an_empty_ledger_has_every_table_with_its_types(ledger: Ledger) -> None:
    con = ledger.connect()
    described = dict(con.sql("SELECT column_name, column_type FROM (DESCRIBE orders)").fetchall())
    assert described["order_date"] == "DATE"
    assert described["amount"] == "DECIMAL(18,2)"
    assert con.sql("SELECT count(*) FROM interactions").fetchall() == [(0,)]
    assert ledger.ibis().table("orders").count().execute() == 0


def test_a_damaged_manifest_is_reported(ledger: Ledger) -> None:
    ledger.root.mkdir(parents=True)
    ledger.manifest_path.write_text("{not json")
    with pytest.raises(LedgerError, match="manifest is damaged"):
        ledger.manifest()
