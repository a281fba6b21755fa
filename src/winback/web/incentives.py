"""Rep incentives: each person's earnings on their own page, the leaderboard for managers.
Pages and API; the rules live in ``winback.desk.incentives``."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from winback.desk import incentives
from winback.desk.permissions import Action, require
from winback.errors import InvalidInput
from winback.policy import Policy
from winback.web.deps import ApiUser, Db, PageUser, Rules
from winback.web.errors import ERROR_RESPONSES
from winback.web.pages import render

api_router = APIRouter(prefix="/api", tags=["incentives"], responses=ERROR_RESPONSES)
page_router = APIRouter(include_in_schema=False)


class EarningsPublic(BaseModel):
    user_id: int
    username: str
    name: str
    role: str
    closed: int
    won_back: int
    revenue: float
    expected_wins: float
    expected_revenue: float
    paid_wins: float
    paid_revenue: float
    earnings: float


class PlanPublic(BaseModel):
    unit: str
    per_win: float
    per_revenue: float
    revenue_days: int
    above_baseline: bool


class BaselinePublic(BaseModel):
    members: int
    rate: float
    revenue_per_member: float
    rep_tier: bool


class EarningsReport(BaseModel):
    since: date
    until: date
    plan: PlanPublic
    baseline: BaselinePublic | None  # None unless the plan pays above the baseline
    rows: list[EarningsPublic]


def _report(
    request: Request,
    db: Db,
    rules: Policy,
    period: incentives.Period,
    rows: list[incentives.Earnings],
) -> EarningsReport:
    plan = rules.incentives
    base = None
    if plan.above_baseline:
        base = BaselinePublic(**incentives.baseline(db, request.app.state.ledger, plan).__dict__)
    return EarningsReport(
        since=period.since,
        until=period.until,
        plan=PlanPublic(
            unit=plan.unit,
            per_win=plan.per_win,
            per_revenue=plan.per_revenue,
            revenue_days=plan.revenue_days,
            above_baseline=plan.above_baseline,
        ),
        baseline=base,
        rows=[EarningsPublic(**e.__dict__) for e in rows],
    )


def _mine(
    request: Request, db: Db, user: ApiUser, rules: Policy, since: date | None, until: date | None
) -> EarningsReport:
    require(user, Action.VIEW_OWN_EARNINGS)
    period = incentives.period_of(rules.incentives, since, until)
    found = incentives.my_earnings(db, user, request.app.state.ledger, rules.incentives, period)
    return _report(request, db, rules, period, [found])


def _board(
    request: Request, db: Db, user: ApiUser, rules: Policy, since: date | None, until: date | None
) -> EarningsReport:
    require(user, Action.VIEW_LEADERBOARD)
    period = incentives.period_of(rules.incentives, since, until)
    rows = incentives.leaderboard(db, user, request.app.state.ledger, rules.incentives, period)
    return _report(request, db, rules, period, rows)


_SINCE = Query(None, description="first day of closes counted (default: period_days ago)")
_UNTIL = Query(None, description="last day of closes counted (default: today)")


@api_router.get("/incentives/me", response_model=EarningsReport)
def my_earnings(
    request: Request,
    db: Db,
    user: ApiUser,
    rules: Rules,
    since: date | None = _SINCE,
    until: date | None = _UNTIL,
) -> EarningsReport:
    """Your own incentive earnings under the policy's [incentives] plan."""
    return _mine(request, db, user, rules, since, until)


@api_router.get("/incentives/leaderboard", response_model=EarningsReport)
def leaderboard(
    request: Request,
    db: Db,
    user: ApiUser,
    rules: Rules,
    since: date | None = _SINCE,
    until: date | None = _UNTIL,
) -> EarningsReport:
    """Everyone's incentive earnings, highest first (managers, executives, admins)."""
    return _board(request, db, user, rules, since, until)


def _date(value: str | None, field: str) -> date | None:
    if not value or not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(f"{field} {value!r}: give a date as YYYY-MM-DD") from None


@page_router.get("/my-results")
def my_results_page(
    request: Request,
    db: Db,
    user: PageUser,
    rules: Rules,
    since: str | None = None,
    until: str | None = None,
) -> Response:
    report = _mine(request, db, user, rules, _date(since, "since"), _date(until, "until"))
    return render(request, "my_results.html", report=report, me=report.rows[0])


@page_router.get("/leaderboard")
def leaderboard_page(
    request: Request,
    db: Db,
    user: PageUser,
    rules: Rules,
    since: str | None = None,
    until: str | None = None,
) -> Response:
    report = _board(request, db, user, rules, _date(since, "since"), _date(until, "until"))
    return render(request, "leaderboard.html", report=report)
