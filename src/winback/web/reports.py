"""Reasons x revenue: the manager's dashboard (the same content as winback report)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select

from winback.desk.models import AuditEntry, User
from winback.desk.permissions import Action, require
from winback.insights.reasons import ReasonsReport, build_report
from winback.insights.render import render_html, report_context
from winback.web.deps import ApiUser, Db, PageUser
from winback.web.pages import render

api_router = APIRouter(prefix="/api", tags=["desk"])
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
    at: datetime


class ReasonsReportPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    title: str
    generated_at: datetime
    since: date | None
    total: SlicePublic
    by_reason: list[SlicePublic]
    by_tier: list[SlicePublic]
    by_rep: list[SlicePublic]
    by_offer: list[SlicePublic]
    voices: list[VoicePublic]
    voices_total: int
    notes: list[str]


# Reports kept per app, keyed by what they were built from. Every change the desk makes is
# written to the audit log in the same transaction, so the newest audit id (a primary-key
# lookup) changes whenever the desk's data does; the ledger's batch count covers the
# revenue since the win-back. A managers' dashboard read again and again is built once.
_KEEP = 8
_LOCK = threading.Lock()


@dataclass
class _Kept:
    """A report built, and its drawn charts once a page has asked for them."""

    report: ReasonsReport
    context: dict[str, Any] | None = None


def _kept(request: Request, db: Db, user: User, since: date | None) -> _Kept:
    require(user, Action.VIEW_REPORTS)
    ledger = request.app.state.ledger
    batches = ledger.manifest().batches if ledger.manifest_path.exists() else 0
    key = (since, db.scalar(select(func.max(AuditEntry.id))), batches)
    with _LOCK:
        kept: OrderedDict[Any, _Kept] | None = getattr(request.app.state, "reason_reports", None)
        if kept is None:
            kept = request.app.state.reason_reports = OrderedDict()
        if key in kept:
            kept.move_to_end(key)
            return kept[key]
    entry = _Kept(build_report(db, user, ledger, since=since))
    with _LOCK:
        kept[key] = entry
        while len(kept) > _KEEP:
            kept.popitem(last=False)
    return entry


def _report(request: Request, db: Db, user: User, since: date | None) -> ReasonsReport:
    return _kept(request, db, user, since).report


@api_router.get("/reports/reasons", response_model=ReasonsReportPublic)
def reasons_api(
    request: Request, db: Db, user: ApiUser, since: date | None = None
) -> ReasonsReportPublic:
    """Reasons x revenue: the dashboard's numbers (cases closed, or diagnosed if open,
    on or after ``since``)."""
    return ReasonsReportPublic.model_validate(_report(request, db, user, since))


@page_router.get("/dashboard")
def dashboard(request: Request, db: Db, user: PageUser, since: date | None = None) -> Response:
    kept = _kept(request, db, user, since)
    if kept.context is None:
        kept.context = report_context(kept.report)
    return render(request, "dashboard.html", page=True, **kept.context)


@page_router.get("/dashboard/report.html")
def dashboard_file(request: Request, db: Db, user: PageUser, since: date | None = None) -> Response:
    """The dashboard as one self-contained HTML file, to keep or send on."""
    report = _report(request, db, user, since)
    name = f"reasons-report-{report.generated_at.date().isoformat()}.html"
    return HTMLResponse(
        render_html(report), headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )
