"""The Pareto/NBD model (Schmittlein, Morrison & Colombo 1987).

While active, a customer buys as a Poisson process with rate λ ~ gamma(r, α); their
unobserved lifetime is exponential with rate μ ~ gamma(s, β). Parameters: r, alpha, s, beta.

The likelihood is evaluated in logs. Its one awkward term is the integral over the moment
of death between the last purchase and T,

    s ∫_{t_x}^{T} (α+τ)^-(r+x) (β+τ)^-(s+1) dτ = s (J(t_x) − J(T)),

where J(t) = (m+t)^-(r+s+x) / (r+s+x) · 2F1(...; z) is anchored at m = max(α, β) so that
0 <= z < 1 (Fader & Hardie's note "A note on deriving the Pareto/NBD model and related
expressions", 2005). An Euler transformation then turns the 2F1 into a series whose terms
only decrease, whatever x: the model stays finite for x = 10,000 and T of ten years.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import expit, gammaln

from winback.models._special import expm1_ratio, hyp2f1_one
from winback.models.base import Data, FloatArray, factorize
from winback.models.transaction import RepeatPurchaseModel, customer_arrays

GAUSS_NODES = 64


def _log_j(
    r: float, alpha: float, s: float, beta: float, x: FloatArray, t: FloatArray
) -> FloatArray:
    """log J(t) = log ∫_t^∞ (α+τ)^-(r+x) (β+τ)^-(s+1) dτ, elementwise."""
    a = r + s + x
    if alpha >= beta:
        anchor = alpha + t
        z = (alpha - beta) / anchor
        # 2F1(a, s+1; a+1; z) = (1-z)^-s 2F1(1, r+x; a+1; z)
        log_pre = -s * np.log1p(-z)
        series = hyp2f1_one(r + x, a + 1, z)
    else:
        anchor = beta + t
        z = (beta - alpha) / anchor
        # 2F1(a, r+x; a+1; z) = (1-z)^(1-r-x) 2F1(1, s+1; a+1; z)
        log_pre = (1 - r - x) * np.log1p(-z)
        series = hyp2f1_one(np.full_like(x, s + 1), a + 1, z)
    return np.asarray(-a * np.log(anchor) - np.log(a) + log_pre + np.log(series), dtype=np.float64)


class ParetoNBDModel(RepeatPurchaseModel):
    """Pareto/NBD: Poisson purchases during an exponential lifetime.

    Parameters
    ----------
    penalizer : float, default 0
        L2 penalty on the log-parameters (see ``MaximumLikelihoodModel``).
    """

    param_names = ("r", "alpha", "s", "beta")

    def _prepare(self, data: Data) -> Data:
        x, t_x, T = data[:3]
        # J depends on (x, t): distinct pairs are far fewer than distinct customers.
        pairs_tx, at_tx = factorize(x, t_x)
        pairs_t, at_t = factorize(x, T)
        (distinct_x,), at_x = factorize(x)
        return x, t_x, T, pairs_tx, at_tx, pairs_t, at_t, distinct_x, at_x

    def _pieces(self, params: FloatArray, data: Data) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(log of the constant, log P(alive through T) part, log of the death part)."""
        if len(data) == 3:
            data = self._prepare(data)
        r, alpha, s, beta = (float(v) for v in params)
        x, _t_x, T, pairs_tx, at_tx, pairs_t, at_t, ux, at_x = data
        head = (gammaln(r + ux) - gammaln(r) + r * np.log(alpha) + s * np.log(beta))[at_x]
        alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
        log_j_tx = _log_j(r, alpha, s, beta, *pairs_tx)[at_tx]
        log_j_t = _log_j(r, alpha, s, beta, *pairs_t)[at_t]
        with np.errstate(divide="ignore"):
            # J(t_x) - J(T) without leaving log space; zero when t_x = T.
            gap = np.minimum(log_j_t - log_j_tx, 0.0)
            dead = np.log(s) + log_j_tx + np.log(-np.expm1(gap))
        return head, alive, dead

    def _log_likelihood_rows(self, params: FloatArray, data: Data) -> FloatArray:
        head, alive, dead = self._pieces(params, data)
        return np.asarray(head + np.logaddexp(alive, dead), dtype=np.float64)

    def _identified(self, params: FloatArray) -> str:
        r, alpha, s, beta = params
        return (
            f"r/alpha = {r / alpha:.4g} (mean purchase rate) and s/beta = {s / beta:.4g} "
            "(mean drop-out rate; rates are the same for everyone along this ridge)"
        )

    def conditional_probability_alive(self, frequency: Any, recency: Any, T: Any) -> FloatArray:
        """P(active at T | x, t_x, T). Below 1 even without repeat purchases."""
        params = self._require_fitted()
        data = customer_arrays(frequency, recency, T)
        _, alive, dead = self._pieces(params, data)
        return np.asarray(expit(alive - dead), dtype=np.float64)

    def expected_purchases(self, t: Any) -> FloatArray:
        """E[X(t)] = rβ/(α(s−1)) [1 − (β/(β+t))^(s−1)] for a new customer."""
        r, alpha, s, beta = self._require_fitted()
        t = self._horizon(t)
        return np.asarray(r * beta / alpha * expm1_ratio(s - 1, np.log1p(t / beta)))

    def conditional_expected_purchases(
        self, t: Any, frequency: Any, recency: Any, T: Any
    ) -> FloatArray:
        """E[Y(t) | x, t_x, T] = P(alive) (r+x)(β+T)/((α+T)(s−1)) [1 − ((β+T)/(β+T+t))^(s−1)]."""
        r, alpha, s, beta = self._require_fitted()
        x, t_x, big_t = customer_arrays(frequency, recency, T)
        t = self._horizon(t)
        if_alive = (
            (r + x)
            * (beta + big_t)
            / (alpha + big_t)
            * expm1_ratio(s - 1, np.log1p(t / (beta + big_t)))
        )
        return np.asarray(if_alive * self.conditional_probability_alive(x, t_x, big_t))

    def probability_of_purchases(self, t: Any, n: Any) -> FloatArray:
        """P(X(t) = n) for a new customer.

        Conditions on the moment of death τ: alive through t with probability
        (β/(β+t))^s, else dead at τ with density sβ^s/(β+τ)^(s+1); either way the count is
        negative binomial over the time alive. The integral over τ uses Gauss–Legendre
        quadrature on a square-root scale, which absorbs the steep start for large n.
        """
        r, alpha, s, beta = self._require_fitted()
        t_arr, n_arr = np.broadcast_arrays(self._horizon(t), np.asarray(n, dtype=np.float64))
        nodes, weights = np.polynomial.legendre.leggauss(GAUSS_NODES)
        u = (nodes + 1) / 2  # on (0, 1)
        tt = t_arr[..., None]
        nn = n_arr[..., None]
        tau = tt * u**2
        dtau = tt * 2 * u * weights / 2

        def log_nbd(span: FloatArray) -> FloatArray:
            with np.errstate(divide="ignore", invalid="ignore"):
                share = np.where(nn > 0, nn * (np.log(span) - np.log(alpha + span)), 0.0)
            out = (
                gammaln(r + nn)
                - gammaln(r)
                - gammaln(nn + 1)
                + r * (np.log(alpha) - np.log(alpha + span))
                + share
            )
            return np.asarray(out, dtype=np.float64)

        survive = np.exp(log_nbd(tt) + s * (np.log(beta) - np.log(beta + tt)))[..., 0]
        density = np.exp(np.log(s) + s * np.log(beta) - (s + 1) * np.log(beta + tau))
        dead = np.sum(np.exp(log_nbd(tau)) * density * dtau, axis=-1)
        return np.asarray(survive + dead, dtype=np.float64)


def sample_paretonbd(
    T: Any, r: float, alpha: float, s: float, beta: float, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Simulate (x, t_x, T) for customers observed for ``T`` each, from a Pareto/NBD."""
    big_t = np.asarray(T, dtype=np.float64)
    n = big_t.size
    lam = rng.gamma(r, 1.0 / alpha, n)
    mu = rng.gamma(s, 1.0 / beta, n)
    active_until = np.minimum(rng.exponential(1.0 / mu), big_t)
    x = rng.poisson(lam * active_until)
    # The last of x uniform arrival times on (0, active_until].
    t_x = np.where(x > 0, active_until * rng.beta(np.maximum(x, 1), 1.0), 0.0)
    return x.astype(np.float64), t_x, big_t.astype(np.float64)
