"""Decide who is worth it: intangibles, the keeper decision, what a call adds, tier, rank.

"Not every customer is a keeper": for each customer who is slipping, lapsed or lost, the
scan weighs what they brought (margin over the past years), what they would be worth if
won back (that margin carried over the policy's horizon, discounted), the mistakes they
suffered, and the intangibles, each with its evidence. A call is worth only what it
changes (scan/call_lift.py)::

    expected value = (P(returns if contacted) - P(returns anyway)) x value - expected cost

so an account that will buy anyway is not worth a call however much it brings, and the
list (and the desk's queue, which follows the rank) is ranked by it.

Once past campaigns with holdouts are in the ledger (``winback_outcomes`` rows of tier
``campaign``, treated, and ``holdout``; desk/campaign_outcomes.py), at least
:data:`winback.models.uplift.MIN_GROUP` of each, an uplift model learned from them
(:class:`winback.models.uplift.UpliftModel`, two models, on the customer's features as the
scan sees them now) says what a campaign's offer adds for each customer; a customer whose
value puts them below the rep tier (a campaign's customer) is then worth::

    expected value = predicted uplift x value - expected cost

instead of the segment rates' difference, and their reasons say so.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa

from winback.errors import InvalidInput
from winback.models.uplift import MIN_GROUP, UpliftModel
from winback.policy import Policy
from winback.scan.call_lift import Rates, at_risk, likely_reason, return_rates
from winback.scan.freed import give_back_freed_memory
from winback.scan.intangibles import Evidence, intangibles
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


#: The scan's own columns an uplift model learns from (those present), with the reason the
#: customer most likely left and the intangibles' flags.
UPLIFT_COLUMNS = (
    "segment",
    "purchases",
    "revenue",
    "revenue_last_year",
    "margin_past_years",
    "days_since_last_order",
    "recent_incidents",
    "lapse_incidents",
    "lapse_incident_type",
)
#: Campaign outcomes that count as coming back (treated: won back; holdout: on their own).
CAME_BACK = ("won_back", "returned_unprompted")


def uplift_features(features: pd.DataFrame, flags: pd.DataFrame) -> pd.DataFrame:
    """What the uplift model sees of each customer (one row per row of ``features``)."""
    frame = pd.DataFrame(index=features.index)
    for column in UPLIFT_COLUMNS:
        if column in features:
            frame[column] = features[column]
    frame["segment"] = (
        frame.get("segment", pd.Series("", index=features.index))
        .astype("object")
        .fillna("")
        .astype(str)
    )
    for column in ("purchases", "revenue", "revenue_last_year", "margin_past_years",
                   "days_since_last_order", "recent_incidents", "lapse_incidents"):  # fmt: skip
        if column in frame:
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    if "lapse_incidents" in frame:  # no incident near the last order: none
        frame["lapse_incidents"] = frame["lapse_incidents"].fillna(0.0)
    if "lapse_incident_type" in frame:
        frame["lapse_incident_type"] = (
            frame["lapse_incident_type"].astype("object").fillna("").astype(str)
        )
    frame["reason"] = likely_reason(features).astype(str)
    for column in flags.columns:
        # 1 / 0, and unknown (no record to judge by) left missing.
        known = flags[column].astype("object")
        frame[column] = known.map({True: 1.0, False: 0.0}).astype("float64")
    return frame


def campaign_uplift(
    features: pd.DataFrame, flags: pd.DataFrame, outcomes: pd.DataFrame | None
) -> np.ndarray | None:
    """Each customer's predicted uplift from a campaign's offer, learned from past
    campaigns' treated and holdout members in ``outcomes``; None while there are fewer than
    :data:`MIN_GROUP` of either (or their customers are no longer in the ledger)."""
    if outcomes is None or outcomes.empty or "tier" not in outcomes:
        return None
    tier = outcomes["tier"].astype("object")
    past = outcomes[tier.isin(["campaign", "holdout"])]
    if past.empty or "customer_id" not in past:
        return None
    x = uplift_features(features, flags)
    ids = features["customer_id"].astype(str).to_numpy()
    position = pd.Series(np.arange(len(ids)), index=ids)
    position = position[~position.index.duplicated(keep="last")]
    found = past["customer_id"].astype(str).map(position)
    known = found.notna().to_numpy()
    rows = found[known].astype(int).to_numpy()
    treated = past["tier"].astype("object").to_numpy()[known] == "campaign"
    came_back = past["outcome"].astype("object").isin(CAME_BACK).to_numpy()[known]
    if treated.sum() < MIN_GROUP or (~treated).sum() < MIN_GROUP:
        return None
    train = x.iloc[rows].reset_index(drop=True)
    # A column with nothing recorded for the past members teaches nothing (and the
    # boosting cannot bin it).
    train = train[[c for c in train.columns if train[c].notna().any()]]
    try:
        model = UpliftModel("two_model").fit(train, treated, came_back.astype(int))
    except InvalidInput:  # e.g. every member came back: nothing to learn from
        return None
    return model.predict_uplift(x.reset_index(drop=True))


def decide(
    features: pd.DataFrame,
    status: pd.Series,
    policy: Policy,
    outcomes: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Decision, the chances with and without a call, value, expected value, tier and rank
    for every customer."""
    flags, evidence = intangibles(features, policy)
    # What reading them freed (some 1.7 GB at 5.5M customers), back before the rest is built.
    give_back_freed_memory()
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
    lift = p_call - p_anyway
    uplift = campaign_uplift(features, flags, outcomes) if policy.odds.campaign_uplift else None
    by_uplift = np.zeros(len(features), dtype=bool)
    if uplift is not None:
        # A campaign's customer (below the rep tier): what past campaigns' offers added.
        by_uplift = value < t.rep_min_value
        lift = np.where(by_uplift, uplift, lift)
    ev = lift * value - expected_cost
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

    uplifted = np.flatnonzero(by_uplift & gone)

    def reasons_of(rows: range) -> list[list[str]]:
        reasons = _decision_reasons(
            rows, decision, value, margin, incidents, features, evidence, ev, risk, source,
            rates, policy,
        )  # fmt: skip
        for i in uplifted[(uplifted >= rows.start) & (uplifted < rows.stop)]:
            reasons[i - rows.start].insert(
                0,
                f"past campaigns' holdouts say an offer adds {lift[i] * 100:.0f} points to "
                f"their chance of coming back (uplift model), worth {ev[i]:,.0f} after costs",
            )
        return reasons

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
            "decision_reasons": reasons_in_pieces(len(features), reasons_of),
        },
        index=features.index,
    )
    out.loc[rank <= 0, "rank"] = pd.NA
    return pd.concat([out, flags], axis=1)


