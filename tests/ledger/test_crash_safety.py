"""An import killed at any moment leaves a ledger that reads as before and imports again;
what it left behind is removed by the next write, and commits reach the disk in order."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.ledger.conftest import rows
from winback.ledger import store
from winback.ledger.store import TYPED_SUFFIXES, Ledger


def _orders(path: Path, n: int, start: int = 0) -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("order_id,customer_id,order_date,amount\n")
        for i in range(start, start + n):
            handle.write(f"O{i},C{i % 997},2024-{i % 12 + 1:02d}-{i % 28 + 1:02d},{i % 500}.25\n")
    return path


def test_files_left_by_a_killed_writer_are_removed_by_the_next_import(
    tmp_path: Path, ledger: Ledger, do_import
) -> None:
    do_import("orders", _orders(tmp_path / "a.csv", 10))
    kept = {p.name for p in (ledger.root / "orders").iterdir()}
    assert len(kept) == 1
    # As a kill -9 leaves them: a staged file, a segment of a batch never committed, a
    # manifest draft.
    orphans = [
        ledger.root / "orders" / "000002-deadbeef.staged",
        ledger.root / "orders" / "000002-deadbeef.parquet",
        ledger.root / "customers" / "000007-0badf00d.staged",
        # and the typed read's scratch files beside a staged file
        ledger.root / "orders" / "000002-deadbeef.typed",
        ledger.root / "orders" / "000002-deadbeef.reread",
        ledger.root / "orders" / "000002-deadbeef.reread.csv",
        ledger.root / ".manifest.json.0123abcd.tmp",
    ]
    for orphan in orphans:
        orphan.parent.mkdir(exist_ok=True)
        orphan.write_bytes(b"x" * 1000)

    result = do_import("orders", _orders(tmp_path / "b.csv", 5, start=100))

    assert result.stored == 5
    assert [o for o in orphans if o.exists()] == []
    assert kept <= {p.name for p in (ledger.root / "orders").iterdir()}
    assert rows(ledger, "SELECT count(*) FROM orders") == [(15,)]


def test_segment_and_its_folder_are_fsynced_before_the_manifest_names_them(
    tmp_path: Path, ledger: Ledger, do_import, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("fsync " + os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    def replace(src: str | Path, dst: str | Path) -> None:
        events.append(f"replace {dst}")
        real_replace(src, dst)

    monkeypatch.setattr(store.os, "fsync", fsync)
    monkeypatch.setattr(store.os, "replace", replace)
    do_import("orders", _orders(tmp_path / "a.csv", 10))

    segment = ledger.manifest().segments("orders")[0].file
    manifest = str(ledger.root / "manifest.json")
    synced = [e for e in events if e.startswith("fsync")]
    assert synced[0] == f"fsync {ledger.root / segment}"
    assert synced[1] == f"fsync {ledger.root / 'orders'}"
    assert synced[2].startswith(f"fsync {ledger.root}/.manifest.json.")  # the draft
    assert events[-2:] == [f"replace {manifest}", f"fsync {ledger.root}"]
    assert events.index(f"replace {manifest}") > events.index(synced[2])


_IMPORT = """
import sys
from pathlib import Path
from winback.ledger.importer import import_file
from winback.ledger.store import Ledger
import_file(Ledger(Path(sys.argv[1])), "orders", Path(sys.argv[2]), rejects_dir=Path(sys.argv[3]))
"""


@pytest.mark.slow
def test_kill_9_during_an_import_leaves_a_ledger_that_reads_and_imports_again(
    tmp_path: Path, ledger: Ledger, do_import
) -> None:
    do_import("orders", _orders(tmp_path / "first.csv", 1000))
    big = _orders(tmp_path / "big.csv", 1_500_000, start=10_000)
    before = ledger.manifest()
    child = subprocess.Popen(
        [sys.executable, "-c", _IMPORT, str(ledger.root), str(big), str(tmp_path / "rejects")]
    )
    folder = ledger.root / "orders"

    def scratch() -> list[Path]:
        """The import's files in progress: the staged file, the typed read's files."""
        return [p for p in folder.iterdir() if p.name.endswith((".staged", *TYPED_SUFFIXES))]

    deadline = time.monotonic() + 120
    try:
        while not scratch():
            assert child.poll() is None, "the import ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(0.05)  # part-way through writing it
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert scratch(), "the kill left no file in progress"

    after = ledger.manifest()
    assert after.batches == before.batches
    assert after.tables == before.tables
    assert rows(ledger, "SELECT count(*), count(DISTINCT order_id) FROM orders") == [(1000, 1000)]

    again = do_import("orders", _orders(tmp_path / "again.csv", 2000))  # 1000 stored before
    assert (again.read, again.stored, again.duplicates) == (2000, 1000, 1000)
    assert scratch() == []
    assert len(list(folder.glob("*.parquet"))) == 2
    assert rows(ledger, "SELECT count(*) FROM orders") == [(2000,)]
