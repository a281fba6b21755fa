"""The BG/NBD model (Fader, Hardie & Lee 2005, "Counting your customers the easy way").

While active, a customer buys as a Poisson process with rate λ ~ gamma(r, α); after each
repeat purchase they drop out with probability p ~ beta(a, b). Parameters: r, alpha, a, b.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import betainc, betaln, digamma, expit, gammaln

from winback.models._special import hyp2f1_series
from winback.models.base import FloatArray
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

    def _terms(
        self, params: FloatArray, data: tuple[FloatArray, ...]
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        r, alpha, a, b = params
        x, t_x, T = data
        head = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
        # Alive at T, or dropped out right after the last purchase (only possible if x > 0).
        alive = betaln(a, b + x) - betaln(a, b) - (r + x) * np.log(alpha + T)
        dropped = np.where(
            x > 0,
            betaln(a + 1, np.maximum(b + x - 1, 1e-300))
            - betaln(a, b)
            - (r + x) * np.log(alpha + t_x),
            -np.inf,
        )
        return head, alive, dropped, np.logaddexp(alive, dropped)

    def _log_likelihood_rows(self, params: FloatArray, data: tuple[FloatArray, ...]) -> FloatArray:
        head, _, _, mix = self._terms(params, data)
        return np.asarray(head + mix, dtype=np.float64)

    def _gradient_rows(self, params: FloatArray, data: tuple[FloatArray, ...]) -> FloatArray:
        r, alpha, a, b = params
        x, t_x, T = data
        _, alive, dropped, mix = self._terms(params, data)
        w_alive = np.exp(alive - mix)
        w_dropped = np.exp(dropped - mix)
        d_ab = digamma(a + b)
        d_abx = digamma(a + b + x)
        b_x1 = np.maximum(b + x - 1, 1e-300)
        g_r = (
            digamma(r + x)
            - digamma(r)
            + np.log(alpha)
            - w_alive * np.log(alpha + T)
            - w_dropped * np.log(alpha + t_x)
        )
        g_alpha = r / alpha - (r + x) * (w_alive / (alpha + T) + w_dropped / (alpha + t_x))
        g_a = w_alive * (d_ab - d_abx) + w_dropped * (digamma(a + 1) - digamma(a) + d_ab - d_abx)
        g_b = w_alive * (digamma(b + x) - d_abx - digamma(b) + d_ab) + w_dropped * (
            digamma(b_x1) - d_abx - digamma(b) + d_ab
        )
        return np.column_stack([g_r, g_alpha, g_a, g_b])

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

    def conditional_expected_purchases(
        self, t: Any, frequency: Any, recency: Any, T: Any
    ) -> FloatArray:
        """E[Y(t) | x, t_x, T], expected purchases in (T, T + t] (FHL 2005, eq. 10)."""
        r, alpha, a, b = self._require_fitted()
        x, t_x, big_t = customer_arrays(frequency, recency, T)
        t = self._horizon(t)
        z = t / (alpha + big_t + t)
        tail = np.exp((a - 1) * np.log1p(-z)) * hyp2f1_series(
            a + b - 1 - r, a - 1, a + b + x - 1, z
        )
        expected_if_alive = (a + b + x - 1) / (a - 1) * (1 - tail)
        return np.asarray(
            expected_if_alive * self.conditional_probability_alive(x, t_x, big_t),
            dtype=np.float64,
        )

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
