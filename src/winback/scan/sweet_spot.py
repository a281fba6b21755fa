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

The Ibis parts run on DuckDB and PySpark alike; the rest is NumPy and pandas over the
aggregates, whole columns at a time.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import tempfile
from collections.abc import Iterable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import ibis
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from winback.scan.features import counted_orders, customer_days, line_days
from winback.scan.freed import give_back_freed_memory
from winback.scan.keys import positions
from winback.scan.short_of_memory import or_instead

REGULAR = 3  # purchase days with a line before its stopping counts
STOPPED_CYCLES = 2.5
TOP = 2
BANDS = ("low", "mid", "high")
COLUMNS = ("sweet_spot", "top_lines", "usual_basket", "stopped_line")
#: Customers described at a time (:func:`describe_in_pieces`).
DESCRIBE_CUSTOMERS = 500_000
#: Rows of (customer, line) per batch read while streaming (:func:`describe_streamed`).
STREAM_ROWS = 250_000

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
ObjectArray = npt.NDArray[np.object_]


def _read(
    con: Any, as_of: date, lines: Any = None, days: Any = None, streamed: bool = False
) -> tuple[Any, pd.DataFrame, pd.DataFrame]:
    """(customer, line) purchase days, first and last; per-customer basket and price;
    (customer, channel) counts.

    ``lines`` and ``days`` are ``features.line_days`` and ``features.customer_days`` when
    the scan keeps them; without them they are computed within the queries. The order lines
    are read once (by line and day), the purchase days come from the table by day, and the
    orders themselves are read only for the median basket and the channels. ``streamed``:
    the (customer, line) rows not read but as an expression in customer id order
    (:func:`_sorted_batches` hands them to :func:`describe_streamed`), not a frame.
    """
    held = line_days(con) if lines is None else lines
    held = held.filter(held.order_date <= ibis.date(as_of))
    per_line = held.group_by(["customer_id", "line"]).aggregate(
        days=held.count(), first=held.order_date.min(), last=held.order_date.max()
    )
    price = held.group_by("customer_id").aggregate(
        line_value=held.value.sum().cast("float64"), units=held.units.sum().cast("float64")
    )
    day = customer_days(con.table("orders")) if days is None else days
    day = day.filter(day.order_date <= ibis.date(as_of))
    span = day.group_by("customer_id").aggregate(
        first_order=day.order_date.min(),
        last_order=day.order_date.max(),
        purchase_days=day.count(),
    )
    o = counted_orders(con.table("orders"))
    o = o.filter(o.order_date <= ibis.date(as_of))

    def customers(ranked: bool) -> Any:
        return (
            usual_basket(o, ranked)
            .join(span, "customer_id")
            .left_join(price, "customer_id")
            .drop("customer_id_right")
        )

    channels = (
        o.filter(o.channel.notnull())
        .group_by(["customer_id", "channel"])
        .aggregate(n=o.order_date.count(), last=o.order_date.max())
    )

    def frame(expr: Any) -> pd.DataFrame:
        # Dates as datetime64, not a Python object each (describe reads them as day numbers).
        out: pd.DataFrame = expr.to_pyarrow().to_pandas(date_as_object=False)
        out["customer_id"] = out["customer_id"].astype(str)
        return out

    # DuckDB's median holds every customer's amounts in memory and cannot spill (at 100M
    # orders it ran out of the scan's 2GB): then the same medians by ranking instead.
    per_customer = or_instead(
        lambda: frame(customers(ranked=False)), lambda: frame(customers(ranked=True))
    )
    by_channel = frame(channels)
    if streamed:
        return per_line.order_by("customer_id"), per_customer, by_channel
    return frame(per_line), per_customer, by_channel


@contextlib.contextmanager
def _sorted_batches(con: Any, expr: Any) -> Iterator[Iterable[pa.RecordBatch]]:
    """``expr``'s rows, in its order, as Arrow record batches of :data:`STREAM_ROWS`.

    On DuckDB written to a Parquet file in a temporary folder first (the engine sorts
    within its memory limit, spilling), then read a batch at a time. Streamed from the
    sorted query itself (DuckDB's ``to_arrow_reader``), the engine held up to its whole
    memory limit until the last row was read: at 5.5M customers 2.2 GB more through the
    sweet spot, the 100M-order scan's peak. (Ibis's own ``to_pyarrow_batches`` calls a
    method DuckDB 2 dropped.) Elsewhere read whole, then handed out.
    """
    if con.name != "duckdb":
        yield expr.to_pyarrow().to_batches(STREAM_ROWS)
        return
    with tempfile.TemporaryDirectory(prefix="winback-sorted-") as folder:
        path = Path(folder) / "rows.parquet"
        con.to_parquet(expr, path, row_group_size=STREAM_ROWS)
        with pq.ParquetFile(path) as rows:
            yield rows.iter_batches(STREAM_ROWS)


