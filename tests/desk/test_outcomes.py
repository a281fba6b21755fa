"""Outcomes reach the ledger table the scan reads, so the win-back odds learn; and each
case knows what its customer was worth before they left."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.desk.conftest import POLICY, make_run, win_back
from winback.desk import calls, cases
from winback.desk.calls import Commitment, LoggedCall
from winback.desk.models import Case, User, utcnow
from winback.desk.outcomes import export_outcomes, pending
from winback.desk.sync import sync_cases
from winback.ledger.importer import import_file
from winback.ledger.store import Ledger
from winback.policy import Policy
from winback.scan.worth import winback_odds


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    """A ledger with orders: a's last year before leaving is 100 + 250 (the 2021 order
    is older than a year before a's last order)."""
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "order_id,customer_id,order_date,amount\n"
        "o1,a,2021-01-05,999\n"
        "o2,a,2023-03-01,100\n"
        "o3,a,2024-01-10,250\n"
        "o4,b,2023-12-01,40\n",
        encoding="utf-8",
    )
    store = Ledger(tmp_path / "ledger")
    import_file(store, "orders", orders, rejects_dir=tmp_path / "rejects")
    return store


def _ledger_outcomes(ledger: Ledger) -> list[dict[str, object]]:
    con = ledger.connect()
    try:
        cursor = con.execute("SELECT * FROM winback_outcomes ORDER BY outcome_id")
        names = [d[0] for d in cursor.description or []]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()


def test_closed_cases_become_winback_outcomes(
    db: Session, people: dict[str, User], ledger: Ledger, tmp_path: Path
) -> None:
    rows = [
        {"customer_id": "a", "rank": 1, "segment": "retail", "revenue_last_year": 5.0},
        {"customer_id": "b", "rank": 2, "segment": "retail", "revenue_last_year": 40.0},
        {"customer_id": "c", "rank": 3, "segment": "trade", "revenue_last_year": 70.0},
    ]
    sync_cases(db, None, make_run(tmp_path, rows), ledger=ledger, policy=POLICY)
    a, b, c = db.scalars(select(Case).order_by(Case.customer_id))
    assert a.value_before == pytest.approx(350.0)  # 100 + 250, not the 2021 order
    assert b.value_before == pytest.approx(40.0)
    assert c.value_before == pytest.approx(70.0)  # no orders in the ledger: the scan's figure

    rep = people["rep"]
    for case in (a, b, c):
        case.owner_id = rep.id
    db.commit()
    calls.log_call(
        db,
        rep,
        a.id,
        LoggedCall(
            occurred_at=utcnow() - timedelta(hours=1),
            apology="sorry",
            listening="late boxes",
            reasons=["delivery", "price"],
            verification="partly",
            correction="mostly delivery",
            asks="a fixed day",
            outcome="won_back",
            commitments=[Commitment("book slots", rep.id, utcnow().date())],
            offer_kind="guarantee",
            follow_up_on=utcnow().date() + timedelta(days=7),
        ),
        policy=Policy(),
    )
    cases.close_case(db, rep, b.id, "declined", policy=Policy())
    assert [x.customer_id for x in pending(db)] == ["a", "b"]

    result = export_outcomes(db, ledger, tmp_path / "rejects")
    assert (result.exported, result.pending, result.problem) == (2, 0, None)
    assert pending(db) == []
    stored = _ledger_outcomes(ledger)
    assert [(r["outcome_id"], r["customer_id"], r["outcome"]) for r in stored] == [
        (f"desk-case-{a.id}", "a", "won_back"),
        (f"desk-case-{b.id}", "b", "declined"),
    ]
    first = stored[0]
    assert (first["segment"], first["tier"], first["offer"], first["reason"]) == (
        "retail",
        "rep",
        "guarantee",
        "delivery",
    )
    assert first["contacted"]
    assert first["value_before"] == pytest.approx(350.0)
    assert stored[1]["reason"] is None  # no call, no verified reason

    # Nothing pending: a second export writes nothing; a forced re-export is a duplicate.
    assert export_outcomes(db, ledger, tmp_path / "rejects").exported == 0
    a.outcome_batch = None
    db.commit()
    assert export_outcomes(db, ledger, tmp_path / "rejects").exported == 1
    assert len(_ledger_outcomes(ledger)) == 2


def test_a_customer_who_returned_by_themselves_is_not_a_win_back(
    db: Session, people: dict[str, User], ledger: Ledger, tmp_path: Path
) -> None:
    from datetime import date

    rows = [{"customer_id": "a", "rank": 1}, {"customer_id": "b", "rank": 2}]
    sync_cases(db, None, make_run(tmp_path, rows), policy=POLICY)
    b = db.scalars(select(Case).where(Case.customer_id == "b")).one()
    b.owner_id = people["rep"].id
    db.commit()
    cases.log_activity(db, people["rep"], b.id, kind="contact", channel="call", text="rang")
    later = [{"customer_id": c, "rank": None, "last_order_date": date(2024, 8, 1)} for c in "ab"]
    sync_cases(db, None, make_run(tmp_path, later, as_of="2024-08-02"), policy=POLICY)
    export_outcomes(db, ledger, tmp_path / "rejects")
    outcomes = {r["customer_id"]: r["outcome"] for r in _ledger_outcomes(ledger)}
    assert outcomes == {"a": "returned_unprompted", "b": "won_back"}


def test_the_scan_learns_win_back_odds_from_desk_outcomes(
    db: Session, people: dict[str, User], ledger: Ledger, tmp_path: Path
) -> None:
    rows = [{"customer_id": f"x{i}", "rank": i + 1, "segment": "trade"} for i in range(6)]
    sync_cases(db, None, make_run(tmp_path, rows), policy=POLICY)
    for i, case in enumerate(db.scalars(select(Case).order_by(Case.id))):
        case.owner_id = people["rep"].id
        db.commit()
        if i < 5:
            win_back(db, people["rep"], case.id)
        else:
            cases.close_case(db, people["rep"], case.id, "declined", policy=Policy())
    export_outcomes(db, ledger, tmp_path / "rejects")

    policy = Policy()
    segments = pd.Series(["trade", "retail"])
    before = winback_odds(segments, None, policy)
    learned = winback_odds(segments, pd.DataFrame(_ledger_outcomes(ledger)), policy)
    # Prior mean m with strength s, then 5 wins in 6 attempts: (m*s + 5) / (s + 6).
    o = policy.odds
    prior = o.segment_prior_means.get("trade", o.prior_mean)
    expected = (prior * o.prior_strength + 5) / (o.prior_strength + 6)
    assert learned[0] == pytest.approx(expected)
    assert learned[0] > before[0]
    assert learned[1] == pytest.approx(before[1])  # no outcomes for retail: the prior
