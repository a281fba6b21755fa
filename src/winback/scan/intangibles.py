"""The intangibles: what a customer costs beyond the ledger's money, each with its evidence.

Rude to staff, heavy contact, late payment, return abuse: flags the worth step weighs
("not every customer is a keeper"), each raised with the words a person can check.

Each flag reads one count out of a number of chances in the customer's record: rude notes
out of the interactions staff judged, contacts over the months the customer was with us,
late invoices out of the invoices due, returns out of the orders. A customer is compared
with their peers (the same segment, and for contacts the same band of value): with enough
peers, the peers' record is read as two groups, the ordinary and the few who stand out
(a two-group mixture fitted to the counts), and a flag is raised when the chance that the
customer belongs to the few is at least the policy's ``intangible_confidence`` and their
own rate is well above the ordinary one. A business too small for that falls back to
plain rules against the peers' median. Where the data cannot tell (no interactions judged,
no invoices due, no returns recorded anywhere) the flag is unknown (null), never "no".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from winback.policy import Policy

INTANGIBLES = ("rude", "heavy_contact", "late_payer", "return_abuser")

#: Peers with evidence needed to read them as two groups; fewer fall back to simple rules.
MIN_PEERS = 150
#: Customers with evidence a peer group (segment) needs for a reading of its own.
MIN_GROUP = MIN_PEERS
_DAYS_PER_MONTH = 30.44


def number(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame:
        return pd.Series(0.0, index=frame.index)
    return pd.to_numeric(frame[column], errors="coerce").fillna(0.0).astype("float64")


@dataclass(frozen=True)
class Mixture:
    """Two groups of customers: the ordinary (rate ``low``) and a share ``share`` at ``high``."""

    low: float
    high: float
    share: float

    def log_odds(self, k: np.ndarray, n: np.ndarray, poisson: bool) -> np.ndarray:
        """Log odds that each customer belongs to the high group, given ``k`` of ``n``."""
        if poisson:  # k events over an exposure n
            ll_high = k * np.log(self.high) - self.high * n
            ll_low = k * np.log(self.low) - self.low * n
        else:  # k successes out of n trials
            ll_high = k * np.log(self.high) + (n - k) * np.log1p(-self.high)
            ll_low = k * np.log(self.low) + (n - k) * np.log1p(-self.low)
        odds: np.ndarray = np.log(self.share) - np.log1p(-self.share) + ll_high - ll_low
        return odds


def fit_mixture(k: np.ndarray, n: np.ndarray, poisson: bool) -> Mixture:
    """Fit the two groups to counts ``k`` out of ``n`` by expectation-maximisation.

    It starts from the customers with the highest 5 % of rates as the few. The ordinary
    are the majority (the few are at most half); when nobody stands out, the two rates
    meet and no one is more likely one of the few than the share says.
    """
    k, n = np.asarray(k, np.float64), np.asarray(n, np.float64)
    floor, cap = 1e-7, (np.inf if poisson else 1 - 1e-6)
    rate = k / np.where(n > 0, n, 1.0)
    r = (rate >= np.quantile(rate, 0.95)).astype(np.float64) if rate.size else rate
    m = Mixture(floor, floor, 0.05)

    def mean(weights: np.ndarray, before: float) -> float:
        exposure = float((weights * n).sum())
        if exposure < 1e-9:
            return before
        return float(np.clip((weights * k).sum() / exposure, floor, cap))

    for _ in range(500):
        low, high = mean(1 - r, m.low), mean(r, m.high)
        new = Mixture(low, max(high, low), float(np.clip(r.mean(), 1e-4, 0.5)))
        done = (
            abs(new.share - m.share) < 1e-9
            and abs(new.high - m.high) <= 1e-9 * new.high
            and abs(new.low - m.low) <= 1e-9 * new.low
        )
        m = new
        if done:
            break
        r = 1.0 / (1.0 + np.exp(-np.clip(m.log_odds(k, n, poisson), -500, 500)))
    return m


@dataclass(frozen=True)
class Reading:
    """One flag for every customer (nullable), the ordinary rate of each one's peers, and
    the chance each stands out (NaN where the peers were too few to read as two groups)."""

    flag: pd.Series
    ordinary: np.ndarray
    chance: np.ndarray
    #: The events read and the chances they had (interactions, months, invoices, orders).
    k: np.ndarray
    n: np.ndarray


def read_flag(
    k: pd.Series,
    n: pd.Series,
    groups: pd.Series,
    *,
    poisson: bool,
    multiple: float,
    min_rate: float,
    min_events: float,
    confidence: float,
    known: pd.Series,
) -> Reading:
    """Raise a flag where a customer's rate stands out from their peers'.

    ``known`` marks the customers whose record can tell; the others get a null flag.
    With at least :data:`MIN_PEERS` peers (else the whole base) the peers are read as two
    groups and the flag needs ``confidence``; in a smaller business, the rate must be
    ``multiple`` times the peers' median rate with at least ``min_events`` events. Either
    way the customer's own rate must be at least ``multiple`` times the ordinary rate and
    at least ``min_rate``.
    """
    kk, nn = k.to_numpy(np.float64), n.to_numpy(np.float64)
    has = known.to_numpy(bool) & (nn > 0)
    rate = np.where(has, kk / np.where(nn > 0, nn, 1.0), 0.0)
    ordinary = np.full(len(k), np.nan)
    chance = np.full(len(k), np.nan)
    raised = np.zeros(len(k), dtype=bool)
    # Codes rather than the strings: np.unique sorted 300,000 string keys (and ``==`` on
    # them per group) four times a scan, 2.5 CPU s at 300,000 customers.
    keys, names = pd.factorize(groups.astype(str))
    overall: Mixture | None = None
    if has.sum() >= MIN_PEERS:
        overall = fit_mixture(kk[has], nn[has], poisson)
    for key in range(len(names)):
        members = (keys == key) & has
        if not members.any():
            continue
        if overall is None:
            peers = rate[has]
            base = float(np.median(peers))
            ordinary[members] = base
            raised[members] = (kk[members] >= min_events) & (
                rate[members] >= max(multiple * base, min_rate)
            )
            continue
        fit = overall
        if members.sum() >= MIN_GROUP:
            fit = fit_mixture(kk[members], nn[members], poisson)
        posterior = 1.0 / (
            1.0 + np.exp(-np.clip(fit.log_odds(kk[members], nn[members], poisson), -500, 500))
        )
        ordinary[members] = fit.low
        chance[members] = posterior
        raised[members] = (
            (posterior >= confidence)
            & (rate[members] >= max(multiple * fit.low, min_rate))
            & (kk[members] >= min_events)
        )
    flag = pd.Series(pd.array(raised, dtype="boolean"), index=k.index)
    flag[~known.to_numpy(bool)] = pd.NA
    return Reading(flag, ordinary, chance, kk, nn)


def exposure_months(features: pd.DataFrame) -> pd.Series:
    """Months the customer was with us: first order to the later of the last order and last
    contact (plus a month, never beyond the cutoff)."""
    first = pd.to_datetime(features["first_order_date"])
    last = pd.to_datetime(features["last_order_date"])
    as_of = last + pd.to_timedelta(number(features, "days_since_last_order"), unit="D")
    end = last
    if "last_contact_at" in features:
        contact = pd.to_datetime(features["last_contact_at"]).dt.normalize()
        end = pd.concat([last, contact], axis=1).max(axis=1)
    end = pd.concat([end + pd.Timedelta(days=30), as_of], axis=1).min(axis=1)
    days = (end - first).dt.days.astype("float64")
    return (days / _DAYS_PER_MONTH).clip(lower=1.0).fillna(1.0)


def _value_band(features: pd.DataFrame, segment: pd.Series) -> pd.Series:
    """The segment, split into thirds by last year's revenue when each third has enough peers."""
    revenue = number(features, "revenue_last_year")
    band = pd.Series("", index=features.index)
    for idx in segment.groupby(segment).groups.values():
        if len(idx) >= 3 * MIN_PEERS:
            ranks = revenue.loc[idx].rank(method="first", pct=True)
            band.loc[idx] = np.select([ranks <= 1 / 3, ranks <= 2 / 3], ["/low", "/mid"], "/high")
    return segment + band


