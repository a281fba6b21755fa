"""The uplift model finds the persuadable, not those who come back anyway; Qini by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from winback.errors import InvalidInput, NotFittedError
from winback.models.uplift import UpliftModel, qini_coefficient, qini_curve

# Reason -> (chance of coming back untouched, chance with the offer).
CHANCES = {"price_rise": (0.05, 0.55), "moved_away": (0.02, 0.02), "anyway": (0.6, 0.62)}


def members(n: int, holdout_share: float, seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    reason = rng.choice(list(CHANCES), n)
    features = pd.DataFrame(
        {"reason": reason, "orders_per_year": rng.gamma(2, 2, n), "noise": rng.random(n)}
    )
    treated = rng.random(n) >= holdout_share
    base = np.array([CHANCES[r][0] for r in reason])
    offered = np.array([CHANCES[r][1] for r in reason])
    came_back = rng.random(n) < np.where(treated, offered, base)
    return features, treated, came_back.astype(int)


@pytest.mark.parametrize("method", ["two_model", "transformed_outcome"])
def test_uplift_finds_who_the_offer_persuades(method: str) -> None:
    features, treated, came_back = members(6_000, 0.3, seed=1)
    model = UpliftModel(method).fit(features, treated, came_back)
    fresh, _, _ = members(900, 0.3, seed=2)
    uplift = model.predict_uplift(fresh)
    by_reason = pd.Series(uplift).groupby(fresh["reason"]).mean()
    assert by_reason["price_rise"] == pytest.approx(0.5, abs=0.1)
    assert abs(by_reason["moved_away"]) < 0.08
    assert abs(by_reason["anyway"]) < 0.1
    # The top third of the ranking is the price-rise leavers, nearly all of them.
    top = model.rank(fresh)[: (fresh["reason"] == "price_rise").sum()]
    assert (fresh["reason"].to_numpy()[top] == "price_rise").mean() > 0.9


def test_ranking_by_value_puts_the_valuable_persuadable_first() -> None:
    features, treated, came_back = members(4_000, 0.3, seed=3)
    model = UpliftModel().fit(features, treated, came_back)
    fresh = pd.DataFrame(
        {"reason": ["price_rise", "price_rise", "anyway"], "orders_per_year": 4.0, "noise": 0.5}
    )
    assert model.rank(fresh, value=np.array([10.0, 1_000.0, 1_000.0]))[0] == 1


def test_uplift_model_refuses_what_it_cannot_learn_from() -> None:
    features, treated, came_back = members(500, 0.03, seed=4)
    with pytest.raises(NotFittedError, match="fit the uplift model"):
        UpliftModel().predict_uplift(features)
    with pytest.raises(InvalidInput, match=r"holdout group has \d+ members"):
        UpliftModel().fit(features, treated, came_back)
    with pytest.raises(InvalidInput, match="uplift method"):
        UpliftModel("magic").fit(features, treated, came_back)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="outcome must be 0/1"):
        UpliftModel().fit(features, treated, came_back * 3)
    with pytest.raises(InvalidInput, match="one row per member"):
        UpliftModel().fit(features, treated[:10], came_back)


def test_a_reason_never_seen_in_training_is_treated_as_missing() -> None:
    features, treated, came_back = members(2_000, 0.3, seed=5)
    model = UpliftModel().fit(features, treated, came_back)
    fresh = pd.DataFrame({"reason": ["outage"], "orders_per_year": [2.0], "noise": [0.1]})
    assert np.isfinite(model.predict_uplift(fresh)).all()
    with pytest.raises(InvalidInput, match="lack the columns"):
        model.predict_uplift(fresh.drop(columns="noise"))


def test_qini_curve_by_hand() -> None:
    score = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    treated = np.array([True, False, True, False, True, False])
    outcome = np.array([1, 0, 1, 1, 0, 0])
    # k=1: 1 - 0; k=2: 1 - 0*1/1; k=3: 2 - 0; k=4: 2 - 1*2/2; k=5: 2 - 1*3/2; k=6: 2 - 1*3/3
    assert qini_curve(score, treated, outcome).tolist() == [0, 1, 1, 2, 1, 0.5, 1]


def test_qini_rewards_the_ranking_that_puts_the_persuadable_first() -> None:
    features, treated, came_back = members(20_000, 0.5, seed=6)
    persuadable = (features["reason"] == "price_rise").to_numpy().astype(float)
    best = qini_coefficient(persuadable, treated, came_back)
    worst = qini_coefficient(-persuadable, treated, came_back)
    noise = qini_coefficient(np.random.default_rng(7).random(20_000), treated, came_back)
    assert worst < noise < best
    assert abs(noise) < 0.01
