"""Special functions the models need, evaluated so that they cannot overflow.

The Gauss hypergeometric function appears in the Pareto/NBD likelihood and in the
conditional expectations of the BG/NBD family. Each caller first transforms its 2F1 (Euler's
transformation) into one whose series has small upper parameters and ``0 <= z < 1``, so the
terms decrease and the sum is a modest number; the large powers stay outside, in logs.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

MAX_TERMS = 20_000
RTOL = 1e-15


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
