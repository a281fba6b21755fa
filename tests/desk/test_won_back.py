"""One meaning of "won back": a person closed the case as won_back, or it returned after
the desk had contacted the customer. The export, the reasons report, the red carpet and
the pages all count the same closed cases.

    customer  what happened                          counts as            value
    a         contacted, then ordered again (sync)   won_back             100
    b         ordered again, never contacted (sync)  returned_unprompted  200
    c         closed won_back by the rep             won_back             400
    d         closed declined by the rep             declined             800
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.desk.conftest import POLICY, RULES, make_run, win_back
from winback.desk import cases
from winback.desk.models import CASE_OUTCOMES, AuditEntry, Case, RedCarpet, User
from winback.desk.outcomes import (
    counted_outcome,
    counted_outcome_sql,
    export_outcomes,
    is_won_back,
    outcome_label,
)
from winback.desk.sync import sync_cases
from winback.insights.reasons import build_report
from winback.ledger.store import Ledger
from winback.policy import Policy

VALUES = {"a": 100.0, "b": 200.0, "c": 400.0, "d": 800.0}


@pytest.fixture
def closed(db: Session, people: dict[str, User], tmp_path: Path) -> dict[str, Case]:
    rows = [
        {"customer_id": c, "rank": i + 1, "revenue_last_year": v}
        for i, (c, v) in enumerate(VALUES.items())
    ]
    sync_cases(db, None, make_run(tmp_path / "runs", rows), policy=POLICY)
    made = {c.customer_id: c for c in db.scalars(select(Case))}
    rep = people["rep"]
    for case in made.values():
        case.owner_id = rep.id
    db.commit()
    cases.log_activity(db, rep, made["a"].id, kind="contact", channel="call", text="rang")
    win_back(db, rep, made["c"].id, policy=Policy())
    cases.close_case(db, rep, made["d"].id, "declined", policy=Policy())
    later = [
        {"customer_id": c, "rank": None, "last_order_date": date(2024, 8, 1)} for c in ("a", "b")
    ]
    result = sync_cases(db, None, make_run(tmp_path / "runs", later, "2024-08-02"), policy=POLICY)
    assert (result.returned, result.won_back) == (2, 1)
    return made


def test_export_report_and_red_carpet_agree_on_who_was_won_back(
    db: Session, people: dict[str, User], closed: dict[str, Case], tmp_path: Path
) -> None:
    ledger = Ledger(tmp_path / "ledger")
    assert export_outcomes(db, ledger, tmp_path / "rejects").exported == 4
    con = ledger.connect()
    try:
        exported = dict(con.execute("SELECT customer_id, outcome FROM winback_outcomes").fetchall())
    finally:
        con.close()
    assert exported == {
        "a": "won_back",
        "b": "returned_unprompted",
        "c": "won_back",
        "d": "declined",
    }

    total = build_report(db, people["manager"], None).total
    assert (total.cases, total.attempted, total.won_back, total.returned) == (4, 3, 2, 1)
    assert (total.value_won_back, total.value_returned, total.value_lost) == (500.0, 200.0, 1500.0)
    assert total.rate == pytest.approx(2 / 3)

    carpets = {r.customer_id: r for r in db.scalars(select(RedCarpet))}
    assert sorted(carpets) == ["a", "c"]
    assert carpets["a"].case_id == closed["a"].id
    assert (carpets["a"].total, carpets["a"].remaining) == (RULES.experiences, RULES.experiences)
    assert carpets["a"].owner_id == people["rep"].id
    started = db.scalars(
        select(AuditEntry).where(
            AuditEntry.action == "red_carpet.start", AuditEntry.entity_id == str(carpets["a"].id)
        )
    ).one()
    assert (started.actor_id, started.actor_name) == (None, "winback sync")

    assert {c: is_won_back(case) for c, case in closed.items()} == {
        "a": True,
        "b": False,
        "c": True,
        "d": False,
    }
    assert {c: outcome_label(case) for c, case in closed.items()} == {
        "a": "won back (ordered again after contact)",
        "b": "returned unprompted",
        "c": "won back",
        "d": "declined",
    }


@pytest.mark.parametrize("contacted", [False, True])
def test_the_sql_and_python_meanings_of_an_outcome_agree(db: Session, contacted: bool) -> None:
    for i, outcome in enumerate((*CASE_OUTCOMES, None)):
        db.add(
            Case(
                customer_id=f"c{i}",
                state="open" if outcome is None else "closed",
                outcome=outcome,
                contacted=contacted,
                priority=i,
                run_id="r1",
                customer_status="lost",
            )
        )
    db.commit()
    rows = db.execute(select(Case.outcome, counted_outcome_sql()).order_by(Case.id)).all()
    assert [counted for _, counted in rows] == [counted_outcome(o, contacted) for o, _ in rows]
    returned = dict(rows)["returned"]
    assert returned == ("won_back" if contacted else "returned_unprompted")


def test_the_desks_case_reads_carry_the_red_carpet_flag(
    db: Session, people: dict[str, User], closed: dict[str, Case], tmp_path: Path
) -> None:
    # a came back after contact (on the red carpet), then calls in and a rep opens a case by
    # hand (sync holds a customer on the red carpet back from new cases).
    manager, rep = people["manager"], people["rep"]
    new = Case(
        customer_id="a",
        state="open",
        priority=1,
        run_id="by-hand",
        customer_status="lapsed",
        owner_id=rep.id,
    )
    db.add(new)
    db.commit()
    db.expire_all()

    def flags(found: list[Case]) -> dict[int, int | None]:
        return {c.id: c.red_carpet.remaining if c.red_carpet else None for c in found}

    everything = cases.search_cases(db, manager, cases.CaseFilter(state="all")).cases
    assert flags(everything) == {
        closed["a"].id: RULES.experiences,
        closed["b"].id: None,
        closed["c"].id: RULES.experiences,
        closed["d"].id: None,
        new.id: RULES.experiences,
    }
    assert flags(cases.my_queue(db, rep).cases) == {new.id: RULES.experiences}
    assert flags(cases.cases_of_customer(db, rep, "b")) == {closed["b"].id: None}
    assert cases.get_case(db, rep, new.id).red_carpet is not None
