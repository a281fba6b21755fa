"""Subscribers judged by their contract (scan/subscriptions.py), on a hand-built ledger."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import beta as beta_fn

from winback.ledger.importer import import_file
from winback.ledger.store import Ledger
from winback.models import ShiftedBetaGeometricModel
from winback.policy import Contracts, Policy
from winback.scan.features import customer_features
from winback.scan.lapse import classify
from winback.scan.pipeline import run_scan
from winback.scan.subscriptions import (
    _term_ends,
    apply_contracts,
    contract_risk,
    contract_standing,
    subscription_features,
)

AS_OF = date(2024, 6, 30)


def _write(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


def _monthly(prefix: str, who: str, first: date, last: date, price: str) -> list[str]:
    out, day, k = [], first, 0
    while day <= last:
        out.append(f"{prefix}{k},{who},{day},{price}")
        k += 1
        day = (pd.Timestamp(first) + pd.DateOffset(months=k)).date()
    return out


@pytest.fixture
def contracts_ledger(tmp_path: Path) -> Ledger:
    """yearly: a yearly plan paid a year ahead (orders 289 days apart: an order gap);
    owing: yearly, an invoice past due and unpaid, renewal on 2024-07-10;
    downgrade: moved from 30.00 to 20.00 a month on 2024-03-01;
    latepay: monthly, paid twice late, nothing outstanding;
    gone: cancelled on 2024-01-10 ("Too expensive"); steady*: monthly, paid on time."""
    ledger = Ledger(tmp_path / "ledger")
    rejects = tmp_path / "rejects"
    orders = [
        "y0,yearly,2022-09-15,100.00",
        "y1,yearly,2023-09-15,100.00",
        "w0,owing,2023-07-10,120.00",
        *_monthly("d", "downgrade", date(2023, 3, 1), date(2024, 2, 1), "30.00"),
        *_monthly("e", "downgrade", date(2024, 3, 1), date(2024, 6, 1), "20.00"),
        *_monthly("l", "latepay", date(2023, 6, 5), date(2024, 6, 5), "15.00"),
        *_monthly("g", "gone", date(2023, 1, 10), date(2023, 12, 10), "10.00"),
    ]
    subs = [
        "s-y,yearly,Yearly,2022-09-15,,12,100.00,",
        "s-w,owing,Yearly,2023-07-10,,12,120.00,",
        "s-d1,downgrade,Plus,2023-03-01,2024-03-01,1,30.00,",
        "s-d2,downgrade,Basic,2024-03-01,,1,20.00,",
        "s-l,latepay,Basic,2023-06-05,,1,15.00,",
        "s-g,gone,Basic,2023-01-10,2024-01-10,1,10.00,Too expensive",
    ]
    for k in range(8):
        orders += _monthly(f"s{k}x", f"steady{k}", date(2023, 1, 3), date(2024, 6, 3), "12.00")
        subs.append(f"s-s{k},steady{k},Basic,2023-01-03,,1,12.00,")
    # Ended contracts so the sBG has churn to fit.
    for k in range(12):
        months = 2 + k
        end = (pd.Timestamp("2022-01-01") + pd.DateOffset(months=months)).date()
        orders += _monthly(f"o{k}x", f"old{k}", date(2022, 1, 1), end, "9.00")
        subs.append(f"s-o{k},old{k},Basic,2022-01-01,{end},1,9.00,")
    invoices = [
        "n-w,owing,2024-05-25,2024-06-01,120.00,,",
        "n-l1,latepay,2024-03-05,2024-03-12,15.00,2024-03-30,15.00",
        "n-l2,latepay,2024-05-05,2024-05-12,15.00,2024-05-20,15.00",
        "n-l3,latepay,2024-06-05,2024-06-12,15.00,2024-06-10,15.00",
        "n-y,yearly,2023-09-15,2023-09-22,100.00,2023-09-16,100.00",
    ]
    import_file(
        ledger,
        "orders",
        _write(tmp_path / "orders.csv", "order_id,customer_id,order_date,amount", orders),
        rejects_dir=rejects,
    )
    import_file(
        ledger,
        "subscriptions",
        _write(
            tmp_path / "subscriptions.csv",
            "subscription_id,customer_id,plan,started_on,ended_on,period_months,price,"
            "cancel_reason",
            subs,
        ),
        rejects_dir=rejects,
    )
    import_file(
        ledger,
        "invoices",
        _write(
            tmp_path / "invoices.csv",
            "invoice_id,customer_id,issued_on,due_on,amount,paid_on,paid_amount",
            invoices,
        ),
        rejects_dir=rejects,
    )
    return ledger


def test_term_ends_at_the_next_renewal_clipped_to_the_month() -> None:
    started = pd.Series(pd.to_datetime(["2024-01-31", "2023-07-10", "2022-09-15", "2024-06-30"]))
    ends = _term_ends(started, np.array([1, 12, 12, 1]), date(2024, 2, 15))
    assert [d.date() for d in pd.to_datetime(ends)] == [
        date(2024, 2, 29),
        date(2024, 7, 10),
        date(2024, 9, 15),
        date(2024, 7, 30),  # starts after the scan: its first term
    ]


def test_standing_reads_renewal_payments_and_downgrades(contracts_ledger: Ledger) -> None:
    s = contract_standing(contracts_ledger.ibis(), AS_OF, None, 90).set_index("customer_id")
    assert "gone" not in s.index
    assert "old0" not in s.index
    assert s.loc["owing", "days_to_renewal"] == 10
    assert pd.Timestamp(s.loc["owing", "term_ends_on"]).date() == date(2024, 7, 10)
    assert s.loc["owing", "unpaid_invoices"] == 1
    assert s.loc["latepay", "unpaid_invoices"] == 0
    assert s.loc["latepay", "late_payments"] == 2
    assert pd.Timestamp(s.loc["latepay", "first_late_due"]).date() == date(2024, 3, 12)
    assert bool(s.loc["downgrade", "downgraded"])
    assert s.loc["downgrade", "previous_monthly"] == pytest.approx(30.0)
    assert not s.loc[["yearly", "owing", "latepay", "steady0"], "downgraded"].any()
    assert s.loc["yearly", "monthly_price"] == pytest.approx(100.0 / 12)
    assert s["p_leave"].isna().all()  # no model given


def test_p_leave_is_the_sbg_chance_of_not_staying_the_horizon(contracts_ledger: Ledger) -> None:
    model = ShiftedBetaGeometricModel().fit_contracts(
        np.array([1, 2, 2, 3, 5, 8, 12, 12, 12, 12]), np.array([1, 1, 1, 1, 1, 1, 0, 0, 0, 0])
    )
    a, b = model.params_["alpha"], model.params_["beta"]
    s = contract_standing(contracts_ledger.ibis(), AS_OF, model, 90).set_index("customer_id")
    t = (pd.Timestamp(AS_OF) - pd.Timestamp("2023-01-03")).days / 30.44
    h = 90 / 30.44
    # S(t) = B(a, b + t) / B(a, b): Fader & Hardie (2007), "How to project customer
    # retention", eq. (3); the chance of leaving within h months is 1 - S(t + h) / S(t).
    expected = 1 - beta_fn(a, b + t + h) / beta_fn(a, b + t)
    assert s.loc["steady0", "p_leave"] == pytest.approx(expected, rel=1e-9)
    # A longer-standing subscriber is less likely to go (the sBG's sorting effect).
    assert s.loc["yearly", "p_leave"] < s.loc["downgrade", "p_leave"]


def test_order_gaps_flag_the_yearly_subscriber_without_the_contract_step(
    contracts_ledger: Ledger,
) -> None:
    con = contracts_ledger.ibis()
    f = customer_features(con, AS_OF, Policy()).to_pandas()
    f = f.merge(subscription_features(con, AS_OF), on="customer_id", how="left")
    before = classify(f, AS_OF, Policy())
    status = dict(zip(f["customer_id"], before["status"], strict=True))
    assert status["yearly"] in ("slipping", "lapsed", "lost")
    assert status["owing"] in ("slipping", "lapsed", "lost")


def test_scan_judges_running_contracts_by_the_contract(
    contracts_ledger: Ledger, tmp_path: Path
) -> None:
    run = run_scan(contracts_ledger, tmp_path / "runs", Policy(), as_of=AS_OF)
    rows = run.customers().to_pandas().set_index("customer_id")
    assert rows.loc["yearly", "status"] == "active"
    assert list(rows.loc["yearly", "reasons"]) == []
    assert rows.loc["latepay", "status"] == "active"  # paid: nothing outstanding
    assert rows.loc["owing", "status"] == "slipping"
    owing = list(rows.loc["owing", "reasons"])
    assert "1 unpaid invoice past due" in owing
    assert "renewal in 10 days (2024-07-10)" in owing
    assert not any("purchase" in r or "order" in r for r in owing)
    assert rows.loc["downgrade", "status"] == "slipping"
    assert "downgraded from 30.00 to 20.00 a month" in list(rows.loc["downgrade", "reasons"])
    # Every contract ended: judged like any customer (the cancellation rules).
    assert rows.loc["gone", "status"] in ("lapsed", "lost")
    assert any("Too expensive" in r for r in rows.loc["gone", "reasons"])
    report = run.info.models["contracts"]
    assert report["covered"] == 4 + 8
    assert report["slipping_for_contract"] == 2


def _frames(with_risk: bool) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    features = pd.DataFrame({"customer_id": ["a", "b", "c"]})
    if with_risk:
        features["lapse_risk"] = [0.9, 0.8, 0.7]
    lapse = pd.DataFrame(
        {
            "status": ["lapsed", "lost", "slipping"],
            "reasons": [["no purchase in 13 months"], ["x"], ["y"]],
            "typical_interval_days": [30.0, 30.0, 30.0],
        }
    )
    standing = pd.DataFrame(
        {
            "customer_id": ["a", "b"],
            "term_ends_on": pd.to_datetime(["2024-07-10", "2024-08-01"]),
            "days_to_renewal": [10, 32],
            "tenure_months": [12.0, 3.0],
            "monthly_price": [10.0, 10.0],
            "previous_monthly": [np.nan, np.nan],
            "downgraded": [False, False],
            "unpaid_invoices": [0, 2],
            "late_payments": [0, 2],
            "first_late_due": pd.to_datetime([None, "2024-05-12"]),
            "p_leave": [0.05, 0.2],
        }
    )
    return features, lapse, standing


def test_apply_contracts_sets_the_risk_of_covered_subscribers_only() -> None:
    features, lapse, standing = _frames(with_risk=True)
    f, out, report = apply_contracts(features, lapse, standing, 90)
    assert out["status"].tolist() == ["active", "slipping", "slipping"]
    assert out["reasons"].iloc[0] == []
    assert out["reasons"].iloc[1] == [
        "2 unpaid invoices past due",
        "2 late payments since May 2024",
        "renewal in 32 days (2024-08-01)",
        "P(leaving within 90 days) 0.20 (sBG)",
    ]
    assert out["reasons"].iloc[2] == ["y"]  # no running contract: left as it was
    assert f["lapse_risk"].tolist() == [0.05, 0.2, 0.7]
    assert lapse["status"].tolist() == ["lapsed", "lost", "slipping"]  # inputs untouched
    assert report == {
        "covered": 2,
        "horizon_days": 90,
        "were_lapsed_or_worse": 2,
        "were_slipping": 0,
        "slipping_for_contract": 1,
    }


def test_apply_contracts_without_a_risk_column_adds_none() -> None:
    features, lapse, standing = _frames(with_risk=False)
    f, out, _ = apply_contracts(features, lapse, standing, 90)
    assert "lapse_risk" not in f
    assert out["status"].tolist() == ["active", "slipping", "slipping"]


def test_contract_risk_learns_from_the_ledgers_history(tmp_path: Path) -> None:
    """Subscribers who leave 45 days after an incident; everyone else stays (a few of them
    had an incident too). The learned risk must read the incidents, beat the sBG on the
    newest past cutoff, and rank a subscriber with a fresh incident above one without."""
    ledger = Ledger(tmp_path / "ledger")
    subs, incidents = [], []
    start = date(2022, 1, 1)
    for i in range(120):
        hit = date(2023, 5, 1) + timedelta(days=4 * i)
        end = hit + timedelta(days=45)
        ended = str(end) if end <= AS_OF else ""
        subs.append(f"t{i},troubled{i},Basic,{start},{ended},1,10.00,")
        incidents.append(f"i{i},troubled{i},{hit},outage,3")
    for i in range(240):
        subs.append(f"k{i},keeper{i},Basic,{start + timedelta(days=i)},,1,10.00,")
        if i % 8 == 0:
            hit = date(2023, 6, 1) + timedelta(days=3 * i)
            incidents.append(f"j{i},keeper{i},{hit},outage,3")
    header = "subscription_id,customer_id,plan,started_on,ended_on,period_months,price,"
    import_file(
        ledger,
        "subscriptions",
        _write(tmp_path / "s.csv", header + "cancel_reason", subs),
        rejects_dir=tmp_path / "r",
    )
    import_file(
        ledger,
        "incidents",
        _write(tmp_path / "i.csv", "incident_id,customer_id,occurred_on,type,severity", incidents),
        rejects_dir=tmp_path / "r",
    )
    con = ledger.ibis()
    standing = contract_standing(con, AS_OF, None, 90)
    sbg_leave = pd.Series(0.1, index=standing["customer_id"].astype(str))
    risk, report = contract_risk(con, AS_OF, 90, sbg_leave)
    assert report["model"] == "logistic", report
    assert report["weights"]["incidents_90d"] > 0
    graded = report["graded"]
    assert graded["cutoff"] == str(AS_OF - timedelta(days=90))
    assert graded["auc"] > graded["auc_sbg"]
    assert graded["auc"] > 0.8
    # troubled105's incident was on 2024-06-24 (still running); keeper1 never had one.
    assert risk["troubled105"] > 3 * risk["keeper1"]
    assert set(risk.index) == set(standing["customer_id"])


def test_contract_risk_without_enough_history_keeps_the_sbg(contracts_ledger: Ledger) -> None:
    con = contracts_ledger.ibis()
    standing = contract_standing(con, AS_OF, None, 90)
    sbg_leave = pd.Series(0.25, index=standing["customer_id"].astype(str))
    risk, report = contract_risk(con, AS_OF, 90, sbg_leave)
    assert report["model"] == "sbg"
    assert "too few subscribers" in report["problem"]
    assert risk is sbg_leave


def test_the_policys_contract_windows_decide_what_counts(contracts_ledger: Ledger) -> None:
    """[contracts] late_window_days: only the May payment (due 12 May) falls in 60 days;
    downgrade_window_days: a downgrade older than the window is no longer one."""
    narrow = Contracts(late_window_days=60, downgrade_window_days=1)  # type: ignore[call-arg]
    s = contract_standing(contracts_ledger.ibis(), AS_OF, None, 90, rules=narrow)
    s = s.set_index("customer_id")
    assert s.loc["latepay", "late_payments"] == 1
    assert pd.Timestamp(s.loc["latepay", "first_late_due"]).date() == date(2024, 5, 12)
    assert not s.loc["downgrade", "downgraded"]
