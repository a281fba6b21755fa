"""Worth, odds and the keeper decision, on customers whose numbers can be checked by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from winback.policy import Policy
from winback.scan.worth import decide, value_if_won, winback_odds


def customers(n: int, **columns: list[object]) -> pd.DataFrame:
    base: dict[str, list[object]] = {
        "customer_id": [f"c{i}" for i in range(n)],
        "segment": ["all"] * n,
        "first_order_date": [pd.Timestamp("2020-06-01")] * n,  # over 3 years: full window
        "last_order_date": [pd.Timestamp("2024-01-01")] * n,
        "margin_past_years": [900.0] * n,
        "revenue": [3000.0] * n,
    }
    base.update(columns)
    return pd.DataFrame(base)


def test_value_if_won_is_yearly_margin_over_the_discounted_horizon() -> None:
    f = customers(1)
    # 900 over 3 years = 300 a year; 3 years at 10%: (1 - 1.1^-3) / 0.1 = 2.48685
    assert value_if_won(f, Policy()).iloc[0] == pytest.approx(300 * 2.486852, rel=1e-6)


def test_odds_start_at_the_prior_and_learn_from_outcomes() -> None:
    segments = pd.Series(["retail", "b2b"])
    outcomes = pd.DataFrame(
        {"segment": ["b2b"] * 30, "outcome": ["won_back"] * 24 + ["declined"] * 6}
    )
    odds = winback_odds(segments, outcomes, Policy())
    assert odds.iloc[0] == pytest.approx(0.30)
    # (0.3 x 70 + 24) / (70 + 30) = 0.45
    assert odds.iloc[1] == pytest.approx(0.45)


def test_intangibles_lead_to_letting_go_and_small_value_to_not_pursuing() -> None:
    f = customers(
        3,
        rude_interactions=[3, 0, 0],
        invoices_due=[6, 0, 0],
        invoices_late=[4, 0, 0],
        margin_past_years=[900.0, 900.0, 30.0],
    )
    status = pd.Series(["lapsed", "lapsed", "lapsed"])

    d = decide(f, status, Policy())

    assert d.decision.tolist() == ["let_go", "pursue", "dont_pursue"]
    # No interaction and no invoice on record: unknown, not "no" (and never a let-go reason).
    assert d.rude.astype(object).where(d.rude.notna(), None).tolist() == [True, None, None]
    assert d.late_payer.astype(object).where(d.late_payer.notna(), None).tolist() == [
        True,
        None,
        None,
    ]
    assert d.decision_reasons[0][0] == (
        "let go gracefully: staff recorded rudeness in 3 of 3 interactions; "
        "paid 4 of 6 invoices late (peers: 67% of invoices)"
    )
    assert "not worth pursuing: value 24.87 is below the policy's 50.00" in d.decision_reasons[2]
    assert d["rank"].tolist()[1] == 1


def test_rank_follows_expected_value_and_the_top_account_goes_to_an_executive() -> None:
    f = customers(3, margin_past_years=[3000.0, 9000.0, 600.0])
    d = decide(f, pd.Series(["lapsed", "lost", "slipping"]), Policy())
    # value = margin / 3 x 2.48685: 2486.85, 7460.56, 497.37. No risk score: taken as gone,
    # so with a call 30 % (prior), anyway 10 % (prior): EV = 0.2 v - (cost + 0.1 x 0.3 v)
    assert d["rank"].tolist() == [2, 1, 3]
    assert d.tier.tolist() == ["rep", "executive", "rep"]
    v = 7460.556
    assert d.expected_value.iloc[1] == pytest.approx(0.2 * v - (40 + 0.1 * 0.3 * v), rel=1e-4)
    assert d.expected_cost.iloc[1] == pytest.approx(250 + 0.1 * 0.3 * v, rel=1e-4)


def test_active_customers_get_no_decision() -> None:
    d = decide(customers(1), pd.Series(["active"]), Policy())
    assert d.decision.tolist() == [None]
    assert d["rank"].isna().all()


def test_only_the_top_few_worth_enough_go_to_executives() -> None:
    f = customers(4, margin_past_years=[9000.0, 30000.0, 600.0, 12000.0])
    policy = Policy.model_validate({"tiers": {"executive_top": 2, "executive_min_value": 9000}})
    d = decide(f, pd.Series(["lapsed"] * 4), policy)
    # values 7460.56, 24868.5, 497.37, 9947.4: ranked 3, 1, 4, 2; the first is below 9000
    assert d["rank"].tolist() == [3, 1, 4, 2]
    assert d.tier.tolist() == ["rep", "executive", "rep", "executive"]
    assert d.expected_cost.iloc[3] == pytest.approx(250 + 0.1 * 0.3 * 9947.41, rel=1e-4)


def test_heavy_contact_and_returns_come_with_their_numbers() -> None:
    f = customers(
        3,
        contacts_last_year=[12, 2, 2],
        orders=[10, 10, 10],
        returns=[0, 4, 0],
        returned_value=[0.0, 1500.0, 0.0],
    )
    d = decide(f, pd.Series(["lapsed"] * 3), Policy())
    assert d.heavy_contact.tolist() == [True, False, False]
    assert d.return_abuser.tolist() == [False, True, False]
    # Peers' median: 2 contacts in 12 months; 12 / 12 = 1.0 a month is 6x 0.17.
    assert (
        "contacted us 12 times in 12 months (1.0 a month, 6× their peers' usual 0.17), "
        "not counting complaints" in d.decision_reasons[0]
    )
    assert "returned 4 of 10 orders (40%; peers: 0%)" in d.decision_reasons[1]


def test_an_account_that_would_buy_anyway_ranks_below_one_truly_gone() -> None:
    # a brings four times b's value but is probably still a customer (P(alive) 0.9)
    f = customers(2, margin_past_years=[36000.0, 9000.0], p_alive=[0.9, 0.05])
    d = decide(f, pd.Series(["slipping", "lapsed"]), Policy())
    # a: risk 0.1, anyway 0.9 + 0.1 x 0.1 = 0.91, with a call 0.9 + 0.1 x 0.3 = 0.93
    assert d.p_return_anyway.tolist() == pytest.approx([0.91, 0.05 + 0.95 * 0.1])
    assert d.p_return_contacted.tolist() == pytest.approx([0.93, 0.05 + 0.95 * 0.3])
    va = 29842.22
    # a's call adds 2 points of 29,842 but pays a concession on 93 %: not worth a call
    assert d.expected_value.iloc[0] == pytest.approx(0.02 * va - 40 - 0.1 * 0.93 * va, rel=1e-4)
    assert d["rank"].tolist() == [pd.NA, 1]
    assert d.tier.tolist() == ["none", "executive"]


def test_an_account_likely_to_return_anyway_does_not_take_an_executives_call() -> None:
    # Both worth a call; b would come back anyway with 0.55 + 0.45 x 0.1 = 59.5 % > 50 %.
    f = customers(2, margin_past_years=[9000.0, 900000.0], p_alive=[0.1, 0.55])
    d = decide(f, pd.Series(["lapsed", "slipping"]), Policy())
    assert d["rank"].tolist() == [2, 1]  # b's sheer size still makes the call worth most
    assert d.p_return_anyway.iloc[1] == pytest.approx(0.595)
    assert d.tier.tolist() == ["executive", "rep"]


def test_lapse_risk_takes_over_from_p_alive_where_the_scan_has_it() -> None:
    f = customers(3, p_alive=[0.9, 0.9, None], lapse_risk=[0.8, None, None])
    f["follow_suit_probability"] = [0.1, 0.1, 0.6]
    d = decide(f, pd.Series(["lapsed"] * 3), Policy())
    # risks 0.8 (lapse_risk), 0.1 (1 - P(alive)), 0.6 (follow-suit)
    risk = pd.Series([0.8, 0.1, 0.6])
    assert d.p_return_anyway.tolist() == pytest.approx((1 - risk + risk * 0.1).tolist())
    assert "chance they have gone: 80% (lapse risk)" in d.decision_reasons[0][1]
    assert "chance they have gone: 10% (1 - P(alive))" in d.decision_reasons[1][1]
    assert "chance they have gone: 60% (follow-suit probability)" in d.decision_reasons[2][1]


def test_reasons_name_the_chances_with_and_without_a_call() -> None:
    f = customers(1, p_alive=[0.2])
    d = decide(f, pd.Series(["lapsed"]), Policy())
    v = 300 * 2.486852
    # anyway 0.2 + 0.8 x 0.1 = 28 %; with a call 0.2 + 0.8 x 0.3 = 44 %: 16 points
    ev = 0.16 * v - 40 - 0.1 * 0.44 * v
    assert d.expected_value.iloc[0] == pytest.approx(ev, rel=1e-6)
    assert d.decision_reasons[0][:2] == [
        f"would come back anyway: 28%; with a call: 44%; the call adds 16 points, "
        f"worth {ev:,.0f} after costs",
        "chance they have gone: 80% (1 - P(alive)); of those gone, a call wins back 30% and "
        "10% return unprompted (the policy's prior: no outcomes recorded yet)",
    ]


def test_returning_unprompted_is_the_baseline_not_a_win_of_the_call() -> None:
    outcomes = pd.DataFrame(
        {
            "segment": ["all"] * 50,
            "outcome": ["won_back"] * 10
            + ["declined"] * 10
            + ["returned_unprompted"] * 12
            + ["not_pursued"] * 18,
            "tier": ["rep"] * 20 + ["holdout"] * 30,
        }
    )
    d = decide(customers(1), pd.Series(["lapsed"]), Policy(), outcomes)
    # call: (0.3 x 70 + 10) / (70 + 20) = 0.34444; anyway: (0.1 x 70 + 12) / (70 + 30) = 0.19
    assert d.winback_odds.iloc[0] == pytest.approx(31 / 90)
    assert d.p_return_contacted.iloc[0] == pytest.approx(31 / 90)
    assert d.p_return_anyway.iloc[0] == pytest.approx(0.19)
    assert "(learned from 50 recorded outcomes)" in d.decision_reasons[0][1]


def test_rates_learn_by_reason_and_by_customer_each_shrunk_to_the_level_above() -> None:
    outcomes = pd.DataFrame(
        {
            "customer_id": ["x"] * 10 + ["a"] * 2,
            "segment": ["all"] * 12,
            "reason": ["price_rise"] * 10 + [None] * 2,
            "outcome": ["won_back"] * 8 + ["declined"] * 2 + ["declined"] * 2,
            "contacted": [True] * 12,
        }
    )
    f = customers(3, last_incident_type=[None, "price_rise", "price_rise"])
    f["customer_id"] = ["a", "b", "x"]
    d = decide(f, pd.Series(["lapsed"] * 3), Policy(), outcomes)
    segment = (0.3 * 70 + 8) / (70 + 12)  # 0.35366
    reason = (segment * 20 + 8) / (20 + 10)  # price_rise within the segment
    a = (segment * 20 + 0) / (20 + 2)  # no known reason; two declines of a's own
    x = (reason * 20 + 8) / (20 + 10)
    assert d.winback_odds.tolist() == pytest.approx([a, reason, x])


def _past_campaign(per_group: int = 120) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Past campaign members p0.. (half with recent incidents) and their outcomes: with
    incidents the offer works (treated 80 % back, holdout 10 %); without, it changes
    nothing (20 % either way)."""
    rows, outcomes = [], []
    for group in ("campaign", "holdout"):
        for i in range(per_group):
            cid = f"p-{group}-{i}"
            hurt = i % 2 == 0
            rows.append({"customer_id": cid, "recent_incidents": 2 if hurt else 0})
            k = i // 2  # 0..59 within each half
            share = {("campaign", True): 0.8, ("holdout", True): 0.1}.get((group, hurt), 0.2)
            back = k < share * (per_group // 2)
            outcome = ("won_back" if group == "campaign" else "returned_unprompted") if back else (
                "declined" if group == "campaign" else "not_pursued")  # fmt: skip
            outcomes.append({"customer_id": cid, "segment": "all", "tier": group,
                             "outcome": outcome, "contacted": group == "campaign"})  # fmt: skip
    return pd.DataFrame(rows), pd.DataFrame(outcomes)


def test_past_campaigns_holdouts_teach_the_worth_of_a_campaigns_customer() -> None:
    past, outcomes = _past_campaign()
    n = len(past) + 2
    f = customers(
        n,
        customer_id=[*past["customer_id"], "hurt", "fine"],
        recent_incidents=[*past["recent_incidents"], 2, 0],
        margin_past_years=[300.0] * n,  # value 248.69: below the rep tier, a campaign's
    )
    status = pd.Series(["lapsed"] * n)
    before = decide(f, status, Policy())
    # Without campaign outcomes both are worth the same (the segment's rates).
    assert before.expected_value.iloc[-2] == pytest.approx(before.expected_value.iloc[-1])

    on = Policy.model_validate({"odds": {"campaign_uplift": True}})
    # Off by default: the segment's rates, whatever the outcomes say.
    plain = decide(f, status, Policy(), outcomes)
    assert not any("uplift model" in r[0] for r in plain.decision_reasons if r)
    d = decide(f, status, on, outcomes)
    lift = (d.expected_value + d.expected_cost) / d.value_if_won
    assert 0.5 < lift.iloc[-2] < 0.9  # the truth: 0.8 - 0.1
    assert -0.15 < lift.iloc[-1] < 0.15  # the truth: 0
    assert d.expected_value.iloc[-2] > before.expected_value.iloc[-2]
    assert d["rank"].iloc[-2] < (d["rank"].iloc[-1] if pd.notna(d["rank"].iloc[-1]) else 10**9)
    assert "uplift model" in d.decision_reasons.iloc[-2][0]

    # Fewer than 30 in the holdout: no model, the segment's rates as before.
    few = outcomes[(outcomes.tier == "campaign") | (outcomes.index % 10 == 0)]
    assert (few.tier == "holdout").sum() < 30
    again = decide(f, status, on, few)
    assert not any("uplift model" in r[0] for r in again.decision_reasons if r)


def test_an_email_campaigns_treated_members_teach_neither_the_call_odds_nor_the_baseline() -> None:
    from winback.scan.call_lift import return_rates

    policy = Policy()
    peers = pd.DataFrame({"segment": ["retail"], "customer_id": ["x"]})
    calls = pd.DataFrame(
        {
            "segment": ["retail"] * 4,
            "customer_id": ["a", "b", "c", "d"],
            "outcome": ["won_back", "won_back", "declined", "not_pursued"],
            "tier": ["rep", "rep", "rep", "holdout"],
            "contacted": [True, True, True, False],
        }
    )
    emailed = pd.DataFrame(
        {
            "segment": ["retail"] * 20,
            "customer_id": [f"e{i}" for i in range(20)],
            "outcome": ["declined"] * 20,  # 20 e-mails nobody answered
            "tier": ["campaign"] * 20,
            "contacted": [True] * 20,
        }
    )
    alone = return_rates(peers, calls, policy)
    both = return_rates(peers, pd.concat([calls, emailed], ignore_index=True), policy)
    assert both.won_by_call.iloc[0] == pytest.approx(alone.won_by_call.iloc[0])
    assert both.unprompted.iloc[0] == pytest.approx(alone.unprompted.iloc[0])
    assert (both.call_outcomes.iloc[0], both.uncontacted_outcomes.iloc[0]) == (3, 1)


def test_reasons_written_in_pieces_are_those_of_one_piece(monkeypatch: pytest.MonkeyPatch) -> None:
    # The reasons go to Arrow REASONS_CHUNK customers at a time: cut into pieces of 7 (the
    # campaign's uplift reason put first in some of them, nothing for the active), each
    # customer's must be the ones written all at once.
    from winback.scan import worth

    past, outcomes = _past_campaign()
    n = len(past) + 2
    f = customers(
        n,
        customer_id=[*past["customer_id"], "hurt", "fine"],
        recent_incidents=[*past["recent_incidents"], 2, 0],
        margin_past_years=[300.0 + 40 * (i % 5) for i in range(n)],
    )
    status = pd.Series(["lapsed", "active", "slipping", "lost"] * (n // 4) + ["lapsed"] * (n % 4))
    on = Policy.model_validate({"odds": {"campaign_uplift": True}})
    whole = decide(f, status, on, outcomes).decision_reasons.tolist()
    monkeypatch.setattr(worth, "REASONS_CHUNK", 7)
    pieces = decide(f, status, on, outcomes).decision_reasons.tolist()

    assert pieces == whole
    assert sum(bool(r) and "uplift model" in r[0] for r in whole) > 10
    assert sum(not r for r in whole) == n // 4
