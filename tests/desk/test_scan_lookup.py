"""A customer's scan row through the run's customer-sorted copy: the same row as a
filtered read of the run's own file, whichever row group holds it."""

from __future__ import annotations

from pathlib import Path

import pyarrow.dataset as ds
import pytest

from tests.desk.conftest import make_run
from winback.desk import scan_lookup
from winback.desk.customer360 import SWEET_SPOT_COLUMNS, scan_row, sweet_spot_of

IDS = ["c10", "c2", "c07", "b9", "c1", "zz", "c3", "a", "Ä-1", "c11"]


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(scan_lookup, "ROWS", 3)  # several row groups of a small run
    rows = [{"customer_id": c, "name": f"N {c}", "rank": i + 1} for i, c in enumerate(IDS)]
    return make_run(tmp_path / "runs", rows)


def plain(run, customer_id: str):  # type: ignore[no-untyped-def]
    table = ds.dataset(run.path / "customers.parquet").to_table(
        filter=ds.field("customer_id") == customer_id
    )
    return table.to_pylist()[0] if table.num_rows else None


def test_every_customer_is_found_in_its_row_group_and_others_are_not(run) -> None:  # type: ignore[no-untyped-def]
    assert not (run.path / scan_lookup.LOOKUP).exists()
    for customer_id in IDS:
        assert scan_row(run, customer_id) == plain(run, customer_id), customer_id
    assert (run.path / scan_lookup.LOOKUP).exists()
    groups = scan_lookup._index(run.path / scan_lookup.LOOKUP)[0].metadata.num_row_groups
    assert groups == 4
    for absent in ("", "0", "c0", "c12", "zzz", "b"):
        assert scan_row(run, absent) is None, absent


def test_only_the_columns_asked_for(run) -> None:  # type: ignore[no-untyped-def]
    assert scan_lookup.customer_row(run, "c3", ["name", "rank"]) == {"name": "N c3", "rank": 7}
    assert scan_lookup.customer_row(run, "c3", ["no_such_column"]) is None
    spot = sweet_spot_of(run, "zz")
    assert spot is not None
    assert set(spot) <= set(SWEET_SPOT_COLUMNS)


def test_a_run_folder_that_cannot_be_written_is_read_as_before(
    run, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError("read-only")

    monkeypatch.setattr(scan_lookup.pq, "write_table", refuse)
    assert scan_row(run, "c07") == plain(run, "c07")
    assert scan_row(run, "nobody") is None
    assert not (run.path / scan_lookup.LOOKUP).exists()
    assert not list(run.path.glob(".*.tmp"))


def test_many_threads_look_up_at_once(tmp_path: Path) -> None:
    """Desk requests run in threads that share the opened copy: reads at once must neither
    fail (pyarrow's read cache is not safe across threads) nor mix rows up."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    ids = [f"c{i:05d}" for i in range(20_000)]
    rows = [{"customer_id": c, "name": f"N {c}", "rank": i} for i, c in enumerate(ids)]
    run = make_run(tmp_path / "runs", rows)
    scan_lookup.customer_row(run, ids[0])  # the copy written once
    start = threading.Barrier(8)

    def look(worker: int) -> list[str]:
        start.wait()
        wrong = []
        for i in range(worker, len(ids), 97):
            row = scan_lookup.customer_row(run, ids[i], ["name", "rank"])
            if row != {"name": f"N {ids[i]}", "rank": i}:
                wrong.append(ids[i])
        return wrong

    with ThreadPoolExecutor(8) as pool:
        found = list(pool.map(look, range(8)))
    assert found == [[]] * 8


def test_a_run_in_customer_order_is_copied_without_reading_it_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scan writes its run sorted by customer id: the copy streams it in row groups,
    reading no more than the ids at once."""
    monkeypatch.setattr(scan_lookup, "ROWS", 3)
    ids = sorted(IDS)
    rows = [{"customer_id": c, "name": f"N {c}", "rank": i + 1} for i, c in enumerate(ids)]
    run = make_run(tmp_path / "runs", rows)
    read = scan_lookup.pq.read_table
    columns_read: list[object] = []

    def reading(*args: object, **kwargs: object) -> object:
        columns_read.append(kwargs.get("columns"))
        return read(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(scan_lookup.pq, "read_table", reading)
    for customer_id in ids:
        assert scan_row(run, customer_id) == plain(run, customer_id), customer_id
    assert columns_read == [["customer_id"]]
    groups = scan_lookup._index(run.path / scan_lookup.LOOKUP)[0].metadata.num_row_groups
    assert groups == 4
    assert scan_row(run, "c0") is None
