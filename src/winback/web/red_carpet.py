"""The red carpet: the list, experiences from other systems, and refreshing it.

Every API response about a case or a customer carries ``red_carpet`` (the flag, or null):
the desk's case reads load it with the rows (``Case.red_carpet``), so ``CasePublic`` and
``CustomerPublic`` read it like any other field.
``tests/web/test_red_carpet_web.py`` walks every API route whose response holds a case or
a customer and fails for one that leaves the flag out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from winback.desk import lists, red_carpet
from winback.desk.models import ExperienceSource, RedCarpet
from winback.errors import InvalidInput
from winback.web import pages
from winback.web.deps import ApiUser, Csrf, Db, PageUser, Rules
from winback.web.errors import ERROR_RESPONSES
from winback.web.forms import redisplay
from winback.web.list_pages import csv_download, list_query, wants_csv
from winback.web.pages import back, render
from winback.web.schemas import Body, UtcDateTime

api_router = APIRouter(prefix="/api", tags=["desk"], responses=ERROR_RESPONSES)
page_router = APIRouter(include_in_schema=False)


# --- the API ------------------------------------------------------------------------------


class ExperienceCreate(Body):
    kind: str = Field(
        min_length=1,
        max_length=red_carpet.MAX_KIND,
        description="What happened: order, interaction, visit, ticket …",
    )
    ref: str = Field(
        min_length=1,
        max_length=red_carpet.MAX_REF,
        description="Your id for it (order or ticket id): sending the same ref again "
        "counts nothing, so a retry is safe.",
    )
    occurred_at: datetime | None = Field(None, description="When it happened (default: now).")
    gesture: str = Field(
        max_length=red_carpet.MAX_GESTURE, description="The gesture the customer was given."
    )


class ExperiencePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    customer_id: str
    source: ExperienceSource
    kind: str
    ref: str
    occurred_at: UtcDateTime
    gesture: str
    recorded_at: UtcDateTime


class ExperienceRecorded(BaseModel):
    experience: ExperiencePublic
    counted: bool = Field(description="False when this ref was recorded before (a repeat).")
    remaining: int = Field(description="Experiences left in the customer's red-carpet period.")
    total: int
    ended: bool = Field(description="True once the period is over (remaining reached 0).")


class RedCarpetPublic(BaseModel):
    id: int
    customer_id: str
    customer_name: str | None
    case_id: int | None
    owner_id: int | None
    owner_name: str | None
    started_at: UtcDateTime
    ended_at: UtcDateTime | None
    slipped_at: UtcDateTime | None
    total: int
    remaining: int
    experiences: int
    last_gesture: str | None


class RefreshPublic(BaseModel):
    counted: int = Field(description="Experiences counted from the ledger.")
    ended: int = Field(description="Red-carpet periods that ended.")
    slipped: int = Field(description="Slips recorded (incidents and the latest scan run).")
    watched: int = Field(description="Red-carpet periods in progress before the refresh.")


@api_router.post(
    "/customers/{customer_id}/experiences",
    response_model=ExperienceRecorded,
    status_code=201,
    responses={200: {"description": "A repeat of an experience already recorded."}},
)
def add_experience(
    customer_id: str,
    body: ExperienceCreate,
    request: Request,
    response: Response,
    db: Db,
    user: ApiUser,
    rules: Rules,
) -> ExperienceRecorded:
    """Count one experience of a red-carpet customer (from a support desk, a till …):
    201 when counted, 200 when the same ref was recorded before; 409 when the customer is
    not on the red carpet."""
    experience, counted = red_carpet.record_experience(
        db,
        user,
        customer_id,
        kind=body.kind,
        ref=body.ref,
        occurred_at=body.occurred_at,
        gesture=body.gesture,
        source="api",
        rules=rules.red_carpet,
    )
    if not counted:
        response.status_code = 200
    carpet = db.get(RedCarpet, experience.red_carpet_id)
    assert carpet is not None  # an experience always belongs to a red carpet
    return ExperienceRecorded(
        experience=ExperiencePublic.model_validate(experience),
        counted=counted,
        remaining=carpet.remaining,
        total=carpet.total,
        ended=carpet.ended_at is not None,
    )


@api_router.get("/red-carpet", response_model=list[RedCarpetPublic])
def list_red_carpet(db: Db, user: ApiUser) -> list[RedCarpetPublic]:
    """Everyone on the red carpet, then the periods that ended in the last 90 days."""
    return [
        RedCarpetPublic(
            id=row.carpet.id,
            customer_id=row.carpet.customer_id,
            customer_name=row.carpet.customer_name,
            case_id=row.carpet.case_id,
            owner_id=row.carpet.owner_id,
            owner_name=row.owner_name,
            started_at=row.carpet.started_at,
            ended_at=row.carpet.ended_at,
            slipped_at=row.carpet.slipped_at,
            total=row.carpet.total,
            remaining=row.carpet.remaining,
            experiences=row.experiences,
            last_gesture=row.last_gesture,
        )
        for row in red_carpet.red_carpet_list(db, user)
    ]


@api_router.post("/red-carpet/refresh", response_model=RefreshPublic)
def refresh(request: Request, db: Db, user: ApiUser, rules: Rules) -> RefreshPublic:
    """Count the ledger's new orders and interactions, and watch every red-carpet customer
    through the latest scan run (managers and admins)."""
    counts = red_carpet.refresh(
        db, user, request.app.state.ledger, request.app.state.latest_run(), rules.red_carpet
    )
    return RefreshPublic(**counts)


# --- pages ------------------------------------------------------------------------------


@page_router.get("/red-carpet")
def red_carpet_page(request: Request, db: Db, user: PageUser) -> Response:
    """Who is on the red carpet now (``?show=ended``: whose period ended lately), sorted,
    paged and totalled in SQL; ``?format=csv`` the whole list."""
    show = request.query_params.get("show", "now")
    if show not in lists.CARPET_SHOWS:
        raise InvalidInput(f"show {show!r}: use now or ended", field="show")
    q = list_query(request, lists.CARPET_SORTING, keep=("show",))
    if wants_csv(request):
        return csv_download(lists.red_carpet_csv(db, user, q, show=show), f"red-carpet-{show}")
    result = lists.red_carpet(db, user, q, show=show)
    return render(
        request,
        "red_carpet.html",
        result=result,
        show=show,
        gestures=red_carpet.gestures_of(db, [r.carpet.id for r in result.rows]),
        ended_days=red_carpet.ENDED_SHOWN_DAYS,
    )


@page_router.post(
    "/customers/{customer_id}/experiences",
    dependencies=[Csrf, redisplay(pages.customer_page, "experience")],
)
def record_by_hand(
    request: Request,
    customer_id: str,
    db: Db,
    user: PageUser,
    rules: Rules,
    kind: Annotated[str, Form()] = "interaction",
    gesture: Annotated[str, Form()] = "",
    ref: Annotated[str, Form()] = "",
) -> Response:
    """An experience recorded on the customer page (a visit, a call the desk took)."""
    red_carpet.record_experience(
        db,
        user,
        customer_id,
        kind=kind,
        ref=ref.strip() or red_carpet.new_ref(),
        occurred_at=None,
        gesture=gesture,
        source="api",
        rules=rules.red_carpet,
    )
    return back(f"/customers/{quote(customer_id, safe='')}")
