"""The BG/BB model (Fader, Hardie & Shang 2010, "Customer-base analysis in a discrete-time
noncontractual setting", Marketing Science 29(6)).

Time comes in n discrete transaction opportunities (yearly events, say). While active, a
customer transacts at each opportunity with probability p ~ beta(alpha, beta); at the start
of each opportunity an active customer drops out with probability θ ~ beta(gamma, delta).
A customer is (x, t_x, n): transactions, opportunity of the last one, opportunities seen.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
from scipy.special import betaln, gammaln

from winback.errors import ModelError
from winback.models.base import FloatArray, MaximumLikelihoodModel, as_float_array


def _bgbb_arrays(frequency: Any, recency: Any, n: Any) -> tuple[FloatArray, ...]:
    x = as_float_array(frequency, "frequency")
    t_x = as_float_array(recency, "recency")
    m = as_float_array(n, "n")
    x, t_x, m = np.broadcast_arrays(x, t_x, m)
    whole = all(np.all(v == np.round(v)) for v in (x, t_x, m))
    if not whole or np.any(x < 0) or np.any(x > t_x) or np.any(t_x > m):
        raise ModelError("BG/BB needs whole numbers with 0 <= frequency <= recency <= n")
    if np.any((x == 0) & (t_x != 0)) or np.any((x > 0) & (t_x == 0)):
        raise ModelError("recency must be 0 exactly when frequency is 0")
    return np.ascontiguousarray(x), np.ascontiguousarray(t_x), np.ascontiguousarray(m)


class BetaGeoBetaBinomModel(MaximumLikelihoodModel):
    """BG/BB: beta-geometric drop-out, beta-Bernoulli transactions, in discrete time.

    Parameters
    ----------
    penalizer : float, default 0
        L2 penalty on the log-parameters (see ``MaximumLikelihoodModel``).
    """

    param_names = ("alpha", "beta", "gamma", "delta")

    def fit(
        self, frequency: Any, recency: Any, n: Any, weights: Any = None, initial_params: Any = None
    ) -> Self:
        """Fit on (x, t_x, n) per customer (or per distinct row, with ``weights``)."""
        self._fit_data(_bgbb_arrays(frequency, recency, n), weights, initial_params)
        return self

    def _log_pieces(
        self, params: FloatArray, data: tuple[FloatArray, ...]
    ) -> tuple[FloatArray, FloatArray]:
        """(log P(data, alive through n), log P(data)), elementwise."""
        alpha, beta, gamma, delta = params
        x, t_x, n = data
        base_p = betaln(alpha, beta)
        base_t = betaln(gamma, delta)
        alive = betaln(alpha + x, beta + n - x) - base_p + betaln(gamma, delta + n) - base_t
        total = alive.copy()
        # Dropped out at the start of opportunity t_x + i + 1, for i = 0 .. n - t_x - 1.
        gaps = n - t_x
        for i in range(int(gaps.max()) if gaps.size else 0):
            rows = gaps > i
            term = (
                betaln(alpha + x[rows], beta + t_x[rows] - x[rows] + i)
                - base_p
                + betaln(gamma + 1, delta + t_x[rows] + i)
                - base_t
            )
            total[rows] = np.logaddexp(total[rows], term)
        return alive, total

    def _log_likelihood_rows(self, params: FloatArray, data: tuple[FloatArray, ...]) -> FloatArray:
        return self._log_pieces(params, data)[1]

    def _identified(self, params: FloatArray) -> str:
        alpha, beta, gamma, delta = params
        return (
            f"alpha/(alpha+beta) = {alpha / (alpha + beta):.4g} (transaction probability) and "
            f"gamma/(gamma+delta) = {gamma / (gamma + delta):.4g} (drop-out probability)"
        )

    def conditional_probability_alive(
        self, frequency: Any, recency: Any, n: Any, periods_ahead: int = 0
    ) -> FloatArray:
        """P(active at opportunity n + periods_ahead | x, t_x, n)."""
        params = self._require_fitted()
        _alpha, _beta, gamma, delta = params
        data = _bgbb_arrays(frequency, recency, n)
        alive, total = self._log_pieces(params, data)
        # Surviving the extra opportunities: B(γ, δ+n+k)/B(γ, δ+n).
        m = data[2]
        extra = betaln(gamma, delta + m + periods_ahead) - betaln(gamma, delta + m)
        return np.asarray(np.exp(alive - total + extra), dtype=np.float64)

    def conditional_expected_purchases(
        self, periods: Any, frequency: Any, recency: Any, n: Any
    ) -> FloatArray:
        """Expected transactions in opportunities n+1 .. n+periods (FHS 2010, eq. 13)."""
        params = self._require_fitted()
        alpha, beta, gamma, delta = params
        x, _t_x, m = data = _bgbb_arrays(frequency, recency, n)
        k = np.asarray(periods, dtype=np.float64)
        if np.any(k < 0):
            raise ModelError("periods must be >= 0")
        _, total = self._log_pieces(params, data)
        # Σ_{j=1..k} B(γ, δ+n+j)/B(γ, δ) in closed form.
        log_front = (
            betaln(alpha + x + 1, beta + m - x)
            - betaln(alpha, beta)
            + np.log(delta)
            - np.log(np.abs(gamma - 1))
            + gammaln(gamma + delta)
            - gammaln(1 + delta)
        )
        # (now − later) in logs, so that large n or δ cannot overflow.
        log_now = gammaln(1 + delta + m) - gammaln(gamma + delta + m)
        log_later = gammaln(1 + delta + m + k) - gammaln(gamma + delta + m + k)
        shrink = -np.expm1(log_later - log_now)
        return np.asarray(np.exp(log_front - total + log_now) * np.sign(gamma - 1) * shrink)


def sample_bgbb(
    n: Any,
    alpha: float,
    beta: float,
    gamma: float,
    delta: float,
    rng: np.random.Generator,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Simulate (x, t_x, n) for customers with ``n`` opportunities each, from a BG/BB."""
    m = np.asarray(n, dtype=np.int64)
    size = m.size
    p = rng.beta(alpha, beta, size)
    theta = rng.beta(gamma, delta, size)
    # Opportunities survived before dropping out at the start of the next one.
    alive_for = np.minimum(rng.geometric(np.clip(theta, 1e-300, 1.0)) - 1, m)
    x = np.zeros(size)
    t_x = np.zeros(size)
    for j in range(1, int(m.max()) + 1 if size else 1):
        buys = (alive_for >= j) & (rng.random(size) < p)
        x += buys
        t_x = np.where(buys, j, t_x)
    return x, t_x, m.astype(np.float64)