def readings(features: pd.DataFrame, policy: Policy) -> dict[str, Reading]:
    """Each intangible as read from the features, by name (see :data:`INTANGIBLES`)."""
    w = policy.worth
    segment = features["segment"].fillna("all").astype(str)
    sure = w.intangible_confidence

    rude_k = (
        number(features, "rude_noted")
        if "rude_noted" in features
        else number(features, "rude_interactions")
    )
    judged = number(features, "interactions_judged")
    if "interactions_judged" not in features:  # older frames: each rude note was judged
        judged = rude_k.copy()
    rude = read_flag(
        rude_k, judged, segment, poisson=False, multiple=1.0, min_rate=0.0,
        min_events=w.rude_interactions, confidence=sure, known=judged > 0,
    )  # fmt: skip

    contacts = (
        number(features, "contacts")
        if "contacts" in features
        else number(features, "contacts_last_year")
    )
    months = (
        exposure_months(features)
        if "contacts" in features
        else pd.Series(12.0, index=features.index)
    )
    any_contacts = bool((contacts > 0).any())
    heavy = read_flag(
        contacts, months, _value_band(features, segment), poisson=True,
        multiple=w.heavy_contact_multiple, min_rate=0.0, min_events=4, confidence=sure,
        known=pd.Series(any_contacts, index=features.index),
    )  # fmt: skip

    due = number(features, "invoices_due")
    late = number(features, "invoices_late")
    late_payer = read_flag(
        late, due, segment, poisson=False, multiple=1.0, min_rate=w.late_payer_share,
        min_events=2, confidence=sure, known=due > 0,
    )  # fmt: skip

    returns = number(features, "returns")
    orders = number(features, "orders")
    abuser = read_flag(
        returns.clip(upper=orders), orders, segment, poisson=False,
        multiple=w.return_abuse_multiple, min_rate=0.0, min_events=2, confidence=sure,
        known=pd.Series(bool((returns > 0).any()), index=features.index) & (orders > 0),
    )  # fmt: skip

    return {"rude": rude, "heavy_contact": heavy, "late_payer": late_payer, "return_abuser": abuser}


