"""The follow-suit classifier's sample of a big backtest."""

from __future__ import annotations

import numpy as np

from winback.scan.follow_suit import fit_sample


def test_a_small_backtest_is_fitted_whole() -> None:
    assert fit_sample(np.array([0, 1, 0, 1]), 4, seed=0) is None


def test_a_big_backtest_is_sampled_keeping_the_lapse_rate_and_the_order() -> None:
    y = np.zeros(10_000, dtype=np.int64)
    y[::10] = 1  # a lapse rate of 10%
    rows = fit_sample(y, 1_000, seed=0)
    assert rows is not None
    assert len(rows) == 1_000
    assert int(y[rows].sum()) == 100
    assert np.all(np.diff(rows) > 0)  # distinct rows, in their order
    assert np.array_equal(rows, fit_sample(y, 1_000, seed=0))  # the same every scan


def test_a_rare_class_keeps_enough_rows_to_learn_from() -> None:
    y = np.zeros(100_000, dtype=np.int64)
    y[:30] = 1
    rows = fit_sample(y, 1_000, seed=0)
    assert rows is not None
    assert int(y[rows].sum()) == 20
    assert len(rows) == 1_020
