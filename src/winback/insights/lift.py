"""What a win-back campaign really won: holdouts drawn at random, and the lift they measure.

A campaign holds back a random share of its audience (nobody contacts them). The holdout's
return rate is what the treated members would have done anyway, so the treated rate minus
the holdout rate is the *incremental* win-back: the lift. Everything here is a pure
function on NumPy arrays; the desk stores the assignment and the outcomes.

* :func:`draw_holdout` - a stratified random holdout, reproducible from its seed;
* :func:`rate_lift` - the difference in win-back rates with Newcombe's hybrid score
  interval (Newcombe 1998, method 10), which keeps its coverage for small groups and rates
  near 0 where the textbook (Wald) interval does not;
* :func:`mean_lift` - the difference in revenue per member, with an interval built from
  each group's share who spent (Wilson) and mean spend (MOVER, Zou and Donner 2008);
* :func:`minimum_detectable_lift` - the smallest lift in rates a campaign of this size
  would detect, before it is launched.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

from winback.errors import InvalidInput

RATE_METHOD = "Newcombe hybrid score interval (Wilson score per group)"
MEAN_METHOD = "MOVER of each group's share who spent (Wilson) and mean spend (log scale)"


@dataclass(frozen=True)
class LiftEstimate:
    """The treated group against the holdout, and the interval on the difference.

    ``treated_rate`` and ``holdout_rate`` are the groups' means: a win-back rate for
    :func:`rate_lift`, revenue per member for :func:`mean_lift`. ``difference`` is
    treated minus holdout; ``low`` and ``high`` bound it at the level asked for.
    """

    treated_n: int
    holdout_n: int
    treated_rate: float
    holdout_rate: float
    difference: float
    low: float
    high: float
    method: str

    def excludes_zero(self) -> bool:
        """True when the interval lies wholly above or below zero."""
        return self.low > 0 or self.high < 0


def draw_holdout(strata: Sequence[str], share: float, seed: int) -> np.ndarray:
    """Pick a random holdout within each stratum; True marks a holdout member.

    Parameters
    ----------
    strata
        One stratum name per member, e.g. ``f"{tier}|{segment}"``.
    share
        The share to hold back, ``0 <= share < 1``.
    seed
        Seed of the draw: the same strata, share and seed give the same holdout.

    Returns
    -------
    numpy.ndarray
        Booleans, one per member. Every stratum of ``n`` members holds back at least
        ``round(share * n)`` (halves round up); the members that rounding leaves over
        across strata are spread so the whole holdout is at least ``round(share * N)``,
        the strata with the largest remainders the likeliest to take one.

    Raises
    ------
    InvalidInput
        For a share outside ``[0, 1)``.
    """
    if not (isinstance(share, int | float) and 0 <= share < 1):
        raise InvalidInput(f"holdout share must be at least 0 and below 1, not {share!r}")
    names = np.asarray(list(strata), dtype=object)
    holdout = np.zeros(names.size, dtype=bool)
    if names.size == 0 or share == 0:
        return holdout
    rng = np.random.default_rng(seed)
    keys, codes = np.unique(names.astype(str), return_inverse=True)
    sizes = np.bincount(codes, minlength=keys.size)
    exact = share * sizes
    take = np.floor(exact + 0.5).astype(np.int64)
    short = _round_half_up(share * names.size) - int(take.sum())
    if short > 0:
        remainder = np.clip(exact - take, 0, None) + 1e-12 * (take < sizes)
        room = take < sizes
        weights = np.where(room, remainder, 0.0)
        extra = rng.choice(keys.size, size=short, replace=False, p=weights / weights.sum())
        take[extra] += 1
    for k in range(keys.size):
        members = np.flatnonzero(codes == k)
        holdout[rng.choice(members, size=int(take[k]), replace=False)] = True
    return holdout


def _round_half_up(x: float) -> int:
    return math.floor(x + 0.5)


def _outcomes(values: np.ndarray, name: str, *, binary: bool) -> np.ndarray:
    """The outcomes of one group as floats, or a clear error naming the group."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise InvalidInput(f"{name} outcomes must be a flat list, not shape {array.shape}")
    if array.size == 0:
        raise InvalidInput(f"the {name} group is empty; a lift needs members in both groups")
    try:
        floats = array.astype(float)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name} outcomes must be numbers") from None
    if not np.isfinite(floats).all():
        raise InvalidInput(f"{name} outcomes hold a missing or infinite value")
    if binary and not np.isin(floats, (0.0, 1.0)).all():
        raise InvalidInput(f"{name} outcomes must be 0/1 (came back or not)")
    return floats


