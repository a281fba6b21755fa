"""Reasons x revenue: the manager's dashboard (the same content as winback report)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict

from winback.desk.dashboard import headline
from winback.desk.models import User
from winback.desk.nav import nav_counts
from winback.insights.kept import Kept, ReportStore
from winback.insights.render import render_html
from winback.web.deps import ApiUser, Db, PageUser
from winback.web.errors import ERROR_RESPONSES
from winback.web.pages import render
from winback.web.schemas import IsoDate, UtcDateTime

api_router = APIRouter(prefix="/api", tags=["desk"], responses=ERROR_RESPONSES)
page_router = APIRouter(include_in_schema=False)


class SlicePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    key: str
    label: str
    cases: int
    attempted: int
    won_back: int
    returned: int
    rate: float | None
    value_lost: float
    value_won_back: float
    value_returned: float
    revenue_since: float
    credit_granted: float
    value_verified: float
    value_unverified: float


class VoicePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    case_id: int
    customer_id: str
    customer_name: str | None
    reasons: list[str]
    verification: str
    correction: str
    customer_words: str
    outcome: str
    rep: str
    at: UtcDateTime


class PublicComplaintsPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    key: str
    label: str
    posts: int
    customers: int
    revenue_at_stake: float
    answered: int


class DriverPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    factor: str
    level: str
    label: str
    exposed: int
    lapsed: int
    expected: float
    ratio: float
    low: float
    high: float
    revenue_lost: float
    sentence: str


class DriversPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    as_of: date
    cutoff: date
    method: str
    drivers: list[DriverPublic]


class ReasonsReportPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    title: str
    generated_at: UtcDateTime
    since: date | None
    total: SlicePublic
    by_reason: list[SlicePublic]
    by_tier: list[SlicePublic]
    by_rep: list[SlicePublic]
    by_offer: list[SlicePublic]
    voices: list[VoicePublic]
    voices_total: int
    notes: list[str]
    cancellations: int
    public_complaints: list[PublicComplaintsPublic]
    drivers: DriversPublic | None


def _kept(request: Request, db: Db, user: User, since: date | None) -> Kept:
    store: ReportStore = request.app.state.reason_reports
    return store.get(db, user, request.app.state.ledger, since, request.app.state.latest_run())


@api_router.get("/reports/reasons", response_model=ReasonsReportPublic)
def reasons_api(
    request: Request, db: Db, user: ApiUser, since: Annotated[IsoDate | None, Query()] = None
) -> ReasonsReportPublic:
    """Reasons x revenue: the dashboard's numbers (cases closed, or diagnosed if open,
    on or after ``since``)."""
    return ReasonsReportPublic.model_validate(_kept(request, db, user, since).report)


@page_router.get("/dashboard")
def dashboard(request: Request, db: Db, user: PageUser, since: date | None = None) -> Response:
    kept = _kept(request, db, user, since)
    # The nav and the headline both show the approvals waiting: counted once.
    counts = nav_counts(db, user)
    open_cases = request.app.state.reason_reports.open_cases
    figures = headline(db, user, kept=open_cases, approvals=counts.approvals)
    return render(
        request, "dashboard.html", page=True, headline=figures, nav=counts, **kept.context()
    )


@page_router.get("/dashboard/report.html")
def dashboard_file(request: Request, db: Db, user: PageUser, since: date | None = None) -> Response:
    """The dashboard as one self-contained HTML file, to keep or send on."""
    report = _kept(request, db, user, since).report
    name = f"reasons-report-{report.generated_at.date().isoformat()}.html"
    return HTMLResponse(
        render_html(report), headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )
