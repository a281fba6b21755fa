"""Reasons x revenue: every aggregate checked against numbers worked out by hand.

The cases (value = value_before, else revenue_last_year):

    case  state    outcome      tier       owner   value  latest diagnosed call
    cA    closed   won_back     rep        rep     1000   too_dear+late, yes, coupon
    cB    closed   declined     rep        rep      600   too_dear, no, price_break
    cC    closed   won_back     executive  rep2     400*  late, partly, coupon
    cD    closed   returned     rep        rep2     300   (no call)
    cE    closed   not_pursued  rep        -        200   (no call)
    cF    working  -            executive  rep      800   rude_staff (inactive code), yes, none
    cI    closed   unreachable  rep        -        100   no reasons, no verification
    cG    open     -            rep        rep     5000   (no call: not worked)
    cH    open     -            rep        rep     7000   call still at listening: not worked

    * revenue_last_year; value_before is None.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from winback.desk import audit
from winback.desk.models import Call, Case, Concession, ReasonCode, User
from winback.errors import PermissionDenied
from winback.insights.kept import ReportStore
from winback.insights.reasons import NOT_DIAGNOSED, ReasonsReport, Slice, build_report
from winback.ledger.importer import import_file
from winback.ledger.store import Ledger

ORDERS = """order_id,customer_id,order_date,amount,status
o1,cA,2024-02-15,100,completed
o2,cA,2024-03-01,50,completed
o3,cA,2024-03-20,70,
o4,cA,2024-03-21,999,cancelled
o5,cC,2024-05-01,30,completed
o6,cB,2024-06-01,500,completed
"""


@dataclass
class CaseSpec:
    customer: str
    state: str
    outcome: str | None
    tier: str
    owner: str | None
    value_before: float | None
    closed: date | None = None
    revenue_last_year: float | None = None


def add_case(db: Session, people: dict[str, User], spec: CaseSpec) -> Case:
    case = Case(
        customer_id=spec.customer,
        customer_name=f"Customer {spec.customer[1:]}",
        state=spec.state,
        outcome=spec.outcome,
        tier=spec.tier,
        owner_id=people[spec.owner].id if spec.owner else None,
        priority=1,
        run_id="r1",
        customer_status="lost",
        value_before=spec.value_before,
        revenue_last_year=spec.revenue_last_year,
        closed_at=datetime(spec.closed.year, spec.closed.month, spec.closed.day, 15, 30)
        if spec.closed
        else None,
    )
    db.add(case)
    db.flush()
    return case


def add_call(
    db: Session,
    case: Case,
    user: User,
    *,
    at: datetime,
    step: str = "follow_up",
    reasons: list[str] | None = None,
    verification: str | None = None,
    offer: str | None = None,
    words: str = "",
    correction: str = "",
    finished: bool = True,
) -> Call:
    call = Call(
        case_id=case.id,
        user_id=user.id,
        step=step,
        started_at=at,
        updated_at=at,
        finished_at=at if finished else None,
        reasons=reasons or [],
        verification=verification,
        offer_kind=offer,
        customer_words=words,
        correction=correction,
    )
    db.add(call)
    db.flush()
    return call


def build_cases(db: Session, people: dict[str, User]) -> dict[str, Case]:
    """The cases of the module docstring, committed. The reason codes are the tests' own
    (PostgreSQL's tables are emptied between tests; SQLite keeps migration 0002's seed)."""
    db.add_all(
        [
            ReasonCode(code="too_dear", label="Price too high", position=1),
            ReasonCode(code="late", label="Slow delivery", position=2),
            ReasonCode(code="rude_staff", label="Rude service", position=3, active=False),
        ]
    )
    specs = [
        CaseSpec("cA", "closed", "won_back", "rep", "rep", 1000.0, date(2024, 3, 1)),
        CaseSpec("cB", "closed", "declined", "rep", "rep", 600.0, date(2024, 3, 15)),
        CaseSpec("cC", "closed", "won_back", "executive", "rep2", None, date(2024, 4, 10), 400.0),
        CaseSpec("cD", "closed", "returned", "rep", "rep2", 300.0, date(2024, 5, 5)),
        CaseSpec("cE", "closed", "not_pursued", "rep", None, 200.0, date(2024, 2, 1)),
        CaseSpec("cF", "working", None, "executive", "rep", 800.0),
        CaseSpec("cI", "closed", "unreachable", "rep", None, 100.0, date(2024, 4, 20)),
        CaseSpec("cG", "open", None, "rep", "rep", 5000.0),
        CaseSpec("cH", "open", None, "rep", "rep", 7000.0),
    ]
    made = {s.customer: add_case(db, people, s) for s in specs}
    rep, rep2 = people["rep"], people["rep2"]
    # cA's first call heard another reason; the latest call is the one that counts.
    first = datetime(2024, 2, 1)
    add_call(db, made["cA"], rep, at=first, reasons=["rude_staff"], verification="no")
    add_call(
        db,
        made["cA"],
        rep,
        at=datetime(2024, 2, 28, 10),
        reasons=["too_dear", "late"],
        verification="yes",
        offer="coupon",
        words="too dear, and it took three weeks",
    )
    add_call(
        db, made["cB"], rep, at=datetime(2024, 3, 10), reasons=["too_dear"], verification="no",
        offer="price_break", words="cheaper elsewhere",
    )  # fmt: skip
    add_call(
        db, made["cC"], rep2, at=datetime(2024, 4, 9), reasons=["late"],
        verification="partly", offer="coupon", correction="mostly the courier",
        words="the parcels come late",
    )  # fmt: skip
    add_call(
        db, made["cF"], rep, at=datetime(2024, 5, 1), step="offer", finished=False,
        reasons=["rude_staff"], verification="yes", offer="none", words="your man was rude",
    )  # fmt: skip
    add_call(db, made["cI"], rep2, at=datetime(2024, 4, 19))
    add_call(db, made["cH"], rep, at=datetime(2024, 6, 1), step="listening", finished=False)
    db.add_all(
        [
            Concession(case_id=made["cA"].id, kind="credit", asked=50, granted=50,
                       state="granted", route="self", requested_by=rep.id),
            Concession(case_id=made["cB"].id, kind="credit", asked=999, granted=None,
                       state="pending", route="manager", requested_by=rep.id),
            Concession(case_id=made["cC"].id, kind="discount_pct", asked=10, granted=10,
                       state="granted", route="self", requested_by=rep2.id),
            Concession(case_id=made["cF"].id, kind="credit", asked=40, granted=30,
                       state="countered", route="manager", requested_by=rep.id),
        ]
    )  # fmt: skip
    db.commit()
    return made


def make_ledger(root: Path, orders: str = ORDERS) -> Ledger:
    ledger = Ledger(root / "ledger")
    path = root / "orders.csv"
    path.write_text(orders, encoding="utf-8")
    result = import_file(ledger, "orders", path, rejects_dir=root / "rejects")
    assert result.rejected == 0
    return ledger


def by_key(slices: list[Slice]) -> dict[str, Slice]:
    return {s.key: s for s in slices}


def numbers(s: Slice) -> tuple[int, int, int, float | None, float, float, float]:
    return (s.cases, s.attempted, s.won_back, s.rate, s.value_lost, s.value_won_back,
            s.revenue_since)  # fmt: skip


@pytest.fixture
def report(db: Session, people: dict[str, User], tmp_path: Path) -> ReasonsReport:
    build_cases(db, people)
    return build_report(db, people["manager"], make_ledger(tmp_path))


def test_totals_count_worked_cases_only(report: ReasonsReport) -> None:
    t = report.total
    # Worked: cA cB cC cD cE cF cI; 1000+600+400+300+200+800+100.
    assert t.cases == 7
    assert t.value_lost == pytest.approx(3400.0)
    # Attempts: cA cB cC cI (returned and not_pursued are not attempts; cF is open).
    assert (t.attempted, t.won_back, t.rate) == (4, 2, 0.5)
    assert t.value_won_back == pytest.approx(1400.0)
    assert (t.returned, t.value_returned) == (1, pytest.approx(300.0))
    # Confirmed: cA yes 1000, cC partly 400, cF yes 800; the rest 600+300+200+100.
    assert t.value_verified == pytest.approx(2200.0)
    assert t.value_unverified == pytest.approx(1200.0)
    # cA: 50 on the day it closed + 70 (no status) after; not the order before nor the
    # cancelled one; cC: 30. cB declined, so its 500 does not count.
    assert t.revenue_since == pytest.approx(150.0)
    # Credit given: cA's 50 and the 30 countered on cF's 40 (cB's is pending, cC's is a
    # discount).
    assert t.credit_granted == pytest.approx(80.0)


def test_two_reasons_split_the_value_and_reasons_add_up(report: ReasonsReport) -> None:
    r = by_key(report.by_reason)
    assert [s.key for s in report.by_reason] == ["too_dear", "late", "rude_staff", NOT_DIAGNOSED]
    # too_dear: half of cA (500) + cB 600; cA won back, cB declined.
    assert numbers(r["too_dear"]) == (2, 2, 1, 0.5, pytest.approx(1100.0), pytest.approx(500.0),
                                   pytest.approx(60.0))  # fmt: skip
    assert (r["too_dear"].value_verified, r["too_dear"].value_unverified) == (500.0, 600.0)
    assert r["too_dear"].credit_granted == pytest.approx(25.0)
    # late: half of cA (500) + cC 400, both won back; since: 60 + 30.
    assert numbers(r["late"]) == (2, 2, 2, 1.0, pytest.approx(900.0), pytest.approx(900.0),
                                      pytest.approx(90.0))  # fmt: skip
    assert r["late"].value_verified == pytest.approx(900.0)
    # rude_staff: an inactive code keeps its label; cF is open: lost, not yet attempted.
    assert r["rude_staff"].label == "Rude service"
    assert numbers(r["rude_staff"]) == (1, 0, 0, None, 800.0, 0.0, 0.0)
    # not diagnosed: cD (no call, returned) 300, cE (no call) 200, cI (no reasons) 100.
    nd = r[NOT_DIAGNOSED]
    assert nd.label == "not diagnosed"
    assert numbers(nd) == (3, 1, 0, 0.0, pytest.approx(600.0), 0.0, 0.0)
    assert (nd.returned, nd.value_returned, nd.value_unverified) == (1, 300.0, 600.0)
    assert sum(s.value_lost for s in report.by_reason) == pytest.approx(report.total.value_lost)


def test_rate_and_revenue_by_tier_rep_and_offer(report: ReasonsReport) -> None:
    tier = by_key(report.by_tier)
    # rep tier: cA cB cD cE cI = 2200; attempts cA cB cI, one won back.
    assert numbers(tier["rep"]) == (5, 3, 1, pytest.approx(1 / 3), 2200.0, 1000.0,
                                    pytest.approx(120.0))  # fmt: skip
    # executive: cC cF = 1200; one attempt (cC), won back.
    assert numbers(tier["executive"]) == (2, 1, 1, 1.0, 1200.0, 400.0, pytest.approx(30.0))
    rep = {s.label: s for s in report.by_rep}
    assert [s.label for s in report.by_rep] == ["Rep", "Rep Two", "unassigned"]
    assert numbers(rep["Rep"]) == (3, 2, 1, 0.5, 2400.0, 1000.0, pytest.approx(120.0))
    assert numbers(rep["Rep Two"]) == (2, 1, 1, 1.0, 700.0, 400.0, pytest.approx(30.0))
    assert numbers(rep["unassigned"]) == (2, 1, 0, 0.0, 300.0, 0.0, 0.0)
    offer = by_key(report.by_offer)
    # coupon and "no offer" tie at 1400; the label breaks the tie.
    assert [s.key for s in report.by_offer] == ["coupon", "no offer", "price_break"]
    assert offer["price_break"].label == "price break"
    assert numbers(offer["coupon"]) == (2, 2, 2, 1.0, 1400.0, 1400.0, pytest.approx(150.0))
    assert offer["coupon"].credit_granted == pytest.approx(50.0)
    # no offer: cD, cE (no call), cF ("none"), cI (no offer recorded); cI the one attempt.
    assert numbers(offer["no offer"]) == (4, 1, 0, 0.0, 1400.0, 0.0, 0.0)
    assert numbers(offer["price_break"]) == (1, 1, 0, 0.0, 600.0, 0.0, 0.0)


def test_verified_reasons_in_the_customers_words_newest_first(report: ReasonsReport) -> None:
    assert report.voices_total == 3
    got = [(v.customer_id, v.reasons, v.verification, v.outcome, v.rep) for v in report.voices]
    assert got == [
        ("cF", ["Rude service"], "yes", "open", "Rep"),
        ("cC", ["Slow delivery"], "partly", "won_back", "Rep Two"),
        ("cA", ["Price too high", "Slow delivery"], "yes", "won_back", "Rep"),
    ]
    assert report.voices[1].correction == "mostly the courier"
    assert report.voices[1].customer_words == "the parcels come late"


def test_since_keeps_cases_closed_or_diagnosed_from_that_day(
    db: Session, people: dict[str, User], tmp_path: Path
) -> None:
    build_cases(db, people)
    report = build_report(db, None, make_ledger(tmp_path), since=date(2024, 4, 1))
    # cC (closed 10 April), cD (5 May), cI (20 April), and open cF (call of 1 May).
    assert report.total.cases == 4
    assert report.total.value_lost == pytest.approx(400 + 300 + 100 + 800)
    assert report.since == date(2024, 4, 1)
    assert "cases since 2024-04-01" in report.title


def test_without_a_ledger_revenue_since_is_zero_with_a_note(
    db: Session, people: dict[str, User], tmp_path: Path
) -> None:
    build_cases(db, people)
    report = build_report(db, None, Ledger(tmp_path / "nothing"))
    assert report.total.revenue_since == 0.0
    assert report.total.value_won_back == pytest.approx(1400.0)
    assert any("no ledger" in note for note in report.notes)
    assert build_report(db, None, None).notes == report.notes


def test_a_customer_won_back_twice_counts_each_order_once(
    db: Session, people: dict[str, User], tmp_path: Path
) -> None:
    first = CaseSpec("cJ", "closed", "won_back", "rep", "rep", 100.0, date(2024, 1, 1))
    second = CaseSpec("cJ", "closed", "won_back", "rep", "rep", 100.0, date(2024, 6, 1))
    add_case(db, people, first)
    add_case(db, people, second)
    db.commit()
    orders = "order_id,customer_id,order_date,amount\np1,cJ,2024-02-01,10\np2,cJ,2024-07-01,20\n"
    report = build_report(db, None, make_ledger(tmp_path, orders))
    # The first win-back counts p1 only (p2 belongs to the second): 10 + 20, not 10+20+20.
    assert report.total.revenue_since == pytest.approx(30.0)
    assert by_key(report.by_reason)[NOT_DIAGNOSED].revenue_since == pytest.approx(30.0)


def test_a_case_without_value_counts_as_zero_and_says_so(
    db: Session, people: dict[str, User]
) -> None:
    add_case(db, people, CaseSpec("cZ", "closed", "declined", "rep", "rep", None, date(2024, 1, 2)))
    db.commit()
    report = build_report(db, None, None)
    assert report.total.value_lost == 0.0
    assert report.total.cases == 1
    assert any("1 case(s) have no value" in note for note in report.notes)


def test_a_code_gone_from_the_taxonomy_shows_as_itself(
    db: Session, people: dict[str, User]
) -> None:
    case = add_case(db, people, CaseSpec("cY", "closed", "declined", "rep", "rep", 90.0))
    add_call(db, case, people["rep"], at=datetime(2024, 1, 5), reasons=["gone_code"])
    db.commit()
    (only,) = build_report(db, None, None).by_reason
    assert (only.key, only.label, only.value_lost) == ("gone_code", "gone_code", 90.0)


def test_empty_desk_gives_an_empty_report(db: Session, people: dict[str, User]) -> None:
    report = build_report(db, people["executive"], None)
    assert (report.total.cases, report.by_reason, report.voices) == (0, [], [])
    assert report.total.rate is None


def test_a_rep_may_not_see_the_report(db: Session, people: dict[str, User]) -> None:
    with pytest.raises(PermissionDenied, match="a rep may not see the reasons x revenue"):
        build_report(db, people["rep"], None)


def test_a_kept_report_is_built_again_only_when_the_desk_or_the_ledger_changed(
    db: Session, people: dict[str, User], tmp_path: Path
) -> None:
    build_cases(db, people)
    ledger = make_ledger(tmp_path)
    store = ReportStore(keep=2)
    manager = people["manager"]

    first = store.get(db, manager, ledger, None)
    assert store.get(db, manager, ledger, None) is first
    assert first.context() is first.context()  # the charts are drawn once

    # A new order of a won-back customer: the ledger changed, the revenue since too.
    make_ledger(tmp_path, "order_id,customer_id,order_date,amount\no7,cC,2024-07-01,25\n")
    second = store.get(db, manager, ledger, None)
    assert second is not first
    assert (first.report.total.revenue_since, second.report.total.revenue_since) == (
        pytest.approx(150.0),
        pytest.approx(175.0),
    )

    audit.record(db, manager, "case.note", "case", 1, None, {"text": "called"})
    db.commit()
    assert store.get(db, manager, ledger, None) is not second
    with pytest.raises(PermissionDenied):
        store.get(db, people["rep"], ledger, None)
