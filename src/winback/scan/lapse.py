"""Know who's gone: each customer's status, and reasons a person can read.

Works on the per-customer feature frame (see :mod:`winback.scan.features`), vectorised
with NumPy. When the frame holds the lapse risk (``follow_suit.py``) and the backtest chose
a slipping threshold, the statuses come from it (``classify``'s risk mode):

- slipping: a lapse risk at or above the threshold (chosen on the backtest's held-out
  cutoff to meet the policy's ``slipping_precision``, and on the ranking's longer grade
  to meet it for who stayed away: ``follow_suit.stayed_away_grade``);
- lapsed: that, and long past the customer's rhythm (``cycle_multiple`` times the typical
  interval, or ``no_purchase_months`` without a purchase), or every subscription ended;
- lost: no purchase for ``lost_after_months``, a subscription ended that long ago, or
  lapsed with P(alive) below ``p_alive_lost``.

The reasons then say the risk against the base rate and name its drivers with numbers (the
customer's rhythm, the longest gap, frequency and spend trends, engagement, incidents not
put right, tone, payments, posts, the model's P(alive)).

Without a risk (too little history to learn one), the rules below decide alone, each
giving a status and a reason; status is the most severe: lost > lapsed > slipping > active.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from winback.policy import Policy
from winback.scan.worth import reasons_in_pieces

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
    return _fmt(x, ",.2f")


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
            + _fmt(days.iloc[rows])
            + " days ago; usually orders every "
            + _fmt(interval.iloc[rows])
            + " days ("
            + _fmt(ratio.iloc[rows], ".1f")
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
        months = _fmt(days.iloc[rows] / DAYS_PER_MONTH, ".1f")
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
        said = "P(alive) " + _fmt(p.iloc[rows], ".2f") + " (customer-base model)"
        if "expected_purchases" in features:
            expected = features["expected_purchases"].iloc[rows].astype("float64")
            said = (
                said
                + "; expects "
                + _fmt(expected, ".2f")
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
                + _fmt(ratio.iloc[rows], ".1f")
                + " expected gaps since the last"
            )

        signals.append(Signal((ratio >= rule.overdue_gaps).to_numpy(), 1, overdue_text))
    return signals


def _num(features: pd.DataFrame, name: str) -> pd.Series:
    if name in features:
        return pd.to_numeric(features[name], errors="coerce").astype("float64")
    return pd.Series(np.nan, index=features.index)


def _fmt(series: pd.Series, spec: str = ".0f") -> pd.Series:
    # A comprehension over Python floats: a quarter less CPU than ``Series.map``.
    return pd.Series([format(v, spec) for v in series.tolist()], index=series.index)


def driver_signals(features: pd.DataFrame, as_of: date, policy: Policy) -> list[Signal]:
    """What drives a customer's lapse risk, each with its numbers: which of them fired for
    a customer is what their reasons name (the severity here is unused)."""
    rule = policy.lapse
    interval = typical_interval(features, policy)
    days = _num(features, "days_since_last_order")
    ratio = days / interval
    longest = _num(features, "longest_gap_days")
    purchases = _num(features, "purchases")
    half, before = (
        _num(features, "purchases_half_year"),
        _num(features, "purchases_half_year_before"),
    )
    engaged = _num(features, "engaged_half_year").fillna(0)
    engaged_before = _num(features, "engaged_half_year_before").fillna(0)
    unsubscribed = _num(features, "unsubscribed").fillna(0)
    unrepaired = _num(features, "unrepaired_incidents").fillna(0)
    sentiment = _num(features, "mean_sentiment")
    posts = _num(features, "negative_posts").fillna(0)
    due, late = _num(features, "invoices_due"), _num(features, "invoices_late")

    def rhythm(rows: np.ndarray) -> pd.Series:
        return (
            "last order "
            + _fmt(days.iloc[rows])
            + " days ago, "
            + _fmt(ratio.iloc[rows], ".1f")
            + "× their usual "
            + _fmt(interval.iloc[rows])
            + " days"
        )

    def longest_gap(rows: np.ndarray) -> pd.Series:
        return "their longest wait yet (longest before: " + _fmt(longest.iloc[rows]) + " days)"

    def frequency(rows: np.ndarray) -> pd.Series:
        one = half.iloc[rows] == 1
        word = pd.Series(np.where(one, " purchase", " purchases"), index=one.index)
        return (
            _fmt(half.iloc[rows])
            + word
            + " in the last 6 months after "
            + _fmt(before.iloc[rows])
            + " in the 6 before"
        )

    def quiet(rows: np.ndarray) -> pd.Series:
        return (
            "opened no e-mail in 6 months after opening "
            + _fmt(engaged_before.iloc[rows])
            + " before"
        )

    def unsubscribe(rows: np.ndarray) -> pd.Series:
        return pd.Series("unsubscribed from marketing", index=rows)

    def incidents(rows: np.ndarray) -> pd.Series:
        return (
            _fmt(unrepaired.iloc[rows])
            + f" incident(s) in the last {policy.worth.recent_incident_days} days not put right"
        )

    def tone(rows: np.ndarray) -> pd.Series:
        return (
            "their contacts sound unhappy (mean sentiment "
            + _fmt(sentiment.iloc[rows], ".2f")
            + ")"
        )

    def posted(rows: np.ndarray) -> pd.Series:
        return _fmt(posts.iloc[rows]) + " negative public post(s) about the business"

    def paid_late(rows: np.ndarray) -> pd.Series:
        return "paid " + _fmt(late.iloc[rows]) + " of " + _fmt(due.iloc[rows]) + " invoices late"

    return [
        Signal((ratio >= rule.cycle_multiple / 2).fillna(False).to_numpy(), 1, rhythm),
        Signal(((purchases >= 3) & (days > longest)).fillna(False).to_numpy(), 1, longest_gap),
        Signal(((before >= 2) & (half <= before / 2)).fillna(False).to_numpy(), 1, frequency),
        *volume_signals(features, policy)[:1],
        Signal(((engaged == 0) & (engaged_before >= 2)).to_numpy(), 1, quiet),
        Signal((unsubscribed > 0).to_numpy(), 1, unsubscribe),
        Signal((unrepaired > 0).to_numpy(), 1, incidents),
        Signal((sentiment <= -0.3).fillna(False).to_numpy(), 1, tone),
        Signal((posts > 0).to_numpy(), 1, posted),
        Signal(((due >= 2) & (late / due >= 0.5)).fillna(False).to_numpy(), 1, paid_late),
        *cancellation_signals(features, as_of, policy)[:1],
        *model_signals(features, policy)[:1],
    ]


MAX_DRIVERS = 4  # reasons beyond the risk itself: enough to act on, few enough to read


def classify_by_risk(
    features: pd.DataFrame, as_of: date, policy: Policy, threshold: float, base_rate: float
) -> tuple[np.ndarray, pd.arrays.ArrowExtensionArray]:
    """Severity per customer from the lapse risk, and each flagged customer's reasons: an
    Arrow list column built :data:`~winback.scan.worth.REASONS_CHUNK` customers at a time
    (as a Python list of strings per customer, 5.5M at 100M orders, they took the statuses
    step from 3.6 to 7.2 GB)."""
    rule = policy.lapse
    risk = _num(features, "lapse_risk")
    days = _num(features, "days_since_last_order")
    ratio = days / typical_interval(features, policy)
    high = (risk >= threshold).fillna(False).to_numpy()
    past_rhythm = (
        ((ratio >= rule.cycle_multiple) | (days >= rule.no_purchase_months * DAYS_PER_MONTH))
        .fillna(False)
        .to_numpy()
    )
    severity = np.where(high, np.where(past_rhythm, 2, 1), 0)
    for s in cancellation_signals(features, as_of, policy):
        severity = np.where(s.fired, np.maximum(severity, s.severity), severity)
    lost = (days >= rule.lost_after_months * DAYS_PER_MONTH).fillna(False).to_numpy()
    if "p_alive" in features:
        given_up = (_num(features, "p_alive") < rule.p_alive_lost).to_numpy()
        lost = lost | (given_up & (severity == 2))
    severity = np.where(lost, 3, severity)

    flagged = severity > 0
    with_risk = flagged & risk.notna().to_numpy()
    horizon = rule.follow_suit_window_days
    typical = f"(a typical active customer: {base_rate:.0%})"
    # A cancellation sets the status by itself, so it is always named, right after the risk;
    # the drivers then fill the rest (it is one of them too, and not repeated).
    cancelled = cancellation_signals(features, as_of, policy)[:1]
    drivers = driver_signals(features, as_of, policy)

    def reasons_of(rows: range) -> list[list[str]]:
        start, stop = rows.start, rows.stop
        reasons: list[list[str]] = [[] for _ in rows]
        here = flagged[start:stop]
        risky = np.flatnonzero(with_risk[start:stop])
        for i, p in zip(risky.tolist(), risk.to_numpy()[risky + start].tolist(), strict=True):
            reasons[i].append(
                f"{p:.0%} likely to place no order in the next {horizon} days {typical}"
            )
        for s in cancelled:
            fired = np.flatnonzero(s.fired[start:stop] & here) + start
            for i, text in zip(fired.tolist(), s.text(fired).to_numpy(), strict=True):
                reasons[i - start].append(text)
        for s in drivers:
            fired = np.flatnonzero(s.fired[start:stop] & here) + start
            if not len(fired):
                continue
            for i, text in zip(fired.tolist(), s.text(fired).to_numpy(), strict=True):
                said = reasons[i - start]
                if len(said) <= MAX_DRIVERS and text not in said:
                    said.append(text)
        return reasons

    return severity, reasons_in_pieces(len(features), reasons_of)


def classify(
    features: pd.DataFrame,
    as_of: date,
    policy: Policy,
    with_reasons: bool = True,
    risk_threshold: float | None = None,
    base_rate: float | None = None,
) -> pd.DataFrame:
    """Status and reasons for every customer; returns ``status``, ``reasons`` and
    ``typical_interval_days`` aligned with ``features``. ``with_reasons=False`` skips the
    words and leaves out ``reasons``. With a ``lapse_risk`` column and ``risk_threshold``
    the statuses come from the risk (``classify_by_risk``); otherwise from the rules."""
    if risk_threshold is not None and "lapse_risk" in features:
        severity, said = classify_by_risk(
            features, as_of, policy, risk_threshold, base_rate if base_rate is not None else 0.0
        )
        out_risk: dict[str, object] = {"status": _STATUS_NAMES[severity].tolist()}
        if with_reasons:
            out_risk["reasons"] = said
        out_risk["typical_interval_days"] = typical_interval(features, policy).to_numpy()
        return pd.DataFrame(out_risk, index=features.index)
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
