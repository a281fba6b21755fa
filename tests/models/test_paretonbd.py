"""Pareto/NBD: the published CDNOW fit, numerical stability, predictions, recovery."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate
from scipy.special import gammaln
from tests.models.conftest import central_differences

from winback.errors import DegenerateFitWarning
from winback.models.paretonbd import ParetoNBDModel, sample_paretonbd


@pytest.fixture(scope="module")
def cdnow_pnbd(cdnow_summary: pd.DataFrame) -> ParetoNBDModel:
    s = cdnow_summary
    return ParetoNBDModel().fit(s["frequency_cal"], s["recency_cal"], s["T_cal"])


def test_reproduces_the_published_cdnow_fit(cdnow_pnbd: ParetoNBDModel) -> None:
    # Fader, Hardie & Lee (2005), "Counting your customers the easy way", same CDNOW
    # data: r = 0.553, α = 10.578, s = 0.606, β = 11.669, LL = -9595.0.
    p = cdnow_pnbd.params_
    assert round(p["r"], 3) == 0.553
    assert round(p["alpha"], 3) == 10.578
    assert round(p["s"], 3) == 0.606
    assert round(p["beta"], 3) == 11.669
    assert round(cdnow_pnbd.log_likelihood_, 1) == -9595.0


def _reference_log_likelihood(
    params: tuple[float, float, float, float], x: float, t_x: float, T: float
) -> float:
    """Direct quadrature of the death-time integral, scaled by its value at t_x."""
    r, alpha, s, beta = params

    def log_f(tau: float) -> float:
        return float(-(r + x) * np.log(alpha + tau) - (s + 1) * np.log(beta + tau))

    scale = log_f(t_x)
    # Adaptive quadrature, on pieces cut where the integrand has fallen by e, e^5, ...
    rate = (r + x) / (alpha + t_x) + (s + 1) / (beta + t_x)
    cuts = [t_x + k / rate for k in (1, 5, 20, 100, 1000) if t_x + k / rate < T]
    edges = [t_x, *cuts, T]
    integral = sum(
        integrate.quad(
            lambda tau: np.exp(
                -(r + x) * np.log1p((tau - t_x) / (alpha + t_x))
                - (s + 1) * np.log1p((tau - t_x) / (beta + t_x))
            ),
            lo,
            hi,
            epsabs=1e-15 / rate,  # the whole integral is at least about 1/(2 rate)
            epsrel=1e-12,
            limit=500,
        )[0]
        for lo, hi in itertools.pairwise(edges)
    )
    alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    return float(
        gammaln(r + x)
        - gammaln(r)
        + r * np.log(alpha)
        + s * np.log(beta)
        + np.logaddexp(alive, np.log(s) + scale + np.log(integral))
    )


@pytest.mark.parametrize(
    ("params", "row"),
    [
        ((0.553, 10.578, 0.606, 11.669), (2, 30.43, 38.86)),
        ((0.553, 10.578, 0.606, 11.669), (0, 0.0, 38.86)),
        ((0.553, 10.578, 0.606, 11.669), (10_000, 519.0, 520.0)),  # ten years in weeks
        ((0.553, 10.578, 0.606, 11.669), (10_000, 300.0, 520.0)),
        ((2.0, 1.0, 3.0, 50.0), (40, 100.0, 300.0)),
        ((0.5, 50.0, 0.2, 0.5), (0, 0.0, 3650.0)),  # ten years in days, α ≫ β
        # The fit on a simulated retail ledger runs towards this corner (β ≫ α, s large:
        # lifetimes hardly differ between customers), where the hypergeometric series
        # needed tens of thousands of terms per row.
        ((1.51, 13.78, 177.0, 46541.0), (0, 0.0, 156.0)),
        ((1.51, 13.78, 177.0, 46541.0), (80, 150.0, 156.0)),
        ((1.51, 13.78, 1.6e5, 4.2e7), (3, 20.0, 156.0)),
        ((0.05, 1e5, 50.0, 0.01), (0, 0.0, 3650.0)),
        ((100.0, 1.0, 1e4, 1e6), (3, 100.0, 3650.0)),
        ((0.553, 10.578, 0.606, 11.669), (100_000, 1.0, 3650.0)),
    ],
)
def test_log_likelihood_matches_quadrature(
    params: tuple[float, float, float, float], row: tuple[float, float, float]
) -> None:
    x, t_x, T = row
    ours = ParetoNBDModel()._log_likelihood_rows(
        np.array(params), (np.array([x], float), np.array([t_x]), np.array([T]))
    )[0]
    assert ours == pytest.approx(_reference_log_likelihood(params, x, t_x, T), rel=1e-9, abs=1e-8)


def test_extreme_customers_give_finite_predictions(cdnow_pnbd: ParetoNBDModel) -> None:
    x = np.array([10_000, 10_000, 0, 5_000])
    t_x = np.array([520, 1.0, 0, 260])
    T = np.array([520, 520, 520, 520.0])
    alive = cdnow_pnbd.conditional_probability_alive(x, t_x, T)
    expected = cdnow_pnbd.conditional_expected_purchases(52, x, t_x, T)
    assert np.all(np.isfinite(alive))
    assert np.all(np.isfinite(expected))
    assert alive[0] == pytest.approx(1.0)  # bought at the last moment, very often
    assert alive[1] < 1e-100  # a heavy buyer silent for ten years is gone
    # Alive for sure, so the expectation is the rate (r+x)/(α+T) integrated against the
    # survival ((β+T)/(β+T+τ))^s over the 52 weeks.
    r, alpha, s, beta = cdnow_pnbd.params_
    survival = (beta + 520) / (s - 1) * (1 - ((beta + 520) / (beta + 572)) ** (s - 1))
    assert expected[0] == pytest.approx((r + 10_000) / (alpha + 520) * survival, rel=1e-9)


def test_count_distribution_is_consistent_with_the_mean(cdnow_pnbd: ParetoNBDModel) -> None:
    n = np.arange(0, 400)
    probs = cdnow_pnbd.probability_of_purchases(39.0, n)
    assert probs.sum() == pytest.approx(1.0, abs=1e-6)
    assert float(n @ probs) == pytest.approx(float(cdnow_pnbd.expected_purchases(39.0)), rel=1e-4)


def test_worked_customer_prediction(cdnow_pnbd: ParetoNBDModel) -> None:
    # The same customer as the BG/NBD worked example; a regression value from this
    # implementation (checked against the quadrature likelihood above).
    e = cdnow_pnbd.conditional_expected_purchases(39, 2, 30.43, 38.86)
    assert float(e[0]) == pytest.approx(1.455, abs=0.001)


def test_recovers_parameters_from_simulated_data() -> None:
    rng = np.random.default_rng(5)
    truth = {"r": 0.6, "alpha": 8.0, "s": 0.8, "beta": 12.0}
    x, t_x, T = sample_paretonbd(rng.uniform(40, 80, 8_000), **truth, rng=rng)
    m = ParetoNBDModel().fit(x, t_x, T)
    for name, value in truth.items():
        assert abs(m.params_[name] - value) < 4 * m.standard_errors_[name], name


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 500), st.floats(0, 1), st.floats(0.01, 520), st.floats(0, 100))
def test_prediction_properties(
    cdnow_pnbd: ParetoNBDModel, x: int, share: float, T: float, t: float
) -> None:
    t_x = share * T if x > 0 else 0.0
    alive = float(cdnow_pnbd.conditional_probability_alive(x, t_x, T)[0])
    assert 0.0 <= alive <= 1.0
    if x == 0 and T > 1:
        assert alive < 1.0  # unlike BG/NBD, non-repeaters may have died
    e1 = float(cdnow_pnbd.conditional_expected_purchases(t, x, t_x, T)[0])
    e2 = float(cdnow_pnbd.conditional_expected_purchases(t + 1.0, x, t_x, T)[0])
    assert 0.0 <= e1 <= e2


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.floats(-4.6, 4.6), min_size=4, max_size=4),  # log-parameters: 0.01 .. 100
    st.integers(0, 10_000),
    st.floats(0, 1),
    st.floats(0.01, 3650),  # up to ten years in days
)
def test_log_likelihood_is_finite_everywhere(
    log_params: list[float], x: int, share: float, T: float
) -> None:
    t_x = share * T if x > 0 else 0.0
    ll = ParetoNBDModel()._log_likelihood_rows(
        np.exp(log_params), (np.array([float(x)]), np.array([t_x]), np.array([T]))
    )
    assert np.all(np.isfinite(ll))


def test_homogeneous_rates_are_reported_as_degenerate() -> None:
    # Everyone buys at rate 0.5 and leaves at rate 0.02: the gamma mixing distributions
    # collapse, (r, α) and (s, β) run off together, and only the ratios are identified.
    rng = np.random.default_rng(8)
    x, t_x, T = sample_paretonbd(rng.uniform(30, 60, 500), 5e7, 1e8, 2e7, 1e9, rng)
    # The optimiser creeps along the ridge; 100 iterations are enough to see it.
    with pytest.warns(DegenerateFitWarning, match=r"r/alpha = 0\.[45]"):
        ParetoNBDModel(max_iterations=100).fit(x, t_x, T)


@pytest.mark.parametrize(
    "params",
    [(0.553, 10.578, 0.606, 11.669), (1.51, 13.78, 177.0, 46541.0), (2.0, 1.0, 3.0, 50.0)],
)
def test_analytic_gradient_matches_finite_differences(
    params: tuple[float, float, float, float],
) -> None:
    rng = np.random.default_rng(3)
    T = rng.uniform(1, 500, 300)
    x = rng.choice([0.0, 1.0, 4.0, 60.0, 5_000.0], 300)
    t_x = np.where(x > 0, rng.uniform(0, 1, 300) * T, 0.0)
    t_x[:10] = T[:10] * (x[:10] > 0)  # bought at the very end: no death integral
    data = (x, t_x, T)
    model = ParetoNBDModel()
    theta = np.array(params)
    _, rows = model._value_and_gradient_rows(theta, model._prepare(data))
    assert rows is not None
    numeric = central_differences(model, theta, data)
    assert rows.sum(axis=0) == pytest.approx(numeric, rel=1e-5, abs=1e-8)


def test_fits_and_predicts_finite_on_extreme_ledgers() -> None:
    rng = np.random.default_rng(11)
    n = 2_000
    cases = {
        # Nobody ever came back.
        "x = 0 everyone": (np.zeros(n), np.zeros(n), rng.uniform(1, 500, n)),
        # Ten years of daily data.
        "very long T": sample_paretonbd(rng.uniform(3000, 3650, n), 0.5, 10.0, 0.6, 12.0, rng),
        # A few wholesale accounts buying every day.
        "huge x": (
            np.r_[rng.integers(5_000, 20_000, 50), np.zeros(n - 50)].astype(float),
            np.r_[rng.uniform(3000, 3650, 50), np.zeros(n - 50)],
            np.full(n, 3650.0),
        ),
    }
    for label, (x, t_x, T) in cases.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DegenerateFitWarning)
            model = ParetoNBDModel(penalizer=0.001).fit(x, t_x, T)
        assert np.all(np.isfinite(model.params_.to_numpy())), label
        alive = model.conditional_probability_alive(x, t_x, T)
        expected = model.conditional_expected_purchases(52.0, x, t_x, T)
        assert np.all(np.isfinite(alive)), label
        assert np.all((alive >= 0) & (alive <= 1)), label
        assert np.all(np.isfinite(expected)), label
        assert np.all(expected >= 0), label


def _counted_fit(model: ParetoNBDModel, *columns: np.ndarray) -> int:
    """Fit ``model`` on ``columns``; how many times it evaluated the objective's gradient."""
    calls = 0
    evaluate = model._objective_and_gradient

    def counted(*args: object) -> tuple[float, np.ndarray]:
        nonlocal calls
        calls += 1
        return evaluate(*args)  # type: ignore[arg-type]

    model._objective_and_gradient = counted  # type: ignore[method-assign]
    model.fit(*columns)
    return calls


