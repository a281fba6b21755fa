"""Customer lifetime value: expected purchases from a repeat-purchase model times expected
spend per purchase, discounted period by period over a finite horizon."""

from __future__ import annotations

from typing import Any

import numpy as np

from winback.errors import ModelError
from winback.models.base import FloatArray, factorize
from winback.models.transaction import RepeatPurchaseModel, customer_arrays


def customer_lifetime_value(
    model: RepeatPurchaseModel,
    frequency: Any,
    recency: Any,
    T: Any,
    spend_per_purchase: Any,
    horizon: float,
    discount_rate: float,
    period: float = 1.0,
) -> FloatArray:
    """Discounted expected value of each customer's purchases in (T, T + horizon].

    Parameters
    ----------
    model : RepeatPurchaseModel
        A fitted BG/NBD, MBG/NBD or Pareto/NBD model.
    frequency, recency, T : array-like
        The customers' summaries, in the model's time unit.
    spend_per_purchase : array-like or float
        Expected value of each future purchase, e.g. from
        ``GammaGammaModel.conditional_expected_average_value``.
    horizon : float
        How far ahead to look, in the model's time unit.
    discount_rate : float
        Discount rate per ``period`` (0.01 per week is about 68 % a year).
    period : float, default 1
        Length of a discounting period; purchases in the k-th period are discounted by
        (1 + discount_rate)^k.

    Returns
    -------
    numpy.ndarray
        One value per customer.
    """
    if horizon <= 0 or period <= 0 or discount_rate < 0:
        raise ModelError("horizon and period must be > 0 and discount_rate >= 0")
    x, t_x, big_t = customer_arrays(frequency, recency, T)
    spend = np.broadcast_to(np.asarray(spend_per_purchase, dtype=np.float64), x.shape)
    # Expected purchases depend on (x, t_x, T) only: once per distinct row, then gathered.
    (ux, ut_x, u_t), at = factorize(x, t_x, big_t)
    steps = int(np.ceil(horizon / period - 1e-9))
    value = np.zeros(ux.shape)
    previous = np.zeros(ux.shape)
    for k in range(1, steps + 1):
        cumulative = model.conditional_expected_purchases(min(k * period, horizon), ux, ut_x, u_t)
        value += (cumulative - previous) / (1.0 + discount_rate) ** k
        previous = cumulative
    return np.asarray(value[at] * spend, dtype=np.float64)
