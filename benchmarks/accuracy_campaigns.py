"""How often a campaign's lift interval holds the lift the campaign truly had.

Simulates three businesses (retail, b2b, subscription) and runs campaigns on their lapsed
customers: each campaign its own seed, an audience of 500-5,000 drawn at random, offers
fitted to each member's reason for leaving (a coupon when none fits) in every other
campaign and one offer drawn at random for everyone in the others, a 10 % holdout
stratified by value quartile (``draw_holdout``; ``--strata`` for others), a 60-day
window answered by ``winback.simulate.campaign.answer_campaign``. The simulator knows each
campaign's true lift (the mean over the treated of ``p_return_<offer> -
p_return_baseline``) and its true rise in revenue per treated member. Printed:

- coverage of the 95 % interval of ``rate_lift`` (Newcombe) on the true lift, and beside
  it in the same run the naive anchor (Wald ``d ± 1.96·se``);
- coverage of ``mean_lift`` (each group's share who spent and mean spend, combined by
  MOVER) on the true revenue lift, with two anchors in the same run: the BCa bootstrap
  interval ``mean_lift`` used before, and a normal interval on the difference of means
  (Welch's t);
- mean interval widths, and the share of campaigns whose interval excludes 0;
- wall and CPU seconds for the lift statistics alone (the worlds are built beforehand), and
  for the BCa anchor beside them.

With 200 campaigns, a coverage's standard error near 95 % is about 1.5 points.

    uv run python benchmarks/accuracy_campaigns.py [--campaigns 200] [--customers 20000]
        [--strata value|fine|none]
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from scipy import special, stats
from threadpoolctl import threadpool_limits

from winback.insights.lift import LiftEstimate, draw_holdout, mean_lift, rate_lift, wald_rate_lift
from winback.simulate.campaign import answer_campaign
from winback.simulate.settings import OFFERS, settings_for
from winback.simulate.truth import REMEDIES
from winback.simulate.world import generate

START = dt.date(2026, 7, 1)
WINDOW_DAYS = 60
HOLDOUT_SHARE = 0.1


@dataclass
class Lapsed:
    """A simulated business's lapsed customers, with what a campaign needs of them."""

    profile: str
    truth: pa.Table
    ids: np.ndarray
    reason: np.ndarray
    value_quartile: np.ndarray


def lapsed_of(profile: str, customers: int, seed: int) -> Lapsed:
    truth = generate(settings_for(profile, customers=customers, months=24, seed=seed))["truth"]
    lapsed = truth.filter(truth.column("lapsed"))
    reason = np.array(lapsed.column("primary_reason").fill_null("none").to_pylist())
    value = lapsed.column("value_per_year").to_numpy()
    quartile = np.searchsorted(np.quantile(value, [0.25, 0.5, 0.75]), value)
    ids = np.array(lapsed.column("customer_id").to_pylist())
    return Lapsed(profile, truth, ids, reason, quartile)


def welch(treated: np.ndarray, holdout: np.ndarray) -> tuple[float, float]:
    vt, vh = treated.var(ddof=1) / treated.size, holdout.var(ddof=1) / holdout.size
    se = np.sqrt(vt + vh)
    df = (vt + vh) ** 2 / (vt**2 / (treated.size - 1) + vh**2 / (holdout.size - 1))
    d = treated.mean() - holdout.mean()
    q = stats.t.ppf(0.975, df)
    return float(d - q * se), float(d + q * se)


def bca(treated: np.ndarray, holdout: np.ndarray, seed: int, resamples: int = 2000) -> LiftEstimate:
    """The BCa bootstrap interval (Efron 1987) on the difference of means: the anchor."""
    rng = np.random.default_rng(seed)

    def means(values: np.ndarray) -> np.ndarray:
        return values[rng.integers(0, values.size, (resamples, values.size))].mean(axis=1)

    d = float(treated.mean() - holdout.mean())
    boot = means(treated) - means(holdout)
    below = (np.count_nonzero(boot < d) + 0.5 * np.count_nonzero(boot == d)) / resamples
    z0 = stats.norm.ppf(np.clip(below, 1 / resamples, 1 - 1 / resamples))
    # Jackknife influence of each member: its distance from its own group's mean.
    spread = np.concatenate(
        [
            (treated - treated.mean()) / max(treated.size - 1, 1),
            -(holdout - holdout.mean()) / max(holdout.size - 1, 1),
        ]
    )
    denominator = 6 * float((spread**2).sum()) ** 1.5
    a = float((spread**3).sum()) / denominator if denominator > 0 else 0.0
    z = stats.norm.ppf([0.025, 0.975])
    low, high = np.quantile(boot, special.ndtr(z0 + (z0 + z) / (1 - a * (z0 + z))))
    return LiftEstimate(
        treated.size, holdout.size, treated.mean(), holdout.mean(), d, low, high, "BCa"
    )


