"""Special functions the models need, evaluated so that they cannot overflow.

The Gauss hypergeometric function appears in the Pareto/NBD likelihood and in the
conditional expectations of the BG/NBD family. Each caller first transforms its 2F1 (Euler's
transformation) into one whose series has small upper parameters and ``0 <= z < 1``, so the
terms decrease and the sum is a modest number; the large powers stay outside, in logs.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.linalg import eigh_tridiagonal
from scipy.special import betaln, gammaln, hyp2f1, logsumexp

FloatArray = npt.NDArray[np.float64]

MAX_TERMS = 20_000
RTOL = 1e-15
# Below this z, scipy's hyp2f1 (compiled) agrees with the series to 2e-9 relative over the
# parameters the BG/NBD family passes (checked in tests/models/test_predictions.py); above
# it, the series, which knows when it has converged.
COMPILED_MAX_Z = 0.9


def hyp2f1_small_z(
    a: FloatArray | float,
    b: FloatArray | float,
    c: FloatArray | float,
    z: FloatArray | float,
) -> FloatArray:
    """2F1(a, b; c; z) for ``0 <= z < 1``: scipy's where it is accurate, else the series."""
    a_, b_, c_, z_ = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (a, b, c, z)))
    out = np.asarray(hyp2f1(a_, b_, c_, z_), dtype=np.float64)
    slow = (z_ >= COMPILED_MAX_Z) | ~np.isfinite(out)
    if slow.any():
        out[slow] = hyp2f1_series(a_[slow], b_[slow], c_[slow], z_[slow])
    return out


def hyp2f1_series(
    a: FloatArray | float,
    b: FloatArray | float,
    c: FloatArray | float,
    z: FloatArray | float,
) -> FloatArray:
    """Sum the Gauss series of 2F1(a, b; c; z) elementwise for ``0 <= z < 1``.

    Rows stop adding terms once the remaining tail is below ``RTOL`` of the sum, bounded
    by the geometric tail the term ratio allows. Intended for arguments already transformed
    so that terms shrink quickly; a row still unconverged after ``MAX_TERMS`` terms keeps
    its partial sum (only reachable with ``z`` within about 1e-3 of 1).
    """
    a_, b_, c_, z_ = (np.asarray(v, dtype=np.float64) for v in (a, b, c, z))
    shape = np.broadcast_shapes(a_.shape, b_.shape, c_.shape, z_.shape)
    a_, b_, c_, z_ = (np.broadcast_to(v, shape).ravel() for v in (a_, b_, c_, z_))
    total = np.ones(a_.size)
    active = np.arange(a_.size)
    ta, tb, tc, tz = a_, b_, c_, z_
    tterm = np.ones(a_.size)
    tsum = np.ones(a_.size)
    for n in range(MAX_TERMS):
        ratio = (ta + n) * (tb + n) / ((tc + n) * (n + 1.0)) * tz
        tterm = tterm * ratio
        tsum += tterm
        # Checking convergence costs as much as a term, so only every few terms.
        if n % 8 != 7:
            continue
        abs_ratio = np.abs(ratio)
        bound = np.abs(tterm) / (1.0 - np.minimum(abs_ratio, 0.999999))
        tail = np.where(abs_ratio < 1.0, bound, np.inf)
        done = (tail <= RTOL * np.abs(tsum)) | (tterm == 0.0)
        if done.all():
            break
        if done.any():
            total[active[done]] = tsum[done]
            keep = ~done
            active = active[keep]
            ta, tb, tc, tz = ta[keep], tb[keep], tc[keep], tz[keep]
            tterm, tsum = tterm[keep], tsum[keep]
    total[active] = tsum
    return total.reshape(shape)


def expm1_ratio(c: FloatArray | float, log_ratio: FloatArray) -> FloatArray:
    """Return ``(1 - exp(-c * L)) / c`` with its limit ``L`` at ``c = 0``, for ``L >= 0``.

    Pareto/NBD expectations carry ``(1 - (β/(β+t))^(s-1)) / (s-1)``; this keeps them exact
    when ``s`` is at or near 1.
    """
    c_ = np.asarray(c, dtype=np.float64)
    small = np.abs(c_) < 1e-10
    safe = np.where(small, 1.0, c_)
    out = np.where(small, log_ratio, -np.expm1(-safe * log_ratio) / safe)
    return np.asarray(out, dtype=np.float64)


LAGUERRE_NODES = 48
# Above this z the Gauss series needs hundreds of terms; the quadrature below takes over
# where it is accurate (the integrand's peak at 0 is at least a node's width).
SERIES_MAX_Z = 0.9


def hyp2f1_one(p: FloatArray, q: FloatArray, z: FloatArray) -> FloatArray:
    """2F1(1, p; q; z) for q > p > 0 and 0 <= z < 1, elementwise.

    The series converges like z^n, too slowly when z is near 1 and p is large (the
    Pareto/NBD likelihood when purchase rates hardly differ between customers). There, the
    Euler integral E[1/(1 − zt)], t ~ beta(p, q − p), is summed by generalised
    Gauss–Laguerre quadrature after t = exp(−y/p), one set of nodes per distinct q − p
    (accurate to about 1e-10 once p(1 − z) >= 1). What remains hard is z within 1/p of 1
    with q − p > 30 as well: there the series is cut at ``MAX_TERMS``, finite but
    approximate.
    """
    p_, q_, z_ = (np.asarray(v, dtype=np.float64) for v in (p, q, z))
    shape = np.broadcast_shapes(p_.shape, q_.shape, z_.shape)
    p_, q_, z_ = (np.broadcast_to(v, shape).ravel() for v in (p_, q_, z_))
    out = np.empty(p_.size)
    k = q_ - p_
    # Where k >= p the series' terms shrink at least geometrically by p/(p+k) first.
    quad = (z_ > SERIES_MAX_Z) & (p_ * (1.0 - z_) >= 1.0) & (k < p_)
    series = ~quad
    if series.any():
        out[series] = hyp2f1_series(1.0, p_[series], q_[series], z_[series])
    for kk in np.unique(k[quad]):
        rows = np.flatnonzero(quad & (k == kk))
        y, log_w = _log_laguerre_rule(LAGUERRE_NODES, kk - 1.0)
        pp = p_[rows, None]
        v = y[None, :] / pp
        log_g = (kk - 1.0) * np.log(-np.expm1(-v) / v) - np.log1p(-z_[rows, None] * np.exp(-v))
        log_sum = logsumexp(log_g + log_w[None, :], axis=1)
        out[rows] = np.exp(-kk * np.log(p_[rows]) - betaln(p_[rows], kk) + log_sum)
    return out.reshape(shape)


def _log_laguerre_rule(n: int, a: float) -> tuple[FloatArray, FloatArray]:
    """Nodes and log-weights of n-point Gauss–Laguerre for the weight y^a e^-y.

    Golub–Welsch on the Jacobi matrix, with the weights' total Γ(a+1) kept in logs so a
    large ``a`` cannot overflow (scipy's roots_genlaguerre does past a ≈ 170).
    """
    i = np.arange(n, dtype=np.float64)
    diagonal = 2 * i + a + 1
    off = np.sqrt(i[1:] * (i[1:] + a))
    nodes, vectors = eigh_tridiagonal(diagonal, off)
    log_w = gammaln(a + 1) + 2 * np.log(np.abs(vectors[0]))
    return np.asarray(nodes, dtype=np.float64), np.asarray(log_w, dtype=np.float64)
