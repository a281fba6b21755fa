"""What the repeat-purchase models (BG/NBD, MBG/NBD, Pareto/NBD) have in common.

All three describe a customer by (x, t_x, T): repeat purchases, time of the last one and
time observed, both since the first purchase. They share the Poisson purchase process with
a gamma(r, α) purchase rate, so the timing of the next purchase is computed once, here.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Self

import numpy as np
import pandas as pd

from winback.errors import ModelError
from winback.models.base import (
    FloatArray,
    IndexArray,
    MaximumLikelihoodModel,
    as_float_array,
    factorize,
)

# Horizons × distinct rows evaluated at once by ``predict_horizons``.
PREDICTION_CELLS = 2_000_000


def customer_arrays(frequency: Any, recency: Any, T: Any) -> tuple[FloatArray, ...]:
    """Validate (x, t_x, T) and return them as float arrays of one length."""
    x = as_float_array(frequency, "frequency")
    t_x = as_float_array(recency, "recency")
    t = as_float_array(T, "T")
    x, t_x, t = np.broadcast_arrays(x, t_x, t)
    if np.any(x < 0) or np.any(x != np.round(x)):
        raise ModelError("frequency must be whole numbers >= 0")
    if np.any(t_x < 0) or np.any(t_x > t * (1 + 1e-12)):
        raise ModelError("recency must satisfy 0 <= recency <= T")
    if np.any((x == 0) & (t_x != 0)):
        raise ModelError("recency must be 0 for customers with frequency 0")
    return np.ascontiguousarray(x), np.ascontiguousarray(t_x), np.ascontiguousarray(t)


class HorizonPredictions(NamedTuple):
    """What ``RepeatPurchaseModel.predict_horizons`` computed.

    ``p_alive``: one per customer. ``if_alive``: E[Y(t) | x, T, alive], one row per
    horizon, one column per distinct (x, T) pair; ``at``: each customer's pair.
    """

    p_alive: FloatArray
    if_alive: FloatArray
    at: IndexArray

    def expected(self, horizon: int) -> FloatArray:
        """E[Y(t) | x, t_x, T] per customer for the ``horizon``-th horizon given."""
        return np.asarray(self.if_alive[horizon][self.at] * self.p_alive, dtype=np.float64)

    def all_expected(self) -> FloatArray:
        """E[Y(t) | x, t_x, T], one row per horizon, one column per customer."""
        return np.asarray(self.if_alive[:, self.at] * self.p_alive, dtype=np.float64)

    def discounted_value(self, discount_rate: float, horizons: slice = slice(None)) -> FloatArray:
        """Σ_k (E[Y(t_k)] − E[Y(t_k−1)]) / (1 + d)^k per customer, over the ``horizons``
        (period ends t_1 < t_2 < ..., as given) — purchases, to be multiplied by spend."""
        per_pair = discounted(self.if_alive[horizons], discount_rate)
        return np.asarray(per_pair[self.at] * self.p_alive, dtype=np.float64)


def discounted(cumulative: FloatArray, discount_rate: float) -> FloatArray:
    """Σ_k (c_k − c_(k−1)) / (1 + d)^k over the rows c_1, c_2, ... of ``cumulative``
    (cumulative expectations at the end of periods 1, 2, ...; c_0 = 0), per column."""
    increments = np.diff(cumulative, axis=0, prepend=0.0)
    factors = (1.0 + discount_rate) ** -np.arange(1, len(cumulative) + 1, dtype=np.float64)
    return np.asarray(factors @ increments, dtype=np.float64)


class RepeatPurchaseModel(MaximumLikelihoodModel):
    """Base of the models of a customer's repeat purchases and silent drop-out."""

    def fit(
        self,
        frequency: Any,
        recency: Any,
        T: Any,
        weights: Any = None,
        initial_params: Any = None,
    ) -> Self:
        """Fit by maximum likelihood.

        Parameters
        ----------
        frequency, recency, T : array-like
            Repeat purchases x, time of the last purchase t_x and time observed T, per
            customer, in one time unit (see ``winback.models.data``).
        weights : array-like, optional
            How many customers each row stands for. Identical rows are merged anyway.
        initial_params : array-like, optional
            Starting values, in the order of ``param_names``.

        Returns
        -------
        self
        """
        data = customer_arrays(frequency, recency, T)
        self._fit_data(data, weights, initial_params)
        return self

    @staticmethod
    def _observed_rate_and_time(data: tuple[Any, ...], weights: FloatArray) -> tuple[float, float]:
        """Repeat purchases per unit of time observed, and the mean time observed (both
        kept away from 0), for starting values."""
        x, _t_x, T = data[:3]
        rate = float(weights @ x) / max(float(weights @ T), 1e-300)
        mean_t = float(weights @ T) / float(weights.sum())
        return max(rate, 1e-300), mean_t

    @staticmethod
    def _clipped_start(values: list[float]) -> FloatArray:
        """Starting values within [e^-10, e^10]."""
        return np.asarray(np.clip(values, np.exp(-10.0), np.exp(10.0)), dtype=np.float64)

    def conditional_probability_alive(self, frequency: Any, recency: Any, T: Any) -> FloatArray:
        """P(customer is still active at T | x, t_x, T)."""
        raise NotImplementedError

    def expected_purchases(self, t: Any) -> FloatArray:
        """E[X(t)]: expected repeat purchases in (0, t] for a new customer."""
        raise NotImplementedError

    def conditional_expected_purchases(
        self, t: Any, frequency: Any, recency: Any, T: Any
    ) -> FloatArray:
        """E[Y(t) | x, t_x, T]: expected purchases in (T, T + t] for each customer.

        ``t`` is one horizon, or one per customer.
        """
        x, t_x, big_t = customer_arrays(frequency, recency, T)
        if_alive = self._expected_if_alive(self._horizon(t), x, big_t)
        return np.asarray(if_alive * self.conditional_probability_alive(x, t_x, big_t))

    def _expected_if_alive(self, t: FloatArray, x: FloatArray, T: FloatArray) -> FloatArray:
        """E[Y(t) | x, T, alive at T] (the same whatever t_x); ``t`` broadcasts against
        the customer arrays (a column of horizons gives one row per horizon)."""
        raise NotImplementedError

    def predict_horizons(
        self, horizons: Any, frequency: Any, recency: Any, T: Any
    ) -> HorizonPredictions:
        """P(alive) and E[Y(t) | x, t_x, T] for every horizon t at once.

        P(alive) is computed once per distinct (x, t_x, T) row; the expectation if alive,
        which does not depend on t_x, once per distinct (x, T) pair and horizon, in one
        vectorised call. Nothing is gathered per customer until asked for (see
        ``HorizonPredictions``).
        """
        x, t_x, big_t = customer_arrays(frequency, recency, T)
        steps = self._horizon(horizons).reshape(-1, 1)
        (ux, ut_x, u_t), at_row = factorize(x, t_x, big_t)
        p_alive = self.conditional_probability_alive(ux, ut_x, u_t)[at_row]
        (px, p_t), at_pair = factorize(x, big_t)
        if_alive = np.empty((len(steps), len(px)))
        # Blocks of pairs bound the memory of the horizons × pairs intermediates.
        block = max(1, PREDICTION_CELLS // max(len(steps), 1))
        for lo in range(0, len(px), block):
            pairs = slice(lo, lo + block)
            if_alive[:, pairs] = self._expected_if_alive(steps, px[pairs], p_t[pairs])
        return HorizonPredictions(p_alive, if_alive, at_pair)

    def probability_of_purchases(self, t: Any, n: Any) -> FloatArray:
        """P(X(t) = n) for a new customer."""
        raise NotImplementedError

    def next_purchase(
        self, frequency: Any, recency: Any, T: Any, probability_alive: Any = None
    ) -> pd.DataFrame:
        """When each customer's next purchase is due, if still active, and how late it is.

        The expected gap between purchases is ``1 / E[λ | x, T]`` = (α + T) / (r + x),
        the inverse of the posterior mean purchase rate of an active customer. The next
        purchase is due one gap after the last one (or after the first purchase for
        customers without repeats).

        Returns
        -------
        pandas.DataFrame
            ``expected_gap``, ``due`` (time since first purchase), ``overdue`` (T − due;
            positive means late) and ``overdue_ratio`` (time since the last purchase in
            expected gaps), plus ``probability_alive`` (computed unless given, one per
            customer, as from ``predict_horizons``).
        """
        x, t_x, t = customer_arrays(frequency, recency, T)
        params = self._named()
        gap = (params["alpha"] + t) / (params["r"] + x)
        due = t_x + gap
        return pd.DataFrame(
            {
                "expected_gap": gap,
                "due": due,
                "overdue": t - due,
                "overdue_ratio": (t - t_x) / gap,
                "probability_alive": (
                    self.conditional_probability_alive(x, t_x, t)
                    if probability_alive is None
                    else as_float_array(probability_alive, "probability_alive")
                ),
            }
        )

    def _horizon(self, t: Any) -> FloatArray:
        horizon = np.asarray(t, dtype=np.float64)
        if np.any(horizon < 0) or not np.all(np.isfinite(horizon)):
            raise ModelError("the horizon t must be finite and >= 0")
        return horizon
