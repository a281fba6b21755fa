"""The BG/NBD model (Fader, Hardie & Lee 2005, "Counting your customers the easy way").

While active, a customer buys as a Poisson process with rate λ ~ gamma(r, α); after each
repeat purchase they drop out with probability p ~ beta(a, b). Parameters: r, alpha, a, b.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import betainc, betaln, digamma, expit, gammaln

from winback.models._special import hyp2f1_series, hyp2f1_small_z
from winback.models.base import Data, FloatArray, factorize
from winback.models.transaction import RepeatPurchaseModel, customer_arrays


class BetaGeoModel(RepeatPurchaseModel):
    """BG/NBD: Poisson purchases, drop-out after a repeat purchase with probability p.

    Parameters
    ----------
    penalizer : float, default 0
        L2 penalty on the log-parameters (see ``MaximumLikelihoodModel``).

    Attributes
    ----------
    params_, standard_errors_, log_likelihood_, aic_, bic_, summary_
        Set by ``fit``.
    """

    param_names = ("r", "alpha", "a", "b")

    def _prepare(self, data: Data) -> Data:
        x, t_x, T = data[:3]
        (distinct_x,), at_x = factorize(x)
        (distinct_tx,), at_tx = factorize(t_x)
        (distinct_t,), at_t = factorize(T)
        return x, t_x, T, distinct_x, at_x, distinct_tx, at_tx, distinct_t, at_t

    def _initial(self, data: Data, weights: FloatArray) -> FloatArray:
        # A shape of 1/2 and the scale that puts the mean purchase rate at the observed one;
        # a drop-out probability of 1/3 per purchase (a = 1, b = 2). Like the Pareto/NBD's,
        # a start that spares the optimiser evaluations (a fifth of them on CDNOW), not a
        # requirement.
        rate, _mean_t = self._observed_rate_and_time(data, weights)
        return self._clipped_start([0.5, 0.5 / rate, 1.0, 2.0])

    def _beta_terms(self, a: float, b: float, ux: FloatArray) -> tuple[FloatArray, ...]:
        """Per distinct x: the log beta factor of "alive at T" and of "dropped out after
        the last purchase", and their derivatives in a and in b.

        BG/NBD: B(a, b+x)/B(a, b) alive; B(a+1, b+x−1)/B(a, b) dropped, possible only
        after a repeat purchase (x > 0). The MBG/NBD overrides this and nothing else of
        the likelihood.
        """
        b_x1 = np.maximum(b + ux - 1, 1e-300)
        d_ab = digamma(a + b)
        d_abx = digamma(a + b + ux)
        alive = betaln(a, b + ux) - betaln(a, b)
        dropped = np.where(ux > 0, betaln(a + 1, b_x1) - betaln(a, b), -np.inf)
        a_alive = d_ab - d_abx
        a_dropped = digamma(a + 1) - digamma(a) + d_ab - d_abx
        b_alive = digamma(b + ux) - d_abx - digamma(b) + d_ab
        b_dropped = np.where(ux > 0, digamma(b_x1) - d_abx - digamma(b) + d_ab, 0.0)
        return alive, dropped, a_alive, a_dropped, b_alive, b_dropped

    def _log_likelihood_rows(self, params: FloatArray, data: Data) -> FloatArray:
        return self._value_and_gradient_rows(params, data, gradient=False)[0]

    def _gradient_rows(self, params: FloatArray, data: Data) -> FloatArray | None:
        return self._value_and_gradient_rows(params, data)[1]

    def _value_and_gradient_rows(
        self, params: FloatArray, data: Data, gradient: bool = True
    ) -> tuple[FloatArray, FloatArray | None]:
        if len(data) == 3:
            data = self._prepare(data)
        r, alpha, a, b = params
        x, _t_x, _T, ux, at_x, utx, at_tx, ut, at_t = data
        # Special functions and logs depend on one column each: evaluate them per distinct
        # value (a few hundred at most) and gather, instead of once per customer.
        log_t = np.log(alpha + ut)[at_t]
        log_tx = np.log(alpha + utx)[at_tx]
        rx = r + x
        alive_x, dropped_x, a_alive_x, a_dropped_x, b_alive_x, b_dropped_x = self._beta_terms(
            a, b, ux
        )
        alive = alive_x[at_x] - rx * log_t
        dropped = dropped_x[at_x] - rx * log_tx
        mix = np.logaddexp(alive, dropped)
        ll = (gammaln(r + ux) - gammaln(r) + r * np.log(alpha))[at_x] + mix
        if not gradient:
            return np.asarray(ll, dtype=np.float64), None
        # Posterior weights of "alive at T" and "dropped out after the last purchase".
        w_alive = np.exp(alive - mix)
        w_dropped = 1.0 - w_alive
        g_r = (digamma(r + ux) - digamma(r) + np.log(alpha))[at_x] - (
            w_alive * log_t + w_dropped * log_tx
        )
        inv_t = (1.0 / (alpha + ut))[at_t]
        inv_tx = (1.0 / (alpha + utx))[at_tx]
        g_alpha = r / alpha - rx * (w_alive * inv_t + w_dropped * inv_tx)
        a_alive = a_alive_x[at_x]
        b_alive = b_alive_x[at_x]
        g_a = a_alive + w_dropped * (a_dropped_x[at_x] - a_alive)
        g_b = b_alive + w_dropped * (b_dropped_x[at_x] - b_alive)
        return np.asarray(ll, dtype=np.float64), np.column_stack([g_r, g_alpha, g_a, g_b])

    def _weighted_sums(
        self, params: FloatArray, data: Data, weights: FloatArray
    ) -> tuple[float, FloatArray | None]:
        # The same sums as the row-wise version, but every term that depends on x alone is
        # summed per distinct x (weights pooled with bincount) instead of gathered per row.
        if len(data) == 3:
            data = self._prepare(data)
        r, alpha, a, b = params
        x, _t_x, _T, ux, at_x, utx, at_tx, ut, at_t = data
        per_x = np.bincount(at_x, weights=weights, minlength=len(ux))
        log_t = np.log(alpha + ut)[at_t]
        log_tx = np.log(alpha + utx)[at_tx]
        rx = r + x
        alive_x, dropped_x, a_alive, a_dropped, b_alive, b_dropped = self._beta_terms(a, b, ux)
        alive = alive_x[at_x] - rx * log_t
        dropped = dropped_x[at_x] - rx * log_tx
        mix = np.logaddexp(alive, dropped)
        head_x = gammaln(r + ux) - gammaln(r) + r * np.log(alpha)
        total = float(head_x @ per_x + weights @ mix)
        w_dropped = -np.expm1(alive - mix)
        wd = weights * w_dropped
        per_x_dropped = np.bincount(at_x, weights=wd, minlength=len(ux))
        g_r = (digamma(r + ux) - digamma(r) + np.log(alpha)) @ per_x - (
            weights @ log_t + wd @ (log_tx - log_t)
        )
        inv_t = (1.0 / (alpha + ut))[at_t]
        inv_tx = (1.0 / (alpha + utx))[at_tx]
        wrx = weights * rx
        g_alpha = r / alpha * float(weights.sum()) - (
            wrx @ inv_t + (wrx * w_dropped) @ (inv_tx - inv_t)
        )
        g_a = a_alive @ per_x + (a_dropped - a_alive) @ per_x_dropped
        g_b = b_alive @ per_x + (b_dropped - b_alive) @ per_x_dropped
        return total, np.array([g_r, g_alpha, g_a, g_b])

    def _identified(self, params: FloatArray) -> str:
        r, alpha, a, b = params
        return (
            f"r/alpha = {r / alpha:.4g} (mean purchase rate) and a/(a+b) = {a / (a + b):.4g} "
            "(drop-out probability after a purchase, the same for everyone when a, b → ∞)"
        )

    def conditional_probability_alive(self, frequency: Any, recency: Any, T: Any) -> FloatArray:
        """P(active at T | x, t_x, T); exactly 1 for customers without repeat purchases."""
        r, alpha, a, b = self._require_fitted()
        x, t_x, t = customer_arrays(frequency, recency, T)
        with np.errstate(divide="ignore"):
            log_odds_dead = (
                np.log(a)
                - np.log(np.maximum(b + x - 1, 1e-300))
                + (r + x) * (np.log(alpha + t) - np.log(alpha + t_x))
            )
        return np.asarray(np.where(x > 0, expit(-log_odds_dead), 1.0), dtype=np.float64)

    def expected_purchases(self, t: Any) -> FloatArray:
        """E[X(t)] for a new customer (FHL 2005, eq. 9)."""
        r, alpha, a, b = self._require_fitted()
        t = self._horizon(t)
        z = t / (alpha + t)
        # Euler's transformation keeps the series parameters free of large values.
        tail = (1 - z) ** (a - 1) * hyp2f1_series(a + b - 1 - r, a - 1, a + b - 1, z)
        return np.asarray((a + b - 1) / (a - 1) * (1 - tail), dtype=np.float64)

    def _expected_if_alive(self, t: FloatArray, x: FloatArray, T: FloatArray) -> FloatArray:
        """E[Y(t) | x, T, alive] (FHL 2005, eq. 10, without P(alive))."""
        r, alpha, a, b = self._require_fitted()
        z = t / (alpha + T + t)
        tail = np.exp((a - 1) * np.log1p(-z)) * hyp2f1_small_z(
            a + b - 1 - r, a - 1, a + b + x - 1, z
        )
        return np.asarray((a + b + x - 1) / (a - 1) * (1 - tail), dtype=np.float64)

    def probability_of_purchases(self, t: Any, n: Any) -> FloatArray:
        """P(X(t) = n) for a new customer (FHL 2005, eq. 8)."""
        r, alpha, a, b = self._require_fitted()
        t = self._horizon(t)
        n = np.asarray(n, dtype=np.float64)
        p_alive_rate = np.log(alpha) - np.log(alpha + t)
        with np.errstate(divide="ignore"):
            log_t_share = np.log(t) - np.log(alpha + t)
            nbd = (
                gammaln(r + n)
                - gammaln(r)
                - gammaln(n + 1)
                + r * p_alive_rate
                + np.where(n > 0, n * log_t_share, 0.0)
            )
        first = np.exp(betaln(a, b + n) - betaln(a, b) + nbd)
        # P(NBD count >= n) is a regularised incomplete beta function.
        at_least = betainc(np.maximum(n, 1e-300), r, t / (alpha + t))
        second = np.where(
            n > 0,
            np.exp(betaln(a + 1, np.maximum(b + n - 1, 1e-300)) - betaln(a, b)) * at_least,
            0.0,
        )
        return np.asarray(first + second, dtype=np.float64)


def sample_bgnbd(
    T: Any, r: float, alpha: float, a: float, b: float, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Simulate (x, t_x, T) for customers observed for ``T`` each, from a BG/NBD."""
    big_t = np.asarray(T, dtype=np.float64)
    n = big_t.size
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = rng.beta(a, b, n)
    # Repeat purchases before drop-out: drop-out follows the k-th purchase, k ~ geometric.
    lifetime_purchases = rng.geometric(np.clip(p, 1e-300, 1.0))
    in_window = rng.poisson(lam * big_t)
    x = np.minimum(in_window, lifetime_purchases)
    # Given N arrivals in (0, T], the x-th is the x-th of N uniform order statistics.
    frac = rng.beta(np.maximum(x, 1), np.maximum(in_window - x + 1, 1))
    t_x = np.where(x > 0, frac * big_t, 0.0)
    return x.astype(np.float64), t_x, big_t.astype(np.float64)
