"""What the repeat-purchase models (BG/NBD, MBG/NBD, Pareto/NBD) have in common.

All three describe a customer by (x, t_x, T): repeat purchases, time of the last one and
time observed, both since the first purchase. They share the Poisson purchase process with
a gamma(r, α) purchase rate, so the timing of the next purchase is computed once, here.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import pandas as pd

from winback.errors import ModelError
from winback.models.base import FloatArray, MaximumLikelihoodModel, as_float_array, factorize

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
        if_alive = self._expected_if_alive(self._horizon(t), x, t_x, big_t)
        return np.asarray(if_alive * self.conditional_probability_alive(x, t_x, big_t))

    def _expected_if_alive(
        self, t: FloatArray, x: FloatArray, t_x: FloatArray, T: FloatArray
    ) -> FloatArray:
        """E[Y(t) | x, t_x, T, alive at T]; ``t`` broadcasts against the customer arrays
        (a column of horizons gives one row per horizon)."""
        raise NotImplementedError

    def predict_horizons(
        self, horizons: Any, frequency: Any, recency: Any, T: Any
    ) -> tuple[FloatArray, FloatArray]:
        """P(alive) per customer and E[Y(t) | x, t_x, T] for every horizon t at once.

        Evaluated once per distinct (x, t_x, T) row, with P(alive) computed once for all
        the horizons, then gathered back to the customers.

        Returns
        -------
        (numpy.ndarray, numpy.ndarray)
            P(alive), one per customer; expected purchases, one row per horizon and one
            column per customer.
        """
        x, t_x, big_t = customer_arrays(frequency, recency, T)
        steps = self._horizon(horizons).reshape(-1, 1)
        (ux, ut_x, u_t), at = factorize(x, t_x, big_t)
        p_alive = self.conditional_probability_alive(ux, ut_x, u_t)
        expected = np.empty((len(steps), len(ux)))
        # Blocks of rows bound the memory of the horizons × rows intermediates.
        block = max(1, PREDICTION_CELLS // max(len(steps), 1))
        for lo in range(0, len(ux), block):
            rows = slice(lo, lo + block)
            if_alive = self._expected_if_alive(steps, ux[rows], ut_x[rows], u_t[rows])
            expected[:, rows] = if_alive * p_alive[rows]
        return p_alive[at], expected[:, at]

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
