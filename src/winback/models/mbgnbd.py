"""The MBG/NBD model (Batislam, Denizel & Filiztekin 2007): the BG/NBD with one change,
a customer may also drop out straight after the first purchase, so customers without repeat
purchases are not certain to be active. Parameters: r, alpha, a, b.

Expectations follow from the BG/NBD derivation with the drop-out count shifted by one: the
k-th repeat purchase needs k + 1 survived chances instead of k.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import betainc, betaln, digamma, expit, gammaln

from winback.models._special import hyp2f1_series, hyp2f1_small_z
from winback.models.base import FloatArray
from winback.models.bgnbd import BetaGeoModel
from winback.models.transaction import customer_arrays


class ModifiedBetaGeoModel(BetaGeoModel):
    """MBG/NBD: like BG/NBD, but drop-out is possible right after the first purchase.

    Parameters
    ----------
    penalizer : float, default 0
        L2 penalty on the log-parameters (see ``MaximumLikelihoodModel``).
    """

    param_names = ("r", "alpha", "a", "b")

    def _beta_terms(self, a: float, b: float, ux: FloatArray) -> tuple[FloatArray, ...]:
        """MBG/NBD: B(a, b+x+1)/B(a, b) alive; B(a+1, b+x)/B(a, b) dropped, possible for
        every customer, x = 0 included. The rest of the likelihood and its analytic
        gradient are the BG/NBD's."""
        d_ab = digamma(a + b)
        d_abx1 = digamma(a + b + ux + 1)
        alive = betaln(a, b + ux + 1) - betaln(a, b)
        dropped = betaln(a + 1, b + ux) - betaln(a, b)
        a_alive = d_ab - d_abx1
        a_dropped = digamma(a + 1) - digamma(a) + d_ab - d_abx1
        b_alive = digamma(b + ux + 1) - d_abx1 - digamma(b) + d_ab
        b_dropped = digamma(b + ux) - d_abx1 - digamma(b) + d_ab
        return alive, dropped, a_alive, a_dropped, b_alive, b_dropped

    def _identified(self, params: FloatArray) -> str:
        r, alpha, a, b = params
        return (
            f"r/alpha = {r / alpha:.4g} (mean purchase rate) and a/(a+b) = {a / (a + b):.4g} "
            "(drop-out probability at each purchase)"
        )

    def conditional_probability_alive(self, frequency: Any, recency: Any, T: Any) -> FloatArray:
        """P(active at T | x, t_x, T); below 1 for every customer."""
        r, alpha, a, b = self._require_fitted()
        x, t_x, t = customer_arrays(frequency, recency, T)
        log_odds_dead = (
            np.log(a) - np.log(b + x) + (r + x) * (np.log(alpha + t) - np.log(alpha + t_x))
        )
        return np.asarray(expit(-log_odds_dead), dtype=np.float64)

    def expected_purchases(self, t: Any) -> FloatArray:
        """E[X(t)] = b/(a−1) [1 − (α/(α+t))^r 2F1(r, b+1; a+b; t/(α+t))]."""
        r, alpha, a, b = self._require_fitted()
        t = self._horizon(t)
        z = t / (alpha + t)
        tail = (1 - z) ** (a - 1) * hyp2f1_series(a + b - r, a - 1, a + b, z)
        return np.asarray(b / (a - 1) * (1 - tail), dtype=np.float64)

    def _expected_if_alive(self, t: FloatArray, x: FloatArray, T: FloatArray) -> FloatArray:
        """E[Y(t) | x, T, alive]: (a+b+x)/(a−1) [1 − ((α+T)/(α+T+t))^(r+x)
        2F1(r+x, b+x+1; a+b+x; t/(α+T+t))], Euler-transformed for the series."""
        r, alpha, a, b = self._require_fitted()
        z = t / (alpha + T + t)
        tail = np.exp((a - 1) * np.log1p(-z)) * hyp2f1_small_z(a + b - r, a - 1, a + b + x, z)
        return np.asarray((a + b + x) / (a - 1) * (1 - tail), dtype=np.float64)

    def probability_of_purchases(self, t: Any, n: Any) -> FloatArray:
        """P(X(t) = n): still buying after n purchases, or n purchases then drop-out."""
        r, alpha, a, b = self._require_fitted()
        t = self._horizon(t)
        n = np.asarray(n, dtype=np.float64)
        with np.errstate(divide="ignore"):
            nbd = (
                gammaln(r + n)
                - gammaln(r)
                - gammaln(n + 1)
                + r * (np.log(alpha) - np.log(alpha + t))
                + np.where(n > 0, n * (np.log(t) - np.log(alpha + t)), 0.0)
            )
        survived = np.exp(betaln(a, b + n) - betaln(a, b) + nbd)
        at_least_next = betainc(n + 1, r, t / (alpha + t))
        dropped = np.exp(betaln(a + 1, b + n) - betaln(a, b)) * at_least_next
        return np.asarray(survived + dropped, dtype=np.float64)


def sample_mbgnbd(
    T: Any, r: float, alpha: float, a: float, b: float, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Simulate (x, t_x, T) for customers observed for ``T`` each, from an MBG/NBD."""
    big_t = np.asarray(T, dtype=np.float64)
    n = big_t.size
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = rng.beta(a, b, n)
    # Drop-out can come at the first purchase, so the number of repeats is geometric - 1.
    lifetime_purchases = rng.geometric(np.clip(p, 1e-300, 1.0)) - 1
    in_window = rng.poisson(lam * big_t)
    x = np.minimum(in_window, lifetime_purchases)
    frac = rng.beta(np.maximum(x, 1), np.maximum(in_window - x + 1, 1))
    t_x = np.where(x > 0, frac * big_t, 0.0)
    return x.astype(np.float64), t_x, big_t.astype(np.float64)
