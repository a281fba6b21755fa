"""The dashboard's headline figures, worked out by hand over tests/desk/test_report.py's
cases (SQLite and PostgreSQL).

On 25 April 2024 ("this month" is April):

* won back this month: cC (won_back, 10 Apr, no value_before: revenue last year 400) and
  cJ (returned after contact, 2 Apr, 250) = 2 and 650. Not cA (won back 1 March), not cD
  (returned unprompted), not cI (unreachable), not cK (returned, no contact);
* open cases: cF (working, 800), cG (5,000), cH (7,000) = 3 and 12,800;
* overdue: the open task due 20 April (the done one and the one due 1 May are not) = 1;
* pending approvals: the request on cG (cB's is on a closed case) = 1 for a manager and an
  executive; a rep decides nothing (None).
"""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy.orm import Session

from tests.desk.test_report import CaseSpec, add_case, build_cases
from winback.desk.dashboard import Headline, headline
from winback.desk.models import Concession, Task, User
from winback.errors import PermissionDenied

TODAY = date(2024, 4, 25)


@pytest.fixture
def desk(db: Session, people: dict[str, User]) -> None:
    made = build_cases(db, people)
    returned = add_case(
        db, people, CaseSpec("cJ", "closed", "returned", "rep", "rep", 250.0, date(2024, 4, 2))
    )
    returned.contacted = True
    add_case(db, people, CaseSpec("cK", "closed", "returned", "rep", "rep", 90.0, date(2024, 4, 3)))
    rep = people["rep"]
    db.add(
        Concession(case_id=made["cG"].id, kind="credit", asked=500, state="pending",
                   route="manager", requested_by=rep.id)
    )  # fmt: skip
    for due, done in ((date(2024, 4, 20), None), (date(2024, 4, 1), datetime(2024, 4, 2))):
        db.add(Task(kind="commitment", title="call back", customer_id="cG", owner_id=rep.id,
                    due_on=due, done_at=done, result=""))  # fmt: skip
    db.add(Task(kind="follow_up", title="check", customer_id="cH", owner_id=rep.id,
                due_on=date(2024, 5, 1), result=""))  # fmt: skip
    db.commit()


def test_headline_figures_as_worked_out_by_hand(
    db: Session, people: dict[str, User], desk: None
) -> None:
    assert headline(db, people["manager"], TODAY) == Headline(
        month=date(2024, 4, 1),
        won_back=2,
        revenue_won_back=pytest.approx(650.0),
        open_cases=3,
        revenue_at_risk=pytest.approx(12_800.0),
        overdue=1,
        pending_approvals=1,
    )
    assert headline(db, people["executive"], TODAY).pending_approvals == 1
    assert headline(db, people["admin"], TODAY).pending_approvals is None


def test_this_month_starts_on_the_first(db: Session, people: dict[str, User], desk: None) -> None:
    march = headline(db, people["manager"], date(2024, 3, 31))
    # cA (1 March, 1,000) only; the April win-backs are not yet; every task is overdue but
    # those not yet due on 31 March (20 April, 1 May) and the done one.
    assert (march.month, march.won_back, march.revenue_won_back) == (date(2024, 3, 1), 1, 1000.0)
    assert march.overdue == 0


def test_a_rep_may_not_see_the_headline(db: Session, people: dict[str, User]) -> None:
    with pytest.raises(PermissionDenied):
        headline(db, people["rep"], TODAY)
