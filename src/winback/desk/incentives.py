"""Rep incentives: what each person working cases earned under the policy's
``[incentives]`` plan, from the same attributed outcomes as every other count.

A rep's cases in a period are the cases they own that were closed in it (the close's day,
in the business's time zone, on or after ``since`` and on or before ``until``). Among them
a customer is *won back* by :func:`winback.desk.outcomes.is_won_back` (the one definition),
counted once however many of their cases closed so. Their *revenue won back* is the sum of
their counted orders in the ledger from the day the case opened to ``revenue_days`` after
its close (a customer won back on several cases: from the first opening to ``revenue_days``
after the last close).

With ``above_baseline`` the plan pays only for what the rep added: the *baseline* is read
from the holdouts of launched campaigns (people the desk and the campaign left alone):
the share of holdout members who placed a counted order within ``revenue_days`` of the
launch, and their revenue per member over the same days (a window still open is read up
to today). The rep tier's holdout members are used when there are any (those are the
customers a rep would have called), else every holdout member. A rep who closed ``n``
cases is expected ``n x rate`` wins and ``n x revenue per member`` revenue anyway; the
plan pays for wins and revenue above those, never below zero.

Earnings = ``per_win`` x wins paid + ``per_revenue`` x revenue paid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from winback import clock
from winback.desk.models import Campaign, CampaignMember, Case, User
from winback.desk.outcomes import is_won_back
from winback.desk.permissions import Action, may_hold_work, require
from winback.errors import InvalidInput
from winback.ledger import reads
from winback.ledger.store import Ledger
from winback.policy import Incentives

MAX_PERIOD_DAYS = 3660


@dataclass(frozen=True)
class Baseline:
    """What the holdouts of launched campaigns did with nothing from the desk."""

    members: int
    rate: float  # the share who placed a counted order within revenue_days of launch
    revenue_per_member: float
    rep_tier: bool  # read from the rep tier's holdout members (else from every member)


@dataclass(frozen=True)
class Earnings:
    """One person's incentive earnings over a period."""

    user_id: int
    username: str
    name: str
    role: str
    closed: int  # cases closed in the period
    won_back: int  # customers won back (each once)
    revenue: float  # revenue won back
    expected_wins: float  # at the baseline (0 without above_baseline)
    expected_revenue: float
    paid_wins: float
    paid_revenue: float
    earnings: float


@dataclass(frozen=True)
class Period:
    since: date
    until: date


def period_of(plan: Incentives, since: date | None, until: date | None) -> Period:
    """The period asked for: ``until`` defaults to today, ``since`` to ``period_days``
    before it. A period that ends before it starts, or is longer than ten years, is
    refused."""
    end = until or clock.today()
    start = since or end - timedelta(days=plan.period_days - 1)
    if start > end:
        raise InvalidInput(f"since {start} is after until {end}: give a period that runs forward")
    if (end - start).days >= MAX_PERIOD_DAYS:
        raise InvalidInput(f"the period {start} to {end} is longer than ten years; shorten it")
    return Period(start, end)


def _day(moment: datetime) -> date:
    return clock.local(moment).date()


def baseline(db: Session, ledger: Ledger | None, plan: Incentives) -> Baseline:
    """The holdouts' win-back rate and revenue per member over ``revenue_days`` from each
    launched campaign's launch (see the module docstring)."""
    rows = db.execute(
        select(
            CampaignMember.customer_id, CampaignMember.tier, Campaign.ends_on, Campaign.window_days
        )
        .join(Campaign, Campaign.id == CampaignMember.campaign_id)
        .where(
            Campaign.state == "launched",
            Campaign.ends_on.is_not(None),
            CampaignMember.holdout.is_(True),
        )
    ).all()
    in_rep_tier = [r for r in rows if r.tier == "rep"]
    chosen = in_rep_tier or rows
    if not chosen:
        return Baseline(0, 0.0, 0.0, False)
    today = clock.today()
    windows = []
    for r in chosen:
        launched = r.ends_on - timedelta(days=r.window_days)
        windows.append(
            (r.customer_id, launched, min(launched + timedelta(days=plan.revenue_days), today))
        )
    revenue = _revenue_in(ledger, windows)
    won = sum(1 for key in range(len(windows)) if key in revenue)
    total = sum(revenue.values())
    return Baseline(len(windows), won / len(windows), total / len(windows), bool(in_rep_tier))