def covers(estimate: LiftEstimate | tuple[float, float], truth: float) -> bool:
    low, high = (estimate.low, estimate.high) if isinstance(estimate, LiftEstimate) else estimate
    return low <= truth <= high


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--campaigns", type=int, default=200)
    parser.add_argument("--customers", type=int, default=20_000, help="per business")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument(
        "--strata",
        choices=("value", "fine", "none"),
        default="value",
        help="value: the value quartile (4 strata, like the desk's tiers); fine: reason x "
        "value quartile (about 40 strata, a few members each); none: a simple random holdout",
    )
    args = parser.parse_args()

    built = time.perf_counter()
    businesses = [
        lapsed_of(p, args.customers, args.seed + i)
        for i, p in enumerate(("retail", "b2b", "subscription"))
    ]
    print(
        f"{len(businesses)} businesses of {args.customers:,} customers built in "
        f"{time.perf_counter() - built:.0f} s; lapsed: "
        + ", ".join(f"{b.profile} {b.ids.size:,}" for b in businesses)
    )

    hits = dict.fromkeys(("newcombe", "wald", "mover", "bca", "welch"), 0)
    widths: dict[str, list[float]] = {k: [] for k in hits}
    significant = {"rate": 0, "revenue": 0}
    sizes, lifts = [], []
    by_profile: dict[str, list[tuple[bool, bool]]] = {b.profile: [] for b in businesses}
    wall = cpu = anchor_wall = anchor_cpu = 0.0
    for k in range(args.campaigns):
        b = businesses[k % len(businesses)]
        rng = np.random.default_rng([args.seed, k])
        size = int(min(rng.integers(500, 5_001), b.ids.size))
        picked = rng.choice(b.ids.size, size, replace=False)
        quartile = b.value_quartile[picked].astype(str)
        strata = {
            "value": list(quartile),
            "fine": [f"{r}|{q}" for r, q in zip(b.reason[picked], quartile, strict=True)],
            "none": ["all"] * size,
        }[args.strata]
        if k % 2:
            offers = [str(rng.choice(OFFERS))] * size
        else:
            offers = [REMEDIES.get(r, ("coupon",))[0] for r in b.reason[picked]]
        w0, c0 = time.perf_counter(), time.process_time()
        holdout = draw_holdout(strata, HOLDOUT_SHARE, seed=k)
        w1, c1 = time.perf_counter(), time.process_time()
        outcome = answer_campaign(
            b.truth, list(b.ids[picked]), holdout, offers, START, WINDOW_DAYS, seed=k
        )
        w2, c2 = time.perf_counter(), time.process_time()
        back, revenue = outcome.came_back, outcome.revenue
        estimates = {
            "newcombe": rate_lift(back[~holdout], back[holdout]),
            "wald": wald_rate_lift(back[~holdout], back[holdout]),
            "mover": mean_lift(revenue[~holdout], revenue[holdout]),
        }
        wall += (time.perf_counter() - w2) + (w1 - w0)
        cpu += (time.process_time() - c2) + (c1 - c0)
        w3, c3 = time.perf_counter(), time.process_time()
        anchors = {
            "bca": bca(revenue[~holdout], revenue[holdout], seed=k),
            "welch": welch(revenue[~holdout], revenue[holdout]),
        }
        anchor_wall += time.perf_counter() - w3
        anchor_cpu += time.process_time() - c3
        for name, estimate in (*estimates.items(), *anchors.items()):
            truth = outcome.true_lift if name in ("newcombe", "wald") else outcome.true_revenue_lift
            hits[name] += covers(estimate, truth)
            low, high = (
                (estimate.low, estimate.high) if isinstance(estimate, LiftEstimate) else estimate
            )
            widths[name].append(high - low)
        by_profile[b.profile].append(
            (
                covers(estimates["newcombe"], outcome.true_lift),
                covers(estimates["mover"], outcome.true_revenue_lift),
            )
        )
        significant["rate"] += estimates["newcombe"].excludes_zero()
        significant["revenue"] += estimates["mover"].excludes_zero()
        sizes.append(size)
        lifts.append(outcome.true_lift)

    n = args.campaigns
    print(
        f"{n} campaigns: audience {min(sizes):,}-{max(sizes):,} (median "
        f"{int(np.median(sizes)):,}), holdout {HOLDOUT_SHARE:.0%} (strata: {args.strata}), "
        f"true lift in rate "
        f"{min(lifts):.3f}-{max(lifts):.3f} (median {np.median(lifts):.3f})"
    )
    print(f"{'interval':36} {'coverage':>9} {'±se':>6} {'mean width':>11}")
    rows = (
        ("rate_lift, Newcombe hybrid score", "newcombe"),
        ("anchor: Wald d ± 1.96·se", "wald"),
        ("mean_lift, hurdle MOVER (revenue)", "mover"),
        ("anchor: BCa bootstrap (revenue)", "bca"),
        ("anchor: Welch t (revenue)", "welch"),
    )
    for label, key in rows:
        share = hits[key] / n
        print(
            f"{label:36} {share:9.3f} {np.sqrt(share * (1 - share) / n):6.3f} "
            f"{np.mean(widths[key]):11.4f}"
        )
    for profile, hit in by_profile.items():
        rate_hits, revenue_hits = np.mean(hit, axis=0)
        print(
            f"  {profile:12} {len(hit):3} campaigns: rate_lift {rate_hits:.3f}, "
            f"mean_lift {revenue_hits:.3f}"
        )
    print(
        f"intervals excluding 0: rate {significant['rate'] / n:.2f}, "
        f"revenue {significant['revenue'] / n:.2f}"
    )
    print(
        f"lift statistics: {wall:.1f} s wall, {cpu:.1f} s CPU for {n} campaigns; the anchors "
        f"(BCa, Welch): {anchor_wall:.1f} s wall, {anchor_cpu:.1f} s CPU (CPU ratio "
        f"{cpu / max(anchor_cpu, 1e-9):.2f})"
    )


if __name__ == "__main__":
    with threadpool_limits(1):
        main()