def _check_level(level: float) -> float:
    if not 0 < level < 1:
        raise InvalidInput(f"confidence level must lie between 0 and 1, not {level!r}")
    return level


def wilson_interval(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson's score interval for one proportion (exact at 0 and n, never outside [0, 1])."""
    z = stats.norm.ppf(0.5 + level / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def rate_lift(treated: np.ndarray, holdout: np.ndarray, level: float = 0.95) -> LiftEstimate:
    """Win-back rate of the treated minus that of the holdout, with Newcombe's interval.

    Parameters
    ----------
    treated, holdout
        One 0/1 (or boolean) outcome per member: 1 when the member came back.
    level
        Confidence level of the interval.

    Notes
    -----
    Newcombe's hybrid score interval combines each group's Wilson interval
    ``(l1, u1)``, ``(l2, u2)``: ``d - sqrt((p1-l1)^2 + (u2-p2)^2)`` to
    ``d + sqrt((u1-p1)^2 + (p2-l2)^2)``. Its coverage stays near the nominal level with
    groups of a few dozen and rates near 0, where ``d ± z·se`` falls short.
    """
    t = _outcomes(treated, "treated", binary=True)
    h = _outcomes(holdout, "holdout", binary=True)
    _check_level(level)
    p1, p2 = float(t.mean()), float(h.mean())
    l1, u1 = wilson_interval(int(t.sum()), t.size, level)
    l2, u2 = wilson_interval(int(h.sum()), h.size, level)
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return LiftEstimate(t.size, h.size, p1, p2, d, low, high, RATE_METHOD)


def wald_rate_lift(treated: np.ndarray, holdout: np.ndarray, level: float = 0.95) -> LiftEstimate:
    """The textbook ``d ± z·se`` interval: a naive anchor to measure :func:`rate_lift` by."""
    t = _outcomes(treated, "treated", binary=True)
    h = _outcomes(holdout, "holdout", binary=True)
    z = stats.norm.ppf(0.5 + _check_level(level) / 2)
    p1, p2 = float(t.mean()), float(h.mean())
    se = math.sqrt(p1 * (1 - p1) / t.size + p2 * (1 - p2) / h.size)
    d = p1 - p2
    return LiftEstimate(t.size, h.size, p1, p2, d, d - z * se, d + z * se, "Wald (naive)")


def _log_limits(values: np.ndarray, level: float, pooled_cv2: float) -> tuple[float, float]:
    """One group's mean (share who spent × mean spend) with its limits, on the log scale.

    The share who spent carries its Wilson interval; the log of the mean spend a normal
    interval with standard error ``cv/√k`` for ``k`` spenders, ``cv`` being the
    coefficient of variation of every spender in both groups (a handful of spends says
    little about their own spread; an offer changes who comes back more than how much
    they spend). The two add on the log scale, so their limits combine by MOVER (Zou and
    Donner 2008)."""
    k, n = int(np.count_nonzero(values)), values.size
    share = k / n
    low_share, high_share = wilson_interval(k, n, level)
    spread = float(stats.norm.ppf(0.5 + level / 2)) * math.sqrt(pooled_cv2 / k)
    centre = math.log(float(values.mean()))
    low = centre - math.hypot(math.log(share) - math.log(low_share), spread)
    high = centre + math.hypot(math.log(high_share) - math.log(share), spread)
    return low, high


def _group_limits(
    values: np.ndarray, level: float, pooled: np.ndarray
) -> tuple[float, float, float]:
    """A group's revenue per member and its interval (see :func:`_log_limits`)."""
    mean = float(values.mean())
    if np.count_nonzero(values) == 0:
        # Nobody spent: the mean is 0, and at most the Wilson upper share would have
        # spent the pooled mean spend.
        upper_share = wilson_interval(0, values.size, level)[1]
        return mean, 0.0, upper_share * (float(pooled.mean()) if pooled.size else 0.0)
    if pooled.size > 1 and pooled.mean() != 0:
        pooled_cv2 = float(pooled.var(ddof=1)) / float(pooled.mean()) ** 2
    else:
        pooled_cv2 = 1.0  # a lone spend: an exponential's spread
    low, high = _log_limits(values, level, pooled_cv2)
    return mean, math.exp(low), math.exp(high)


def mean_lift(treated: np.ndarray, holdout: np.ndarray, level: float = 0.95) -> LiftEstimate:
    """Revenue per member of the treated minus that of the holdout, with an interval that
    knows most members spend nothing.

    Parameters
    ----------
    treated, holdout
        One value per member, at least 0 (revenue in the campaign window; 0 for a member
        who did not come back).
    level
        Confidence level of the interval.

    Notes
    -----
    Revenue per member is a share who spent times what they spent on average. Each
    group's mean gets an interval from the two parts (a Wilson score interval for the
    share, a normal interval on the log of the mean spend with the spread of every
    spender in both groups, added on the log scale by MOVER),
    and the difference combines the groups' limits as Newcombe's interval does for rates
    (MOVER: ``d - √((m₁-l₁)² + (u₂-m₂)²)`` to ``d + √((u₁-m₁)² + (m₂-l₂)²)``). A small
    holdout holds a handful of spenders; when it happens to hold few, its mean and its
    spread are both low, and an interval on the spread alone (Welch's t, or a bootstrap)
    sits too high just then. The Wilson interval of the share does not shrink with it,
    which is what brings the coverage to its level in ``benchmarks/accuracy_campaigns.py``
    (docs/lift.md). Exact and reproducible: no resampling.

    Raises
    ------
    InvalidInput
        For an empty group, a value that is missing, infinite or negative, or a level
        outside (0, 1).
    """
    t = _outcomes(treated, "treated", binary=False)
    h = _outcomes(holdout, "holdout", binary=False)
    _check_level(level)
    for name, values in (("treated", t), ("holdout", h)):
        if (values < 0).any():
            raise InvalidInput(
                f"{name} outcomes must be at least 0 (revenue in the window), "
                f"not {float(values.min())}"
            )
    pooled = np.concatenate([t[t != 0], h[h != 0]])
    m1, l1, u1 = _group_limits(t, level, pooled)
    m2, l2, u2 = _group_limits(h, level, pooled)
    d = m1 - m2
    low = d - math.hypot(m1 - l1, u2 - m2)
    high = d + math.hypot(u1 - m1, m2 - l2)
    return LiftEstimate(t.size, h.size, m1, m2, d, low, high, MEAN_METHOD)


def minimum_detectable_lift(
    n_treated: int,
    n_holdout: int,
    base_rate: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
) -> float:
    """The smallest rise in win-back rate a campaign of this size would detect.

    Parameters
    ----------
    n_treated, n_holdout
        Sizes of the two groups.
    base_rate
        The win-back rate expected without the campaign (the holdout's).
    alpha, power
        A two-sided test at ``alpha`` detects the lift with probability ``power``.

    Returns
    -------
    float
        The lift in rate (0.05 = five percentage points), or ``math.inf`` when even
        bringing back everyone (a rate of 1) would not be detected that reliably.

    Notes
    -----
    Solves ``z_{1-α/2}·sqrt(p̄(1-p̄)(1/n1 + 1/n2)) + z_power·sqrt(p1(1-p1)/n1 +
    p0(1-p0)/n2) = p1 - p0`` for ``p1``, the usual normal approximation for two rates.
    """
    for name, n in (("treated", n_treated), ("holdout", n_holdout)):
        if not isinstance(n, int | np.integer) or n < 1:
            raise InvalidInput(f"{name} group size must be a whole number above 0, not {n!r}")
    if not 0 <= base_rate < 1:
        raise InvalidInput(f"base rate must be at least 0 and below 1, not {base_rate!r}")
    if not 0 < alpha < 1:
        raise InvalidInput(f"alpha must lie between 0 and 1, not {alpha!r}")
    if not 0 < power < 1:
        raise InvalidInput(f"power must lie between 0 and 1, not {power!r}")
    z_a = float(stats.norm.ppf(1 - alpha / 2))
    z_b = float(stats.norm.ppf(power))
    n1, n2, p0 = float(n_treated), float(n_holdout), float(base_rate)

    def gap(delta: float) -> float:
        p1 = p0 + delta
        pooled = (n1 * p1 + n2 * p0) / (n1 + n2)
        null_se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        alt_se = math.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n2)
        return delta - z_a * null_se - z_b * alt_se

    top = 1 - p0
    if gap(top) < 0:
        return math.inf
    return float(optimize.brentq(gap, 1e-12, top, xtol=1e-10))
