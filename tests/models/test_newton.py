"""The Pareto/NBD's analytic Hessian and the trust-region Newton iteration that uses it
on fits of few rows: the Hessian against differences of the analytic gradient, the step
against the quadratic model it minimises, and the fit against L-BFGS-B's optimum."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from winback.errors import DegenerateFitWarning
from winback.models import base, paretonbd
from winback.models.paretonbd import ParetoNBDModel, _log_death_integral, sample_paretonbd

PARETO_PARAMS = [
    (0.553, 10.578, 0.606, 11.669),  # CDNOW
    (1.51, 13.78, 177.0, 46541.0),  # lifetimes hardly differ (α and β far apart)
    (0.5, 50.0, 0.2, 0.5),
]


def _customers(n: int = 400) -> tuple[np.ndarray, ...]:
    """Customers of every kind, one in ten without a death integral (bought at the end),
    with weights."""
    rng = np.random.default_rng(5)
    T = rng.uniform(1, 500, n)
    x = rng.choice([0.0, 1.0, 4.0, 60.0, 5_000.0], n)
    t_x = np.where((x > 0) & (np.arange(n) % 10 > 0), rng.uniform(0, 1, n) * T, 0.0)
    t_x = np.where((x > 0) & (np.arange(n) % 10 == 0), T, t_x)
    weights = rng.integers(1, 50, n).astype(float)
    return x, t_x, T, weights


def _differenced(gradient: Any, theta: np.ndarray) -> np.ndarray:
    """Central differences of ``gradient`` (a function of θ), relative steps of 1e-4
    (their rounding error grows as the step shrinks: at 1e-6 it reached 4e-5 of a
    diagonal entry, at 1e-4 5e-7; the truncation error, ~1e-8, stays below)."""
    rows = []
    for i in range(len(theta)):
        h = 1e-4 * theta[i]
        up, down = theta.copy(), theta.copy()
        up[i] += h
        down[i] -= h
        rows.append((gradient(up) - gradient(down)) / (2 * h))
    return np.array(rows)


def _close(exact: np.ndarray, numeric: np.ndarray, tolerance: float) -> None:
    # Each entry relative to the geometric mean of its row's and column's diagonal
    # entries: the entries span ten orders of magnitude, and measured against the largest
    # a small one could be off by a factor of thousands and pass (a review showed it).
    diagonal = np.abs(np.diag(numeric))
    scale = np.sqrt(np.outer(diagonal, diagonal))
    assert np.all(scale > 0)
    assert np.max(np.abs(exact - numeric) / scale) <= tolerance


@pytest.mark.parametrize("params", PARETO_PARAMS)
def test_pareto_hessian_is_the_derivative_of_its_gradient(
    params: tuple[float, float, float, float],
) -> None:
    x, t_x, T, weights = _customers()
    model = ParetoNBDModel()
    data = model._prepare((x, t_x, T))
    theta = np.array(params)
    total, gradient, hessian = model._weighted_sums_and_hessian(theta, data, weights)
    plain_total, plain_gradient = model._weighted_sums(theta, data, weights)
    assert total == plain_total
    assert gradient == pytest.approx(plain_gradient, rel=1e-14)
    assert np.array_equal(hessian, hessian.T) or np.max(np.abs(hessian - hessian.T)) < 1e-9 * (
        np.max(np.abs(hessian))
    )
    numeric = _differenced(lambda th: model._weighted_sums(th, data, weights)[1], theta)
    _close(hessian, numeric, 1e-6)


@pytest.mark.parametrize("params", PARETO_PARAMS)
def test_death_integral_hessian_summed_by_block_is_the_derivative_of_its_gradient(
    params: tuple[float, float, float, float], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The weighted sum of the rows' ∂² log I, against differences of the rows' ∂ log I
    # summed with the same weights; blocks of 7 rows give the same sum as one block.
    x, t_x, T, weights = _customers()
    theta = np.array(params)

    def row_weights(rows: np.ndarray, log_i: np.ndarray) -> np.ndarray:
        assert np.all(np.isfinite(log_i))  # only rows with a death integral are asked for
        return np.asarray(weights[rows], dtype=np.float64)

    _, _, hessian = _log_death_integral(theta, x, t_x, T, True, row_weights)
    assert hessian is not None

    def summed_gradient(th: np.ndarray) -> np.ndarray:
        grad = _log_death_integral(th, x, t_x, T, True)[1]
        assert grad is not None
        return np.asarray(weights @ grad)

    _close(hessian, _differenced(summed_gradient, theta), 1e-6)
    monkeypatch.setattr(paretonbd, "BLOCK_ROWS", 7)
    _, _, in_blocks = _log_death_integral(theta, x, t_x, T, True, row_weights)
    assert in_blocks == pytest.approx(hessian, rel=1e-10, abs=1e-12 * np.max(np.abs(hessian)))


@pytest.mark.parametrize("penalizer", [0.0, 0.1])
def test_log_scale_hessian_matches_differences_of_the_objective_gradient(
    penalizer: float,
) -> None:
    # The chain rule to the log scale and the penalty, in the base class.
    x, t_x, T, weights = _customers()
    model = ParetoNBDModel(penalizer=penalizer)
    data = model._prepare((x, t_x, T))
    log_params = np.log(np.array(PARETO_PARAMS[0]))
    value, grad, hess = model._objective_gradient_hessian(log_params, data, weights)
    assert (value, list(grad)) == (
        model._objective(log_params, data, weights),
        list(model._objective_gradient(log_params, data, weights)),
    )
    model._remembered.clear()  # type: ignore[attr-defined]
    numeric = model._numeric_hessian(log_params, data, weights, exact=False)
    _close(hess, numeric, 1e-6)
    # The exact one is what every caller of _numeric_hessian gets by default.
    assert np.array_equal(model._numeric_hessian(log_params, data, weights), hess)


def _model_value(grad: np.ndarray, hess: np.ndarray, step: np.ndarray) -> float:
    return float(grad @ step + 0.5 * step @ hess @ step)


def _best_on_ball(grad: np.ndarray, hess: np.ndarray, radius: float) -> float:
    """The lowest value of the quadratic model at many random points within the radius."""
    rng = np.random.default_rng(0)
    points = rng.normal(size=(200_000, len(grad)))
    points *= radius / np.linalg.norm(points, axis=1)[:, None]
    points *= rng.uniform(0, 1, len(points))[:, None] ** (1 / len(grad))
    values = points @ grad + 0.5 * np.einsum("ij,jk,ik->i", points, hess, points)
    return float(values.min())


def test_trust_region_step_is_newtons_within_the_radius() -> None:
    hess = np.array([[2.0, 0.3], [0.3, 1.0]])
    grad = np.array([0.5, -0.2])
    step = base._trust_region_step(grad, hess, 10.0)
    assert step is not None
    assert step == pytest.approx(-np.linalg.solve(hess, grad), rel=1e-14)


@pytest.mark.parametrize(
    "eigenvalues",
    [(1e-6, 0.5, 1.0, 3.0), (-0.2, 0.1, 1.0, 2.0), (0.0, 0.0, 1.0, 1.0)],
    ids=["ill-conditioned", "indefinite", "singular"],
)
def test_trust_region_step_minimises_the_model_on_the_boundary(
    eigenvalues: tuple[float, ...],
) -> None:
    rng = np.random.default_rng(1)
    vectors = np.linalg.qr(rng.normal(size=(4, 4)))[0]
    hess = (vectors * np.array(eigenvalues)) @ vectors.T
    grad = rng.normal(size=4)
    radius = 0.7
    step = base._trust_region_step(grad, hess, radius)
    assert step is not None
    assert np.linalg.norm(step) == pytest.approx(radius, rel=2e-3)
    found = _model_value(grad, hess, step)
    assert found < 0
    assert found <= _best_on_ball(grad, hess, radius) + 1e-3 * abs(found)


def test_trust_region_step_in_the_hard_case_goes_to_the_boundary() -> None:
    # A negative curvature the gradient has no part along: the step must still use it.
    hess = np.diag([-1.0, 2.0, 3.0])
    grad = np.array([0.0, 0.1, 0.1])
    step = base._trust_region_step(grad, hess, 1.0)
    assert step is not None
    assert np.linalg.norm(step) == pytest.approx(1.0, rel=1e-9)
    assert _model_value(grad, hess, step) <= _best_on_ball(grad, hess, 1.0) + 1e-3


def _ridge_customers() -> tuple[np.ndarray, ...]:
    """Simulated customers whose fit lies along a nearly flat ridge (the Hessian's smallest
    eigenvalue about a millionth of its largest on the way)."""
    rng = np.random.default_rng(3)
    return sample_paretonbd(rng.uniform(20, 60, 3000), 1.0, 30.0, 0.5, 200.0, rng)


@pytest.mark.parametrize("data", ["cdnow", "ridge"])
def test_newton_fit_is_the_l_bfgs_b_optimum(
    data: str, cdnow_summary: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    if data == "cdnow":
        columns = tuple(
            cdnow_summary[c].to_numpy() for c in ("frequency_cal", "recency_cal", "T_cal")
        )
    else:
        columns = _ridge_customers()
    newton = ParetoNBDModel().fit(*columns)
    assert newton._quick == "Newton converged"  # type: ignore[attr-defined]
    monkeypatch.setattr(ParetoNBDModel, "_newton_started", lambda *args: None)
    slow = ParetoNBDModel().fit(*columns)
    assert slow._quick is None  # type: ignore[attr-defined]
    # The ridge's flat direction leaves L-BFGS-B's answer less sharp there.
    rel = 1e-7 if data == "cdnow" else 2e-5
    assert newton.params_.to_numpy() == pytest.approx(slow.params_.to_numpy(), rel=rel)
    assert newton.log_likelihood_ >= slow.log_likelihood_ - 1e-9 * abs(slow.log_likelihood_)
    assert newton.standard_errors_.to_numpy() == pytest.approx(
        slow.standard_errors_.to_numpy(), rel=1e-4
    )


def test_newton_gives_way_to_l_bfgs_b_when_it_runs_out_of_steps(
    cdnow_summary: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    columns = tuple(cdnow_summary[c].to_numpy() for c in ("frequency_cal", "recency_cal", "T_cal"))
    reference = ParetoNBDModel().fit(*columns)
    monkeypatch.setattr(base, "QUICK_START_ITERATIONS", 2)
    stalled = ParetoNBDModel().fit(*columns)
    assert stalled._quick is None  # type: ignore[attr-defined]
    assert stalled.params_.to_numpy() == pytest.approx(reference.params_.to_numpy(), rel=1e-7)


def test_newton_steps_back_from_where_the_likelihood_is_not_representable(
    cdnow_summary: Any,
) -> None:
    # The objective is 1e300 with a zero gradient there: "converged" if such a point were
    # accepted (and the fit then refused), instead of a step back within the region.
    columns = tuple(cdnow_summary[c].to_numpy() for c in ("frequency_cal", "recency_cal", "T_cal"))
    reference = ParetoNBDModel().fit(*columns)
    model = ParetoNBDModel()
    original = model._weighted_sums_and_hessian
    refused = []

    def nowhere_past_s_of_one(params: np.ndarray, *args: Any) -> Any:
        total, grad, hess = original(params, *args)
        if params[2] > 0.9:  # Newton's first step from the start goes to s = 1.12
            refused.append(params[2])
            return np.nan, grad, hess
        return total, grad, hess

    model._weighted_sums_and_hessian = nowhere_past_s_of_one  # type: ignore[method-assign]
    model.fit(*columns)
    assert refused
    assert model._quick == "Newton converged"  # type: ignore[attr-defined]
    assert model.params_.to_numpy() == pytest.approx(reference.params_.to_numpy(), rel=1e-7)


def test_warm_start_continues_by_newton_on_all_the_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    # From the sample's optimum, a few Newton steps on all the rows (each with the
    # Hessian), none without it; the same optimum as the fit without a warm start.
    rng = np.random.default_rng(9)
    columns = sample_paretonbd(np.floor(rng.uniform(20, 300, 6_000)), 0.6, 11.0, 0.7, 13.0, rng)
    cold = ParetoNBDModel().fit(*columns)
    monkeypatch.setattr(base, "WARM_START_ROWS", 100)
    monkeypatch.setattr(base, "WARM_START_CUSTOMERS", 1_000)
    model = ParetoNBDModel()
    full_rows = len(base.compress_rows(columns, None)[1])
    calls: list[tuple[int, bool]] = []
    original = model._sums

    def counted(params: np.ndarray, data: Any, weights: np.ndarray, hessian: bool) -> Any:
        calls.append((len(weights), hessian))
        return original(params, data, weights, hessian=hessian)

    model._sums = counted  # type: ignore[method-assign]
    model.fit(*columns)
    assert model._warm == "warm start converged"  # type: ignore[attr-defined]
    on_all = [hessian for rows, hessian in calls if rows == full_rows]
    assert all(on_all)
    assert 1 <= len(on_all) <= 6
    assert model.params_.to_numpy() == pytest.approx(cold.params_.to_numpy(), rel=1e-6)


def test_when_newton_gives_way_the_fit_is_as_good_as_the_quasi_newton_start() -> None:
    # A review's case (random Pareto/NBD data, seed drawn 119th from 31337): Newton's
    # trust region leapt onto the s-beta ridge past e^13 and gave way; L-BFGS-B from the
    # start then ran to the other bound, ending at log-likelihood -1027.377 where the
    # quasi-Newton start (the route without an analytic Hessian) finds -1027.257.
    rng = np.random.default_rng(2565654413)
    r, alpha, s, beta = (
        float(np.exp(rng.uniform(np.log(low), np.log(high))))
        for low, high in ((0.02, 20), (0.1, 1000), (0.02, 20), (0.1, 5000))
    )
    n = int(rng.choice([30, 100, 300, 1000, 3000]))
    longest = float(rng.choice([10, 40, 80, 300, 2000]))
    T = np.floor(rng.uniform(0.3, 1, n) * longest) + 1
    x, t_x, T = sample_paretonbd(T, r, alpha, s, beta, rng)
    with pytest.warns(DegenerateFitWarning):
        fitted = ParetoNBDModel().fit(x, t_x, T)
    without = ParetoNBDModel()
    without._has_hessian = lambda: False  # type: ignore[method-assign]
    with pytest.warns(DegenerateFitWarning):
        without.fit(x, t_x, T)
    assert fitted.log_likelihood_ >= without.log_likelihood_ - 1e-6 * abs(without.log_likelihood_)
