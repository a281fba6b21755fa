"""Decide who is worth it: intangibles, the keeper decision, what a call adds, tier, rank.

"Not every customer is a keeper": for each customer who is slipping, lapsed or lost, the
scan weighs what they brought (margin over the past years), what they would be worth if
won back (that margin carried over the policy's horizon, discounted), the mistakes they
suffered, and the intangibles, each with its evidence. A call is worth only what it
changes (scan/call_lift.py)::

    expected value = (P(returns if contacted) - P(returns anyway)) x value - expected cost

so an account that will buy anyway is not worth a call however much it brings, and the
list (and the desk's queue, which follows the rank) is ranked by it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from winback.policy import Policy
from winback.scan.call_lift import Rates, at_risk, return_rates
from winback.scan.intangibles import intangibles
from winback.scan.intangibles import number as _num


def value_if_won(features: pd.DataFrame, policy: Policy) -> pd.Series:
    """Yearly margin over the past years, carried over the horizon with discounting."""
    w = policy.worth
    first = pd.to_datetime(features["first_order_date"])
    last = pd.to_datetime(features["last_order_date"])
    tenure_years = ((last - first).dt.days / 365.25).clip(lower=1.0, upper=float(w.years))
    yearly = _num(features, "margin_past_years") / tenure_years
    years = w.horizon_months / 12.0
    rate = w.yearly_discount_rate
    annuity = years if rate == 0 else (1 - (1 + rate) ** -years) / rate
    return (yearly * annuity).clip(lower=0.0)


def winback_odds(segments: pd.Series, outcomes: pd.DataFrame | None, policy: Policy) -> pd.Series:
    """Beta-binomial odds by segment that a call wins a gone customer back: the prior
    updated by the calls recorded in ``outcomes`` (``segment`` and ``outcome`` columns)."""
    frame = pd.DataFrame({"segment": segments.to_numpy()}, index=segments.index)
    return return_rates(frame, outcomes, policy).won_by_call


def decide(
    features: pd.DataFrame,
    status: pd.Series,
    policy: Policy,
    outcomes: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Decision, the chances with and without a call, value, expected value, tier and rank
    for every customer."""
    flags, evidence = intangibles(features, policy)
    value = value_if_won(features, policy).to_numpy()
    risk, source = at_risk(features)
    rates = return_rates(features, outcomes, policy)
    r = risk.to_numpy()
    p_anyway = 1.0 - r + r * rates.unprompted.to_numpy()
    p_call = 1.0 - r + r * rates.won_by_call.to_numpy()
    margin = _num(features, "margin_past_years")
    incidents = _num(features, "recent_incidents")
    gone = status.isin(["slipping", "lapsed", "lost"]).to_numpy()
    n_intangibles = flags.sum(axis=1).to_numpy()
    let_go = gone & (
        (n_intangibles >= policy.decision.let_go_intangibles)
        | (policy.decision.let_go_unprofitable & (margin.to_numpy() < 0))
    )
    too_small = gone & ~let_go & (value < policy.decision.min_value)
    pursue = gone & ~let_go & ~too_small
    decision = np.where(let_go, "let_go", np.where(too_small, "dont_pursue", "pursue")).astype(
        object
    )
    decision[~gone] = None

    c = policy.costs
    t = policy.tiers
    base_cost = np.where(value >= t.rep_min_value, c.rep_call, c.campaign)
    # The concession goes to everyone who comes back after the call, including those who
    # would have come back anyway: a discount to a customer who buys anyway is a cost.
    expected_cost = base_cost + c.offer_share * p_call * value
    ev = (p_call - p_anyway) * value - expected_cost
    order = np.argsort(-np.where(pursue, ev, -np.inf), kind="stable")
    rank = np.full(len(features), -1, dtype=np.int64)
    tier = np.full(len(features), None, dtype=object)
    tier[gone] = "none"
    listed = order[(pursue & (ev > 0))[order]]  # best first
    rank[listed] = np.arange(1, len(listed) + 1)
    listed_value = value[listed]
    tier[listed] = np.where(listed_value >= t.rep_min_value, "rep", "campaign")
    # The best-ranked few worth enough get an executive's call, unless they would likely
    # come back anyway (an executive's hour goes where the call changes the most).
    worthy = (listed_value >= t.executive_min_value) & (
        p_anyway[listed] < t.executive_max_returns_anyway
    )
    executives = listed[np.flatnonzero(worthy)][: max(t.executive_top, 0)]
    tier[executives] = "executive"
    expected_cost[executives] += c.executive_call - base_cost[executives]
    tier[pursue & (ev <= 0)] = "none"

    reasons = _decision_reasons(
        decision, value, margin, incidents, features, evidence, ev, risk, source, rates, policy
    )
    out = pd.DataFrame(
        {
            "decision": decision,
            "winback_odds": rates.won_by_call.to_numpy(),
            "p_return_anyway": p_anyway,
            "p_return_contacted": p_call,
            "value_if_won": value,
            "expected_cost": np.where(gone, expected_cost, np.nan),
            "expected_value": np.where(gone, ev, np.nan),
            "tier": tier,
            "rank": pd.array(np.where(rank > 0, rank, 0), dtype="Int64").astype("Int64"),
            "decision_reasons": reasons,
        },
        index=features.index,
    )
    out.loc[rank <= 0, "rank"] = pd.NA
    return pd.concat([out, flags], axis=1)


