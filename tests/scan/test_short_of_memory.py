"""A scan query that runs out of DuckDB's memory is run again on one thread."""

from __future__ import annotations

from pathlib import Path

import duckdb
import ibis
import pytest

from winback.scan.short_of_memory import retry_on_one_thread, threads_of

# 12M groups (each row its own) over 12M rows: in 70MB DuckDB fails on 8 threads (each holds
# partitions of its own) and finishes on one, spilling (measured: 8 threads fail up to
# 80MB, one thread passes from 60MB). The 100M-order ledger's order lines by customer,
# line and day did the same in 2GB on two threads.
MANY_GROUPS = """
    SELECT count(*) AS n FROM (
        SELECT 'c' || (i % 6000000) AS g, i % 7 AS d, sum(i) AS s
        FROM range(12000000) t(i) GROUP BY ALL
    )
"""


def _backend(tmp_path: Path, threads: int, memory: str) -> ibis.BaseBackend:
    con = ibis.duckdb.connect()
    con.con.execute(f"SET temp_directory = '{tmp_path}'")
    con.con.execute(f"SET threads = {threads}")
    con.con.execute(f"SET memory_limit = '{memory}'")
    con.con.execute(f"CREATE VIEW many AS {MANY_GROUPS}")
    return con


def test_a_query_short_of_memory_on_many_threads_runs_again_on_one(tmp_path: Path) -> None:
    plain = _backend(tmp_path / "plain", 8, "70MB")
    with pytest.raises(duckdb.OutOfMemoryException):
        plain.table("many").to_pyarrow()

    con = _backend(tmp_path / "wrapped", 8, "70MB")
    retry_on_one_thread(con)
    assert con.table("many").to_pyarrow().column("n").to_pylist() == [12_000_000]
    assert threads_of(con) == 1  # and so for the rest of the scan
    assert con.table("many").execute()["n"].tolist() == [12_000_000]


def test_a_query_short_of_memory_on_one_thread_still_fails(tmp_path: Path) -> None:
    con = _backend(tmp_path, 1, "20MB")
    retry_on_one_thread(con)
    with pytest.raises(duckdb.OutOfMemoryException):
        con.to_parquet(con.table("many"), tmp_path / "out.parquet")


def test_a_query_no_thread_would_save_is_answered_another_way_on_all_threads(
    tmp_path: Path,
) -> None:
    # A median per group cannot spill: 20M values in 70MB fail on any number of threads.
    # or_instead runs the other way at once, without the retry on one thread, and the
    # scan keeps its threads.
    from winback.scan.short_of_memory import or_instead

    con = _backend(tmp_path, 8, "70MB")
    con.con.execute(
        "CREATE VIEW medians AS SELECT sum(m) AS s FROM (SELECT i % 2000000 AS g, "
        "median(i) AS m FROM range(20000000) t(i) GROUP BY g)"
    )
    retry_on_one_thread(con)
    tried: list[str] = []

    def median() -> object:
        tried.append("median")
        return con.table("medians").to_pyarrow()

    def instead() -> object:
        tried.append("instead")
        return "another way"

    assert or_instead(median, instead) == "another way"
    assert tried == ["median", "instead"]
    assert threads_of(con) == 8
