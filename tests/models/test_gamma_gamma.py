"""Gamma-gamma spend model and customer lifetime value."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from winback.errors import ModelError, NotFittedError
from winback.models.bgnbd import BetaGeoModel
from winback.models.gamma_gamma import GammaGammaModel, sample_gamma_gamma
from winback.models.value import customer_lifetime_value


@pytest.fixture(scope="module")
def cdnow_spend(cdnow_summary: pd.DataFrame) -> GammaGammaModel:
    s = cdnow_summary
    return GammaGammaModel().fit(s["frequency_cal"], s["monetary_value_cal"])


def test_reproduces_the_published_cdnow_fit(cdnow_spend: GammaGammaModel) -> None:
    # Fader & Hardie, "The gamma-gamma model of monetary value" (2013), and Fader, Hardie &
    # Lee (2005), "RFM and CLV", JMR 42(4): on the 946 CDNOW sample customers with a
    # repeat purchase in the 39-week calibration period, p = 6.25, q = 3.74, γ = 15.44.
    p = cdnow_spend.params_
    assert cdnow_spend.n_observations_ == 946
    assert round(p["p"], 2) == 6.25
    assert round(p["q"], 2) == 3.74
    assert round(p["gamma"], 2) == 15.44


def test_expected_spend_shrinks_towards_the_population_mean(
    cdnow_spend: GammaGammaModel,
) -> None:
    p, q, g = cdnow_spend.params_
    population = p * g / (q - 1)
    assert cdnow_spend.expected_average_value() == pytest.approx(population)
    # No repeat purchases: the population mean, about $35.
    assert cdnow_spend.conditional_expected_average_value(0, 0)[0] == pytest.approx(population)
    assert 34 < population < 36
    few, many = cdnow_spend.conditional_expected_average_value([1, 50], [100.0, 100.0])
    assert population < few < many < 100.0


def test_recovers_parameters_from_simulated_data() -> None:
    rng = np.random.default_rng(2)
    x = rng.integers(1, 10, 10_000).astype(float)
    m = sample_gamma_gamma(x, 6.0, 4.0, 15.0, rng)
    fitted = GammaGammaModel().fit(x, m)
    for name, value in {"p": 6.0, "q": 4.0, "gamma": 15.0}.items():
        assert abs(fitted.params_[name] - value) < 4 * fitted.standard_errors_[name], name


def test_refuses_data_without_repeat_purchases() -> None:
    with pytest.raises(ModelError, match="repeat purchase"):
        GammaGammaModel().fit([0, 0], [0.0, 0.0])
    with pytest.raises(NotFittedError):
        GammaGammaModel().expected_average_value()


def test_clv_of_a_single_period_is_the_discounted_expected_value(
    cdnow_summary: pd.DataFrame, cdnow_spend: GammaGammaModel
) -> None:
    s = cdnow_summary.head(50)
    bg = BetaGeoModel().fit(
        cdnow_summary["frequency_cal"], cdnow_summary["recency_cal"], cdnow_summary["T_cal"]
    )
    spend = cdnow_spend.conditional_expected_average_value(
        s["frequency_cal"], s["monetary_value_cal"]
    )
    args = (s["frequency_cal"], s["recency_cal"], s["T_cal"], spend)
    one = customer_lifetime_value(bg, *args, horizon=52, discount_rate=0.1, period=52)
    purchases = bg.conditional_expected_purchases(52, *args[:3])
    assert np.allclose(one, purchases * spend / 1.1)
    undiscounted = customer_lifetime_value(bg, *args, horizon=52, discount_rate=0.0)
    assert np.allclose(undiscounted, purchases * spend)
    weekly = customer_lifetime_value(bg, *args, horizon=52, discount_rate=0.01)
    assert np.all(weekly < undiscounted)
    assert np.all(weekly > undiscounted / 1.01**52)
