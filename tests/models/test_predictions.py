"""Fast predictions and fits: equal to the slow ways they replace, within stated tolerances."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tests.models.conftest import central_differences

from winback.models import base
from winback.models._special import COMPILED_MAX_Z, hyp2f1_series, hyp2f1_small_z
from winback.models.bgnbd import BetaGeoModel, sample_bgnbd
from winback.models.gamma_gamma import GammaGammaModel, sample_gamma_gamma
from winback.models.mbgnbd import ModifiedBetaGeoModel
from winback.models.paretonbd import ParetoNBDModel
from winback.models.transaction import RepeatPurchaseModel
from winback.models.value import customer_lifetime_value


def test_compiled_hyp2f1_matches_the_series() -> None:
    # The BG/NBD family's 2F1(a+b−1−r, a−1; a+b+x−1; z) (MBG/NBD: +1 on the first and
    # third), over parameters far wider than fits produce and all z below 1.
    rng = np.random.default_rng(7)
    n = 50_000
    a = np.exp(rng.uniform(np.log(0.05), np.log(50), n))
    b = np.exp(rng.uniform(np.log(0.05), np.log(200), n))
    r = np.exp(rng.uniform(np.log(0.02), np.log(20), n))
    x = np.floor(np.exp(rng.uniform(0, np.log(2000), n))) - 1
    z = rng.uniform(0, 0.999, n)
    for shift in (0.0, 1.0):
        fast = hyp2f1_small_z(a + b - 1 - r + shift, a - 1, a + b + x - 1 + shift, z)
        slow = hyp2f1_series(a + b - 1 - r + shift, a - 1, a + b + x - 1 + shift, z)
        assert np.all(np.isfinite(fast))
        compiled = z < COMPILED_MAX_Z
        assert compiled.sum() > n // 2
        assert fast[compiled] == pytest.approx(slow[compiled], rel=1e-8)
        assert np.array_equal(fast[~compiled], slow[~compiled])


@pytest.fixture(scope="module")
def customers() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    T = np.floor(rng.uniform(1, 80, 3_000))
    x, t_x, T = sample_bgnbd(T, 0.4, 6.0, 0.8, 2.5, rng)
    return x, np.where(x > 0, np.ceil(t_x), 0.0), T


@pytest.mark.parametrize("model_class", [BetaGeoModel, ModifiedBetaGeoModel, ParetoNBDModel])
def test_horizons_at_once_equal_one_horizon_at_a_time(
    model_class: type[RepeatPurchaseModel],
    customers: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    x, t_x, T = customers
    model = model_class().fit(x, t_x, T)
    horizons = np.array([0.0, 1.0, 4.3, 13.0, 52.0, 156.4])
    predictions = model.predict_horizons(horizons, x, t_x, T)
    p_alive, together = predictions.p_alive, predictions.all_expected()
    assert together.shape == (len(horizons), len(x))
    assert p_alive == pytest.approx(model.conditional_probability_alive(x, t_x, T), rel=1e-12)
    for row, t in zip(together, horizons, strict=True):
        looped = model.conditional_expected_purchases(t, x, t_x, T)
        assert row == pytest.approx(looped, rel=1e-12, abs=1e-15)
    assert np.all(np.diff(together, axis=0) >= -1e-12)  # more time, more purchases


@pytest.mark.parametrize("model_class", [BetaGeoModel, ParetoNBDModel])
def test_value_over_the_horizon_equals_the_month_by_month_loop(
    model_class: type[RepeatPurchaseModel],
    customers: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    x, t_x, T = customers
    model = model_class().fit(x, t_x, T)
    spend = np.linspace(5.0, 50.0, len(x))
    fast = customer_lifetime_value(model, x, t_x, T, spend, 36 * 4.35, 0.01, period=4.35)
    # The loop it replaces: one call per month over every customer.
    looped = np.zeros(len(x))
    previous = np.zeros(len(x))
    for k in range(1, 37):
        cumulative = model.conditional_expected_purchases(min(k * 4.35, 36 * 4.35), x, t_x, T)
        looped += (cumulative - previous) / 1.01**k
        previous = cumulative
    assert fast == pytest.approx(looped * spend, rel=1e-10)


def test_gamma_gamma_gradient_matches_central_differences() -> None:
    rng = np.random.default_rng(4)
    x = rng.integers(1, 30, 400).astype(float)
    m = sample_gamma_gamma(x, 6.0, 4.0, 15.0, rng)
    model = GammaGammaModel()
    params = np.array([5.0, 3.0, 20.0])
    rows = model._gradient_rows(params, (x, m))
    numeric = central_differences(model, params, (x, m))
    assert rows.sum(axis=0) == pytest.approx(numeric, rel=1e-6)


@pytest.mark.parametrize("model_class", [BetaGeoModel, ParetoNBDModel, GammaGammaModel])
def test_warm_started_fit_reaches_the_same_optimum(
    model_class: type[base.MaximumLikelihoodModel], monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(9)
    T = np.floor(rng.uniform(1, 300, 20_000))
    x, t_x, T = sample_bgnbd(T, 0.4, 6.0, 0.8, 2.5, rng)
    t_x = np.where(x > 0, np.ceil(t_x * 10) / 10, 0.0)
    if model_class is GammaGammaModel:
        repeat = x > 0
        columns: tuple[np.ndarray, ...] = (x[repeat], sample_gamma_gamma(x[repeat], 6, 4, 15, rng))
    else:
        columns = (x, t_x, T)
    cold = model_class().fit(*columns)
    assert getattr(cold, "_warm", None) is None
    monkeypatch.setattr(base, "WARM_START_ROWS", 100)
    monkeypatch.setattr(base, "WARM_START_CUSTOMERS", 2_000)
    warm = model_class().fit(*columns)
    assert warm._warm == "warm start converged"  # type: ignore[attr-defined]
    assert warm.params_.to_numpy() == pytest.approx(cold.params_.to_numpy(), rel=1e-6)
    assert warm.log_likelihood_ == pytest.approx(cold.log_likelihood_, rel=1e-12)
    errors = pd.concat([warm.standard_errors_, cold.standard_errors_], axis=1).to_numpy()
    assert errors[:, 0] == pytest.approx(errors[:, 1], rel=1e-3)
