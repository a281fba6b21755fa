"""Holdouts and lift: hand-checked cases from Newcombe (1998), and coverage with fixed seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from winback.errors import InvalidInput
from winback.insights.lift import (
    draw_holdout,
    mean_lift,
    minimum_detectable_lift,
    rate_lift,
    wald_rate_lift,
    wilson_interval,
)


def outcomes(wins: int, n: int) -> np.ndarray:
    return np.r_[np.ones(wins), np.zeros(n - wins)]


def test_holdout_takes_the_rounded_share_of_every_stratum() -> None:
    strata = ["gold|retail"] * 47 + ["silver|retail"] * 205 + ["gold|b2b"] * 15 + ["x"] * 1
    holdout = draw_holdout(strata, 0.1, seed=3)
    names = np.array(strata)
    counts = {s: int(holdout[names == s].sum()) for s in set(strata)}
    # 4.7 -> 5, 20.5 -> 21 (halves round up), 1.5 -> 2, 0.1 -> 0
    assert counts == {"gold|retail": 5, "silver|retail": 21, "gold|b2b": 2, "x": 0}
    assert holdout.sum() >= round(0.1 * len(strata))


def test_holdout_tops_up_what_small_strata_round_away() -> None:
    # Thirty strata of three: each rounds 0.3 down to 0, but the campaign still needs 9.
    strata = [f"s{i}" for i in range(30) for _ in range(3)]
    holdout = draw_holdout(strata, 0.1, seed=5)
    assert holdout.sum() == 9
    per_stratum = np.bincount(np.repeat(np.arange(30), 3), weights=holdout)
    assert per_stratum.max() == 1


def test_holdout_is_the_same_for_a_seed_and_differs_between_seeds() -> None:
    strata = [f"t{i % 4}|s{i % 7}" for i in range(2_000)]
    first = draw_holdout(strata, 0.1, seed=11)
    assert np.array_equal(first, draw_holdout(strata, 0.1, seed=11))
    assert not np.array_equal(first, draw_holdout(strata, 0.1, seed=12))
    assert first.sum() == 200


def test_holdout_of_nothing_and_bad_share() -> None:
    assert draw_holdout([], 0.1, seed=1).shape == (0,)
    assert not draw_holdout(["a"] * 10, 0.0, seed=1).any()
    for share in (-0.1, 1.0, 1.5, float("nan")):
        with pytest.raises(InvalidInput, match="holdout share"):
            draw_holdout(["a"] * 10, share, seed=1)


@pytest.mark.parametrize(
    ("treated", "holdout", "low", "high"),
    [
        # Newcombe (1998), Statistics in Medicine 17:873, Table II, method 10.
        ((56, 70), (48, 80), 0.0524, 0.3339),
        ((9, 10), (3, 10), 0.1705, 0.8090),
        ((6, 7), (2, 7), 0.0582, 0.8062),
        ((5, 56), (0, 29), -0.0381, 0.1926),
    ],
)
def test_rate_lift_matches_newcombes_published_intervals(
    treated: tuple[int, int], holdout: tuple[int, int], low: float, high: float
) -> None:
    estimate = rate_lift(outcomes(*treated), outcomes(*holdout))
    assert estimate.difference == pytest.approx(treated[0] / treated[1] - holdout[0] / holdout[1])
    assert (estimate.low, estimate.high) == pytest.approx((low, high), abs=5e-5)
    assert (estimate.treated_n, estimate.holdout_n) == (treated[1], holdout[1])


def test_rate_lift_covers_the_true_difference_about_95_in_100() -> None:
    rng = np.random.default_rng(2024)
    covered = wald_covered = 0
    draws = 300
    for _ in range(draws):
        n_treated = int(rng.integers(200, 2_000))
        n_holdout = max(20, n_treated // 9)
        base = rng.uniform(0.02, 0.3)
        truth = rng.uniform(0.0, 0.15)
        treated = rng.random(n_treated) < base + truth
        holdout = rng.random(n_holdout) < base
        estimate = rate_lift(treated, holdout)
        covered += estimate.low <= truth <= estimate.high
        wald = wald_rate_lift(treated, holdout)
        wald_covered += wald.low <= truth <= wald.high
    assert 0.92 <= covered / draws <= 0.98
    # The naive interval is the anchor: never better than the score interval here.
    assert wald_covered <= covered


def test_rate_lift_refuses_what_is_not_an_outcome() -> None:
    with pytest.raises(InvalidInput, match="holdout group is empty"):
        rate_lift(np.ones(5), np.array([]))
    with pytest.raises(InvalidInput, match="treated outcomes must be 0/1"):
        rate_lift(np.array([0, 2, 1]), np.ones(3))
    with pytest.raises(InvalidInput, match="holdout outcomes hold a missing"):
        rate_lift(np.ones(3), np.array([1.0, np.nan]))
    with pytest.raises(InvalidInput, match="confidence level"):
        rate_lift(np.ones(3), np.ones(3), level=95)


def test_mean_lift_is_centred_on_the_difference_and_reproducible() -> None:
    rng = np.random.default_rng(1)
    treated = rng.exponential(40, 800) * (rng.random(800) < 0.3)
    holdout = rng.exponential(40, 90) * (rng.random(90) < 0.2)
    first = mean_lift(treated, holdout)
    assert first == mean_lift(treated, holdout)
    assert first.difference == pytest.approx(treated.mean() - holdout.mean())
    assert first.low < first.difference < first.high
    assert first != mean_lift(treated, holdout, level=0.9)


def test_mean_lift_combines_each_groups_share_and_spend_by_mover() -> None:
    # Worked by hand: treated 4 of 10 spent 10, 20, 30, 40; holdout 1 of 5 spent 50. The
    # spread of the mean spend is that of all five spends, shared by both groups.
    treated = np.array([10.0, 20, 30, 40, 0, 0, 0, 0, 0, 0])
    holdout = np.array([50.0, 0, 0, 0, 0])
    z = stats.norm.ppf(0.975)
    pooled = np.array([10.0, 20, 30, 40, 50])
    cv2 = pooled.var(ddof=1) / pooled.mean() ** 2

    def limits(mean: float, k: int, n: int) -> tuple[float, float]:
        low_share, high_share = wilson_interval(k, n)
        spread = z * math.sqrt(cv2 / k)
        share = k / n
        low = math.exp(math.log(mean) - math.hypot(math.log(share / low_share), spread))
        high = math.exp(math.log(mean) + math.hypot(math.log(high_share / share), spread))
        return low, high

    l1, u1 = limits(10.0, 4, 10)
    l2, u2 = limits(10.0, 1, 5)
    estimate = mean_lift(treated, holdout)
    assert estimate.difference == 0
    assert estimate.low == pytest.approx(-math.hypot(10 - l1, u2 - 10))
    assert estimate.high == pytest.approx(math.hypot(u1 - 10, 10 - l2))
    # A holdout where nobody spent: 0, at most the Wilson upper share at the pooled spend.
    none = mean_lift(treated, np.zeros(20))
    upper = wilson_interval(0, 20)[1] * 25.0
    cv2 = np.var([10, 20, 30, 40], ddof=1) / 25**2
    l1, u1 = limits(10.0, 4, 10)
    assert none.low == pytest.approx(10 - math.hypot(10 - l1, upper))
    assert none.high == pytest.approx(10 + (u1 - 10))


@pytest.mark.slow
def test_mean_lift_covers_the_true_revenue_difference_95_in_100() -> None:
    # Holdouts of 33-166 members with 5-30 % coming back hold a handful of skewed spends.
    # Intervals on the spread of the revenue alone (Welch's t, the BCa bootstrap used
    # before) cover 0.89-0.92 here: when the holdout happens to hold few spenders, its
    # mean and its spread are both low. The share's Wilson interval does not shrink so.
    rng = np.random.default_rng(77)
    covered = 0
    draws = 600
    spend = 50.0  # exponential spend: mean revenue per member = rate * spend
    for _ in range(draws):
        n_treated = int(rng.integers(300, 1_500))
        n_holdout = max(30, n_treated // 9)
        base, lift = rng.uniform(0.05, 0.3), rng.uniform(0.0, 0.1)
        treated = rng.exponential(spend, n_treated) * (rng.random(n_treated) < base + lift)
        holdout = rng.exponential(spend, n_holdout) * (rng.random(n_holdout) < base)
        estimate = mean_lift(treated, holdout)
        covered += estimate.low <= lift * spend <= estimate.high
    assert 0.93 <= covered / draws <= 0.97


def test_mean_lift_of_groups_that_never_vary_is_a_point() -> None:
    estimate = mean_lift(np.zeros(50), np.zeros(10))
    assert (estimate.low, estimate.difference, estimate.high) == (0, 0, 0)


def test_mean_lift_refuses_negative_revenue_naming_the_group() -> None:
    with pytest.raises(InvalidInput, match="holdout outcomes must be at least 0"):
        mean_lift(np.ones(5), np.array([1.0, -2.0]))


def test_minimum_detectable_lift_is_detected_with_the_power_asked_for() -> None:
    n_treated, n_holdout, base = 1_800, 200, 0.12
    mdl = minimum_detectable_lift(n_treated, n_holdout, base)
    assert 0.05 < mdl < 0.15
    # Simulate the two-sided pooled z-test at that lift: it rejects about 80 % of the time.
    rng = np.random.default_rng(9)
    x1 = rng.binomial(n_treated, base + mdl, 20_000)
    x2 = rng.binomial(n_holdout, base, 20_000)
    pooled = (x1 + x2) / (n_treated + n_holdout)
    z = (x1 / n_treated - x2 / n_holdout) / np.sqrt(
        pooled * (1 - pooled) * (1 / n_treated + 1 / n_holdout)
    )
    power = np.mean(np.abs(z) > stats.norm.ppf(0.975))
    assert power == pytest.approx(0.8, abs=0.02)


def test_minimum_detectable_lift_shrinks_with_size_and_can_be_out_of_reach() -> None:
    small = minimum_detectable_lift(450, 50, 0.1)
    large = minimum_detectable_lift(4_500, 500, 0.1)
    assert large < small
    assert large == pytest.approx(small / math.sqrt(10), rel=0.35)
    assert minimum_detectable_lift(2, 1, 0.5) == math.inf
    with pytest.raises(InvalidInput, match="holdout group size"):
        minimum_detectable_lift(100, 0, 0.1)
    with pytest.raises(InvalidInput, match="base rate"):
        minimum_detectable_lift(100, 10, 1.2)
