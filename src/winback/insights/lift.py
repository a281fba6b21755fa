"""What a win-back campaign really won: holdouts drawn at random, and the lift they measure.

A campaign holds back a random share of its audience (nobody contacts them). The holdout's
return rate is what the treated members would have done anyway, so the treated rate minus
the holdout rate is the *incremental* win-back: the lift. Everything here is a pure
function on NumPy arrays; the desk stores the assignment and the outcomes.

* :func:`draw_holdout` - a stratified random holdout, reproducible from its seed;
* :func:`rate_lift` - the difference in win-back rates with Newcombe's hybrid score
  interval (Newcombe 1998, method 10), which keeps its coverage for small groups and rates
  near 0 where the textbook (Wald) interval does not;
* :func:`mean_lift` - the difference in revenue per member with a bias-corrected and
  accelerated (BCa) bootstrap interval, resampling each group on its own;
* :func:`minimum_detectable_lift` - the smallest lift in rates a campaign of this size
  would detect, before it is launched.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special, stats

from winback.errors import InvalidInput

RATE_METHOD = "Newcombe hybrid score interval (Wilson score per group)"
MEAN_METHOD = "BCa bootstrap, each group resampled on its own"
#: Resamples are drawn this many at a time, so memory stays small for large groups.
_CHUNK = 100


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


def _bootstrap_means(values: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    means = np.empty(resamples)
    for start in range(0, resamples, _CHUNK):
        size = min(_CHUNK, resamples - start)
        picks = rng.integers(0, values.size, size=(size, values.size))
        means[start : start + size] = values[picks].mean(axis=1)
    return means


def _leave_one_out_means(values: np.ndarray) -> np.ndarray:
    if values.size == 1:
        return values.copy()
    out: np.ndarray = (values.sum() - values) / (values.size - 1)
    return out


def mean_lift(
    treated: np.ndarray,
    holdout: np.ndarray,
    level: float = 0.95,
    *,
    seed: int = 0,
    resamples: int = 2000,
) -> LiftEstimate:
    """Revenue per member of the treated minus that of the holdout, with a BCa interval.

    Parameters
    ----------
    treated, holdout
        One value per member (revenue in the campaign window; 0 for a member who did not
        come back).
    level
        Confidence level of the interval.
    seed, resamples
        The bootstrap's seed (the same seed gives the same interval) and resample count.

    Notes
    -----
    Each group is resampled on its own, as the campaign drew them. The bias correction
    and acceleration (Efron 1987) come from the bootstrap distribution and each group's
    leave-one-out means; they pull the interval toward the long right tail that revenue
    has, where a plain percentile interval undercovers.
    """
    t = _outcomes(treated, "treated", binary=False)
    h = _outcomes(holdout, "holdout", binary=False)
    _check_level(level)
    if resamples < 100:
        raise InvalidInput(f"a bootstrap needs at least 100 resamples, not {resamples}")
    rng = np.random.default_rng(seed)
    d = float(t.mean() - h.mean())
    boot = _bootstrap_means(t, resamples, rng) - _bootstrap_means(h, resamples, rng)
    alpha = (1 - level) / 2
    if np.all(boot == boot[0]):
        return LiftEstimate(t.size, h.size, float(t.mean()), float(h.mean()), d, d, d, MEAN_METHOD)
    share_below = (np.count_nonzero(boot < d) + 0.5 * np.count_nonzero(boot == d)) / resamples
    z0 = stats.norm.ppf(np.clip(share_below, 1 / resamples, 1 - 1 / resamples))
    # Jackknife of the difference: leaving a treated member out moves the treated mean;
    # leaving a holdout member out moves the holdout mean (with a minus sign).
    jack = np.concatenate([_leave_one_out_means(t), -_leave_one_out_means(h)])
    jack_t, jack_h = jack[: t.size], jack[t.size :]
    spread = np.concatenate([jack_t.mean() - jack_t, jack_h.mean() - jack_h])
    denominator = 6 * float((spread**2).sum()) ** 1.5
    a = float((spread**3).sum()) / denominator if denominator > 0 else 0.0
    quantiles = []
    for z_alpha in stats.norm.ppf([alpha, 1 - alpha]):
        adjusted = z0 + (z0 + z_alpha) / (1 - a * (z0 + z_alpha))
        quantiles.append(float(special.ndtr(adjusted)))
    low, high = np.quantile(boot, quantiles)
    return LiftEstimate(
        t.size, h.size, float(t.mean()), float(h.mean()), d, float(low), float(high), MEAN_METHOD
    )


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
