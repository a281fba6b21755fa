"""The JSON API's shapes: separate schemas for what comes in and what goes out."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field

from winback.desk.db import MAX_INT
from winback.desk.models import (
    ActivityKind,
    CaseOutcome,
    CaseState,
    CaseStateChoice,
    ContactChannel,
    PersonOutcome,
    Role,
)
from winback.desk.passwords import MAX_LENGTH, MIN_LENGTH

# Every whole number a request carries is bounded where it enters: an id above the
# databases' INTEGER names nothing and is answered 422, never handed to the database.
Id = Annotated[int, Path(ge=1, le=MAX_INT, description="an id (1 to 2147483647)")]
PageNumber = Annotated[int, Query(ge=1, le=MAX_INT, description="the page, from 1")]
PageSize = Annotated[int, Query(ge=1, le=200, description="rows on a page (1 to 200)")]
BeforeId = Annotated[
    int | None, Query(ge=1, le=MAX_INT, description="only rows with an id below this")
]
AuditLimit = Annotated[int, Query(ge=1, le=500, description="rows to return (1 to 500)")]
IdField = Annotated[int, Field(ge=1, le=MAX_INT)]


class Body(BaseModel):
    """A request body: a field the API does not know (``state``, ``granted``, a typo) is
    refused with 422, never quietly ignored."""

    model_config = ConfigDict(extra="forbid")


class UserCreate(Body):
    username: str = Field(min_length=2, max_length=80)
    name: str = ""
    role: Role
    password: str = Field(min_length=MIN_LENGTH, max_length=MAX_LENGTH)
    staff_id: str | None = None


class UserUpdate(Body):
    active: bool


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    name: str
    role: Role
    staff_id: str | None
    active: bool


class RedCarpetFlag(BaseModel):
    """The customer is on the red carpet: their next experiences get special care."""

    model_config = ConfigDict(from_attributes=True)

    remaining: int = Field(description="Experiences left in the period.")
    total: int
    started_at: datetime
    owner_id: int | None
    slipped_at: datetime | None = Field(description="When they first slipped, if they have.")


class CasePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    customer_id: str
    customer_name: str | None
    segment: str | None
    state: CaseState
    outcome: CaseOutcome | None
    contacted: bool
    owner_id: int | None
    priority: int
    rank: int | None
    customer_status: str
    decision: str | None
    tier: str | None
    p_alive: float | None
    predicted_value: float | None
    winback_odds: float | None
    expected_value: float | None
    revenue_last_year: float | None
    last_order_date: date | None
    reasons: list[str]
    decision_reasons: list[str]
    intangibles: dict[str, Any]
    run_id: str
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    # The customer's red carpet in progress, loaded with the case (Case.red_carpet).
    red_carpet: RedCarpetFlag | None = None


class CasePage(BaseModel):
    cases: list[CasePublic]
    page: int
    has_next: bool


class ActivityCreate(Body):
    kind: ActivityKind = "contact"
    channel: ContactChannel | None = None
    text: str = ""


class ActivityPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    case_id: int
    user_id: int | None
    at: datetime
    kind: ActivityKind
    channel: ContactChannel | None
    text: str


class CaseClose(Body):
    outcome: PersonOutcome
    note: str = ""


class CaseReassign(Body):
    owner_id: IdField | None


class FilterQuery(BaseModel):
    state: CaseStateChoice = "active"
    status: str | None = None
    tier: str | None = None
    reason: str | None = None
    owner_id: Annotated[int, Field(ge=0, le=MAX_INT, description="0: unassigned")] | None = None
    min_value: float | None = None


class FilterCreate(Body):
    name: str = Field(min_length=1, max_length=100)
    query: FilterQuery


class FilterPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    query: dict[str, Any]


class TokenCreate(Body):
    name: str = Field(min_length=1, max_length=100)


class TokenPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    prefix: str
    created_at: datetime


class TokenCreated(TokenPublic):
    token: str = Field(description="The token itself: shown this once, never again.")


class AuditPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor_id: int | None
    actor_name: str
    action: str
    entity: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class EventPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    at: datetime
    kind: str
    ref: str
    summary: str
    who: str | None
    detail: str | None


class CustomerPublic(BaseModel):
    customer_id: str
    name: str
    profile: dict[str, Any] | None
    scan: dict[str, Any] | None
    cases: list[CasePublic]
    timeline: list[EventPublic]
    red_carpet: RedCarpetFlag | None = None


class SyncPublic(BaseModel):
    run_id: str
    opened: int
    refreshed: int
    unchanged: int
    returned: int = Field(description="Cases closed because the customer ordered again.")
    won_back: int = Field(
        description="Of those, the ones the desk had contacted: won back, on the red carpet."
    )
    unassigned: int
