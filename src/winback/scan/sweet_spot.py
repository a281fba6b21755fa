"""Each customer's sweet spot: what they buy, how often, for how much, and what changed.

From the order lines (a line's category, else its product name) and, for customers whose
orders have no lines, the orders alone: the product lines they bought on most purchase
days (most recent first on a tie) and how often, their usual basket (the median counted
order), their price band (the mean price of a unit they bought, against the business's
terciles of that mean), the channel they order by most, and what changed before they
slipped: a line they bought regularly (on at least ``REGULAR`` days) and stopped buying
while they went on buying other things (nothing of it for ``STOPPED_CYCLES`` of its own
cycles before their last order). Then one sentence a rep can say:
"buys Clothing every 5 weeks, also Toys; usual basket 42.00 (mid price), by web; stopped
buying Shoes after March 2026".

The Ibis parts run on DuckDB and PySpark alike; the rest is pandas over small aggregates.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import ibis
import numpy as np
import pandas as pd

from winback.ledger.contract import COUNTED_ORDER_STATUSES

REGULAR = 3  # purchase days with a line before its stopping counts
STOPPED_CYCLES = 2.5
TOP = 2
BANDS = ("low", "mid", "high")
COLUMNS = ("sweet_spot", "top_lines", "usual_basket", "stopped_line")


def _counted(con: Any, as_of: date) -> Any:
    orders = con.table("orders")
    return orders.filter(
        (orders.order_date <= ibis.date(as_of))
        & (orders.status.isnull() | orders.status.isin(COUNTED_ORDER_STATUSES))
    )


def _read(con: Any, as_of: date) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(customer, line) purchase days, first and last; per-customer basket and price;
    (customer, channel) counts."""
    o = _counted(con, as_of)
    lines = con.table("order_lines")
    held = lines.join(o.select("order_id", "customer_id", "order_date"), "order_id")
    held = held.mutate(line=held.category.coalesce(held.product_name))
    held = held.filter(held.line.notnull() & (held.line != ""))
    per_line = held.group_by(["customer_id", "line"]).aggregate(
        days=held.order_date.nunique(),
        first=held.order_date.min(),
        last=held.order_date.max(),
    )
    units = held.quantity.fill_null(1)
    price = held.group_by("customer_id").aggregate(
        line_value=held.amount.sum().cast("float64"),
        units=ibis.ifelse(units > 0, units, 1).sum().cast("float64"),
    )
    basket = o.group_by("customer_id").aggregate(
        usual_basket=o.amount.cast("float64").median(),
        first_order=o.order_date.min(),
        last_order=o.order_date.max(),
        purchase_days=o.order_date.nunique(),
    )
    customers = basket.left_join(price, "customer_id").drop("customer_id_right")
    channels = (
        o.filter(o.channel.notnull())
        .group_by(["customer_id", "channel"])
        .aggregate(n=o.order_date.count(), last=o.order_date.max())
    )

    def frame(expr: Any) -> pd.DataFrame:
        out: pd.DataFrame = expr.to_pyarrow().to_pandas()
        out["customer_id"] = out["customer_id"].astype(str)
        return out

    return frame(per_line), frame(customers), frame(channels)


def _every(days: float) -> str:
    if days < 1.5:
        return "every day"
    if days < 13:
        return f"every {round(days)} days"
    if days < 100:
        return f"every {round(days / 7)} weeks"
    return f"every {round(days / 30.44)} months"


def describe(
    per_line: pd.DataFrame, customers: pd.DataFrame, channels: pd.DataFrame
) -> pd.DataFrame:
    """The sweet-spot columns (:data:`COLUMNS`) per customer, indexed by customer id.

    ``per_line``: customer_id, line, days, first, last; ``customers``: customer_id,
    usual_basket, first_order, last_order, purchase_days, line_value, units;
    ``channels``: customer_id, channel, n, last.
    """
    c = customers.set_index("customer_id")
    unit = c["line_value"] / c["units"]
    cuts = unit.dropna().quantile([1 / 3, 2 / 3]).to_numpy() if unit.notna().any() else None
    band: dict[str, str] = {}
    if cuts is not None:
        known = unit.dropna()
        codes = np.searchsorted(cuts, known.to_numpy(), "right")
        band = {cid: BANDS[i] for cid, i in zip(known.index, codes, strict=True)}

    top_channel = (
        channels.sort_values(["customer_id", "n", "last"], ascending=[True, False, False])
        .groupby("customer_id")["channel"]
        .first()
    )

    lines = per_line.copy()
    for col in ("first", "last"):
        lines[col] = pd.to_datetime(lines[col])
    span = (lines["last"] - lines["first"]).dt.days
    lines["cycle"] = np.where(lines["days"] > 1, span / (lines["days"] - 1).clip(lower=1), np.nan)
    lines = lines.sort_values(
        ["customer_id", "days", "last", "line"], ascending=[True, False, False, True]
    )
    last_order = pd.to_datetime(c["last_order"])
    lines["customer_last"] = last_order.reindex(lines["customer_id"]).to_numpy()
    quiet = (lines["customer_last"] - lines["last"]).dt.days
    lines["stopped"] = (
        (lines["days"] >= REGULAR) & (quiet > STOPPED_CYCLES * lines["cycle"]) & (quiet > 0)
    )
    grouped = lines.groupby("customer_id", sort=False)
    tops = grouped["line"].apply(lambda s: list(s.iloc[:TOP]))
    first_cycle = grouped["cycle"].first()
    stopped = lines[lines["stopped"]].groupby("customer_id", sort=False).first()

    span_all = (last_order - pd.to_datetime(c["first_order"])).dt.days
    order_cycle = span_all / (c["purchase_days"] - 1).where(c["purchase_days"] > 1)

    baskets = c["usual_basket"].astype(float)
    stopped_after = pd.to_datetime(stopped["last"]).dt.strftime("%B %Y")
    sentences, top_lines, stopped_line = [], [], []
    for cid in c.index:
        top = tops.get(cid, [])
        parts = []
        if top:
            cycle = first_cycle.get(cid)
            head = f"buys {top[0]}"
            if cycle is not None and not pd.isna(cycle):
                head += f" {_every(float(cycle))}"
            if len(top) > 1:
                head += f", also {', '.join(top[1:])}"
            parts.append(head)
        elif not pd.isna(order_cycle.get(cid)):
            parts.append(f"orders {_every(float(order_cycle[cid]))}")
        basket = baskets[cid]
        if not np.isnan(basket):
            text = f"usual basket {basket:,.2f}"
            if band.get(cid):
                text += f" ({band[cid]} price)"
            if cid in top_channel.index:
                text += f", by {top_channel[cid]}"
            parts.append(text)
        gone = None
        if cid in stopped.index:
            gone = str(stopped.at[cid, "line"])
            parts.append(f"stopped buying {gone} after {stopped_after[cid]}")
        sentences.append("; ".join(parts) if parts else None)
        top_lines.append(top)
        stopped_line.append(gone)
    out = pd.DataFrame(
        {
            "sweet_spot": sentences,
            "top_lines": top_lines,
            "usual_basket": c["usual_basket"].astype(float).to_numpy(),
            "stopped_line": stopped_line,
        },
        index=c.index,
    )
    out.index.name = "customer_id"
    return out


def sweet_spots(con: Any, as_of: date) -> pd.DataFrame:
    """Every customer's sweet spot at ``as_of`` (:func:`describe` over the ledger)."""
    return describe(*_read(con, as_of))
