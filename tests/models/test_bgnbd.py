"""BG/NBD: the published CDNOW fit, predictions, recovery, properties, degenerate fits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from winback.errors import ConvergenceError, DegenerateFitWarning, ModelError, NotFittedError
from winback.models.bgnbd import BetaGeoModel, sample_bgnbd


@pytest.fixture(scope="module")
def cdnow_bgnbd(cdnow_summary: pd.DataFrame) -> BetaGeoModel:
    s = cdnow_summary
    return BetaGeoModel().fit(s["frequency_cal"], s["recency_cal"], s["T_cal"])


def test_reproduces_the_published_cdnow_fit(cdnow_bgnbd: BetaGeoModel) -> None:
    # Fader, Hardie & Lee (2005), "Counting your customers the easy way", Marketing
    # Science 24(2), p. 279: r = 0.243, α = 4.414, a = 0.793, b = 2.426, LL = -9582.4.
    p = cdnow_bgnbd.params_
    assert round(p["r"], 3) == 0.243
    assert round(p["alpha"], 3) == 4.414
    assert round(p["a"], 3) == 0.793
    assert round(p["b"], 3) == 2.426
    assert round(cdnow_bgnbd.log_likelihood_, 1) == -9582.4


def test_standard_errors_and_information_criteria(cdnow_bgnbd: BetaGeoModel) -> None:
    se = cdnow_bgnbd.standard_errors_
    # Inverse-Hessian standard errors; lifetimes 0.11.3 reports 0.0126, 0.378, 0.186, 0.705
    # for the same fit.
    assert se["r"] == pytest.approx(0.0126, abs=0.0005)
    assert se["alpha"] == pytest.approx(0.378, abs=0.005)
    assert se["a"] == pytest.approx(0.186, abs=0.005)
    assert se["b"] == pytest.approx(0.705, abs=0.01)
    ll = cdnow_bgnbd.log_likelihood_
    assert cdnow_bgnbd.aic_ == pytest.approx(8 - 2 * ll)
    assert cdnow_bgnbd.bic_ == pytest.approx(4 * np.log(2357) - 2 * ll)
    assert list(cdnow_bgnbd.summary_.index) == ["r", "alpha", "a", "b"]
    assert "se(coef)" in cdnow_bgnbd.summary_.columns


def test_worked_example_expected_purchases(cdnow_bgnbd: BetaGeoModel) -> None:
    # FHL 2005, section 4: a customer with x = 2, t_x = 30.43, T = 38.86 is expected to
    # make 1.226 purchases in the next 39 weeks.
    e = cdnow_bgnbd.conditional_expected_purchases(39, 2, 30.43, 38.86)
    assert round(float(e[0]), 3) == 1.226


def test_unconditional_expectation_matches_the_count_distribution(
    cdnow_bgnbd: BetaGeoModel,
) -> None:
    n = np.arange(0, 400)
    probs = cdnow_bgnbd.probability_of_purchases(39.0, n)
    assert probs.sum() == pytest.approx(1.0, abs=1e-8)
    assert float(n @ probs) == pytest.approx(float(cdnow_bgnbd.expected_purchases(39.0)), rel=1e-6)


def test_holdout_totals_are_close_to_actual(
    cdnow_bgnbd: BetaGeoModel, cdnow_summary: pd.DataFrame
) -> None:
    s = cdnow_summary
    predicted = cdnow_bgnbd.conditional_expected_purchases(
        39, s["frequency_cal"], s["recency_cal"], s["T_cal"]
    ).sum()
    actual = s["frequency_holdout"].sum()
    # 1,882 repeat purchase days in weeks 40-78 of the sample (our own count); our BG/NBD
    # forecast is 1,653, about 12 % short.
    assert actual == 1882
    assert 0.85 < predicted / actual < 0.92


def test_predicting_before_fitting_raises() -> None:
    with pytest.raises(NotFittedError, match="fit"):
        BetaGeoModel().conditional_probability_alive(1, 1, 2)


def test_recovers_parameters_from_simulated_data() -> None:
    rng = np.random.default_rng(7)
    truth = {"r": 0.5, "alpha": 6.0, "a": 0.8, "b": 2.5}
    x, t_x, T = sample_bgnbd(rng.uniform(30, 60, 20_000), **truth, rng=rng)
    m = BetaGeoModel().fit(x, t_x, T)
    for name, value in truth.items():
        # Within 4 standard errors of the truth.
        assert abs(m.params_[name] - value) < 4 * m.standard_errors_[name], name


def test_weights_give_the_same_fit_as_repeated_rows() -> None:
    rng = np.random.default_rng(11)
    x, t_x, T = sample_bgnbd(rng.integers(20, 40, 3000).astype(float), 0.5, 6.0, 0.8, 2.5, rng)
    t_x = np.floor(t_x)
    rows, counts = np.unique(np.column_stack([x, t_x, T]), axis=0, return_counts=True)
    assert len(rows) < len(x) / 2  # the compression this test relies on
    weighted = BetaGeoModel().fit(rows[:, 0], rows[:, 1], rows[:, 2], weights=counts)
    repeated = BetaGeoModel().fit(x, t_x, T)
    assert np.allclose(weighted.params_, repeated.params_, rtol=1e-6)
    assert weighted.log_likelihood_ == pytest.approx(repeated.log_likelihood_, rel=1e-10)


def test_identical_drop_out_probability_is_reported_as_degenerate() -> None:
    # Every customer has the same p = 0.3: the beta mixing distribution collapses, a and b
    # run off to infinity together and only a/(a+b) is identified.
    rng = np.random.default_rng(3)
    T = rng.uniform(30, 60, 5000)
    x, t_x, T = sample_bgnbd(T, 1.0, 5.0, 3e7, 7e7, rng=rng)
    with pytest.warns(DegenerateFitWarning, match=r"a/\(a\+b\) = 0\.[23]"):
        BetaGeoModel().fit(x, t_x, T)


def test_penalizer_keeps_the_degenerate_fit_finite() -> None:
    rng = np.random.default_rng(3)
    x, t_x, T = sample_bgnbd(rng.uniform(30, 60, 5000), 1.0, 5.0, 3e7, 7e7, rng=rng)
    m = BetaGeoModel(penalizer=0.01).fit(x, t_x, T)
    assert m.params_["a"] < 1e3
    assert m.params_["a"] / (m.params_["a"] + m.params_["b"]) == pytest.approx(0.3, abs=0.1)


customers = st.tuples(
    st.integers(0, 200), st.floats(0, 1), st.floats(0.01, 500, allow_subnormal=False)
)


@settings(max_examples=60, deadline=None)
@given(customers, st.floats(0, 100))
def test_prediction_properties(
    cdnow_bgnbd: BetaGeoModel, c: tuple[int, float, float], t: float
) -> None:
    x, share, T = c
    t_x = share * T if x > 0 else 0.0
    alive = float(cdnow_bgnbd.conditional_probability_alive(x, t_x, T)[0])
    assert 0.0 <= alive <= 1.0
    if x == 0:
        assert alive == 1.0
    e1 = float(cdnow_bgnbd.conditional_expected_purchases(t, x, t_x, T)[0])
    e2 = float(cdnow_bgnbd.conditional_expected_purchases(t + 1.0, x, t_x, T)[0])
    assert np.isfinite(e1)
    assert 0.0 <= e1 <= e2 + 1e-12


def test_next_purchase_timing(cdnow_bgnbd: BetaGeoModel) -> None:
    r, alpha = cdnow_bgnbd.params_["r"], cdnow_bgnbd.params_["alpha"]
    out = cdnow_bgnbd.next_purchase([2, 0], [30.43, 0.0], [38.86, 38.86])
    gap = (alpha + 38.86) / (r + 2)  # inverse posterior mean rate of an active customer
    assert out.loc[0, "expected_gap"] == pytest.approx(gap)
    assert out.loc[0, "due"] == pytest.approx(30.43 + gap)
    assert out.loc[0, "overdue"] == pytest.approx(38.86 - 30.43 - gap)
    assert out.loc[1, "overdue_ratio"] == pytest.approx(38.86 / ((alpha + 38.86) / r))
    assert out.loc[1, "probability_alive"] == 1.0


def test_stopping_early_is_an_error_not_an_answer(cdnow_summary: pd.DataFrame) -> None:
    s = cdnow_summary
    with pytest.raises(ConvergenceError, match="max_iterations"):
        BetaGeoModel(max_iterations=1).fit(s["frequency_cal"], s["recency_cal"], s["T_cal"])


def test_impossible_customers_are_refused() -> None:
    with pytest.raises(ModelError, match="recency"):
        BetaGeoModel().fit([1, 2], [5.0, 9.0], [4.0, 10.0])
