from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from winback.scan.runs import RUN_SCHEMA, RunInfo, latest_run, write_run


def _rows(n: int) -> pa.Table:
    columns = {f.name: pa.nulls(n, f.type) for f in RUN_SCHEMA}
    columns["customer_id"] = pa.array([f"c{i}" for i in range(n)])
    columns["status"] = pa.array(["lapsed"] * n)
    columns["rank"] = pa.array([n - i if i % 2 == 0 else None for i in range(n)], pa.int64())
    columns["reasons"] = pa.array([["last order 94 days ago", "p(alive) 0.12"]] * n)
    return pa.table(columns)


def test_latest_is_the_run_written_last_and_reads_back(tmp_path: Path) -> None:
    assert latest_run(tmp_path) is None
    first = RunInfo(RunInfo.new_id(), "2024-06-30", "2024-07-01T00:00:00+00:00", 3)
    write_run(tmp_path, first, _rows(4))
    second = RunInfo(RunInfo.new_id(), "2024-07-31", "2024-08-01T00:00:00+00:00", 5)
    write_run(tmp_path, second, _rows(3))

    run = latest_run(tmp_path)

    assert run is not None
    assert run.info.run_id == second.run_id
    assert run.as_of == date(2024, 7, 31)
    assert run.customers(["customer_id"]).num_rows == 3
    listed = (run.path / "winback_list.csv").read_text().splitlines()
    assert len(listed) == 1 + 2  # header and the two ranked customers, rank 1 first
    assert listed[1].startswith('"c2"')
    assert "last order 94 days ago; p(alive) 0.12" in listed[1]


def test_ranked_list_csv_quotes_names_that_a_spreadsheet_would_run(tmp_path: Path) -> None:
    import csv

    table = _rows(6)
    names = ['=HYPERLINK("http://x")', "+1+2", "-2+3", "@SUM(A1)", "\tTab", "Ann"]
    table = table.set_column(table.schema.get_field_index("name"), "name", pa.array(names))
    revenue = [-12.5, 3.0, -0.5, 7.0, 1.0, 2.0]
    table = table.set_column(
        table.schema.get_field_index("revenue"), "revenue", pa.array(revenue, pa.float64())
    )
    info = RunInfo(RunInfo.new_id(), "2024-06-30", "2024-07-01T00:00:00+00:00", 1)
    run = write_run(tmp_path, info, table)

    with open(run.path / "winback_list.csv", encoding="utf-8", newline="") as handle:
        listed = list(csv.DictReader(handle))
    # Ranked rows are 0, 2 and 4 (ranks 6, 4, 2), written rank first.
    assert [r["name"] for r in listed] == ["'\tTab", "'-2+3", '\'=HYPERLINK("http://x")']
    assert [r["revenue"] for r in listed] == ["1", "-0.5", "-12.5"]  # numbers stay numbers
    # The Parquet copies keep the names as they are (they are for programs).
    assert run.customers(["name"]).column("name").to_pylist() == names
    ranked = pq.read_table(run.path / "winback_list.parquet", columns=["rank", "name"])
    assert ranked.to_pydict() == {"rank": [2, 4, 6], "name": ["\tTab", "-2+3", names[0]]}


def test_a_run_in_pieces_with_a_piece_lacking_a_column_leaves_nothing(tmp_path: Path) -> None:
    import pytest

    from winback.errors import ScanRunError

    first = RunInfo(RunInfo.new_id(), "2024-06-30", "2024-07-01T00:00:00+00:00", 3)
    write_run(tmp_path, first, _rows(4))
    second = RunInfo(RunInfo.new_id(), "2024-07-31", "2024-08-01T00:00:00+00:00", 5)
    with pytest.raises(ScanRunError, match="lacks columns: rank"):
        write_run(tmp_path, second, iter([_rows(4), _rows(4).drop_columns(["rank"])]))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first.run_id, "LATEST"])
    latest = latest_run(tmp_path)
    assert latest is not None
    assert latest.info.run_id == first.run_id


def test_a_run_written_in_pieces_lists_the_ranked_of_every_piece_in_rank_order(
    tmp_path: Path,
) -> None:
    rows = _rows(6)
    ranks = pa.array([5, None, 1, 3, None, 2], pa.int64())
    rows = rows.set_column(rows.schema.get_field_index("rank"), "rank", ranks)
    info = RunInfo(RunInfo.new_id(), "2024-06-30", "2024-07-01T00:00:00+00:00", 3)
    run = write_run(tmp_path, info, iter([rows.slice(0, 2), rows.slice(2, 3), rows.slice(5)]))
    assert run.customers().equals(rows.cast(RUN_SCHEMA))
    listed = pq.read_table(run.path / "winback_list.parquet")
    assert listed["rank"].to_pylist() == [1, 2, 3, 5]
