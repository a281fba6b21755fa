"""MBG/NBD, BG/BB and sBG: published numbers where they exist, hand-computed likelihoods,
recovery from simulated data, and the probability properties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import betaln
from tests.models.conftest import central_differences

from winback.errors import ModelError
from winback.models.bgbb import BetaGeoBetaBinomModel, sample_bgbb
from winback.models.mbgnbd import ModifiedBetaGeoModel, sample_mbgnbd
from winback.models.sbg import ShiftedBetaGeometricModel, sample_sbg_survivors


@pytest.fixture(scope="module")
def cdnow_mbg(cdnow_summary: pd.DataFrame) -> ModifiedBetaGeoModel:
    s = cdnow_summary
    return ModifiedBetaGeoModel().fit(s["frequency_cal"], s["recency_cal"], s["T_cal"])


def test_mbgnbd_fits_cdnow_sensibly(cdnow_mbg: ModifiedBetaGeoModel) -> None:
    # No published MBG/NBD fit on this sample; ours is r = 0.525, α = 6.183, a = 0.891,
    # b = 1.614, LL = -9582.1, as good a fit as the BG/NBD's -9582.4 (one extra degree of
    # freedom is used differently, not added).
    p = cdnow_mbg.params_
    assert p["r"] == pytest.approx(0.525, abs=0.001)
    assert p["alpha"] == pytest.approx(6.183, abs=0.002)
    assert p["a"] == pytest.approx(0.891, abs=0.001)
    assert p["b"] == pytest.approx(1.614, abs=0.002)
    assert cdnow_mbg.log_likelihood_ == pytest.approx(-9582.1, abs=0.1)
    n = np.arange(400)
    probs = cdnow_mbg.probability_of_purchases(39.0, n)
    assert probs.sum() == pytest.approx(1.0, abs=1e-8)
    assert float(n @ probs) == pytest.approx(float(cdnow_mbg.expected_purchases(39.0)), rel=1e-6)


def test_mbgnbd_non_repeaters_may_have_left(cdnow_mbg: ModifiedBetaGeoModel) -> None:
    alive = cdnow_mbg.conditional_probability_alive([0, 0], [0, 0], [1.0, 38.86])
    assert np.all(alive < 1.0)


def test_mbgnbd_recovers_parameters() -> None:
    rng = np.random.default_rng(1)
    truth = {"r": 0.5, "alpha": 6.0, "a": 0.8, "b": 2.5}
    x, t_x, T = sample_mbgnbd(rng.uniform(30, 60, 8_000), **truth, rng=rng)
    m = ModifiedBetaGeoModel().fit(x, t_x, T)
    for name, value in truth.items():
        assert abs(m.params_[name] - value) < 4 * m.standard_errors_[name], name


def test_bgbb_likelihood_by_hand() -> None:
    # α = β = γ = δ = 1 (p and θ uniform), two opportunities, one transaction in the first:
    # E[(1-θ)p((1-θ)(1-p) + θ)] = E[p(1-p)]E[(1-θ)²] + E[p]E[θ(1-θ)]
    #                           = (1/6)(1/3) + (1/2)(1/6) = 5/36.
    # One opportunity without a transaction: E[θ] + E[(1-θ)]E[(1-p)] = 1/2 + 1/4 = 3/4.
    m = BetaGeoBetaBinomModel()
    data = (np.array([1.0, 0.0]), np.array([1.0, 0.0]), np.array([2.0, 1.0]))
    ll = m._log_likelihood_rows(np.ones(4), data)
    assert np.exp(ll) == pytest.approx([5 / 36, 3 / 4], rel=1e-12)


@pytest.fixture(scope="module")
def bgbb() -> BetaGeoBetaBinomModel:
    rng = np.random.default_rng(4)
    x, t_x, n = sample_bgbb(np.full(20_000, 6), 1.2, 0.75, 0.66, 2.78, rng)
    return BetaGeoBetaBinomModel().fit(x, t_x, n)


def test_bgbb_recovers_parameters(bgbb: BetaGeoBetaBinomModel) -> None:
    # Parameters of the same size as Fader, Hardie & Shang's (2010) donation data fit.
    truth = {"alpha": 1.2, "beta": 0.75, "gamma": 0.66, "delta": 2.78}
    for name, value in truth.items():
        assert abs(bgbb.params_[name] - value) < 4 * bgbb.standard_errors_[name], name


def test_bgbb_expectation_matches_the_sum_it_closes(bgbb: BetaGeoBetaBinomModel) -> None:
    alpha, beta, gamma, delta = bgbb.params_
    x, t_x, n, k = 3.0, 4.0, 6.0, 5
    likelihood = np.exp(
        bgbb._log_likelihood_rows(
            bgbb.params_.to_numpy(), tuple(np.array([v]) for v in (x, t_x, n))
        )
    )[0]
    transact = np.exp(betaln(alpha + x + 1, beta + n - x) - betaln(alpha, beta))
    alive = sum(
        np.exp(betaln(gamma, delta + n + j) - betaln(gamma, delta)) for j in range(1, k + 1)
    )
    direct = transact * alive / likelihood
    assert bgbb.conditional_expected_purchases(k, x, t_x, n)[0] == pytest.approx(direct, rel=1e-10)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 12), st.data())
def test_bgbb_probability_properties(
    bgbb: BetaGeoBetaBinomModel, n: int, data: st.DataObject
) -> None:
    t_x = data.draw(st.integers(0, n))
    x = data.draw(st.integers(min(1, t_x), t_x)) if t_x else 0
    alive = bgbb.conditional_probability_alive(x, t_x, n)[0]
    assert 0.0 <= alive <= 1.0
    if t_x == n:
        assert alive == pytest.approx(1.0)  # transacted at the last opportunity
    e = bgbb.conditional_expected_purchases([1, 2, 5], x, t_x, n)
    assert np.all(np.diff(e) >= 0)
    assert e[0] >= 0


def test_bgbb_rejects_impossible_rows() -> None:
    with pytest.raises(ModelError, match="frequency <= recency <= n"):
        BetaGeoBetaBinomModel().fit([3], [2], [5])


@pytest.mark.parametrize(
    ("survival_percent", "alpha", "beta"),
    [
        # Fader & Hardie (2007), "How to project customer retention", J. Interactive
        # Marketing 21(1): years 0-7 of the "regular" and "high end" segments.
        ([100, 63.1, 46.8, 38.2, 32.6, 28.9, 26.2, 24.1], 0.704, 1.182),
        ([100, 86.9, 74.3, 65.3, 59.3, 55.1, 51.7, 49.1], 0.668, 3.806),
    ],
)
def test_sbg_reproduces_the_published_fits(
    survival_percent: list[float], alpha: float, beta: float
) -> None:
    survivors = np.round(np.array(survival_percent) * 10)  # a cohort of 1,000
    m = ShiftedBetaGeometricModel().fit(survivors)
    assert round(m.params_["alpha"], 3) == alpha
    assert round(m.params_["beta"], 3) == beta


def test_sbg_projections() -> None:
    m = ShiftedBetaGeometricModel().fit([1000, 631, 468, 382, 326, 289, 262, 241])
    alpha, beta = m.params_
    t = np.arange(1, 13)
    s = m.survival(t)
    assert np.all(np.diff(s) < 0)
    assert np.allclose(s[1:] / s[:-1], m.retention_rate(t[1:]))
    assert np.all(np.diff(m.retention_rate(t)) > 0)  # retention rises as the cohort sorts
    assert np.isinf(m.expected_remaining_lifetime(0))  # α < 1: heavy tail
    # DERL against a direct discounted sum of survival probabilities from n renewals on.
    n, d = 3, 0.1
    k = np.arange(0, 5000)
    direct = np.sum(
        np.exp(betaln(alpha, beta + n + 1 + k) - betaln(alpha, beta + n)) / (1 + d) ** k
    )
    assert m.discounted_expected_residual_lifetime(n, d) == pytest.approx(direct, rel=1e-9)


def test_sbg_recovers_parameters_and_expected_lifetime() -> None:
    rng = np.random.default_rng(9)
    survivors = sample_sbg_survivors(50_000, 10, 2.5, 6.0, rng)
    m = ShiftedBetaGeometricModel().fit(survivors)
    for name, value in {"alpha": 2.5, "beta": 6.0}.items():
        assert abs(m.params_[name] - value) < 4 * m.standard_errors_[name], name
    # With α > 1 the undiscounted lifetime is finite and DERL tends to it as d → 0.
    derl = m.discounted_expected_residual_lifetime([0, 4], 1e-7)
    assert derl == pytest.approx(m.expected_remaining_lifetime([0, 4]), rel=1e-4)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 300), st.floats(0, 1), st.floats(0.01, 500), st.floats(0, 100))
def test_mbgnbd_prediction_properties(
    cdnow_mbg: ModifiedBetaGeoModel, x: int, share: float, T: float, t: float
) -> None:
    t_x = share * T if x > 0 else 0.0
    alive = float(cdnow_mbg.conditional_probability_alive(x, t_x, T)[0])
    assert 0.0 <= alive < 1.0  # never certain: drop-out can follow the first purchase
    e1 = float(cdnow_mbg.conditional_expected_purchases(t, x, t_x, T)[0])
    e2 = float(cdnow_mbg.conditional_expected_purchases(t + 1.0, x, t_x, T)[0])
    assert 0.0 <= e1 <= e2 + 1e-12


def test_sbg_on_contracts_equals_the_fit_on_the_cohort_counts() -> None:
    from winback.models import ShiftedBetaGeometricModel

    # The "regular" cohort of Fader & Hardie (2007), 1000 customers, years 0-7: as counts,
    # and as 1000 contracts (churn year for leavers, 7 completed years for survivors).
    survivors = np.array([1000, 631, 468, 382, 326, 289, 262, 241])
    counts = ShiftedBetaGeometricModel().fit(survivors)
    lost = survivors[:-1] - survivors[1:]
    periods = np.concatenate([np.repeat(np.arange(1, 8), lost), np.full(survivors[-1], 7)])
    churned = np.concatenate([np.ones(lost.sum(), bool), np.zeros(survivors[-1], bool)])

    contracts = ShiftedBetaGeometricModel().fit_contracts(periods, churned)

    assert contracts.params_["alpha"] == pytest.approx(counts.params_["alpha"], rel=1e-5)
    assert contracts.params_["beta"] == pytest.approx(counts.params_["beta"], rel=1e-5)
    assert contracts.params_["alpha"] == pytest.approx(0.704, abs=5e-4)


@pytest.mark.parametrize("model_class", ["bg", "mbg"])
def test_analytic_gradient_matches_central_differences(model_class: str) -> None:
    from winback.models.bgnbd import BetaGeoModel

    rng = np.random.default_rng(3)
    n = 500
    x = rng.poisson(2.0, n).astype(float)
    T = rng.uniform(10, 40, n)
    t_x = np.where(x > 0, T * rng.uniform(0.1, 1.0, n), 0.0)
    model = BetaGeoModel() if model_class == "bg" else ModifiedBetaGeoModel()
    data = model._prepare((x, t_x, T))
    params = np.array([0.6, 5.0, 0.8, 2.2])
    _, gradient = model._weighted_sums(params, data, np.ones(n))
    assert gradient is not None
    numeric = central_differences(model, params, data)
    assert gradient == pytest.approx(numeric, rel=1e-5, abs=1e-6)
