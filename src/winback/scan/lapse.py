"""Know who's gone: the lapse rules, each giving a status and a reason a person can read.

Works on the per-customer feature frame (see :mod:`winback.scan.features`), vectorised
with NumPy; optional model columns (``p_alive``, ``expected_purchases``) add the model
signals when present. Status is the most severe signal: lost > lapsed > slipping > active.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from winback.policy import Policy

DAYS_PER_MONTH = 30.44
SEVERITY = {"active": 0, "slipping": 1, "lapsed": 2, "lost": 3}
STATUS_BY_SEVERITY = {v: k for k, v in SEVERITY.items()}
_STATUS_NAMES = np.array([STATUS_BY_SEVERITY[v] for v in range(len(SEVERITY))], dtype=object)


@dataclass(frozen=True)
class Signal:
    """One rule's verdict for every customer: where it fired, how severe, and why."""

    fired: np.ndarray  # bool per customer
    severity: int
    # The reason for the customers at the given row positions, built only when asked (and
    # then only for those the rule fired for).
    text: Callable[[np.ndarray], pd.Series]


def _money(x: pd.Series) -> pd.Series:
    return x.map(lambda v: f"{v:,.2f}")


def typical_interval(features: pd.DataFrame, policy: Policy) -> pd.Series:
    """Each customer's typical days between purchases, shrunk toward the segment's median.

    With n observed intervals and a prior worth k intervals, the estimate is
    ``(n * own + k * segment) / (n + k)``; a one-time buyer gets the segment's.
    """
    own = features["own_interval_days"].astype("float64")
    observed = (features["purchases"].astype("float64") - 1).clip(lower=0)
    overall = float(np.nanmedian(own)) if own.notna().any() else 30.0
    segment = own.groupby(features["segment"]).transform("median").fillna(overall)
    k = policy.lapse.cycle_prior_intervals
    weighted = (observed * own.fillna(0.0) + k * segment) / (observed + k)
    # With no prior weight and no intervals of one's own, only the segment can speak.
    return weighted.where((observed + k) > 0, segment).clip(lower=1.0)


def cycle_signals(features: pd.DataFrame, policy: Policy) -> list[Signal]:
    interval = typical_interval(features, policy)
    days = features["days_since_last_order"].astype("float64")
    ratio = days / interval
    k = policy.lapse.cycle_multiple

    def text(rows: np.ndarray) -> pd.Series:
        return (
            "last order "
            + days.iloc[rows].map(lambda d: f"{d:.0f}")
            + " days ago; usually orders every "
            + interval.iloc[rows].map(lambda d: f"{d:.0f}")
            + " days ("
            + ratio.iloc[rows].map(lambda r: f"{r:.1f}")
            + "×)"
        )

    lapsed = (ratio >= k).to_numpy()
    slipping = ((ratio >= k / 2) & (ratio < k)).to_numpy()
    return [Signal(lapsed, 2, text), Signal(slipping, 1, text)]


def volume_signals(features: pd.DataFrame, policy: Policy) -> list[Signal]:
    rule = policy.lapse
    drop = rule.volume_drop_percent / 100.0
    recent = features["revenue_recent"].astype("float64")
    out = []
    for column, label in (
        ("revenue_prior", "the period before"),
        ("revenue_year_ago", "a year earlier"),
    ):
        before = features[column].astype("float64")
        fired = (before > 0) & (before >= rule.volume_min_revenue) & (recent <= before * (1 - drop))

        def text(rows: np.ndarray, before: pd.Series = before, label: str = label) -> pd.Series:
            now, then = recent.iloc[rows], before.iloc[rows]
            change = (1 - now / then.where(then > 0)) * 100
            return (
                f"revenue in the last {rule.volume_period_days} days "
                + _money(now)
                + ", down "
                + change.map(lambda c: f"{c:.0f}" if c == c else "")
                + "% from "
                + _money(then)
                + f" in {label}"
            )

        out.append(Signal(fired.to_numpy(), 1, text))
    return out


def engagement_signal(features: pd.DataFrame, as_of: date, policy: Policy) -> Signal:
    months = policy.lapse.no_engagement_months
    sent = features["sent_recently"].fillna(0).astype("int64")
    last = pd.to_datetime(features["last_engaged_at"])
    since = pd.Timestamp(as_of) - pd.Timedelta(days=round(DAYS_PER_MONTH * months))
    fired = (sent > 0) & (last.isna() | (last < since))

    def text(rows: np.ndarray) -> pd.Series:
        last_text = last.iloc[rows].dt.strftime("%Y-%m-%d").fillna("never")
        return (
            "sent "
            + sent.iloc[rows].astype(str)
            + f" mailings in the last {months} months, opened or clicked none (last engaged "
            + last_text
            + ")"
        )

    return Signal(fired.to_numpy(), 1, text)