class Evidence(dict[int, list[str]]):
    """The evidence for the flags raised, by customer (row position); a customer with none
    reads as an empty list, not stored: an empty list for each of 5.5M customers (100M
    orders) took 350 MB through the worth step."""

    def __missing__(self, row: int) -> list[str]:
        return []


def intangibles(features: pd.DataFrame, policy: Policy) -> tuple[pd.DataFrame, Evidence]:
    """The four intangibles as nullable flags, and the evidence for each flag raised."""
    read = readings(features, policy)
    flags = pd.DataFrame({name: read[name].flag for name in INTANGIBLES}, index=features.index)
    evidence = Evidence()
    # The words are built only for the customers whose flag is raised.
    rude, heavy = read["rude"], read["heavy_contact"]
    rude_v, judged_v = rude.k, rude.n
    contacts_v, months_v = heavy.k, heavy.n
    per_month = contacts_v / months_v
    late_v, due_v, late_peers = (
        read["late_payer"].k,
        read["late_payer"].n,
        read["late_payer"].ordinary,
    )
    returns_v, orders_v = read["return_abuser"].k, read["return_abuser"].n
    return_peers = read["return_abuser"].ordinary
    texts: dict[str, Callable[[int], str]] = {
        "rude": lambda i: (
            f"staff recorded rudeness in {rude_v[i]:.0f} of {judged_v[i]:.0f} interactions"
        ),
        "heavy_contact": lambda i: (
            f"contacted us {contacts_v[i]:.0f} times in {months_v[i]:.0f} months "
            f"({per_month[i]:.1f} a month, {per_month[i] / heavy.ordinary[i]:.0f}× "
            f"their peers' usual {heavy.ordinary[i]:.2f}), not counting complaints"
        ),
        "late_payer": lambda i: (
            f"paid {late_v[i]:.0f} of {due_v[i]:.0f} invoices late "
            f"(peers: {late_peers[i]:.0%} of invoices)"
        ),
        "return_abuser": lambda i: (
            f"returned {returns_v[i]:.0f} of {orders_v[i]:.0f} orders "
            f"({returns_v[i] / orders_v[i]:.0%}; peers: {return_peers[i]:.0%})"
        ),
    }
    for name in INTANGIBLES:
        text = texts[name]
        for i in np.flatnonzero(flags[name].fillna(False).to_numpy(bool)):
            evidence.setdefault(int(i), []).append(text(int(i)))
    return flags, evidence