def usual_basket(orders: Any, ranked: bool = False) -> Any:
    """Each customer's median order amount (``usual_basket``), as a float.

    Plain, DuckDB's ``median``, which is quick but holds every customer's amounts in
    memory at once. ``ranked``, the middle one or two of each customer's amounts in order
    (a window sort, which DuckDB spills to disk when it must) averaged: the same numbers
    to the last bit (DuckDB's median of an even count is the mean of its two middle values;
    tests/scan/test_sweet_spot.py compares them), about four times the CPU.
    """
    amount = orders.amount.cast("float64")
    if not ranked:
        return orders.group_by("customer_id").aggregate(usual_basket=amount.median())
    by_customer = ibis.window(group_by=orders.customer_id)
    in_order = ibis.window(group_by=orders.customer_id, order_by=amount)
    ranks = orders.select(
        "customer_id",
        amount=amount,
        at=ibis.row_number().over(in_order),  # from 0
        n=orders.count().over(by_customer),
    )
    middle = ranks.filter((ranks.at == (ranks.n - 1) // 2) | (ranks.at == ranks.n // 2))
    return middle.group_by("customer_id").aggregate(usual_basket=middle.amount.mean())


def _every(days: float) -> str:
    if days < 1.5:
        return "every day"
    if days < 13:
        return f"every {round(days)} days"
    if days < 100:
        return f"every {round(days / 7)} weeks"
    return f"every {round(days / 30.44)} months"


def _every_all(days: FloatArray) -> ObjectArray:
    """:func:`_every` over an array of day counts, none of them NaN."""
    out = np.empty(len(days), dtype=object)
    out[days < 1.5] = "every day"
    # np.round rounds half to even, as Python's round does.
    for low, high, scale, unit in ((1.5, 13.0, 1.0, "days"), (13.0, 100.0, 7.0, "weeks")):
        rows = (days >= low) & (days < high)
        out[rows] = _worded(np.round(days[rows] / scale), f"every {{}} {unit}")
    rows = days >= 100
    out[rows] = _worded(np.round(days[rows] / 30.44), "every {} months")
    return out


def _worded(values: FloatArray, template: str) -> ObjectArray:
    """``template`` with each whole number of ``values`` in place of ``{}``."""
    head, tail = template.split("{}")
    numbers = values.astype(np.int64).astype(str).astype(object)
    return np.asarray(head + numbers + tail, dtype=object)


def _joined(parts: list[ObjectArray], sep: str) -> ObjectArray:
    """Row by row, the parts that are not None joined by ``sep``; None where all are."""
    out = parts[0].copy()
    for part in parts[1:]:
        has_out = _given(out)
        has_part = _given(part)
        both = has_out & has_part
        out[both] = out[both] + sep + part[both]
        only = has_part & ~has_out
        out[only] = part[only]
    return out


def _given(values: ObjectArray) -> npt.NDArray[np.bool_]:
    """Where ``values`` (strings or None) holds a string."""
    return np.asarray(pd.notna(values), dtype=bool)


def _day_numbers(values: Any) -> IntArray:
    """Dates (date objects, timestamps or datetime64) as whole days since 1970-01-01."""
    days = pd.to_datetime(pd.Series(values)).to_numpy(dtype="datetime64[D]")
    return np.asarray(days.astype(np.int64), dtype=np.int64)


def _group_starts(keys: IntArray) -> tuple[IntArray, IntArray]:
    """For ``keys`` sorted: each row's rank within its run of equal keys, and whether it
    starts one."""
    starts = np.ones(len(keys), dtype=bool)
    starts[1:] = keys[1:] != keys[:-1]
    first = np.flatnonzero(starts)
    lengths = np.diff(np.append(first, len(keys)))
    rank = np.arange(len(keys)) - np.repeat(first, lengths)
    return rank, starts


def _order(*keys: IntArray) -> IntArray:
    """The rows sorted by ``keys``, the first the most significant: ``np.lexsort`` with
    its keys reversed. When their ranges multiplied fit in 62 bits (they do for a
    customer's row number, day counts, dates and a few dozen line names), one stable
    argsort of a single whole number: at 300,000 customers a quarter of the time of
    lexsort's one pass per key."""
    if not len(keys[0]):
        return np.arange(0, dtype=np.int64)
    lows = [int(k.min()) for k in keys]
    widths = [int(k.max()) - low + 1 for k, low in zip(keys, lows, strict=True)]
    if math.prod(widths) >= 1 << 62:
        return np.asarray(np.lexsort(keys[::-1]), dtype=np.int64)
    combined = np.zeros(len(keys[0]), dtype=np.int64)
    for key, low, width in zip(keys, lows, widths, strict=True):
        combined = combined * width + (key.astype(np.int64) - low)
    return np.asarray(np.argsort(combined, kind="stable"), dtype=np.int64)


def _texts(values: Any) -> ObjectArray:
    """``values`` as Python strings (object array): each distinct value turned once (a
    million rows hold a few dozen lines and channels)."""
    codes, uniques = pd.factorize(np.asarray(values, dtype=object), use_na_sentinel=False)
    words = np.array([str(v) for v in uniques], dtype=object)
    return np.asarray(words[codes], dtype=object)


def _unit_prices(customers: pd.DataFrame) -> FloatArray:
    """Each customer's mean price of a unit bought (NaN: no lines)."""
    return (customers["line_value"] / customers["units"]).to_numpy(dtype=np.float64)


def _terciles(unit: FloatArray) -> FloatArray | None:
    """The business's terciles of the customers' unit prices (None: no one's known)."""
    known = unit[~np.isnan(unit)]
    if not len(known):
        return None
    return np.asarray(pd.Series(known).quantile([1 / 3, 2 / 3]), dtype=np.float64)


def describe_in_pieces(
    per_line: pd.DataFrame,
    customers: pd.DataFrame,
    channels: pd.DataFrame,
    piece: int | None = None,
) -> pd.DataFrame:
    """:func:`describe`, ``piece`` (:data:`DESCRIBE_CUSTOMERS`) customers at a time, from
    (customer, line) rows already read into a frame: :func:`describe_streamed` over them,
    in ``customers``' order. The same frame as :func:`describe`."""
    piece = DESCRIBE_CUSTOMERS if piece is None else piece
    if len(customers) <= piece:
        return describe(per_line, customers, channels)
    ordered = pa.Table.from_pandas(
        per_line.sort_values("customer_id", kind="stable"), preserve_index=False
    )
    out = describe_streamed(ordered.to_batches(), customers, channels, piece)
    return out.reindex(pd.Index(customers["customer_id"], name="customer_id"))


def describe_streamed(
    per_line: Iterable[pa.RecordBatch],
    customers: pd.DataFrame,
    channels: pd.DataFrame,
    piece: int | None = None,
) -> pd.DataFrame:
    """:func:`describe` of ``piece`` (:data:`DESCRIBE_CUSTOMERS`) customers at a time, in
    customer id order, their (customer, line) rows taken from ``per_line``, record batches
    in customer id order, as each piece needs them: only a piece's rows are ever held. At
    5.5M customers (100M orders) the 23M rows read whole, then split into pieces, took the
    scan from 4.4 to 9.3 GB. The same rows as :func:`describe`, indexed by customer id in
    id order; the price bands against the whole business's terciles."""
    piece = DESCRIBE_CUSTOMERS if piece is None else piece
    customers = customers.sort_values("customer_id", kind="stable", ignore_index=True)
    cuts = _terciles(_unit_prices(customers))
    ids = customers["customer_id"]
    count = -(-len(customers) // piece)
    chans = _rows_by_piece(positions(ids, channels["customer_id"]), piece, count)
    batches = iter(per_line)
    held: list[pa.RecordBatch] = []  # rows read but not yet described, in id order
    pieces = []
    for k in range(count):
        mine = customers.iloc[k * piece : (k + 1) * piece]
        last = str(mine["customer_id"].iloc[-1])
        # Read on until a row past this piece's last customer (or the end) is held.
        while not held or _last_id(held[-1]) <= last:
            batch = next(batches, None)
            if batch is None:
                break
            if batch.num_rows:
                held.append(batch)
        rows = pa.Table.from_batches(held, schema=held[0].schema) if held else None
        if rows is None:
            lines = _empty_lines()
        else:
            ids_held = rows.column("customer_id")
            # Sorted: the rows up to this piece's last customer are the first ones.
            upto = int(pc.sum(pc.less_equal(ids_held, last)).as_py() or 0)
            lines = _line_frame(rows.slice(0, upto))
            held = rows.slice(upto).to_batches()
        pieces.append(describe(lines, mine, channels.iloc[chans[k]], cuts=cuts))
        del lines
        # The piece's Python strings and frames: freed, but kept by the allocators unless
        # given back (the sweet spot alone at 5.5M customers: its peak 180 MB lower).
        give_back_freed_memory()
    if not pieces:
        return describe(_empty_lines(), customers, channels)
    return pd.concat(pieces)


def _last_id(batch: pa.RecordBatch) -> str:
    """The customer id of a batch's last row; a null (nulls come last, and are nobody's)
    as after every id."""
    last = batch.column(batch.schema.get_field_index("customer_id"))[-1].as_py()
    return "\U0010ffff" if last is None else str(last)


def _line_frame(rows: pa.Table) -> pd.DataFrame:
    """(customer, line) rows as :func:`describe` reads them."""
    out: pd.DataFrame = rows.to_pandas(date_as_object=False)
    out["customer_id"] = out["customer_id"].astype(str)
    return out


def _empty_lines() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": pd.Series([], dtype=str),
            "line": pd.Series([], dtype=str),
            "days": pd.Series([], dtype=np.int64),
            "first": pd.Series([], dtype="datetime64[s]"),
            "last": pd.Series([], dtype="datetime64[s]"),
        }
    )


def _rows_by_piece(at: IntArray, piece: int, count: int) -> list[IntArray]:
    """For each of ``count`` pieces of ``piece`` customers, the rows whose customer
    position ``at`` falls in it, in their order (rows of no customer, ``at`` -1, in none)."""
    known = np.flatnonzero(at >= 0)
    which = at[known] // piece
    order = np.argsort(which, kind="stable")
    bounds = np.searchsorted(which[order], np.arange(count + 1))
    return [known[order[a:b]] for a, b in itertools.pairwise(bounds)]


def describe(
    per_line: pd.DataFrame,
    customers: pd.DataFrame,
    channels: pd.DataFrame,
    cuts: FloatArray | None = None,
) -> pd.DataFrame:
    """The sweet-spot columns (:data:`COLUMNS`) per customer, indexed by customer id.

    ``per_line``: customer_id, line, days, first, last; ``customers``: customer_id,
    usual_basket, first_order, last_order, purchase_days, line_value, units;
    ``channels``: customer_id, channel, n, last. Worked out on whole columns, customers
    as row numbers: at a million customers a loop over them took minutes. ``cuts``: the
    unit-price terciles the price bands are read against; without them, these customers'.
    """
    c = customers.set_index("customer_id")
    ids = c.index
    n = len(c)
    first_order = _day_numbers(c["first_order"])
    last_order = _day_numbers(c["last_order"])

    # The price band: the mean price of a unit against the business's terciles of it.
    unit = _unit_prices(c)
    band = np.full(n, None, dtype=object)
    known = ~np.isnan(unit)
    if cuts is None:
        cuts = _terciles(unit)  # (None only when no customer's is known: then no band)
    if known.any() and cuts is not None:
        band[known] = np.asarray(BANDS, dtype=object)[np.searchsorted(cuts, unit[known], "right")]

    # The channel: used most, then most recently (then the first given).
    channel = np.full(n, None, dtype=object)
    named = channels[channels["channel"].notna()]
    at = positions(ids, named["customer_id"])
    keep = at >= 0
    at, counts, recent = at[keep], named["n"].to_numpy()[keep], _day_numbers(named["last"])[keep]
    order = _order(at, -counts, -recent)
    best = order[_group_starts(at[order])[1]]
    channel[at[best]] = _texts(named["channel"].to_numpy()[keep][best])

    # Each customer's lines, on most purchase days first, then bought last most recently,
    # then by name.
    row = positions(ids, per_line["customer_id"])
    keep = row >= 0
    row = row[keep]
    days = per_line["days"].to_numpy(dtype=np.int64)[keep]
    first = _day_numbers(per_line["first"])[keep]
    last = _day_numbers(per_line["last"])[keep]
    # Each line as its rank among the line names (a few dozen), turned into words once.
    codes, line_names = pd.factorize(per_line["line"], sort=True, use_na_sentinel=False)
    words = _texts(line_names)
    names = codes[keep]
    order = _order(row, -days, -last, names)
    row, days, first, last, names = row[order], days[order], first[order], last[order], names[order]
    rank, _ = _group_starts(row)
    with np.errstate(invalid="ignore", divide="ignore"):
        cycle = np.where(days > 1, (last - first) / np.maximum(days - 1, 1), np.nan)
    quiet = last_order[row] - last
    stopped = (days >= REGULAR) & (quiet > STOPPED_CYCLES * cycle) & (quiet > 0)

    top = rank < TOP
    offsets = np.concatenate([[0], np.cumsum(np.bincount(row[top], minlength=n))])
    # Kept in Arrow (a pandas column backed by it): a Python list per customer took a
    # tenth of the sweet spot's time, and the run writes the column back to Arrow.
    top_lines = pd.arrays.ArrowExtensionArray(
        pa.ListArray.from_arrays(
            pa.array(offsets.astype(np.int32)), pa.array(words[names[top]], type=pa.string())
        )
    )

    def at_rank(k: int) -> ObjectArray:
        out = np.full(n, None, dtype=object)
        out[row[rank == k]] = words[names[rank == k]]
        return out

    head = at_rank(0)
    has_top = _given(head)
    head[has_top] = "buys " + head[has_top]
    # The rhythm said is the first known among the customer's lines, in that order.
    known = ~np.isnan(cycle)
    _, first_known = _group_starts(row[known])
    cycle_of = np.full(n, np.nan)
    cycle_of[row[known][first_known]] = cycle[known][first_known]
    said = has_top & ~np.isnan(cycle_of)
    head[said] = head[said] + " " + _every_all(cycle_of[said])
    if TOP > 1:
        others = _joined([at_rank(k) for k in range(1, TOP)], ", ")
        more = has_top & _given(others)
        head[more] = head[more] + ", also " + others[more]
    purchase_days = c["purchase_days"].to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        order_cycle = np.where(
            purchase_days > 1, (last_order - first_order) / (purchase_days - 1), np.nan
        )
    rhythm = ~has_top & ~np.isnan(order_cycle)
    head[rhythm] = "orders " + _every_all(order_cycle[rhythm])

    baskets = c["usual_basket"].astype(float).to_numpy()
    basket = np.full(n, None, dtype=object)
    has_basket = ~np.isnan(baskets)
    # Formatted once per distinct amount (medians repeat).
    codes, amounts = pd.factorize(baskets[has_basket])
    basket[has_basket] = np.array([f"usual basket {b:,.2f}" for b in amounts], dtype=object)[codes]
    banded = has_basket & _given(band)
    basket[banded] = basket[banded] + " (" + band[banded] + " price)"
    by = has_basket & _given(channel)
    basket[by] = basket[by] + ", by " + channel[by]

    # The line stopped: the first of the customer's stopped lines, in that order.
    _, first_stopped = _group_starts(row[stopped])
    which = np.flatnonzero(stopped)[first_stopped]
    stopped_line = np.full(n, None, dtype=object)
    stopped_line[row[which]] = words[names[which]]
    months, month_at = np.unique(
        last[which].astype("datetime64[D]").astype("datetime64[M]"), return_inverse=True
    )
    month_names = pd.DatetimeIndex(months.astype("datetime64[ns]")).strftime("%B %Y")
    gone = np.full(n, None, dtype=object)
    gone[row[which]] = (
        "stopped buying "
        + stopped_line[row[which]]
        + " after "
        + np.asarray(month_names, dtype=object)[month_at]
    )

    out = pd.DataFrame(
        {
            # As str columns whatever they hold (a piece of customers may hold no text).
            "sweet_spot": pd.array(_joined([head, basket, gone], "; "), dtype="str"),
            "top_lines": top_lines,
            "usual_basket": baskets,
            "stopped_line": pd.array(stopped_line, dtype="str"),
        },
        index=ids,
    )
    out.index.name = "customer_id"
    return out


def sweet_spots(con: Any, as_of: date, lines: Any = None, days: Any = None) -> pd.DataFrame:
    """Every customer's sweet spot at ``as_of`` (:func:`describe` over the ledger);
    ``lines`` and ``days`` as :func:`_read` takes them."""
    per_line, customers, channels = _read(con, as_of, lines, days, streamed=True)
    # Last: the engine sorts the rows while nothing else is asked of it.
    with _sorted_batches(con, per_line) as batches:
        return describe_streamed(batches, customers, channels)