def recency_signals(features: pd.DataFrame, policy: Policy) -> list[Signal]:
    rule = policy.lapse
    days = features["days_since_last_order"].astype("float64")
    lapsed = days >= rule.no_purchase_months * DAYS_PER_MONTH
    lost = days >= rule.lost_after_months * DAYS_PER_MONTH

    def text(rows: np.ndarray) -> pd.Series:
        last = pd.to_datetime(features["last_order_date"].iloc[rows]).dt.strftime("%Y-%m-%d")
        months = (days.iloc[rows] / DAYS_PER_MONTH).map(lambda m: f"{m:.1f}")
        return "no purchase in " + months + " months (last order " + last + ")"

    return [Signal(lapsed.to_numpy(), 2, text), Signal(lost.to_numpy(), 3, text)]


def cancellation_signals(features: pd.DataFrame, as_of: date, policy: Policy) -> list[Signal]:
    """Every subscription ended: lapsed; ended long ago: lost."""
    if "active_contracts" not in features:
        return []
    contracts = pd.to_numeric(features["contracts"], errors="coerce").fillna(0)
    active = pd.to_numeric(features["active_contracts"], errors="coerce").fillna(0)
    cancelled = pd.to_datetime(features["last_cancelled_on"])
    gone = (contracts > 0) & (active == 0) & cancelled.notna()
    days = (pd.Timestamp(as_of) - cancelled).dt.days
    long_ago = gone & (days >= policy.lapse.lost_after_months * DAYS_PER_MONTH)

    def text(rows: np.ndarray) -> pd.Series:
        reason = features["last_cancel_reason"].iloc[rows].astype("object")
        on = cancelled.iloc[rows].dt.strftime("%Y-%m-%d").fillna("")
        said = "cancelled the subscription on " + on
        return said + reason.map(lambda r: f" ({r})" if isinstance(r, str) and r else "")

    return [Signal(gone.to_numpy(), 2, text), Signal(long_ago.to_numpy(), 3, text)]


def model_signals(features: pd.DataFrame, policy: Policy) -> list[Signal]:
    if "p_alive" not in features:
        return []
    rule = policy.lapse
    p = features["p_alive"].astype("float64")

    def text(rows: np.ndarray) -> pd.Series:
        said = "P(alive) " + p.iloc[rows].map(lambda v: f"{v:.2f}") + " (customer-base model)"
        if "expected_purchases" in features:
            expected = features["expected_purchases"].iloc[rows].astype("float64")
            said = (
                said
                + "; expects "
                + expected.map(lambda v: f"{v:.2f}")
                + f" purchases in the next {rule.expected_purchases_days} days"
            )
        return said

    signals = [Signal((p < rule.p_alive_slipping).to_numpy(), 1, text)]
    if "overdue_ratio" in features:
        ratio = features["overdue_ratio"].astype("float64")

        def overdue_text(rows: np.ndarray) -> pd.Series:
            first = pd.to_datetime(features["first_order_date"].iloc[rows])
            days = features["due_days"].iloc[rows].astype("float64")
            due = first + pd.to_timedelta(days, unit="D")
            return (
                "expected next purchase was due "
                + due.dt.strftime("%Y-%m-%d")
                + " (customer-base model); "
                + ratio.iloc[rows].map(lambda v: f"{v:.1f}")
                + " expected gaps since the last"
            )

        signals.append(Signal((ratio >= rule.overdue_gaps).to_numpy(), 1, overdue_text))
    return signals


def classify(
    features: pd.DataFrame, as_of: date, policy: Policy, with_reasons: bool = True
) -> pd.DataFrame:
    """Status and reasons for every customer; returns ``status``, ``reasons`` and
    ``typical_interval_days`` aligned with ``features``. ``with_reasons=False`` skips the
    words and leaves out ``reasons`` (the classifier's backtest needs only statuses)."""
    signals = [
        *cycle_signals(features, policy),
        *volume_signals(features, policy),
        engagement_signal(features, as_of, policy),
        *recency_signals(features, policy),
        *cancellation_signals(features, as_of, policy),
        *model_signals(features, policy),
    ]
    n = len(features)
    severity = np.zeros(n, dtype=np.int64)
    for s in signals:
        severity = np.where(s.fired, np.maximum(severity, s.severity), severity)
    # A lapsed customer whom the model also gives up on is lost.
    if "p_alive" in features:
        gone = (features["p_alive"].to_numpy() < policy.lapse.p_alive_lost) & (severity == 2)
        severity = np.where(gone, 3, severity)
    out: dict[str, object] = {"status": _STATUS_NAMES[severity].tolist()}
    if with_reasons:
        reasons: list[list[str]] = [[] for _ in range(n)]
        for s in signals:
            fired = np.flatnonzero(s.fired)
            if not len(fired):
                continue
            for i, text in zip(fired, s.text(fired).to_numpy(), strict=True):
                if text not in reasons[i]:
                    reasons[i].append(text)
        out["reasons"] = reasons
    out["typical_interval_days"] = typical_interval(features, policy).to_numpy()
    return pd.DataFrame(out, index=features.index)
