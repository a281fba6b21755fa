"""The scan end to end on a small ledger built from real files."""

from __future__ import annotations

import tempfile
from datetime import date, timedelta
from pathlib import Path

import pytest

from winback.errors import NothingToScanError, WinbackError
from winback.ledger.importer import import_file
from winback.ledger.store import Ledger
from winback.policy import Policy
from winback.scan.features import customer_features
from winback.scan.pipeline import explain, run_scan
from winback.scan.runs import latest_run

AS_OF = date(2024, 6, 30)


def _write(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


@pytest.fixture
def small_ledger(tmp_path: Path) -> Ledger:
    ledger = Ledger(tmp_path / "ledger")
    orders = []
    # c1 buys 100.00 every 30 days up to 10 days ago: active.
    for k in range(12):
        day = AS_OF - timedelta(days=10 + 30 * k)
        orders.append(f"a{k},c1,{day},100.00,30.00")
    # c2 bought 50.00 every 30 days, last 100 days ago: more than 3 cycles, lapsed.
    for k in range(8):
        day = AS_OF - timedelta(days=100 + 30 * k)
        orders.append(f"b{k},c2,{day},50.00,")
    # c3 bought once, 400 days ago; a second order that day was cancelled.
    orders.append(f"c0,c3,{AS_OF - timedelta(days=400)},20.00,")
    orders.append(f"c1,c3,{AS_OF - timedelta(days=400)},999.00,")
    header = "order_id,customer_id,order_date,amount,margin"
    path = _write(tmp_path / "orders.csv", header, orders)
    status = tmp_path / "status.csv"
    status.write_text(
        "order_id,customer_id,order_date,amount,status\n"
        f"c1,c3,{AS_OF - timedelta(days=400)},999.00,cancelled\n"
    )
    rejects = tmp_path / "rejects"
    import_file(ledger, "orders", path, rejects_dir=rejects)
    import_file(ledger, "orders", status, rejects_dir=rejects)  # c1 now cancelled
    customers = _write(
        tmp_path / "customers.csv",
        "customer_id,name,segment",
        ["c1,Ada,retail", "c2,Bo,retail", "c3,Cy,retail"],
    )
    import_file(ledger, "customers", customers, rejects_dir=rejects)
    incidents = _write(
        tmp_path / "incidents.csv",
        "incident_id,customer_id,occurred_on,type,severity",
        [f"i1,c2,{AS_OF - timedelta(days=105)},late_delivery,3"],
    )
    import_file(ledger, "incidents", incidents, rejects_dir=rejects)
    return ledger


def test_features_count_purchases_revenue_and_recent_volume(small_ledger: Ledger) -> None:
    f = customer_features(small_ledger.ibis(), AS_OF, Policy()).to_pandas()
    f = f.set_index("customer_id")

    assert f.loc["c1", "purchases"] == 12
    assert f.loc["c1", "revenue"] == pytest.approx(1200.0)
    assert f.loc["c1", "revenue_recent"] == pytest.approx(300.0)  # days 10, 40, 70
    assert f.loc["c1", "margin_past_years"] == pytest.approx(360.0)  # its own margins
    assert f.loc["c1", "own_interval_days"] == pytest.approx(30.0)
    assert f.loc["c2", "days_since_last_order"] == 100
    assert f.loc["c2", "margin_past_years"] == pytest.approx(8 * 50 * 0.3)  # default rate
    assert f.loc["c2", "recent_incidents"] == 1
    assert f.loc["c2", "last_incident_type"] == "late_delivery"
    assert f.loc["c3", "revenue"] == pytest.approx(20.0)  # the cancelled order does not count
    assert f.loc["c3", "name"] == "Cy"


def test_scan_writes_a_run_with_statuses_reasons_and_the_ranked_list(
    small_ledger: Ledger, tmp_path: Path
) -> None:
    run = run_scan(small_ledger, tmp_path / "runs", Policy(), as_of=AS_OF)

    assert latest_run(tmp_path / "runs") == run
    rows = {r["customer_id"]: r for r in run.customers().to_pylist()}
    assert rows["c1"]["status"] == "active"
    assert rows["c1"]["decision"] is None
    assert rows["c2"]["status"] == "lapsed"
    assert "last order 100 days ago; usually orders every 30 days (3.3×)" in rows["c2"]["reasons"]
    assert rows["c2"]["decision"] == "pursue"
    assert rows["c2"]["rank"] == 1
    assert any("latest: late delivery" in r for r in rows["c2"]["decision_reasons"])
    assert rows["c3"]["status"] == "lapsed"
    assert run.info.counts == {"active": 1, "slipping": 0, "lapsed": 2, "lost": 0, "listed": 1}
    assert run.info.classifier["auc"] is None  # a year of three customers: nothing to learn

    assert explain(run, "c2")["rank"] == 1
    with pytest.raises(WinbackError, match="customer 'nobody' is not in scan run"):
        explain(run, "nobody")


def test_scan_of_an_empty_ledger_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(WinbackError, match="holds no orders yet"):
        run_scan(Ledger(tmp_path / "ledger"), tmp_path / "runs", Policy())


def test_a_scan_that_fails_leaves_no_temporary_folder(
    small_ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    # The orders by customer and day are kept on disk, then no customer has bought yet.
    with pytest.raises(NothingToScanError):
        run_scan(small_ledger, tmp_path / "runs", Policy(), as_of=date(2000, 1, 1))
    assert list(scratch.iterdir()) == []


class _SeenError(Exception):
    """Raised once the scan's connection has been looked at: the test needs no more."""


def test_the_scan_s_duckdb_holds_no_more_than_winback_scan_memory(
    small_ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # DuckDB's own default is 80 % of the machine; WINBACK_SCAN_MEMORY bounds the scan's
    # queries, which spill to a temporary folder removed when the scan ends.
    import duckdb

    from winback import cycle
    from winback.scan import pipeline
    from winback.settings import Settings

    seen: list[tuple[str, str]] = []

    def as_of(con: object) -> date:
        row = con.con.sql(  # type: ignore[attr-defined]
            "SELECT current_setting('memory_limit'), current_setting('temp_directory')"
        ).fetchall()[0]
        seen.append(row)
        raise _SeenError

    monkeypatch.setattr(pipeline, "default_as_of", as_of)
    home = tmp_path / "home"
    home.mkdir()
    (home / "ledger").symlink_to(small_ledger.root)
    with pytest.raises(_SeenError):
        cycle.scan(Settings(home=home, scan_memory="300MB"), Policy(), sync_desk=False)
    with pytest.raises(_SeenError):
        run_scan(small_ledger, tmp_path / "runs", Policy())

    def limit(size: str) -> str:
        con = duckdb.connect()
        con.execute(f"SET memory_limit = '{size}'")
        return str(con.sql("SELECT current_setting('memory_limit')").fetchall()[0][0])

    assert [memory for memory, _ in seen] == [limit("300MB"), limit("2GB")]
    for _, folder in seen:
        assert Path(folder).name.startswith("winback-scan-")
        assert not Path(folder).exists()
    assert Settings(home=tmp_path).scan_memory == "2GB"


def test_a_scan_out_of_duckdb_memory_says_to_raise_winback_scan_memory(
    small_ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A median per group is a DuckDB aggregate that cannot spill (the sweet spot's median
    # basket failed so at 5.5M customers / 100M orders under the default 2GB): a real
    # out-of-memory error on the scan's own connection, bounded to 20MB here.
    from winback.errors import EngineError
    from winback.scan import pipeline

    def as_of(con: object) -> date:
        con.con.sql(  # type: ignore[attr-defined]
            "SELECT x % 2000000 AS g, median(x) FROM range(20000000) t(x) GROUP BY g"
        ).fetchall()
        raise AssertionError("DuckDB held a 2M-group median in 20MB")

    monkeypatch.setattr(pipeline, "default_as_of", as_of)
    with pytest.raises(EngineError, match=r"more memory than WINBACK_SCAN_MEMORY allows \(20MB\)"):
        run_scan(small_ledger, tmp_path / "runs", Policy(), memory="20MB")


def _resident_mb() -> float:
    """This process's resident memory, from /proc (Linux)."""
    import os

    pages = int(Path(f"/proc/{os.getpid()}/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads /proc (Linux)")
def test_the_scans_duckdb_gives_back_what_a_query_freed(tmp_path: Path) -> None:
    # DuckDB's allocator keeps what a query freed unless its background threads run (the
    # process stayed ~500MB larger after this aggregate, nothing in use): at 100M orders
    # the scan's whole 2GB sat idle while its frames were built in Python.
    import time

    import duckdb

    from winback.ledger.store import bound_memory

    con = duckdb.connect()
    bound_memory(con, "1GB", str(tmp_path))
    before = _resident_mb()
    groups = con.execute(
        "SELECT count(*) FROM (SELECT 'c' || (i % 6000000) AS g, sum(i) "
        "FROM range(30000000) t(i) GROUP BY ALL)"
    ).fetchall()
    assert groups == [(6_000_000,)]
    held = _resident_mb() - before
    assert held > 200  # the query did take memory
    deadline = time.monotonic() + 10
    while _resident_mb() - before > 100 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _resident_mb() - before <= 100, f"{held:.0f} MB taken, still held after 10 s"


def test_a_risk_driver_and_a_doubtful_contact_are_reasons_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import numpy as np
    import pandas as pd

    from winback.scan import contact, worth
    from winback.scan.pipeline import _with_more_reasons

    reasons = pd.Series([["gone quiet"], [], ["overdue"], []], dtype=object)
    before = [list(r) for r in reasons]
    drivers = pd.Series(["bought Shoes", None, np.nan, "served by Pia"], dtype=object)
    doubts = pd.Series([np.nan, "moved", np.nan, "moved"], dtype="str")
    moved = contact.reason("moved")
    want = [["gone quiet", "bought Shoes"], [moved], ["overdue"], ["served by Pia", moved]]
    for chunk in (1, 3, 200_000):  # built in pieces of customers: the same column
        monkeypatch.setattr(worth, "REASONS_CHUNK", chunk)
        got = _with_more_reasons(reasons, drivers, doubts)
        assert isinstance(got, pd.arrays.ArrowExtensionArray)
        assert [list(r) for r in got] == want
    assert [list(r) for r in reasons] == before  # the lists given are left as they were


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads /proc (Linux)")
def test_memory_freed_between_the_scans_steps_goes_back_to_the_system() -> None:
    # glibc keeps what was freed in its heap while a block above it lives: 300 MB of
    # 100 KB blocks freed here stayed resident until malloc_trim (as the scan's frames
    # between steps did: 25-110 MB at 300k customers).
    import ctypes.util

    from winback.scan.pipeline import give_back_freed_memory

    if "libc.so.6" not in str(ctypes.util.find_library("c")):
        pytest.skip("not glibc: nothing to give back this way")
    blocks = [bytearray(100_000) for _ in range(3000)]
    last = blocks[-1]
    del blocks
    held = _resident_mb()
    give_back_freed_memory()
    assert _resident_mb() < held - 150
    assert len(last) == 100_000


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads /proc (Linux)")
def test_arrow_memory_freed_between_the_scans_steps_goes_back_to_the_system() -> None:
    # Arrow's pool keeps the pages of arrays freed (the feature tables' columns, freed
    # one by one as pandas took them): 300 MB here stayed resident until released.
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from winback.scan.pipeline import give_back_freed_memory

    if pa.default_memory_pool().backend_name == "system":
        pytest.skip("Arrow allocates with malloc here: malloc_trim's test covers it")
    start = _resident_mb()
    arrays = [pc.add(pa.array(np.arange(12_500, dtype=np.float64)), 1.0) for _ in range(3000)]
    last = arrays[-1]
    del arrays
    held = _resident_mb()
    assert held - start > 200  # the arrays took memory (and freed, it stays)
    give_back_freed_memory()
    assert _resident_mb() < held - 200
    assert len(last) == 12_500
