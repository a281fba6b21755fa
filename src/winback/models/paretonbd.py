"""The Pareto/NBD model (Schmittlein, Morrison & Colombo 1987).

While active, a customer buys as a Poisson process with rate λ ~ gamma(r, α); their
unobserved lifetime is exponential with rate μ ~ gamma(s, β). Parameters: r, alpha, s, beta.

The likelihood is evaluated in logs. Its one awkward term is the integral over the moment
of death between the last purchase and T,

    I = ∫_{t_x}^{T} (α+τ)^-(r+x) (β+τ)^-(s+1) dτ,

usually written with a Gauss hypergeometric function whose series crawls (tens of
thousands of terms) when α and β are orders of magnitude apart, as on a ledger where
lifetimes hardly differ between customers. Here it is summed by Gauss–Legendre quadrature
after the change of variable y = log(1 + c (τ − t_x)), c the integrand's decay rate at t_x (or
1/(min(α, β) + t_x) where the integrand bends sooner): whatever x, T and the parameters,
the integrand in y is smooth and falls off at most like exp(−e^y), so panels of width 2 in
y with 12 nodes each give log I to about 1e-9 absolute, for parameters between e^-5 and
e^12 and x up to 1e5 (checked against adaptive quadrature in the tests). The same nodes
give the analytic gradient, since ∂ log I/∂θ is the integrand-weighted mean of
∂ log(integrand)/∂θ.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.special import digamma, expit, gammaln, zeta

from winback.models._special import expm1_ratio
from winback.models.base import Data, FloatArray, IndexArray, factorize
from winback.models.transaction import RepeatPurchaseModel, customer_arrays

GAUSS_NODES = 64
# The death integral: Gauss–Legendre panels of PANEL_WIDTH in y, PANEL_NODES nodes each
# (at most MAX_PANELS: beyond, the panels widen), BLOCK_ROWS rows at a time (memory).
PANEL_NODES = 12
PANEL_WIDTH = 2.0
MAX_PANELS = 16
BLOCK_ROWS = 16_384
# Per-row weights of the Hessian's sum, from the rows (indices) and their log I.
RowWeights = Callable[[IndexArray, FloatArray], FloatArray]


@functools.cache
def _unit_rule(panels: int) -> tuple[FloatArray, FloatArray]:
    """Composite Gauss–Legendre nodes and weights on [0, 1], ``panels`` equal panels."""
    g, w = np.polynomial.legendre.leggauss(PANEL_NODES)
    nodes = np.concatenate([(k + (g + 1) / 2) / panels for k in range(panels)])
    weights = np.concatenate([w / (2 * panels)] * panels)
    return nodes, weights


def _log_death_integral(
    params: FloatArray,
    x: FloatArray,
    t_x: FloatArray,
    T: FloatArray,
    gradient: bool,
    hessian_weights: RowWeights | None = None,
) -> tuple[FloatArray, FloatArray | None, FloatArray | None]:
    """log I per row (−inf when t_x = T); if asked, ∂ log I/∂(r, α, s, β) (rows × 4) and,
    given ``hessian_weights``, Σ u ∂² log I/∂θ∂θ (4 × 4) over the rows with t_x < T.

    ``hessian_weights(rows, log_i)`` gives u for those rows from their log I (the
    likelihood weighs a row's death integral by its posterior P(dead), known only once
    log I is), so the Hessian is summed block by block without a matrix per row.
    """
    r, alpha, s, beta = (float(v) for v in params)
    n = len(x)
    log_i = np.full(n, -np.inf)
    grad = np.zeros((n, 4)) if gradient or hessian_weights is not None else None
    hess = None if hessian_weights is None else np.zeros((4, 4))
    # The scale of y: the integrand's decay rate at t_x, or the smaller of the scales
    # α + t_x and β + t_x where the integrand bends, whichever is shorter.
    rate = np.maximum(
        (r + x) / (alpha + t_x) + (s + 1) / (beta + t_x), 1.0 / (min(alpha, beta) + t_x)
    )
    span = np.log1p(rate * (T - t_x))
    panels = np.clip(np.ceil(span / PANEL_WIDTH), 1, MAX_PANELS).astype(np.intp)
    panels[~(t_x < T)] = 0
    # Each panel count in use (bincount: np.unique's sort costs more at a thousand rows).
    for count in np.flatnonzero(np.bincount(panels, minlength=2)[1:]) + 1:
        unit_nodes, unit_weights = _unit_rule(int(count))
        rows = np.flatnonzero(panels == count)
        log_weights = np.log(unit_weights)
        for lo in range(0, len(rows), BLOCK_ROWS):
            idx = rows[lo : lo + BLOCK_ROWS]
            n1 = r + x[idx]
            c = rate[idx]
            width = span[idx]
            # In place, in six (rows × nodes) buffers: these lines are most of a
            # Pareto/NBD fit's time. ``v`` holds at every node log(α+τ), (r+x)/(α+τ),
            # log(β+τ) and 1/(β+τ): −∂g/∂θ for the log integrand g, but for a factor s+1
            # on the last.
            y = np.multiply.outer(width, unit_nodes)
            tau = np.expm1(y)
            tau /= c[:, None]
            tau += t_x[idx][:, None]
            v = np.empty((4, *y.shape))
            np.add(tau, alpha, out=v[1])
            np.add(tau, beta, out=v[3])
            np.log(v[1], out=v[0])
            np.log(v[3], out=v[2])
            # integrand × dτ/dy × weight, in logs (τ's buffer reused for the products)
            terms = y
            terms += log_weights
            np.multiply(v[0], n1[:, None], out=tau)
            terms -= tau
            np.multiply(v[2], s + 1, out=tau)
            terms -= tau
            # Shifted by the first node's term rather than the row's largest (a reduction
            # along short rows is slow): the log integrand in y rises at most at slope 1,
            # so no term exceeds the first by more than the span (tens at most) plus the
            # spread of the log-weights, and the first keeps the sum at 1 or more.
            top = terms[:, 0].copy()
            share = terms
            share -= top[:, None]
            np.exp(share, out=share)
            total = share @ np.ones(share.shape[1])
            log_i[idx] = top + np.log(total) + np.log(width) - np.log(c)
            if grad is None:
                continue
            np.reciprocal(v[1], out=v[1])
            v[1] *= n1[:, None]
            np.reciprocal(v[3], out=v[3])
            # Integrand-weighted means: row sums of share × v, over the total.
            means = np.einsum("kij,ij->ik", v, share)
            means /= -total[:, None]
            means[:, 3] *= s + 1
            grad[idx] = means
            if hess is not None and hessian_weights is not None:
                u = hessian_weights(idx, log_i[idx])
                share *= (u / total)[:, None]
                hess += _weighted_log_integral_hessian(share, v, means, u, n1, s)
    return log_i, grad, hess


def _weighted_log_integral_hessian(
    q: FloatArray, v: FloatArray, grad: FloatArray, u: FloatArray, n1: FloatArray, s: float
) -> FloatArray:
    """Σ_rows u ∂² log I/∂θ∂θ (4 × 4) for a block of rows: q = u × each node's share of
    its row's I (rows × nodes); v = (log(α+τ), n1/(α+τ), log(β+τ), 1/(β+τ)) at every node
    (4 × rows × nodes), n1 = r + x; ``grad`` the rows' ∂ log I.

    With g = log(integrand), ∂ log I = E[∂g] and ∂² log I = E[∂²g] + E[∂g ∂gᵀ] − E[∂g]
    E[∂g]ᵀ, means under the shares. ∂g = −(v₀, v₁, v₂, (s+1) v₃); ∂²g is zero but for
    ∂r∂α = −1/(α+τ), ∂α² = n1/(α+τ)², ∂s∂β = −1/(β+τ) and ∂β² = (s+1)/(β+τ)². The sums
    over rows and nodes are products of flat arrays (a reduction along a row is what is
    slow here). The covariance is the difference of two sums; its rounding, relative to
    E[∂g ∂gᵀ], is far below what a Newton step or a standard error needs.
    """
    flat_q = q.ravel()
    flat = v.reshape(4, -1)
    second = np.empty((4, 4))  # Σ q v_k v_m (whole rows: fewer calls than a triangle)
    for k in range(4):
        weighted = flat[k] * flat_q
        second[k] = flat @ weighted
        if k == 1:
            # Σ q n1/(α+τ)² = Σ over rows of (Σ q (n1/(α+τ))²) / n1.
            alpha_alpha = np.einsum("ij,ij->i", weighted.reshape(q.shape), v[1]) @ (1.0 / n1)
    beta_beta = (s + 1) * second[3, 3]
    second[3] *= s + 1
    second[:, 3] *= s + 1
    hess = second - (grad.T * u) @ grad
    # E[1/(α+τ)] = −∂ log I/∂α / n1 and E[1/(β+τ)] = −∂ log I/∂β / (s+1), per row.
    r_alpha = float((u / n1) @ grad[:, 1])
    s_beta = float(u @ grad[:, 3]) / (s + 1)
    hess[0, 1] += r_alpha
    hess[1, 0] += r_alpha
    hess[1, 1] += alpha_alpha
    hess[2, 3] += s_beta
    hess[3, 2] += s_beta
    hess[3, 3] += beta_beta
    return hess


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
        (distinct_x,), at_x = factorize(x)
        return x, t_x, T, distinct_x, at_x

    def _initial(self, data: Data, weights: FloatArray) -> FloatArray:
        # Shapes of 1/2 and scales that put the mean purchase rate at the observed one and
        # the mean lifetime at half the mean time observed: a start that spares the
        # optimiser a quarter of its evaluations on CDNOW, not a requirement.
        rate, mean_t = self._observed_rate_and_time(data, weights)
        return self._clipped_start([0.5, 0.5 / rate, 0.5, 0.5 * mean_t])

    def _pieces(
        self, params: FloatArray, data: Data, gradient: bool = False
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray | None]:
        """(log of the constant, log P(alive through T) part, log of the death part, and
        when asked ∂ log I/∂θ of the death integral)."""
        if len(data) == 3:
            data = self._prepare(data)
        r, alpha, s, beta = (float(v) for v in params)
        x, t_x, T, ux, at_x = data
        head = (gammaln(r + ux) - gammaln(r) + r * np.log(alpha) + s * np.log(beta))[at_x]
        alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
        log_i, grad_i, _ = _log_death_integral(params, x, t_x, T, gradient)
        dead = np.log(s) + log_i
        return head, alive, dead, grad_i

    def _log_likelihood_rows(self, params: FloatArray, data: Data) -> FloatArray:
        head, alive, dead, _ = self._pieces(params, data)
        return np.asarray(head + np.logaddexp(alive, dead), dtype=np.float64)

    def _value_and_gradient_rows(
        self, params: FloatArray, data: Data
    ) -> tuple[FloatArray, FloatArray | None]:
        if len(data) == 3:
            data = self._prepare(data)
        r, alpha, s, beta = (float(v) for v in params)
        x, _t_x, T, ux, at_x = data
        head, alive, dead, grad_i = self._pieces(params, data, gradient=True)
        assert grad_i is not None
        p_alive = expit(alive - dead)[:, None]
        d_head = np.empty((len(x), 4))
        d_head[:, 0] = (digamma(r + ux) - digamma(r))[at_x] + np.log(alpha)
        d_head[:, 1] = r / alpha
        d_head[:, 2] = np.log(beta)
        d_head[:, 3] = s / beta
        d_alive = np.column_stack(
            [-np.log(alpha + T), -(r + x) / (alpha + T), -np.log(beta + T), -s / (beta + T)]
        )
        d_dead = grad_i
        d_dead[:, 2] += 1.0 / s
        grad = d_head + p_alive * d_alive + (1.0 - p_alive) * d_dead
        return np.asarray(head + np.logaddexp(alive, dead), dtype=np.float64), grad

    def _weighted_sums(
        self, params: FloatArray, data: Data, weights: FloatArray
    ) -> tuple[float, FloatArray | None]:
        total, grad, _ = self._sums(params, data, weights, hessian=False)
        return total, grad

    def _weighted_sums_and_hessian(
        self, params: FloatArray, data: Data, weights: FloatArray
    ) -> tuple[float, FloatArray, FloatArray]:
        total, grad, hess = self._sums(params, data, weights, hessian=True)
        assert hess is not None
        return total, grad, hess

    def _sums(
        self, params: FloatArray, data: Data, weights: FloatArray, hessian: bool
    ) -> tuple[float, FloatArray, FloatArray | None]:
        """Σ w·ll, Σ w·∇ll and, if asked, Σ w·∇²ll (natural scale).

        The sums of ``_value_and_gradient_rows`` without building its rows: terms of x
        alone per distinct x (weights pooled with bincount), constants once, the rest as
        dot products with the posterior weights of "alive" and "dead".
        """
        if len(data) == 3:
            data = self._prepare(data)
        r, alpha, s, beta = (float(v) for v in params)
        x, t_x, T, ux, at_x = data
        per_x = np.bincount(at_x, weights=weights, minlength=len(ux))
        n = float(weights.sum())
        log_alpha_t = np.log(alpha + T)
        log_beta_t = np.log(beta + T)
        alive = -(r + x) * log_alpha_t - s * log_beta_t

        def dead_weights(rows: IndexArray, log_i_rows: FloatArray) -> FloatArray:
            # w × P(dead), the weight of a row's death integral in ∇²ll.
            return np.asarray(
                weights[rows] * expit(np.log(s) + log_i_rows - alive[rows]), dtype=np.float64
            )

        log_i, grad_i, hess_i = _log_death_integral(
            params, x, t_x, T, True, dead_weights if hessian else None
        )
        assert grad_i is not None
        dead = np.log(s) + log_i
        constant = r * np.log(alpha) + s * np.log(beta)
        total = float((gammaln(r + ux) - gammaln(r)) @ per_x) + n * constant
        total += float(weights @ np.logaddexp(alive, dead))
        p_alive = expit(alive - dead)
        w_alive = weights * p_alive
        w_dead = weights - w_alive
        inv_alpha_t = 1.0 / (alpha + T)
        inv_beta_t = 1.0 / (beta + T)
        grad = np.array(
            [
                float((digamma(r + ux) - digamma(r)) @ per_x)
                + n * np.log(alpha)
                - float(w_alive @ log_alpha_t),
                n * r / alpha - float(w_alive @ ((r + x) * inv_alpha_t)),
                n * np.log(beta) - float(w_alive @ log_beta_t) + float(w_dead.sum()) / s,
                n * s / beta - s * float(w_alive @ inv_beta_t),
            ]
        )
        grad += w_dead @ grad_i
        if hess_i is None:
            return total, grad, None
        # ll = head + log(e^alive + e^dead), so ∇²ll = ∇²head + p ∇²alive + (1−p) ∇²dead
        # + p(1−p) (∇alive − ∇dead)(∇alive − ∇dead)ᵀ, p = P(alive).
        hess = np.zeros((4, 4))
        hess[0, 0] = float((zeta(2, r + ux) - zeta(2, r)) @ per_x)  # trigamma
        hess[0, 1] = n / alpha - float(w_alive @ inv_alpha_t)
        hess[1, 1] = -n * r / alpha**2 + float(w_alive @ ((r + x) * inv_alpha_t**2))
        hess[2, 2] = -float(w_dead.sum()) / s**2
        hess[2, 3] = n / beta - float(w_alive @ inv_beta_t)
        hess[3, 3] = -n * s / beta**2 + s * float(w_alive @ inv_beta_t**2)
        hess[1, 0], hess[3, 2] = hess[0, 1], hess[2, 3]
        hess += hess_i
        apart = -grad_i
        apart[:, 0] -= log_alpha_t
        apart[:, 1] -= (r + x) * inv_alpha_t
        apart[:, 2] -= log_beta_t + 1.0 / s
        apart[:, 3] -= s * inv_beta_t
        hess += (apart.T * (w_alive * (1.0 - p_alive))) @ apart
        return total, grad, hess

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
        _, alive, dead, _ = self._pieces(params, data)
        return np.asarray(expit(alive - dead), dtype=np.float64)

    def expected_purchases(self, t: Any) -> FloatArray:
        """E[X(t)] = rβ/(α(s−1)) [1 − (β/(β+t))^(s−1)] for a new customer."""
        r, alpha, s, beta = self._require_fitted()
        t = self._horizon(t)
        return np.asarray(r * beta / alpha * expm1_ratio(s - 1, np.log1p(t / beta)))

    def _expected_if_alive(self, t: FloatArray, x: FloatArray, T: FloatArray) -> FloatArray:
        """E[Y(t) | x, T, alive] = (r+x)(β+T)/((α+T)(s−1)) [1 − ((β+T)/(β+T+t))^(s−1)]."""
        r, alpha, s, beta = self._require_fitted()
        out = (r + x) * (beta + T) / (alpha + T) * expm1_ratio(s - 1, np.log1p(t / (beta + T)))
        return np.asarray(out, dtype=np.float64)

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
