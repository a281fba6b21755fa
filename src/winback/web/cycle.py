"""The periodic cycle's passes: a page and an API for managers and admins, so they see
whether last night's import, scan and sync worked, and why not."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict

from winback.desk.passes import recent_passes
from winback.schedule import next_time, trigger_of
from winback.web.deps import ApiUser, Db, PageUser
from winback.web.errors import ERROR_RESPONSES
from winback.web.pages import render
from winback.web.schemas import UtcDateTime

api_router = APIRouter(prefix="/api", tags=["desk"], responses=ERROR_RESPONSES)
page_router = APIRouter(include_in_schema=False)


class PassPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    slot: str | None
    trigger: str
    started_at: UtcDateTime
    finished_at: UtcDateTime | None
    outcome: str
    step: str
    counts: dict[str, Any]
    error: str | None
    host: str


class ScheduleInfo(BaseModel):
    schedule: str
    timezone: str
    next_at: UtcDateTime | None


def _schedule(request: Request) -> ScheduleInfo:
    settings = request.app.state.settings
    trigger = trigger_of(settings.cycle_schedule, settings.timezone)
    scheduler = request.app.state.scheduler
    if scheduler is not None and scheduler.next_at is not None:
        upcoming = scheduler.next_at
    else:
        upcoming = next_time(trigger, datetime.now().astimezone()) if trigger else None
    return ScheduleInfo(
        schedule=settings.cycle_schedule, timezone=settings.timezone, next_at=upcoming
    )


@api_router.get("/cycle/passes", response_model=list[PassPublic])
def passes_api(
    db: Db, user: ApiUser, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[PassPublic]:
    """The cycle's passes, newest first: when, how each ended, what it counted, and why a
    failed one failed (managers and admins)."""
    return [PassPublic.model_validate(p) for p in recent_passes(db, user, limit)]


@page_router.get("/cycle")
def passes_page(request: Request, db: Db, user: PageUser) -> Response:
    return render(
        request, "cycle.html", passes=recent_passes(db, user, 100), schedule=_schedule(request)
    )
