"""Who is persuadable: the uplift model's ranking against the simulator's true uplift.

Simulates a retail business and splits its lapsed customers at random in two. The first
half is a past campaign (a coupon to the treated, a holdout of ``--holdout``), answered by
``winback.simulate.campaign.answer_campaign``; ``winback.models.uplift.UpliftModel``
learns from it with features a business has (reason for leaving, buying rate, order value,
value per year, the intangibles, whether they bought the faulty line), never the truth's
hidden responsiveness. The second half is the next audience, ranked by each method; the
truth knows each member's real uplift ``p_return_coupon - p_return_baseline``. Printed for
each ranking (the model's two methods, random targeting, the best possible: by true
uplift):

- expected incremental wins in the top decile (the sum of true uplift there);
- the normalised Qini: area between the ranking's curve of cumulative true uplift and
  random targeting's line, divided by the best possible's (1 = perfect, 0 = random);
- beside them the features' ceiling: a regression fitted to the past half's true uplift
  (which no business sees) ranking the next half, what these features can tell at most;
  and the same ceiling for the scan's columns (what its path can reach at best);
- the Qini coefficient measured as a business would, on the second half answered as a
  campaign with a 50 % holdout (``qini_coefficient``: incremental returns per member);
- fit and ranking time, wall and CPU seconds.

And the scan's own path (``winback.scan.worth.campaign_uplift``, what the scan's worth
uses once past campaigns with holdouts are in the ledger): the past campaign as the
``winback_outcomes`` rows the desk exports (tier ``campaign`` or ``holdout``), the
customers as the scan sees them (counts and sums of their orders and incidents, no
hidden truth), ranking the next audience the same way.

    uv run python benchmarks/accuracy_uplift.py [--customers 40000] [--holdout 0.1 0.5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

import numpy as np
import pandas as pd
import pyarrow as pa
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from winback.models.uplift import METHODS, UpliftModel, qini_coefficient
from winback.scan.features import LAPSE_INCIDENT_AFTER_DAYS, LAPSE_INCIDENT_BEFORE_DAYS
from winback.scan.worth import campaign_uplift, uplift_features
from winback.simulate.campaign import answer_campaign
from winback.simulate.settings import settings_for
from winback.simulate.world import generate

FEATURES = (
    "primary_reason",
    "orders_per_year",
    "mean_order_value",
    "value_per_year",
    "rude",
    "heavy_contact",
    "late_payer",
    "return_abuser",
    "bought_faulty_line",
)
START = dt.date(2026, 7, 1)


def features(rows: pa.Table) -> pd.DataFrame:
    frame = rows.select(list(FEATURES)).to_pandas()
    frame["primary_reason"] = frame["primary_reason"].fillna("none").astype("category")
    return frame.astype({c: float for c in FEATURES if c != "primary_reason"})


def scan_features(world: dict[str, pa.Table], ids: list[str]) -> pd.DataFrame:
    """``ids`` as the scan's features name them, from the tables a business has: orders
    (count, revenue, last year's, margin over 3 years, days since the last), incidents
    in the last 180 days and the latest one's type, the incidents around the last order
    and the latest of them's type, the segment."""
    orders = world["orders"].select(["customer_id", "order_date", "amount", "margin"]).to_pandas()
    orders["order_date"] = pd.to_datetime(orders["order_date"])
    orders[["amount", "margin"]] = orders[["amount", "margin"]].astype("float64")
    as_of = orders["order_date"].max()
    orders["margin"] = orders["margin"].fillna(orders["amount"] * 0.3)
    recent = orders["order_date"] > as_of - pd.Timedelta(days=365)
    three = orders["order_date"] > as_of - pd.Timedelta(days=3 * 365)
    by = orders.groupby("customer_id")
    frame = pd.DataFrame(
        {
            "purchases": by.size(),
            "revenue": by["amount"].sum(),
            "revenue_last_year": orders[recent].groupby("customer_id")["amount"].sum(),
            "margin_past_years": orders[three].groupby("customer_id")["margin"].sum(),
            "days_since_last_order": (as_of - by["order_date"].max()).dt.days,
        }
    )
    incidents = world["incidents"].select(["customer_id", "occurred_on", "type"]).to_pandas()
    incidents["occurred_on"] = pd.to_datetime(incidents["occurred_on"])
    late = incidents[incidents["occurred_on"] > as_of - pd.Timedelta(days=180)]
    frame["recent_incidents"] = late.groupby("customer_id").size()
    latest = incidents.sort_values("occurred_on").groupby("customer_id")["type"].last()
    frame["last_incident_type"] = latest
    # The incidents around the customer's last order (scan.features.lapse_incident_features).
    incidents["gap"] = (
        incidents["customer_id"].map(by["order_date"].max()) - incidents["occurred_on"]
    ).dt.days
    near = incidents[
        incidents["gap"].between(-LAPSE_INCIDENT_AFTER_DAYS, LAPSE_INCIDENT_BEFORE_DAYS)
    ].sort_values("occurred_on")
    frame["lapse_incidents"] = near.groupby("customer_id").size()
    frame["lapse_incident_type"] = near.groupby("customer_id")["type"].last()
    segments = world["customers"].select(["customer_id", "segment"]).to_pandas()
    frame = frame.join(segments.set_index("customer_id"))
    frame = frame.reindex(ids)
    frame["recent_incidents"] = frame["recent_incidents"].fillna(0)
    frame["revenue_last_year"] = frame["revenue_last_year"].fillna(0.0)
    frame.index.name = "customer_id"
    return frame.reset_index()


def as_outcomes(ids: list[str], holdout: np.ndarray, came_back: np.ndarray) -> pd.DataFrame:
    """A past campaign as the desk writes it to winback_outcomes."""
    return pd.DataFrame(
        {
            "customer_id": ids,
            "tier": np.where(holdout, "holdout", "campaign"),
            "outcome": np.where(
                holdout,
                np.where(came_back, "returned_unprompted", "not_pursued"),
                np.where(came_back, "won_back", "declined"),
            ),
        }
    )


def normalised_qini(order: np.ndarray, uplift: np.ndarray, best: np.ndarray) -> float:
    """Area between the cumulative true uplift of ``order`` and random, over the best's."""
    n = uplift.size
    line = uplift.sum() * np.arange(1, n + 1) / n

    def area(ranking: np.ndarray) -> float:
        return float((np.cumsum(uplift[ranking]) - line).sum())

    return area(order) / area(best)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=40_000)
    parser.add_argument("--holdout", type=float, nargs="+", default=[0.1, 0.5])
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()

    truth = generate(settings_for("retail", customers=args.customers, months=24, seed=args.seed))
    lapsed = truth["truth"].filter(truth["truth"].column("lapsed"))
    rng = np.random.default_rng(args.seed)
    shuffled = rng.permutation(lapsed.num_rows)
    past_rows, next_rows = np.array_split(shuffled, 2)
    past = lapsed.take(pa.array(past_rows))
    upcoming = lapsed.take(pa.array(next_rows))
    ids_past = past.column("customer_id").to_pylist()
    ids_next = upcoming.column("customer_id").to_pylist()
    true_uplift = (
        upcoming.column("p_return_coupon").to_numpy()
        - upcoming.column("p_return_baseline").to_numpy()
    )
    value = upcoming.column("value_per_year").to_numpy()
    # The next audience answered as a campaign with a 50 % holdout, to measure Qini on.
    test_holdout = rng.random(len(ids_next)) < 0.5
    test = answer_campaign(
        lapsed, ids_next, test_holdout, ["coupon"] * len(ids_next), START, 60, seed=99
    )
    x_next = features(upcoming)
    n = len(ids_next)
    top = n // 10
    best = np.argsort(-true_uplift, kind="stable")
    print(
        f"retail business of {args.customers:,}: {lapsed.num_rows:,} lapsed; past campaign "
        f"{len(ids_past):,} members, next audience {n:,} (mean true uplift "
        f"{true_uplift.mean():.3f}, top decile at best {true_uplift[best[:top]].mean():.3f})"
    )
    random_order = rng.permutation(n)
    # What these features can tell at most: a regression fitted to the past half's *true*
    # uplift (which no business sees), ranking the next half.
    ceiling = HistGradientBoostingRegressor(categorical_features="from_dtype", random_state=0)
    past_uplift = (
        past.column("p_return_coupon").to_numpy() - past.column("p_return_baseline").to_numpy()
    )
    ceiling.fit(features(past), past_uplift)
    # And what the scan's columns can tell at most, the same way: the ceiling of its path.
    seen = scan_features(truth, ids_past + ids_next)
    seen_x = uplift_features(seen, pd.DataFrame(index=seen.index))
    for column in seen_x.columns:
        if not pd.api.types.is_numeric_dtype(seen_x[column]):
            seen_x[column] = seen_x[column].astype(str).astype("category")
    scan_ceiling = HistGradientBoostingRegressor(categorical_features="from_dtype", random_state=0)
    scan_ceiling.fit(seen_x.iloc[: len(ids_past)], past_uplift)
    anchors = {
        "scan columns' ceiling (fit to truth)": np.argsort(
            -scan_ceiling.predict(seen_x.iloc[len(ids_past) :]), kind="stable"
        ),
        "random targeting": random_order,
        "features' ceiling (fit to truth)": np.argsort(-ceiling.predict(x_next), kind="stable"),
        "best possible (true uplift)": best,
    }
    header = (
        f"{'ranking':38} {'top-decile wins':>15} {'x random':>8} {'Qini/best':>9} "
        f"{'Qini (measured)':>15} {'value top 10%':>13} {'wall s':>6} {'CPU s':>6}"
    )

    def row(label: str, order: np.ndarray, wall: float = 0.0, cpu: float = 0.0) -> None:
        wins = true_uplift[order[:top]].sum()
        random_wins = true_uplift.mean() * top
        score = np.empty(n)
        score[order] = -np.arange(n)
        measured = qini_coefficient(score, ~test_holdout, test.came_back)
        print(
            f"{label:38} {wins:15.1f} {wins / random_wins:8.2f} "
            f"{normalised_qini(order, true_uplift, best):9.3f} {measured:15.4f} "
            f"{(true_uplift * value)[order[:top]].sum():13,.0f} {wall:6.1f} {cpu:6.1f}"
        )

    for share in args.holdout:
        holdout = rng.random(len(ids_past)) < share
        past_campaign = answer_campaign(
            lapsed, ids_past, holdout, ["coupon"] * len(ids_past), START, 60, seed=7
        )
        print(f"\npast campaign with a {share:.0%} holdout ({int(holdout.sum()):,} held back)")
        print(header)
        for method in METHODS:
            w0, c0 = time.perf_counter(), time.process_time()
            model = UpliftModel(method).fit(features(past), ~holdout, past_campaign.came_back)
            order = model.rank(x_next)
            row(f"uplift, {method}", order, time.perf_counter() - w0, time.process_time() - c0)
            by_value = model.rank(x_next, value)
            row(f"uplift x value, {method}", by_value)
        w0, c0 = time.perf_counter(), time.process_time()
        outcomes = as_outcomes(ids_past, holdout, past_campaign.came_back)
        predicted = campaign_uplift(seen, pd.DataFrame(index=seen.index), outcomes)
        assert predicted is not None, "too few members for the scan's uplift model"
        scan_uplift = predicted[len(ids_past) :]
        order = np.argsort(-scan_uplift, kind="stable")
        row(
            "scan's worth (scan features)",
            order,
            time.perf_counter() - w0,
            time.process_time() - c0,
        )
        row("scan's worth x value", np.argsort(-scan_uplift * value, kind="stable"))
        for label, order in anchors.items():
            row(label, order)
    print(
        "\ntop-decile wins: expected incremental returns among the top tenth of the next "
        "audience (sum of true uplift); value top 10%: the same weighted by value_per_year"
    )


if __name__ == "__main__":
    with threadpool_limits(1):
        main()
