"""The CDNOW and Shopify presets."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from tests.conftest import EXAMPLES
from tests.ledger.conftest import rows
from winback.ledger.presets import import_preset
from winback.ledger.store import Ledger


def test_cdnow_master_imports_the_whole_cohort(tmp_path: Path, ledger: Ledger) -> None:
    results = import_preset(
        ledger, "cdnow", EXAMPLES / "cdnow" / "CDNOW_master.txt.gz", rejects_dir=tmp_path
    )

    by_table = {r.table: r for r in results}
    # 69,659 transactions by 23,570 customers (the CDNOW cohort, Fader, Hardie & Lee 2005).
    assert (by_table["orders"].read, by_table["orders"].stored) == (69_659, 69_659)
    assert (by_table["customers"].read, by_table["customers"].stored) == (23_570, 23_570)
    assert rows(ledger, "SELECT min(order_date), max(order_date) FROM orders") == [
        (date(1997, 1, 1), date(1998, 6, 30))
    ]
    # Customer 2 bought twice on 12 Jan 1997: two orders, told apart by their position.
    assert rows(
        ledger, "SELECT order_id, amount FROM orders WHERE customer_id = '2' ORDER BY order_id"
    ) == [("2-19970112-1", Decimal("12.00")), ("2-19970112-2", Decimal("77.00"))]


def test_cdnow_sample_reimport_stores_nothing(tmp_path: Path, ledger: Ledger) -> None:
    sample = EXAMPLES / "cdnow" / "CDNOW_sample.txt.gz"
    first = import_preset(ledger, "cdnow", sample, rejects_dir=tmp_path)
    again = import_preset(ledger, "cdnow", sample, rejects_dir=tmp_path)

    # The 1/10 sample: 6,919 transactions by 2,357 customers.
    assert [(r.table, r.stored) for r in first] == [("orders", 6_919), ("customers", 2_357)]
    assert [(r.table, r.stored, r.duplicates) for r in again] == [
        ("orders", 0, 6_919),
        ("customers", 0, 2_357),
    ]


def test_cdnow_bad_line_is_reported_with_its_line(tmp_path: Path, ledger: Ledger) -> None:
    path = tmp_path / "cdnow.txt"
    path.write_text(" 00001 19970101  1   11.77\n 00002 19971301  1   12.00\n 00003 x\n")

    orders = import_preset(ledger, "cdnow", path, rejects_dir=tmp_path)[0]

    assert (orders.stored, orders.rejected) == (1, 2)
    assert [(r.place, r.field) for r in orders.rejects] == [
        ("line 2", "order_date"),
        ("line 3", "amount, customer_id, order_date, order_id"),
    ]


SHOPIFY = (
    "Name,Email,Financial Status,Paid at,Currency,Subtotal,Total,Created at,"
    "Lineitem quantity,Lineitem name,Lineitem price,Lineitem sku,Billing Name,Billing Country,"
    "Cancelled at,Source\n"
    "#1001,Ann@Example.com ,paid,2024-01-05 10:22:13 -0500,USD,30.00,33.50,"
    "2024-01-05 10:22:13 -0500,2,Mug,10.00,MUG-1,Ann Lee,US,,web\n"
    "#1001,Ann@Example.com ,,,,,,,1,Plate,10.00,PLT-1,,,,\n"
    "#1002,bob@example.com,refunded,2024-02-01 09:00:00 +0100,USD,20.00,20.00,"
    "2024-02-01 23:30:00 +0100,1,Bowl,20.00,BWL-1,Bob Roy,FR,,pos\n"
    "#1003,ann@example.com,paid,,USD,5.00,5.00,2024-03-01 08:00:00 -0500,1,Spoon,5.00,SPN,"
    "Ann Lee,US,2024-03-02 08:00:00 -0500,web\n"
)


def test_shopify_export_gives_orders_lines_and_customers_by_email(
    tmp_path: Path, ledger: Ledger
) -> None:
    path = tmp_path / "orders_export.csv"
    path.write_text(SHOPIFY)

    results = {r.table: r for r in import_preset(ledger, "shopify", path, rejects_dir=tmp_path)}

    assert results["orders"].stored == 3
    assert results["order_lines"].stored == 4
    assert results["customers"].stored == 2
    assert all(r.rejected == 0 for r in results.values())
    assert rows(
        ledger, "SELECT order_id, customer_id, order_date, amount, status FROM orders ORDER BY 1"
    ) == [
        ("#1001", "ann@example.com", date(2024, 1, 5), Decimal("33.50"), "completed"),
        ("#1002", "bob@example.com", date(2024, 2, 1), Decimal("20.00"), "refunded"),
        ("#1003", "ann@example.com", date(2024, 3, 1), Decimal("5.00"), "cancelled"),
    ]
    assert rows(ledger, "SELECT customer_id, name, country FROM customers ORDER BY 1") == [
        ("ann@example.com", "Ann Lee", "US"),
        ("bob@example.com", "Bob Roy", "FR"),
    ]
    assert rows(
        ledger, "SELECT line_number, product_id, amount FROM order_lines WHERE order_id = '#1001'"
    ) == [(1, "MUG-1", Decimal("20.00")), (2, "PLT-1", Decimal("10.00"))]