def test_a_fit_stopped_on_its_way_to_the_bounds_is_degenerate_all_the_same() -> None:
    # Homogeneous drop-out (as on simulated retail): the fit runs off along the ridge.
    # Stopped at the first iterate past e^±RUNAWAY, it gives the same verdict (and the
    # same identified ratios) for fewer evaluations.
    rng = np.random.default_rng(2)
    x, t_x, T = sample_paretonbd(rng.uniform(1, 100, 3000), 1.0, 5.0, 1e7, 1e9, rng)
    with pytest.warns(DegenerateFitWarning, match=r"r/alpha = 0\.19.*s/beta = 0\.009") as full:
        whole = _counted_fit(ParetoNBDModel(), x, t_x, T)
    with pytest.warns(DegenerateFitWarning, match=r"r/alpha = 0\.19.*s/beta = 0\.009") as early:
        stopped = _counted_fit(ParetoNBDModel(stop_on_runaway=True), x, t_x, T)
    assert len(full) == len(early) == 1
    # Fewer, by how many depends on the processor's rounding: where the quick start runs
    # past e^RUNAWAY it gives way to L-BFGS-B from scratch (it may have leapt over an
    # interior optimum: tests/models/test_small_fits.py), 66 against 87 on an AMD EPYC.
    assert stopped < whole, (stopped, whole)


def test_stopping_on_runaway_leaves_an_interior_fit_unchanged(
    cdnow_summary: pd.DataFrame, cdnow_pnbd: ParetoNBDModel
) -> None:
    s = cdnow_summary
    columns = (s["frequency_cal"], s["recency_cal"], s["T_cal"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateFitWarning)
        stopped = ParetoNBDModel(stop_on_runaway=True).fit(*columns)
    assert np.array_equal(stopped.params_.to_numpy(), cdnow_pnbd.params_.to_numpy())