#: The decisions' reasons are written this many customers at a time, each piece straight to
#: Arrow: as Python lists of strings for every customer who has gone they took about 0.7 KB
#: each (some 2.5 GB at 5.5M customers), held from here until the run was written.
REASONS_CHUNK = 200_000
REASONS_TYPE = pa.list_(pa.string())


def reasons_in_pieces(
    count: int, reasons_of: Callable[[range], list[list[str]]]
) -> pd.arrays.ArrowExtensionArray:
    """The reasons of ``count`` customers as an Arrow list column: ``reasons_of(rows)``
    gives the Python lists of :data:`REASONS_CHUNK` customers at a time, each piece goes
    to Arrow at once and the memory its lists and strings took is given back before the
    next (the statuses', the drivers' and contact doubts' and the decisions' reasons)."""
    pieces = []
    for start in range(0, count, REASONS_CHUNK):
        rows = range(start, min(start + REASONS_CHUNK, count))
        pieces.append(pa.array(reasons_of(rows), REASONS_TYPE))
        give_back_freed_memory()
    return pd.arrays.ArrowExtensionArray(pa.chunked_array(pieces, REASONS_TYPE))


def _decision_reasons(
    chunk: range,
    decision: np.ndarray,
    value: np.ndarray,
    margin: pd.Series,
    incidents: pd.Series,
    features: pd.DataFrame,
    evidence: Evidence,
    ev: np.ndarray,
    risk: pd.Series,
    source: pd.Series,
    rates: Rates,
    policy: Policy,
) -> list[list[str]]:
    """Each decided customer's reasons among the rows in ``chunk``, in order: what the
    decision needs said first (let go, not worth it), the chances with and without a call,
    the odds behind them, the value, a recent mistake of ours, the intangibles' evidence;
    none for the undecided.

    Built a line at a time over the decided customers (Python floats, each line one list
    comprehension) and then zipped per customer: at 300,000 customers the loop over
    customers indexing NumPy scalars it replaced took 4.9 of the worth step's 5.2 CPU s."""
    w = policy.worth
    rows = chunk.start + np.flatnonzero(pd.notna(decision[chunk.start : chunk.stop]))
    out: list[list[str]] = [[] for _ in chunk]
    if not len(rows):
        return out
    r, call, unprompted = (
        risk.to_numpy()[rows],
        rates.won_by_call.to_numpy()[rows],
        rates.unprompted.to_numpy()[rows],
    )
    anyway, called = 1 - r + r * unprompted, 1 - r + r * call
    learned = (rates.call_outcomes + rates.uncontacted_outcomes).to_numpy()[rows]
    chances = [
        f"would come back anyway: {a:.0%}; with a call: {c:.0%}; the call adds "
        f"{(c - a) * 100:.0f} points, worth {e:,.0f} after costs"
        for a, c, e in zip(anyway.tolist(), called.tolist(), ev[rows].tolist(), strict=True)
    ]
    odds = [
        f"chance they have gone: {p:.0%} ({s}); of those gone, a call "
        f"wins back {c:.0%} and {u:.0%} return unprompted "
        + (
            f"(learned from {n:.0f} recorded outcomes)"
            if n
            else "(the policy's prior: no outcomes recorded yet)"
        )
        for p, s, c, u, n in zip(
            r.tolist(),
            source.to_numpy()[rows].tolist(),
            call.tolist(),
            unprompted.tolist(),
            learned.tolist(),
            strict=True,
        )
    ]
    worth = [
        f"worth {v:,.2f} over {w.horizon_months} months if won back "
        f"(margin {m:,.2f} over the past {w.years} years)"
        for v, m in zip(value[rows].tolist(), margin.to_numpy()[rows].tolist(), strict=True)
    ]
    mistakes = _mistakes(rows, incidents.to_numpy(), features, w.recent_incident_days)
    first = _decision_first(rows, decision, value, evidence, policy)
    for j, i in enumerate(rows.tolist()):
        lines = [chances[j], odds[j], worth[j]]
        if (mistake := mistakes[j]) is not None:
            lines.append(mistake)
        lines.extend(evidence[i])
        if (opening := first[j]) is not None:
            lines.insert(0, opening)
        out[i - chunk.start] = lines
    return out


