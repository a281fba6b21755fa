"""Rep incentives: earnings from the attributed outcomes, by hand, with and without the
holdout's baseline; the leaderboard's order and who may see what. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from winback.desk import incentives
from winback.desk.models import Campaign, CampaignMember, Case, User
from winback.errors import InvalidInput, PermissionDenied
from winback.ledger.importer import import_file
from winback.ledger.store import Ledger
from winback.policy import Incentives

JUNE = incentives.Period(date(2024, 6, 1), date(2024, 6, 30))
PLAN = Incentives(per_win=10, per_revenue=0.05, revenue_days=30)


def _case(
    db: Session,
    owner: User,
    customer: str,
    outcome: str,
    opened: str,
    closed: str,
    *,
    contacted: bool = True,
) -> None:
    db.add(
        Case(
            customer_id=customer,
            priority=1,
            run_id="r",
            customer_status="lapsed",
            state="closed",
            outcome=outcome,
            contacted=contacted,
            owner_id=owner.id,
            opened_at=datetime.fromisoformat(opened),
            closed_at=datetime.fromisoformat(closed),
        )
    )


def _ledger(root: Path, orders: list[tuple[str, str, str, float]]) -> Ledger:
    ledger = Ledger(root / "ledger")
    path = root / "orders.csv"
    lines = ["order_id,customer_id,order_date,amount"]
    lines += [f"{o},{c},{d},{a}" for o, c, d, a in orders]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = import_file(ledger, "orders", path, rejects_dir=root / "rejects")
    assert result.rejected == 0, result.rejects
    return ledger


ORDERS = [
    ("o1", "c1", "2024-05-31", 100.0),  # before c1's case opened: not won back
    ("o2", "c1", "2024-06-15", 200.0),
    ("o3", "c1", "2024-07-10", 300.0),  # the 30th day after the close: counted
    ("o4", "c1", "2024-07-11", 400.0),  # the 31st: not
    ("o5", "c2", "2024-06-03", 50.0),  # the order sync closed c2's case on
    ("o6", "c4", "2024-06-06", 1000.0),  # returned unprompted: nobody's win
    ("o7", "c6", "2024-05-01", 70.0),  # before rep2's case
]


@pytest.fixture
def closed(db: Session, people: dict[str, User]) -> None:
    rep, rep2 = people["rep"], people["rep2"]
    _case(db, rep, "c1", "won_back", "2024-06-01T09:00", "2024-06-10T15:00")
    _case(db, rep, "c2", "returned", "2024-06-01T09:00", "2024-06-05T02:00")  # contacted
    _case(db, rep, "c3", "declined", "2024-06-01T09:00", "2024-06-06T10:00")
    _case(db, rep, "c4", "returned", "2024-06-01T09:00", "2024-06-07T10:00", contacted=False)
    _case(db, rep, "c5", "won_back", "2024-02-01T09:00", "2024-03-01T10:00")  # before June
    _case(db, rep2, "c6", "won_back", "2024-06-02T09:00", "2024-06-08T10:00")
    db.commit()


def test_earnings_count_wins_and_revenue_within_days_of_the_close(
    db: Session, people: dict[str, User], closed: None, tmp_path: Path
) -> None:
    ledger = _ledger(tmp_path, ORDERS)
    mine = incentives.my_earnings(db, people["rep"], ledger, PLAN, JUNE)
    # Closed in June: c1..c4. Won back: c1 (by hand) and c2 (returned after contact).
    # Revenue: c1 200 + 300, c2 50. Earned: 2 x 10 + 550 x 0.05 = 47.5.
    assert (mine.closed, mine.won_back, mine.revenue) == (4, 2, 550.0)
    assert (mine.expected_wins, mine.expected_revenue) == (0.0, 0.0)
    assert mine.earnings == pytest.approx(47.5)
    board = incentives.leaderboard(db, people["manager"], ledger, PLAN, JUNE)
    # rep 47.5, rep2 10 (one win, no revenue), then the others who hold work at 0, by name.
    assert [(e.username, e.earnings) for e in board] == [
        ("rep", 47.5),
        ("rep2", 10.0),
        ("executive", 0.0),
        ("manager", 0.0),
    ]


def test_a_customer_won_back_twice_counts_once(
    db: Session, people: dict[str, User], closed: None, tmp_path: Path
) -> None:
    _case(db, people["rep"], "c1", "won_back", "2024-06-20T09:00", "2024-06-25T10:00")
    db.commit()
    ledger = _ledger(tmp_path, ORDERS)
    mine = incentives.my_earnings(db, people["rep"], ledger, PLAN, JUNE)
    # c1's window runs from the first opening to 30 days after the last close: 1 June to
    # 25 July, so 200 + 300 + 400 (and c2's 50).
    assert (mine.closed, mine.won_back, mine.revenue) == (5, 2, 950.0)
    assert mine.earnings == pytest.approx(2 * 10 + 950 * 0.05)


def _launched_with_holdout(db: Session, manager: User) -> None:
    campaign = Campaign(
        name="spring",
        state="launched",
        run_id="r",
        run_as_of=date(2024, 4, 30),
        holdout_share=0.1,
        window_days=60,
        created_by=manager.id,
        ends_on=date(2024, 6, 30),  # launched 1 May
    )
    db.add(campaign)
    db.flush()
    for customer, tier, held in [
        ("h1", "rep", True),
        ("h2", "rep", True),
        ("h3", "rep", True),
        ("h4", "rep", True),
        ("h5", "campaign", True),  # not the rep tier: left out while the rep tier has some
        ("t1", "rep", False),  # treated: not the baseline
    ]:
        db.add(
            CampaignMember(campaign_id=campaign.id, customer_id=customer, tier=tier, holdout=held)
        )
    db.commit()


def test_above_the_baseline_pays_only_what_the_holdout_would_not_have_done(
    db: Session, people: dict[str, User], closed: None, tmp_path: Path
) -> None:
    _launched_with_holdout(db, people["manager"])
    orders = [
        *ORDERS,
        ("h1a", "h1", "2024-05-10", 80.0),  # within 30 days of the launch
        ("h2a", "h2", "2024-06-15", 500.0),  # after them
        ("h5a", "h5", "2024-05-02", 1000.0),  # campaign tier
        ("t1a", "t1", "2024-05-02", 1000.0),  # treated
    ]
    ledger = _ledger(tmp_path, orders)
    plan = PLAN.model_copy(update={"above_baseline": True})
    base = incentives.baseline(db, ledger, plan)
    assert (base.members, base.rate, base.revenue_per_member, base.rep_tier) == (
        4,
        0.25,
        20.0,
        True,
    )
    mine = incentives.my_earnings(db, people["rep"], ledger, plan, JUNE)
    # 4 closed: 1 win and 80 of revenue expected anyway. Paid: 1 win, 470 revenue.
    assert (mine.expected_wins, mine.expected_revenue) == (1.0, 80.0)
    assert mine.earnings == pytest.approx(10 * 1 + 0.05 * 470)
    board = {e.username: e for e in incentives.leaderboard(db, None, ledger, plan, JUNE)}
    # rep2: 1 closed, 0.25 wins and 20 expected; 0 revenue is not paid below zero.
    assert board["rep2"].paid_revenue == 0.0
    assert board["rep2"].earnings == pytest.approx(10 * 0.75)


def test_without_a_rep_tier_holdout_every_holdout_member_sets_the_baseline(
    db: Session, people: dict[str, User], tmp_path: Path
) -> None:
    _launched_with_holdout(db, people["manager"])
    db.query(CampaignMember).filter(CampaignMember.tier == "rep").delete()
    db.commit()
    ledger = _ledger(tmp_path, [("h5a", "h5", "2024-05-02", 1000.0)])
    base = incentives.baseline(db, ledger, PLAN)
    assert (base.members, base.rate, base.revenue_per_member, base.rep_tier) == (
        1,
        1.0,
        1000.0,
        False,
    )


def test_who_may_see_earnings(db: Session, people: dict[str, User], closed: None) -> None:
    with pytest.raises(PermissionDenied):
        incentives.my_earnings(db, people["admin"], None, PLAN, JUNE)
    with pytest.raises(PermissionDenied):
        incentives.leaderboard(db, people["rep"], None, PLAN, JUNE)
    # Without a ledger nobody has revenue; wins still count.
    assert incentives.my_earnings(db, people["rep"], None, PLAN, JUNE).earnings == 20.0


def test_a_period_runs_forward_and_defaults_to_the_plans_days() -> None:
    with pytest.raises(InvalidInput, match="after until"):
        incentives.period_of(PLAN, date(2024, 7, 1), date(2024, 6, 1))
    with pytest.raises(InvalidInput, match="ten years"):
        incentives.period_of(PLAN, date(2000, 1, 1), date(2024, 6, 1))
    period = incentives.period_of(PLAN, None, date(2024, 6, 30))
    assert period == incentives.Period(date(2024, 4, 2), date(2024, 6, 30))  # 90 days
