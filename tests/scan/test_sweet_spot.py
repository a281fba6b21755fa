"""Each customer's sweet spot, from a small ledger worked out by hand."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from winback.ledger.importer import import_file
from winback.ledger.store import Ledger
from winback.scan.sweet_spot import sweet_spots

AS_OF = date(2026, 6, 30)


def _ledger(root: Path) -> Ledger:
    """c1 buys coffee beans every 21 days (30.00), and filters (12.00) on the first four
    of those days only; c2's orders have no lines; c3 bought one espresso machine."""
    orders = ["order_id,customer_id,order_date,amount,channel,status"]
    lines = ["order_id,line_number,product_id,product_name,category,quantity,amount"]
    for i in range(8):
        day = date(2026, 1, 5) + timedelta(days=21 * i)
        filters = i < 4
        orders.append(f"A{i},c1,{day},{42 if filters else 30}.00,web,completed")
        lines.append(f"A{i},1,P1,Beans 1kg,Coffee beans,1,30.00")
        if filters:
            lines.append(f"A{i},2,P2,Paper filters,Filters,1,12.00")
    orders.append("A9,c1,2026-06-20,999.00,web,cancelled")  # does not count
    lines.append("A9,1,P9,Grinder,Grinders,1,999.00")
    for i, (day, amount) in enumerate(
        [("2026-01-01", 100), ("2026-03-02", 200), ("2026-05-01", 300)]
    ):
        orders.append(f"B{i},c2,{day},{amount}.00,store,completed")
    orders.append("C0,c3,2026-06-01,500.00,web,completed")
    lines.append("C0,1,P3,Espresso machine,Espresso machines,2,500.00")
    ledger = Ledger(root / "ledger")
    for name, rows in (("orders", orders), ("order_lines", lines)):
        path = root / f"{name}.csv"
        path.write_text("\n".join(rows) + "\n", encoding="utf-8")
        import_file(ledger, name, path, rejects_dir=root / "rejects")
    return ledger


@pytest.fixture
def spots(tmp_path: Path) -> dict[str, dict[str, object]]:
    frame = sweet_spots(_ledger(tmp_path).ibis(), AS_OF)
    return frame.to_dict(orient="index")


def test_a_regular_buyer_gets_a_sentence_a_rep_can_use(spots: dict[str, dict[str, object]]) -> None:
    c1 = spots["c1"]
    # Beans on 8 days 21 days apart; filters stopped after 9 March: 84 quiet days before the
    # last order, more than 2.5 of its 21-day cycles. Baskets 4 x 42 and 4 x 30: median 36.
    # A unit costs (8 x 30 + 4 x 12) / 12 = 24, the cheapest third of the customers.
    assert c1["sweet_spot"] == (
        "buys Coffee beans every 3 weeks, also Filters; usual basket 36.00 (low price), "
        "by web; stopped buying Filters after March 2026"
    )
    assert list(c1["top_lines"]) == ["Coffee beans", "Filters"]  # type: ignore[call-overload]
    assert c1["usual_basket"] == pytest.approx(36.0)
    assert c1["stopped_line"] == "Filters"


def test_orders_without_lines_still_say_how_often_and_how_much(
    spots: dict[str, dict[str, object]],
) -> None:
    # 120 days over two gaps: every 60 days, about 9 weeks; median of 100, 200, 300.
    assert spots["c2"]["sweet_spot"] == "orders every 9 weeks; usual basket 200.00, by store"
    assert pd.isna(spots["c2"]["stopped_line"])


def test_one_purchase_names_the_line_and_the_price_band(
    spots: dict[str, dict[str, object]],
) -> None:
    # 250 a unit: the dearest third.
    assert spots["c3"]["sweet_spot"] == (
        "buys Espresso machines; usual basket 500.00 (high price), by web"
    )


def test_a_daily_rhythm_reads_every_day_not_every_1_days() -> None:
    from winback.scan.sweet_spot import _every

    assert _every(1.0) == "every day"
    assert _every(3.2) == "every 3 days"
    assert _every(28.0) == "every 4 weeks"
