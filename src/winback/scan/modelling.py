"""The customer-base models inside a scan: P(alive), expected purchases, predicted value.

From each customer's purchase history (in weeks, as in the papers): x repeat purchases,
recency t_x (first to last purchase) and age T (first purchase to the scan's date), the
scan fits the policy's repeat-purchase model (MBG/NBD by default; BG/NBD and Pareto/NBD
too) and a Gamma-Gamma spend model on the repeat buyers, then predicts for every customer.
A fit that fails or runs off along a flat ridge is reported in the run, and the scan goes
on without the model signals rather than rank customers on nonsense.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from winback.errors import DegenerateFitWarning, ModelError
from winback.models import (
    BetaGeoModel,
    GammaGammaModel,
    ModifiedBetaGeoModel,
    ParetoNBDModel,
    customer_lifetime_value,
)
from winback.policy import Policy

REPEAT_MODELS = {
    "pareto_nbd": ParetoNBDModel,
    "bg_nbd": BetaGeoModel,
    "mbg_nbd": ModifiedBetaGeoModel,
}
WEEKS_PER_MONTH = 52.1775 / 12


@dataclass
class ModelReport:
    """What the scan's model fits came to, for run.json."""

    repeat_model: str
    fitted: bool = False
    customers: int = 0
    params: dict[str, float] = field(default_factory=dict)
    log_likelihood: float | None = None
    spend_params: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def summaries(features: pd.DataFrame, as_of: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, t_x, T) in weeks from a feature frame."""
    first = pd.to_datetime(features["first_order_date"])
    last = pd.to_datetime(features["last_order_date"])
    x = (features["purchases"].to_numpy(dtype=np.float64) - 1.0).clip(min=0.0)
    t_x = ((last - first).dt.days.to_numpy(dtype=np.float64)) / 7.0
    big_t = ((pd.Timestamp(as_of) - first).dt.days.to_numpy(dtype=np.float64)) / 7.0
    return x, t_x, np.maximum(big_t, t_x)


def predict(features: pd.DataFrame, as_of: Any, policy: Policy) -> tuple[pd.DataFrame, ModelReport]:
    """``p_alive``, ``expected_purchases``, ``predicted_value``, and when the next purchase
    is due (``due_days`` after the first, ``overdue_ratio`` in expected gaps since the
    last) per customer (NaN when the models could not be fitted), and the report."""
    name = policy.models.repeat_model
    report = ModelReport(repeat_model=name)
    out = pd.DataFrame(
        np.nan,
        index=features.index,
        columns=["p_alive", "expected_purchases", "predicted_value", "overdue_ratio", "due_days"],
    )
    x, t_x, big_t = summaries(features, as_of)
    report.customers = len(x)
    if len(x) < policy.models.min_customers or np.count_nonzero(x) < 10:
        report.problems.append(
            f"{len(x)} customers, {np.count_nonzero(x)} with repeat purchases: too few to fit "
            f"(the policy asks for {policy.models.min_customers})"
        )
        return out, report
    model = REPEAT_MODELS[name](penalizer=policy.models.penalizer)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DegenerateFitWarning)
            model.fit(x, t_x, big_t)
    except ModelError as exc:
        report.problems.append(f"{name} fit failed: {exc}")
        return out, report
    degenerate = [str(w.message) for w in caught if issubclass(w.category, DegenerateFitWarning)]
    if degenerate:
        report.problems.extend(degenerate)
        return out, report
    report.fitted = True
    report.params = {str(k): float(v) for k, v in model.params_.items()}
    report.log_likelihood = float(model.log_likelihood_)
    window = policy.lapse.expected_purchases_days / 7.0
    out["p_alive"] = model.conditional_probability_alive(x, t_x, big_t)
    out["expected_purchases"] = model.conditional_expected_purchases(window, x, t_x, big_t)
    out["predicted_value"] = _value(features, model, x, t_x, big_t, policy, report)
    due = model.next_purchase(x, t_x, big_t)
    out["overdue_ratio"] = due["overdue_ratio"].to_numpy()
    out["due_days"] = due["due"].to_numpy() * 7.0  # days after the first purchase
    return out, report


def _value(
    features: pd.DataFrame,
    model: Any,
    x: np.ndarray,
    t_x: np.ndarray,
    big_t: np.ndarray,
    policy: Policy,
    report: ModelReport,
) -> np.ndarray:
    """Margin the customer is expected to bring over the horizon, as things stand."""
    revenue = features["revenue"].to_numpy(dtype=np.float64)
    first_day = features["first_day_revenue"].to_numpy(dtype=np.float64)
    repeat_mean = np.divide(revenue - first_day, x, out=np.zeros_like(x), where=x > 0)
    repeaters = (x > 0) & (repeat_mean > 0)
    spend = np.where(x > 0, repeat_mean, revenue)  # a one-time buyer: the one value we know
    if repeaters.sum() >= 10:
        gamma_gamma = GammaGammaModel(penalizer=policy.models.penalizer)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DegenerateFitWarning)
                gamma_gamma.fit(x[repeaters], repeat_mean[repeaters])
            spend = gamma_gamma.conditional_expected_average_value(
                x, np.where(repeaters, repeat_mean, 0.0)
            )
            report.spend_params = {str(k): float(v) for k, v in gamma_gamma.params_.items()}
        except ModelError as exc:
            report.problems.append(f"gamma-gamma fit failed, mean spend used: {exc}")
    w = policy.worth
    margin_rate = np.divide(
        features["margin_past_years"].to_numpy(dtype=np.float64),
        features["revenue"].to_numpy(dtype=np.float64),
        out=np.full(len(x), w.default_margin_rate),
        where=features["revenue"].to_numpy(dtype=np.float64) > 0,
    ).clip(0.0, 1.0)
    monthly_rate = (1.0 + w.yearly_discount_rate) ** (1.0 / 12.0) - 1.0
    revenue_value = customer_lifetime_value(
        model,
        x,
        t_x,
        big_t,
        spend,
        horizon=w.horizon_months * WEEKS_PER_MONTH,
        discount_rate=monthly_rate,
        period=WEEKS_PER_MONTH,
    )
    return np.asarray(revenue_value * margin_rate, dtype=np.float64)
