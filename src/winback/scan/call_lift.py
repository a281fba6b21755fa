"""What a call changes: each customer's chance of coming back with a call and without one.

A customer comes back with no call when they have not really gone (the risk model says how
likely that is), or when they have gone and return on their own. A call adds only the
second part's difference::

    P(returns anyway)        = (1 - risk) + risk x unprompted
    P(returns if contacted)  = (1 - risk) + risk x won_by_call

``risk`` is the customer's probability of having left or leaving within the policy's
horizon: the ``lapse_risk`` column when the scan has one, else 1 - P(alive) from the
customer-base models, else the follow-suit classifier's probability. ``won_by_call`` and
``unprompted`` are learned from the winback_outcomes table: calls that were made (won back,
declined, unreachable, will return) against the uncontacted (holdouts, cases not pursued,
customers who returned unprompted: the baseline, never a win of the call). Each rate is
beta-binomial: the policy's prior for the segment, updated by the segment's outcomes; the
rate for the customer's reason (a subscription's cancellation reason, else the latest
incident's type) shrunk to the segment's; the customer's own outcomes shrunk to that.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from winback.policy import Policy

WON_BACK = "won_back"
UNPROMPTED = "returned_unprompted"
#: Outcomes of a call that was made, whatever the customer's answer.
ATTEMPTED = (WON_BACK, "declined", "unreachable", "will_return")

#: Where a customer's risk is read from, best first: column, words, as a risk.
RISK_SOURCES: tuple[tuple[str, str, bool], ...] = (
    ("lapse_risk", "lapse risk", False),
    ("p_alive", "1 - P(alive)", True),
    ("follow_suit_probability", "follow-suit probability", False),
)
NO_RISK_MODEL = "no model: assumed gone"


def at_risk(features: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Each customer's risk of having gone (0-1) and the name of the score it came from.

    A customer the best source leaves blank takes the next source's figure; with none at
    all the customer is taken as gone (the statuses flagged them; nothing says otherwise).
    """
    risk = pd.Series(np.nan, index=features.index, dtype="float64")
    source = pd.Series(NO_RISK_MODEL, index=features.index, dtype="object")
    for column, words, complement in RISK_SOURCES:
        if column not in features:
            continue
        values = pd.to_numeric(features[column], errors="coerce").astype("float64")
        if complement:
            values = 1.0 - values
        fill = risk.isna() & values.notna()
        risk[fill] = values[fill]
        source[fill] = words
    return risk.fillna(1.0).clip(0.0, 1.0), source


def likely_reason(features: pd.DataFrame) -> pd.Series:
    """The reason a customer most likely left, as the outcomes' ``reason`` names it ("" when
    unknown): a subscription's cancellation reason, else the latest incident's type."""
    reason = pd.Series("", index=features.index, dtype="object")
    for column in ("last_incident_type", "last_cancel_reason"):  # later wins
        if column in features:
            known = features[column].notna() & (features[column].astype("object") != "")
            reason[known] = features.loc[known, column].astype(str)
    return reason


@dataclass(frozen=True)
class Rates:
    """Among customers who have gone: the share a call brings back, the share who return
    unprompted, and how many recorded outcomes each figure rests on (segment, reason and
    customer together)."""

    won_by_call: pd.Series
    unprompted: pd.Series
    call_outcomes: pd.Series
    uncontacted_outcomes: pd.Series


EMAILED = "campaign"  # the tier of an e-mail campaign's treated members


def _called(outcomes: pd.DataFrame) -> pd.Series:
    """Which recorded outcomes followed a call (the rest are the uncontacted baseline)."""
    outcome = outcomes["outcome"].astype("object")
    called = outcome.isin(ATTEMPTED)
    if "contacted" in outcomes:
        contacted = outcomes["contacted"].astype("object")
        called = called | (contacted.notna() & contacted.fillna(False).astype(bool))
    if "tier" in outcomes:
        called = called & (outcomes["tier"].astype("object") != "holdout")
    return called & (outcome != UNPROMPTED)


def _keys(frame: pd.DataFrame, reason: pd.Series) -> pd.DataFrame:
    ids = frame["customer_id"] if "customer_id" in frame else pd.Series(None, index=frame.index)
    return pd.DataFrame(
        {
            "segment": frame["segment"].astype("object").fillna("all").astype(str),
            "reason": reason.astype("object").fillna("").astype(str),
            "customer_id": ids.astype("object").fillna("").astype(str),
        },
        index=frame.index,
    )


def _learned(
    wanted: pd.DataFrame, seen: pd.DataFrame, prior: pd.Series, policy: Policy
) -> tuple[pd.Series, pd.Series]:
    """Beta-binomial rate for each row of ``wanted`` from ``seen`` rows (keys + ``won``):
    segment from ``prior``, then reason within the segment, then the customer's own."""
    strength, level = policy.odds.prior_strength, policy.odds.level_strength
    rate = prior.astype("float64").copy()
    count = pd.Series(0.0, index=wanted.index)
    for keys, weight in (
        (["segment"], strength),
        (["segment", "reason"], level),
        (["customer_id"], level),
    ):
        if seen.empty:
            break
        stats = seen.groupby(keys)["won"].agg(["sum", "count"]).reset_index()
        if keys[-1] != "segment":  # an unknown reason or customer learns nothing more
            stats = stats[stats[keys[-1]] != ""]
        found = wanted[keys].merge(stats, on=keys, how="left")
        wins = found["sum"].fillna(0.0).to_numpy()
        trials = found["count"].fillna(0.0).to_numpy()
        rate = pd.Series((rate.to_numpy() * weight + wins) / (weight + trials), index=rate.index)
        count += trials
    return rate, count


def return_rates(features: pd.DataFrame, outcomes: pd.DataFrame | None, policy: Policy) -> Rates:
    """What a call wins back, and what returns unprompted, among each customer's gone peers.

    ``outcomes`` is the winback_outcomes table (``segment`` and ``outcome``; ``customer_id``,
    ``reason``, ``contacted`` and ``tier`` are used when present).
    """
    o = policy.odds
    wanted = _keys(features, likely_reason(features))
    # Looked up once a segment, not once a customer (0.2 CPU s at 300,000 customers).
    codes, segments = pd.factorize(wanted["segment"])
    priors = np.array([o.segment_prior_means.get(s, o.prior_mean) for s in segments], "float64")
    call_prior = pd.Series(priors[codes], index=wanted.index)
    unprompted_prior = pd.Series(o.unprompted_prior_mean, index=wanted.index)
    if outcomes is None or outcomes.empty:
        none = pd.Series(0.0, index=wanted.index)
        return Rates(call_prior.astype("float64"), unprompted_prior, none, none)
    reason = outcomes["reason"] if "reason" in outcomes else pd.Series(None, index=outcomes.index)
    seen = _keys(outcomes, reason)
    called = _called(outcomes).to_numpy()
    # An e-mail campaign's treated members were neither called nor left alone: what an
    # e-mail wins back teaches neither rate (a campaign's own lift is measured apart).
    emailed = (
        (outcomes["tier"].astype("object") == EMAILED).to_numpy()
        if "tier" in outcomes
        else np.zeros(len(outcomes), dtype=bool)
    )
    seen["won"] = outcomes["outcome"].isin([WON_BACK, UNPROMPTED]).to_numpy(dtype=np.float64)
    won_by_call, calls = _learned(wanted, seen[called & ~emailed], call_prior, policy)
    unprompted, uncontacted = _learned(wanted, seen[~called & ~emailed], unprompted_prior, policy)
    return Rates(won_by_call, unprompted, calls, uncontacted)
