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
    # value = margin / 3 x 2.48685: 2486.85, 7460.56, 497.37; EV = 0.3 v - cost
    assert d["rank"].tolist() == [2, 1, 3]
    assert d.tier.tolist() == ["rep", "executive", "rep"]
    v = 7460.556
    assert d.expected_value.iloc[1] == pytest.approx(0.3 * v - (40 + 0.1 * 0.3 * v), rel=1e-4)
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
