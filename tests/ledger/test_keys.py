"""Natural keys: duplicates, new versions and contradictions."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from tests.ledger.conftest import rows
from winback.ledger import store
from winback.ledger.store import Ledger

HEADER = "invoice_id,customer_id,issued_on,due_on,amount,paid_on\n"


@pytest.fixture(params=["real", "colliding"])
def hashes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """DuckDB's hashes as they are, or every hash the ledger computes made the same (a
    64-bit collision between every two records): a hash may only select candidates, the
    records themselves decide."""
    if request.param == "colliding":
        monkeypatch.setattr(store, "hash_sql", lambda expressions: "CAST(7 AS UBIGINT)")
    return str(request.param)


def test_changed_record_is_stored_as_a_new_version(
    tmp_path: Path, ledger: Ledger, do_import, hashes: str
) -> None:
    first = tmp_path / "invoices-june.csv"
    first.write_text(HEADER + "I1,c1,2024-06-01,2024-06-30,100,\nI2,c2,2024-06-01,2024-06-30,50,\n")
    second = tmp_path / "invoices-july.csv"
    second.write_text(
        HEADER
        + "I1,c1,2024-06-01,2024-06-30,100,2024-07-10\n"  # now paid, late
        + "I2,c2,2024-06-01,2024-06-30,50,\n"  # unchanged
        + "I3,c3,2024-07-01,2024-07-31,70,\n"  # new
    )
    do_import("invoices", first)

    result = do_import("invoices", second)

    assert (result.read, result.stored, result.updated, result.duplicates) == (3, 1, 1, 1)
    assert rows(ledger, "SELECT invoice_id, paid_on FROM invoices ORDER BY invoice_id") == [
        ("I1", date(2024, 7, 10)),
        ("I2", None),
        ("I3", None),
    ]
    # The earlier version is kept as history in its own segment.
    assert [s.rows for s in ledger.manifest().segments("invoices")] == [2, 2]


def test_same_key_with_other_values_in_one_file_is_rejected(
    tmp_path: Path, ledger: Ledger, do_import, hashes: str
) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(
        "order_id,customer_id,order_date,amount\n"
        "O1,c1,2024-01-01,10\nO2,c2,2024-01-02,20\nO1,c1,2024-01-01,11\n"
    )

    result = do_import("orders", path)

    assert (result.stored, result.rejected) == (2, 1)
    assert result.rejects[0].place == "line 4"
    assert result.rejects[0].field == "order_id"
    assert "same key as line 2 but different values" in result.rejects[0].reason
    assert rows(ledger, "SELECT amount FROM orders WHERE order_id = 'O1'") == [(10,)]


def test_overlapping_file_stores_only_the_new_records(
    tmp_path: Path, ledger: Ledger, do_import
) -> None:
    header = "order_id,customer_id,order_date,amount\n"
    january = tmp_path / "jan.csv"
    january.write_text(
        header + "".join(f"O{i},c{i % 3},2024-01-{i:02d},{i}\n" for i in range(1, 21))
    )
    overlap = tmp_path / "jan-feb.csv"
    overlap.write_text(
        header + "".join(f"O{i},c{i % 3},2024-01-{i:02d},{i}\n" for i in range(11, 31))
    )
    do_import("orders", january)

    result = do_import("orders", overlap)

    assert (result.stored, result.duplicates) == (10, 10)
    assert rows(ledger, "SELECT count(*), count(DISTINCT order_id) FROM orders") == [(30, 30)]


def test_composite_key_marketing_events(tmp_path: Path, ledger: Ledger, do_import) -> None:
    path = tmp_path / "marketing.csv"
    path.write_text(
        "customer_id,campaign_id,event,occurred_at\n"
        "c1,m1,sent,2024-01-01 09:00:00\n"
        "c1,m1,opened,2024-01-01 12:00:00\n"
        "c1,m1,sent,2024-01-01 09:00:00\n"
    )

    result = do_import("marketing_events", path)

    assert (result.stored, result.duplicates) == (2, 1)
