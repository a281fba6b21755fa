"""Each customer's sweet spot, from a small ledger worked out by hand."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
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


# -- the vectorised describe against a plain per-customer loop -------------------------------


def _reference(per_line: pd.DataFrame, customers: pd.DataFrame, channels: pd.DataFrame) -> Any:
    """The sweet spots worked out customer by customer, as the scan first did (a loop)."""
    from winback.scan.sweet_spot import BANDS, REGULAR, STOPPED_CYCLES, TOP, _every

    c = customers.set_index("customer_id")
    unit = c["line_value"] / c["units"]
    known = unit.dropna()
    band: dict[str, str] = {}
    if len(known):
        cuts = known.quantile([1 / 3, 2 / 3]).to_numpy()
        band = {
            cid: BANDS[i]
            for cid, i in zip(
                known.index, np.searchsorted(cuts, known.to_numpy(), "right"), strict=True
            )
        }
    channel: dict[str, tuple[int, Any, str]] = {}
    for cid, ch, n, last in channels[["customer_id", "channel", "n", "last"]].itertuples(
        index=False
    ):
        if ch is None or (isinstance(ch, float) and np.isnan(ch)):
            continue
        key = (-n, -pd.Timestamp(last).value)
        if cid not in channel or key < channel[cid][:2]:
            channel[cid] = (*key, str(ch))
    mine: dict[str, list[tuple[Any, ...]]] = {}
    for cid, line, days, first, last in per_line[
        ["customer_id", "line", "days", "first", "last"]
    ].itertuples(index=False):
        first, last = pd.Timestamp(first), pd.Timestamp(last)
        cycle = (last - first).days / max(days - 1, 1) if days > 1 else np.nan
        mine.setdefault(cid, []).append((-days, -last.value, line, cycle, last))
    out = {}
    for cid in c.index:
        row = c.loc[cid]
        lines = sorted(mine.get(cid, []), key=lambda t: t[:3])
        top = [str(t[2]) for t in lines[:TOP]]
        parts = []
        if top:
            head = f"buys {top[0]}"
            cycles = [t[3] for t in lines if not np.isnan(t[3])]
            if cycles:
                head += f" {_every(float(cycles[0]))}"
            if len(top) > 1:
                head += f", also {', '.join(top[1:])}"
            parts.append(head)
        elif row["purchase_days"] > 1:
            span = (pd.Timestamp(row["last_order"]) - pd.Timestamp(row["first_order"])).days
            parts.append(f"orders {_every(span / (row['purchase_days'] - 1))}")
        basket = float(row["usual_basket"])
        if not np.isnan(basket):
            text = f"usual basket {basket:,.2f}"
            if cid in band:
                text += f" ({band[cid]} price)"
            if cid in channel:
                text += f", by {channel[cid][2]}"
            parts.append(text)
        gone = None
        customer_last = pd.Timestamp(row["last_order"])
        for days, _, line, cycle, last in lines:
            quiet = (customer_last - last).days
            if -days >= REGULAR and quiet > STOPPED_CYCLES * cycle and quiet > 0:
                gone = str(line)
                parts.append(f"stopped buying {gone} after {last.strftime('%B %Y')}")
                break
        out[cid] = ("; ".join(parts) if parts else None, top, basket, gone)
    return out


def _assert_same(per_line: pd.DataFrame, customers: pd.DataFrame, channels: pd.DataFrame) -> int:
    from winback.scan.sweet_spot import describe, describe_in_pieces

    got = describe(per_line, customers, channels)
    # In pieces of customers (the scan's at 5.5M customers): the same frame, price bands
    # against the whole business's terciles included.
    for piece in (1, 7, 1000):
        pd.testing.assert_frame_equal(
            describe_in_pieces(per_line, customers, channels, piece=piece), got
        )
    # Streamed: the (customer, line) rows in id order, in batches of any size, taken a
    # piece of customers at a time; the same rows, in customer id order.
    from winback.scan.sweet_spot import describe_streamed

    ordered = pa.Table.from_pandas(
        per_line.sort_values("customer_id", kind="stable"), preserve_index=False
    )
    in_id_order = got.sort_index(kind="stable")
    for piece, batch in ((1, 1), (7, 5), (1000, 3), (1000, 100_000)):
        batches = ordered.to_batches(max_chunksize=batch)
        streamed = describe_streamed(iter(batches), customers, channels, piece=piece)
        pd.testing.assert_frame_equal(streamed, in_id_order)
    want = _reference(per_line, customers, channels)
    assert list(got.index) == list(customers["customer_id"])
    for cid, sentence, top, basket, gone in got.itertuples():
        w_sentence, w_top, w_basket, w_gone = want[cid]
        assert (None if pd.isna(sentence) else sentence) == w_sentence, cid
        assert list(top) == w_top, cid
        assert basket == w_basket or (np.isnan(basket) and np.isnan(w_basket)), cid
        assert (None if pd.isna(gone) else gone) == w_gone, cid
    return len(got)


def test_describe_matches_a_per_customer_loop_on_a_simulated_ledger(tmp_path: Path) -> None:
    from winback.ledger.contract import TABLES
    from winback.scan.sweet_spot import _read
    from winback.simulate.run import simulate

    simulate("retail", 1500, 36, 3, tmp_path / "sim", "parquet")
    ledger = Ledger(tmp_path / "ledger")
    for name in TABLES:
        for path in sorted((tmp_path / "sim").glob(f"{name}.*")):
            import_file(ledger, name, path, rejects_dir=tmp_path / "rejects")
    per_line, customers, channels = _read(ledger.ibis(), date(2026, 6, 30))
    assert per_line["customer_id"].nunique() > 1000
    assert _assert_same(per_line, customers, channels) == len(customers)


def test_describe_matches_a_per_customer_loop_on_ties_and_gaps() -> None:
    # Many customers, few lines, dates and channels, so that ties are everywhere: lines on
    # as many days, last bought the same day; channels as often, last used the same day;
    # customers with no lines, no channel, no basket, one purchase day.
    rng = np.random.default_rng(7)
    n = 4000
    ids = [f"c{i:05d}" for i in rng.permutation(n)]
    day0 = pd.Timestamp("2024-01-01")
    first = day0 + pd.to_timedelta(rng.integers(0, 400, n), unit="D")
    last = first + pd.to_timedelta(rng.integers(0, 400, n), unit="D")
    baskets = rng.choice([np.nan, 10.0, 12.5, 1234.565, 99999.995, 7.0], n)
    value = rng.choice([np.nan, 50.0, 120.0, 300.0], n)
    customers = pd.DataFrame(
        {
            "customer_id": ids,
            "usual_basket": baskets,
            "first_order": first.date,
            "last_order": last.date,
            "purchase_days": rng.integers(1, 12, n),
            "line_value": value,
            "units": rng.integers(1, 6, n).astype(float),
        }
    )
    rows = []
    for i in rng.choice(n, 3 * n):
        start = first[i] + pd.Timedelta(days=int(rng.integers(0, 50)))
        end = min(start + pd.Timedelta(days=int(rng.integers(0, 300))), last[i])
        start = min(start, end)
        rows.append((ids[i], str(rng.choice(list("ABCDE"))), int(rng.integers(1, 6)), start, end))
    per_line = pd.DataFrame(rows, columns=["customer_id", "line", "days", "first", "last"])
    per_line = per_line.drop_duplicates(["customer_id", "line"])
    per_line["first"] = per_line["first"].dt.date
    per_line["last"] = per_line["last"].dt.date
    chans = []
    for i in rng.choice(n, 2 * n):
        when = day0 + pd.Timedelta(days=int(rng.integers(0, 3)))
        chans.append(
            (ids[i], str(rng.choice(["web", "store", "phone"])), int(rng.integers(1, 3)), when)
        )
    channels = pd.DataFrame(chans, columns=["customer_id", "channel", "n", "last"])
    channels = channels.drop_duplicates(["customer_id", "channel"])
    channels["last"] = channels["last"].dt.date
    assert _assert_same(per_line, customers, channels) == n
    # Nothing at all beyond the customers: no lines, no channels.
    assert _assert_same(per_line.iloc[:0], customers, channels.iloc[:0]) == n


def test_one_sort_on_a_combined_key_orders_rows_as_lexsort_does() -> None:
    from winback.scan.sweet_spot import _order

    rng = np.random.default_rng(3)
    row, days = rng.integers(0, 1000, 20_000), rng.integers(1, 40, 20_000)
    last, name = rng.integers(19_000, 20_500, 20_000), rng.integers(0, 5, 20_000)
    want = np.lexsort((name, -last, -days, row))
    assert (_order(row, -days, -last, name) == want).all()
    # Ranges too wide for one 62-bit key: lexsort itself.
    wide = rng.integers(0, 1 << 40, 20_000)
    assert (_order(wide, row, days) == np.lexsort((days, row, wide))).all()
    assert len(_order(row[:0], days[:0])) == 0


def _synthetic_orders(con: Any, customers: int, per_customer: int) -> None:
    """``customers`` x ``per_customer`` counted web orders in DuckDB itself, amounts from a
    hash (cents, many ties), customer ``c<i % customers>`` holding every customers-th."""
    con.con.execute(
        f"""CREATE TABLE orders AS SELECT
            'c' || (i % {customers}) AS customer_id, 'o' || i AS order_id,
            DATE '2024-01-01' + CAST(i % 700 AS INTEGER) AS order_date,
            CAST((hash(i) % 50000) / 100.0 AS DECIMAL(18, 2)) AS amount,
            CAST(NULL AS VARCHAR) AS status, 'web' AS channel,
            CAST(NULL AS DECIMAL(18, 2)) AS margin
        FROM range({customers * per_customer}) t(i)"""
    )


def test_the_ranked_usual_basket_is_the_median_to_the_last_bit() -> None:
    import ibis

    from winback.scan.sweet_spot import usual_basket

    con = ibis.duckdb.connect()
    # Customers with 1 to 13 orders (odd and even counts), amounts with ties.
    con.con.execute(
        """CREATE TABLE orders AS SELECT 'c' || (i % 997) AS customer_id,
            CAST((hash(i) % 3000) / 7.0 AS DECIMAL(18, 2)) AS amount
        FROM range(6000) t(i) WHERE hash(i) % 13 <= i % 997 % 13"""
    )
    orders = con.table("orders")
    counts = orders.group_by("customer_id").aggregate(n=orders.count()).to_pandas()
    assert {1, 2, 3, 4} <= set(counts["n"])
    plain = usual_basket(orders).to_pandas().set_index("customer_id").sort_index()
    ranked = usual_basket(orders, ranked=True).to_pandas().set_index("customer_id").sort_index()
    assert len(plain) == len(ranked) == len(counts) > 800
    # Exactly equal, not approximately: the run's numbers must not depend on the route.
    assert (plain["usual_basket"].to_numpy() == ranked["usual_basket"].to_numpy()).all()


def test_a_median_basket_out_of_memory_is_ranked_instead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # DuckDB's median cannot spill: at 100M orders it ran out of the scan's 2GB. The same
    # failure here, small: 2M orders of 100,000 customers in 60MB (the median fails up to
    # 100MB here, the ranked read passes from 40MB), a real out-of-memory
    # error that _read answers by ranking each customer's amounts instead.
    import duckdb
    import ibis

    from winback.scan.sweet_spot import _read, usual_basket

    con = ibis.duckdb.connect()
    con.con.execute(f"SET temp_directory = '{tmp_path}'")  # as the scan's own connection
    _synthetic_orders(con, 100_000, 20)
    con.con.execute(
        "CREATE TABLE order_lines AS SELECT 'o1' AS order_id, 'x' AS category, "
        "'y' AS product_name, 1 AS quantity, CAST(1 AS DECIMAL(18, 2)) AS amount WHERE false"
    )
    con.con.execute("SET threads = 2")
    con.con.execute("SET memory_limit = '60MB'")
    orders = con.table("orders")
    with pytest.raises(duckdb.OutOfMemoryException):
        usual_basket(orders).usual_basket.sum().execute()
    from winback.scan import sweet_spot

    routes: list[bool] = []

    def spied(orders: Any, ranked: bool = False) -> Any:
        routes.append(ranked)
        return usual_basket(orders, ranked)

    monkeypatch.setattr(sweet_spot, "usual_basket", spied)
    _, customers, _ = _read(con, date(2026, 6, 30))
    assert routes == [False, True]  # the median ran out, then the ranked route
    con.con.execute("RESET memory_limit")
    want = usual_basket(orders).to_pandas().set_index("customer_id")["usual_basket"]
    got = customers.set_index("customer_id")["usual_basket"]
    assert len(got) == 100_000
    assert (got.sort_index().to_numpy() == want.sort_index().to_numpy()).all()


def test_the_rows_come_back_sorted_in_batches_and_leave_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The (customer, line) rows the sweet spot streams: sorted by DuckDB on four threads
    # into a Parquet file, read back a batch at a time; every row, in id order, and the
    # file gone once read (or left part-way).
    import tempfile

    import ibis

    from winback.scan import sweet_spot

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(sweet_spot, "STREAM_ROWS", 1_000)
    con = ibis.duckdb.connect(threads=4)
    rng = np.random.default_rng(7)
    ids = [f"c{i:06d}" for i in rng.permutation(50_000)]
    given = pa.table({"customer_id": ids, "n": np.arange(50_000)})
    con.con.register("given", given)
    con.con.execute("CREATE TABLE customer_lines AS SELECT * FROM given")
    table = con.table("customer_lines")
    with sweet_spot._sorted_batches(con, table.order_by("customer_id")) as batches:
        read = list(batches)
        assert list(tmp_path.iterdir())  # the sorted file, while it is read
    assert max(b.num_rows for b in read) == 1_000
    got = pa.Table.from_batches(read)
    assert got.column("customer_id").to_pylist() == sorted(ids)
    assert sorted(got.column("n").to_pylist()) == list(range(50_000))
    assert not list(tmp_path.iterdir())
    with sweet_spot._sorted_batches(con, table.order_by("customer_id")) as batches:
        next(iter(batches))
    assert not list(tmp_path.iterdir())
