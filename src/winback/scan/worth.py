"""Decide who is worth it: intangibles, the keeper decision, win-back odds, value, tier, rank.

"Not every customer is a keeper": for each customer who is slipping, lapsed or lost, the
scan weighs what they brought (margin over the past years), what they would be worth if
won back (that margin carried over the policy's horizon, discounted), the mistakes they
suffered, and the intangibles, each with its evidence. Expected value is
``odds x value - expected cost``, and the list is ranked by it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from winback.policy import Policy
from winback.scan.intangibles import intangibles
from winback.scan.intangibles import number as _num

WON = ("won_back", "returned_unprompted")
ATTEMPTED = ("won_back", "declined", "unreachable", "will_return")


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
    """Beta-binomial odds by segment: the prior updated by recorded outcomes.

    ``outcomes`` has ``segment`` and ``outcome`` columns (the winback_outcomes table).
    """
    o = policy.odds
    strength = o.prior_strength
    wins: dict[str, float] = {}
    trials: dict[str, float] = {}
    if outcomes is not None and len(outcomes):
        seg = outcomes["segment"].fillna("all")
        attempted = outcomes["outcome"].isin(ATTEMPTED + WON)
        won = outcomes["outcome"].isin(WON)
        trials = {str(k): float(v) for k, v in attempted.groupby(seg).sum().items()}
        wins = {str(k): float(v) for k, v in won.groupby(seg).sum().items()}

    def posterior(segment: str) -> float:
        mean = o.segment_prior_means.get(segment, o.prior_mean)
        return (mean * strength + wins.get(segment, 0.0)) / (strength + trials.get(segment, 0.0))

    table = {s: posterior(s) for s in segments.unique()}
    return segments.map(table).astype("float64")


def decide(
    features: pd.DataFrame,
    status: pd.Series,
    policy: Policy,
    outcomes: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Decision, odds, value, expected value, tier and rank for every customer."""
    flags, evidence = intangibles(features, policy)
    value = value_if_won(features, policy)
    odds = winback_odds(features["segment"].fillna("all"), outcomes, policy)
    margin = _num(features, "margin_past_years")
    incidents = _num(features, "recent_incidents")
    gone = status.isin(["slipping", "lapsed", "lost"]).to_numpy()
    n_intangibles = flags.sum(axis=1).to_numpy()
    let_go = gone & (
        (n_intangibles >= policy.decision.let_go_intangibles)
        | (policy.decision.let_go_unprofitable & (margin.to_numpy() < 0))
    )
    too_small = gone & ~let_go & (value.to_numpy() < policy.decision.min_value)
    pursue = gone & ~let_go & ~too_small
    decision = np.where(let_go, "let_go", np.where(too_small, "dont_pursue", "pursue")).astype(
        object
    )
    decision[~gone] = None

    c = policy.costs
    t = policy.tiers
    base_cost = np.where(value.to_numpy() >= t.rep_min_value, c.rep_call, c.campaign)
    expected_cost = base_cost + c.offer_share * odds.to_numpy() * value.to_numpy()
    ev = odds.to_numpy() * value.to_numpy() - expected_cost
    order = np.argsort(-np.where(pursue, ev, -np.inf), kind="stable")
    rank = np.full(len(features), -1, dtype=np.int64)
    tier = np.full(len(features), None, dtype=object)
    tier[gone] = "none"
    listed = order[(pursue & (ev > 0))[order]]  # best first
    rank[listed] = np.arange(1, len(listed) + 1)
    listed_value = value.to_numpy()[listed]
    tier[listed] = np.where(listed_value >= t.rep_min_value, "rep", "campaign")
    # The best-ranked few worth enough get an executive's call.
    executives = listed[np.flatnonzero(listed_value >= t.executive_min_value)]
    executives = executives[: max(t.executive_top, 0)]
    tier[executives] = "executive"
    expected_cost[executives] += c.executive_call - base_cost[executives]
    tier[pursue & (ev <= 0)] = "none"

    reasons = _decision_reasons(
        decision, value, margin, incidents, features, evidence, ev, odds, policy
    )
    out = pd.DataFrame(
        {
            "decision": decision,
            "winback_odds": odds.to_numpy(),
            "value_if_won": value.to_numpy(),
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
    value: pd.Series,
    margin: pd.Series,
    incidents: pd.Series,
    features: pd.DataFrame,
    evidence: list[list[str]],
    ev: np.ndarray,
    odds: pd.Series,
    policy: Policy,
) -> list[list[str]]:
    w = policy.worth
    predicted = (
        pd.to_numeric(features["predicted_value"], errors="coerce").to_numpy()
        if "predicted_value" in features
        else None
    )
    last_type = (
        features["last_incident_type"].astype("object").to_numpy()
        if "last_incident_type" in features
        else np.full(len(features), None)
    )
    value_v, margin_v, odds_v = value.to_numpy(), margin.to_numpy(), odds.to_numpy()
    incidents_v = incidents.to_numpy()
    out: list[list[str]] = []
    for i, d in enumerate(decision):
        if d is None:
            out.append([])
            continue
        lines = [
            f"worth {value_v[i]:,.2f} over {w.horizon_months} months if won back "
            f"(margin {margin_v[i]:,.2f} over the past {w.years} years)",
            f"win-back odds {odds_v[i]:.0%}; expected value {ev[i]:,.2f} after costs",
        ]
        if predicted is not None and predicted[i] == predicted[i]:
            lines.append(
                f"as things stand, expected to bring {predicted[i]:,.2f} over "
                f"{w.horizon_months} months (customer-base models)"
            )
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
                f"not worth pursuing: value {value_v[i]:,.2f} is below the policy's "
                f"{policy.decision.min_value:,.2f}",
            )
        out.append(lines)
    return out
