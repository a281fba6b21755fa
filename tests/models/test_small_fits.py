"""Fits on few distinct rows: the quasi-Newton start reaches L-BFGS-B's optimum in fewer
evaluations, and the standard errors built when first read are the Hessian's."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest

from winback.errors import DegenerateFitWarning
from winback.models import base
from winback.models.bgnbd import BetaGeoModel, sample_bgnbd
from winback.models.mbgnbd import ModifiedBetaGeoModel
from winback.models.paretonbd import ParetoNBDModel
from winback.models.transaction import customer_arrays

MODELS = [BetaGeoModel, ParetoNBDModel, ModifiedBetaGeoModel]


def _columns(summary: pd.DataFrame) -> tuple[np.ndarray, ...]:
    return tuple(summary[c].to_numpy() for c in ("frequency_cal", "recency_cal", "T_cal"))


def _counted_fit(model: Any, columns: tuple[np.ndarray, ...]) -> int:
    """Fit ``model`` and return how many times it evaluated the likelihood's sums (with
    or without the Hessian)."""
    calls = 0

    def counting(original: Any) -> Any:
        def counted(*args: Any) -> Any:
            nonlocal calls
            calls += 1
            return original(*args)

        return counted

    model._weighted_sums = counting(model._weighted_sums)
    model._weighted_sums_and_hessian = counting(model._weighted_sums_and_hessian)
    model.fit(*columns)
    return calls


@pytest.mark.parametrize("model_class", MODELS)
def test_quick_start_reaches_the_l_bfgs_b_optimum_in_fewer_evaluations(
    model_class: type[base.MaximumLikelihoodModel],
    cdnow_summary: pd.DataFrame,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    columns = _columns(cdnow_summary)
    quick = model_class()
    quick_calls = _counted_fit(quick, columns)
    # Newton with the analytic Hessian where the model has one (Pareto/NBD).
    expected = "Newton converged" if quick._has_hessian() else "quasi-Newton converged"
    assert quick._quick == expected  # type: ignore[attr-defined]
    monkeypatch.setattr(model_class, "_newton_started", lambda *args: None)
    slow = model_class()
    slow_calls = _counted_fit(slow, columns)
    assert slow._quick is None  # type: ignore[attr-defined]
    assert quick.params_.to_numpy() == pytest.approx(slow.params_.to_numpy(), rel=1e-7)
    assert quick.log_likelihood_ == pytest.approx(slow.log_likelihood_, rel=1e-13)
    assert quick.standard_errors_.to_numpy() == pytest.approx(
        slow.standard_errors_.to_numpy(), rel=1e-5
    )
    # L-BFGS-B: 24 (BG/NBD), 27 (Pareto/NBD) evaluations on CDNOW; the quick start about 20,
    # its Hessians (8 evaluations) included; Newton with the Pareto/NBD's Hessian, 6.
    assert quick_calls < slow_calls


def test_the_quick_start_gives_way_to_l_bfgs_b_when_it_stalls(
    cdnow_summary: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = BetaGeoModel().fit(*_columns(cdnow_summary))
    monkeypatch.setattr(base, "QUICK_START_ITERATIONS", 2)
    stalled = BetaGeoModel().fit(*_columns(cdnow_summary))
    assert stalled._quick is None  # type: ignore[attr-defined]
    assert stalled.params_.to_numpy() == pytest.approx(reference.params_.to_numpy(), rel=1e-7)


def test_quasi_newton_steps_stay_within_the_bounds(cdnow_summary: pd.DataFrame) -> None:
    # A Hessian far too flat makes the first step huge (log-parameters of order 1e5); it
    # is cut at e^±LOG_BOUND, where the likelihood is still computable, and backtracked.
    model = ParetoNBDModel()
    columns, weights = base.compress_rows(customer_arrays(*_columns(cdnow_summary)), None)
    data = model._prepare(columns)
    visited: list[float] = []
    evaluate = model._objective_and_gradient

    def recorded(log_params: np.ndarray, *args: Any) -> Any:
        visited.append(float(np.max(np.abs(log_params))))
        return evaluate(log_params, *args)

    model._objective_and_gradient = recorded  # type: ignore[method-assign]
    start = np.log(model._initial(data, weights))
    result = model._quasi_newton(start, np.eye(4) * 1e-6, data, weights, 100, "done")
    assert max(visited) == base.LOG_BOUND
    if result is not None:
        reference = ParetoNBDModel().fit(*_columns(cdnow_summary))
        assert np.exp(result.x) == pytest.approx(reference.params_.to_numpy(), rel=1e-6)


@pytest.mark.parametrize("model_class", MODELS)
def test_standard_errors_built_when_read_are_the_hessians(
    model_class: type[base.MaximumLikelihoodModel], cdnow_summary: pd.DataFrame
) -> None:
    model = model_class()
    with pytest.raises(AttributeError):
        _ = model.standard_errors_
    with pytest.raises(AttributeError):
        _ = model.summary_
    model.fit(*_columns(cdnow_summary))
    # Nothing built by the fit itself ...
    assert model._reported == {}  # type: ignore[attr-defined]
    # ... and on reading, the delta method on a Hessian computed afresh here (central
    # differences of the analytic gradient at the optimum, even for a model with an
    # analytic Hessian).
    columns, weights = base.compress_rows(customer_arrays(*_columns(cdnow_summary)), None)
    data = model._prepare(columns)
    log_params = np.log(model.params_.to_numpy())
    model._remembered.clear()  # type: ignore[attr-defined]
    hess = model._numeric_hessian(log_params, data, weights, exact=False) * weights.sum()
    theta = np.exp(log_params)
    expected = np.sqrt(np.diag(np.linalg.inv(hess))) * theta
    se = model.standard_errors_
    assert list(se.index) == list(model.param_names)
    assert se.to_numpy() == pytest.approx(expected, rel=1e-4)
    assert model.standard_errors_ is se  # built once
    summary = model.summary_
    assert summary["se(coef)"].to_numpy() == pytest.approx(se.to_numpy(), rel=1e-15)
    assert summary["coef"].to_numpy() == pytest.approx(theta, rel=1e-15)
    assert summary["lower 95% bound"].to_numpy() == pytest.approx(theta - 1.959964 * se, rel=1e-6)
    assert model.summary_ is summary


PARETO_PARAMS = [
    (0.553, 10.578, 0.606, 11.669),
    (1.51, 13.78, 177.0, 46541.0),
    (0.5, 50.0, 0.2, 0.5),
]


@pytest.mark.parametrize("params", PARETO_PARAMS)
def test_pareto_weighted_sums_equal_the_sums_of_its_rows(
    params: tuple[float, float, float, float],
) -> None:
    # Customers of every kind, one in ten without a death integral (bought at the very end).
    rng = np.random.default_rng(5)
    n = 400
    T = rng.uniform(1, 500, n)
    x = rng.choice([0.0, 1.0, 4.0, 60.0, 5_000.0], n)
    t_x = np.where((x > 0) & (np.arange(n) % 10 > 0), rng.uniform(0, 1, n) * T, 0.0)
    t_x = np.where((x > 0) & (np.arange(n) % 10 == 0), T, t_x)
    weights = rng.integers(1, 50, n).astype(float)
    model = ParetoNBDModel()
    data = model._prepare((x, t_x, T))
    theta = np.array(params)
    total, gradient = model._weighted_sums(theta, data, weights)
    ll, rows = model._value_and_gradient_rows(theta, data)
    assert rows is not None
    assert gradient is not None
    assert total == pytest.approx(float(weights @ ll), rel=1e-13)
    assert gradient == pytest.approx(weights @ rows, rel=1e-10, abs=1e-9)


def test_a_quick_start_leaping_past_the_bound_leaves_an_interior_fit_to_l_bfgs_b() -> None:
    """``stop_on_runaway`` is for fits running off to the bounds. On 40 simulated BG/NBD
    customers a quasi-Newton step from the rough start Hessian leaps past e^RUNAWAY over
    an interior optimum: stopped there, the holdout's fit was called degenerate (log a, b
    of about -3.9 and -15.7, against 1.1 and 1.0) and its model thrown away."""
    rng = np.random.default_rng(5)
    columns = sample_bgnbd(rng.uniform(5, 80, 40), 7.0, 0.9, 16.7, 16.5, rng)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateFitWarning)
        plain = BetaGeoModel().fit(*columns)
        stopped = BetaGeoModel(stop_on_runaway=True).fit(*columns)
    assert stopped._quick is None  # type: ignore[attr-defined]  # it gave way to L-BFGS-B
    assert np.array_equal(stopped.params_.to_numpy(), plain.params_.to_numpy())