def _revenue_in(
    ledger: Ledger | None, windows: Sequence[tuple[str, date, date]]
) -> dict[int, float]:
    """For each window (customer, from, to) with a counted order in it, by its index: the
    revenue of those orders. One ledger query for all of them."""
    if not windows:
        return {}
    since = min(w[1] for w in windows)
    until = max(w[2] for w in windows)
    orders = reads.orders_in_window(ledger, sorted({w[0] for w in windows}), since, until)
    by_customer: dict[str, list[reads.WindowOrder]] = {}
    for o in orders:
        by_customer.setdefault(o.customer_id, []).append(o)
    found: dict[int, float] = {}
    for i, (customer, start, end) in enumerate(windows):
        inside = [o for o in by_customer.get(customer, []) if start <= o.order_date <= end]
        if inside:
            found[i] = sum(o.amount for o in inside)
    return found


def _closed_cases(db: Session, period: Period, owner_id: int | None) -> list[Case]:
    # A day's closes are read a day either side in UTC and kept by their local day.
    start = datetime.combine(period.since - timedelta(days=1), datetime.min.time())
    end = datetime.combine(period.until + timedelta(days=2), datetime.min.time())
    query = select(Case).where(
        Case.state == "closed",
        Case.owner_id.is_not(None),
        Case.closed_at.is_not(None),
        Case.closed_at >= start,
        Case.closed_at < end,
    )
    if owner_id is not None:
        query = query.where(Case.owner_id == owner_id)
    cases = db.scalars(query.order_by(Case.id))
    return [c for c in cases if c.closed_at and period.since <= _day(c.closed_at) <= period.until]


def _earnings(
    db: Session,
    ledger: Ledger | None,
    plan: Incentives,
    period: Period,
    people: Sequence[User],
    owner_id: int | None,
) -> list[Earnings]:
    cases = _closed_cases(db, period, owner_id)
    # Each customer won back once per person, over one window: from the first of their
    # won-back cases' openings to revenue_days after the last one's close.
    spans: dict[tuple[int, str], tuple[date, date]] = {}
    for c in cases:
        if is_won_back(c) and c.owner_id is not None and c.closed_at is not None:
            key = (c.owner_id, c.customer_id)
            start, end = _day(c.opened_at), _day(c.closed_at) + timedelta(days=plan.revenue_days)
            if key in spans:
                start, end = min(start, spans[key][0]), max(end, spans[key][1])
            spans[key] = (start, end)
    keys = list(spans)
    windows = [(customer, *spans[(owner, customer)]) for owner, customer in keys]
    revenue = _revenue_in(ledger, windows)
    base = baseline(db, ledger, plan) if plan.above_baseline else None
    out = []
    for person in people:
        closed = sum(1 for c in cases if c.owner_id == person.id)
        mine = [i for i, (owner, _) in enumerate(keys) if owner == person.id]
        wins = len(mine)
        money = sum(revenue.get(i, 0.0) for i in mine)
        expected_wins = closed * base.rate if base else 0.0
        expected_revenue = closed * base.revenue_per_member if base else 0.0
        paid_wins = max(0.0, wins - expected_wins)
        paid_revenue = max(0.0, money - expected_revenue)
        out.append(
            Earnings(
                person.id,
                person.username,
                person.name,
                person.role,
                closed,
                wins,
                money,
                expected_wins,
                expected_revenue,
                paid_wins,
                paid_revenue,
                round(plan.per_win * paid_wins + plan.per_revenue * paid_revenue, 2),
            )
        )
    return out


def my_earnings(
    db: Session, actor: User, ledger: Ledger | None, plan: Incentives, period: Period
) -> Earnings:
    """``actor``'s own earnings over ``period``."""
    require(actor, Action.VIEW_OWN_EARNINGS)
    return _earnings(db, ledger, plan, period, [actor], actor.id)[0]


def leaderboard(
    db: Session, actor: User | None, ledger: Ledger | None, plan: Incentives, period: Period
) -> list[Earnings]:
    """Everyone who holds work, or closed a case in the period, by earnings (highest
    first), then wins, then name. ``actor`` None: the command line."""
    if actor is not None:
        require(actor, Action.VIEW_LEADERBOARD)
    closers = {c.owner_id for c in _closed_cases(db, period, None)}
    people = [u for u in db.scalars(select(User)) if may_hold_work(u) or u.id in closers]
    rows = _earnings(db, ledger, plan, period, people, None)
    return sorted(rows, key=lambda e: (-e.earnings, -e.won_back, e.name.lower(), e.user_id))
