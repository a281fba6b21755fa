"""A subscription's own cancellation reason in the reasons x revenue report.

The ledger's subscriptions (price a year = price x 12 / months per period):

    sub   customer  ended       reason                      price a year
    s1    cK        2024-03-01  "Price too high"            240 (20 monthly)
    s2    cL        2024-04-01  "Moving abroad"             120 (120 yearly)
    s3    cM        2024-04-15  "too dear"                  ---  (cM's case has a diagnosis)
    s4    cN        2024-05-01  "slow delivery"             ---  (cN's case: no reason yet)
    s5    cP        2023-12-01  "Moving abroad"             60   (before the ``since`` test)
    s6    cQ        2024-05-10  (no reason)                 ---  not counted
    s7    cR        (running)
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from tests.desk.test_report import CaseSpec, add_call, add_case, by_key
from winback.desk.models import ReasonCode, User
from winback.insights.reasons import CANCELLED, NO_CASE, build_report
from winback.ledger import reads
from winback.ledger.importer import import_file
from winback.ledger.store import Ledger

HEADER = "subscription_id,customer_id,plan,started_on,ended_on,period_months,price,cancel_reason"
SUBSCRIPTIONS = f"""{HEADER}
s1,cK,Basic,2023-01-01,2024-03-01,1,20.00,Price too high
s2,cL,Yearly,2023-04-01,2024-04-01,12,120.00,  Moving abroad
s3,cM,Basic,2023-01-01,2024-04-15,1,10.00,too dear
s4,cN,Basic,2023-01-01,2024-05-01,1,10.00,slow delivery
s5,cP,Basic,2023-01-01,2023-12-01,1,5.00,Moving abroad
s6,cQ,Basic,2023-01-01,2024-05-10,1,5.00,
s7,cR,Basic,2023-01-01,,1,5.00,
"""


def _ledger(root: Path) -> Ledger:
    ledger = Ledger(root / "ledger")
    path = root / "subscriptions.csv"
    path.write_text(SUBSCRIPTIONS, encoding="utf-8")
    customers = root / "customers.csv"
    customers.write_text("customer_id,name\ncK,Kim\ncL,Lee\n", encoding="utf-8")
    assert import_file(ledger, "subscriptions", path, rejects_dir=root / "r").rejected == 0
    assert import_file(ledger, "customers", customers, rejects_dir=root / "r").rejected == 0
    return ledger


def test_cancellations_read_the_reasons_and_price_a_year(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    got = reads.cancellations(ledger)
    assert [(c.subscription_id, c.reason, c.yearly_value) for c in got] == [
        ("s5", "Moving abroad", pytest.approx(60.0)),
        ("s1", "Price too high", pytest.approx(240.0)),
        ("s2", "Moving abroad", pytest.approx(120.0)),
        ("s3", "too dear", pytest.approx(120.0)),
        ("s4", "slow delivery", pytest.approx(120.0)),
    ]
    assert got[1].customer_name == "Kim"
    assert got[1].ended_on == date(2024, 3, 1)
    since = reads.cancellations(ledger, date(2024, 4, 1))
    assert [c.subscription_id for c in since] == ["s2", "s3", "s4"]


def test_a_cancellation_reaches_the_report_as_a_verified_reason(
    db: Session, people: dict[str, User], tmp_path: Path
) -> None:
    db.add_all(
        [
            ReasonCode(code="too_dear", label="Price too high", position=1),
            ReasonCode(code="late", label="Slow delivery", position=2),
        ]
    )
    rep = people["rep"]
    diagnosed = add_case(
        db, people, CaseSpec("cM", "closed", "declined", "rep", "rep", 500.0, date(2024, 4, 20))
    )
    add_call(db, diagnosed, rep, at=datetime(2024, 4, 18), reasons=["late"], verification="no")
    silent = add_case(
        db, people, CaseSpec("cN", "closed", "unreachable", "rep", "rep", 300.0, date(2024, 5, 3))
    )
    db.commit()

    report = build_report(db, people["manager"], _ledger(tmp_path), since=date(2024, 1, 1))

    # cM's rep diagnosis stands; cN's case takes its cancellation's reason; cK and cL count
    # on their own (cP cancelled before the since day, cQ gave no reason).
    assert report.cancellations == 3
    t = report.total
    assert t.cases == 4
    assert t.value_lost == pytest.approx(500 + 300 + 240 + 120)
    assert t.value_verified == pytest.approx(300 + 240 + 120)
    assert t.attempted == 2  # declined, unreachable; a cancellation is not an attempt
    r = by_key(report.by_reason)
    assert r["too_dear"].value_lost == pytest.approx(240.0)  # "Price too high" is its label
    assert r["too_dear"].value_verified == pytest.approx(240.0)
    assert r["late"].cases == 2  # cM (not confirmed) and cN ("slow delivery")
    assert r["late"].value_verified == pytest.approx(300.0)
    assert r["late"].value_unverified == pytest.approx(500.0)
    assert r["said:moving abroad"].label == "Moving abroad"
    assert r["said:moving abroad"].value_lost == pytest.approx(120.0)
    assert by_key(report.by_tier)[NO_CASE].cases == 2
    voices = {v.customer_id: v for v in report.voices}
    assert set(voices) == {"cK", "cL", "cN"}
    assert voices["cK"].case_id == 0
    assert voices["cK"].outcome == CANCELLED
    assert voices["cK"].customer_words == "Price too high"
    assert voices["cK"].verification == "cancellation"
    assert voices["cN"].case_id == silent.id
    assert voices["cN"].reasons == ["Slow delivery"]


def test_the_timeline_shows_the_cancellation_in_the_customers_words(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    profile, events = reads.customer_timeline(ledger, "cK")
    assert profile is not None
    subs = [e for e in events if e.kind == "subscription"]
    assert [e.summary for e in subs] == [
        'subscription s1 (Basic) cancelled on 2024-03-01: "Price too high"'
    ]
    assert subs[0].at == datetime(2024, 3, 1)
    _, running = reads.customer_timeline(ledger, "cR")
    assert [e.summary for e in running if e.kind == "subscription"] == [
        "subscription s7 (Basic) since 2023-01-01, 5.00 every 1 month(s)"
    ]