def _mistakes(
    rows: np.ndarray, incidents: np.ndarray, features: pd.DataFrame, days: int
) -> list[str | None]:
    """The apology line of each decided customer with a recent mistake of ours (else None)."""
    hit = np.flatnonzero(incidents[rows] > 0)
    # Only those customers' incident types as Python objects (the whole column, once per
    # piece of 200,000, was 5.5M objects each time at 100M orders).
    last_type = (
        features["last_incident_type"].iloc[rows[hit]].astype("object").to_numpy()
        if "last_incident_type" in features
        else np.full(len(hit), None)
    )
    said: list[str | None] = [None] * len(rows)
    for j, i, latest in zip(hit.tolist(), rows[hit].tolist(), last_type, strict=True):
        kind = str(latest).replace("_", " ") if latest else "an incident"
        said[j] = (
            f"{incidents[i]:.0f} mistake(s) of ours in the last {days} days "
            f"(latest: {kind}): an apology is due"
        )
    return said


def _decision_first(
    rows: np.ndarray,
    decision: np.ndarray,
    value: np.ndarray,
    evidence: Evidence,
    policy: Policy,
) -> list[str | None]:
    """The line a let-go or not-worth-pursuing decision opens with (None for pursue)."""
    said: list[str | None] = [None] * len(rows)
    decided = decision[rows]
    for j in np.flatnonzero(decided == "let_go").tolist():
        said[j] = "let go gracefully: " + ("; ".join(evidence[int(rows[j])]) or "unprofitable")
    for j in np.flatnonzero(decided == "dont_pursue").tolist():
        said[j] = (
            f"not worth pursuing: value {value[rows[j]]:,.2f} is below the policy's "
            f"{policy.decision.min_value:,.2f}"
        )
    return said