def _decision_reasons(
    decision: np.ndarray,
    value: np.ndarray,
    margin: pd.Series,
    incidents: pd.Series,
    features: pd.DataFrame,
    evidence: list[list[str]],
    ev: np.ndarray,
    risk: pd.Series,
    source: pd.Series,
    rates: Rates,
    policy: Policy,
) -> list[list[str]]:
    w = policy.worth
    last_type = (
        features["last_incident_type"].astype("object").to_numpy()
        if "last_incident_type" in features
        else np.full(len(features), None)
    )
    margin_v, incidents_v = margin.to_numpy(), incidents.to_numpy()
    risk_v, source_v = risk.to_numpy(), source.to_numpy()
    call_v, unprompted_v = rates.won_by_call.to_numpy(), rates.unprompted.to_numpy()
    learned_v = (rates.call_outcomes + rates.uncontacted_outcomes).to_numpy()
    out: list[list[str]] = []
    for i, d in enumerate(decision):
        if d is None:
            out.append([])
            continue
        anyway = 1 - risk_v[i] + risk_v[i] * unprompted_v[i]
        called = 1 - risk_v[i] + risk_v[i] * call_v[i]
        learned = (
            f"learned from {learned_v[i]:.0f} recorded outcomes"
            if learned_v[i]
            else "the policy's prior: no outcomes recorded yet"
        )
        lines = [
            f"would come back anyway: {anyway:.0%}; with a call: {called:.0%}; the call adds "
            f"{(called - anyway) * 100:.0f} points, worth {ev[i]:,.0f} after costs",
            f"chance they have gone: {risk_v[i]:.0%} ({source_v[i]}); of those gone, a call "
            f"wins back {call_v[i]:.0%} and {unprompted_v[i]:.0%} return unprompted ({learned})",
            f"worth {value[i]:,.2f} over {w.horizon_months} months if won back "
            f"(margin {margin_v[i]:,.2f} over the past {w.years} years)",
        ]
        if incidents_v[i] > 0:
            kind = str(last_type[i]).replace("_", " ") if last_type[i] else "an incident"
            lines.append(
                f"{incidents_v[i]:.0f} mistake(s) of ours in the last "
                f"{w.recent_incident_days} days (latest: {kind}): an apology is due"
            )
        lines.extend(evidence[i])
        if d == "let_go":
            lines.insert(0, "let go gracefully: " + ("; ".join(evidence[i]) or "unprofitable"))
        elif d == "dont_pursue":
            lines.insert(
                0,
                f"not worth pursuing: value {value[i]:,.2f} is below the policy's "
                f"{policy.decision.min_value:,.2f}",
            )
        out.append(lines)
    return out
