"""The JSON API's shapes: separate schemas for what comes in and what goes out."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictBool

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
AfterId = Annotated[
    int | None, Query(ge=0, le=MAX_INT, description="only rows with an id above this")
]
AuditLimit = Annotated[int, Query(ge=1, le=500, description="rows to return (1 to 500)")]
IdField = Annotated[int, Field(ge=1, le=MAX_INT)]


def _in_utc(value: datetime) -> datetime:
    # The desk stores naive UTC (desk.models.utcnow); an answer says so with its offset.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


UtcDateTime = Annotated[datetime, AfterValidator(_in_utc)]
"""A moment in an answer: always with its offset (``2026-11-20T14:05:00Z``), as OpenAPI's
``date-time`` requires; every *Public schema uses it, never a bare ``datetime``."""

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date(value: Any) -> Any:
    # pydantic alone reads 0 or "0" as 1970-01-01 (a Unix time): a date is YYYY-MM-DD.
    if isinstance(value, date) or (isinstance(value, str) and _ISO_DATE.fullmatch(value)):
        return value
    raise ValueError(f"{value!r} is not a date (use YYYY-MM-DD)")


IsoDate = Annotated[date, BeforeValidator(_iso_date)]
"""A date a request carries: ``YYYY-MM-DD`` only, never a number."""


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
    email: str | None = Field(
        None, max_length=320, description="where their daily digest of notices goes"
    )


class UserUpdate(Body):
    """Deactivate or reactivate a user, change their role or e-mail address (at least one)."""

    active: StrictBool | None = Field(None, description="true or false; never 0, 1 or a string")
    role: Role | None = Field(None, description="the new role (an admin's; never their own)")
    email: str | None = Field(
        None,
        max_length=320,
        description="where their daily digest of notices goes; an empty string removes it",
    )


class EmailChange(Body):
    email: str = Field(
        "",
        max_length=320,
        description="where my daily digest of notices goes; an empty string removes it",
    )


class PasswordReset(Body):
    password: str = Field(
        "", max_length=MAX_LENGTH, description="the new password; empty: generate one"
    )


class PasswordResetDone(BaseModel):
    user_id: int
    password: str | None = Field(description="the generated password, this once; else null")


class PasswordChange(Body):
    current_password: str = Field(max_length=MAX_LENGTH)
    new_password: str = Field(max_length=MAX_LENGTH)


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    name: str
    role: Role
    staff_id: str | None
    email: str | None = None
    active: bool


class RedCarpetFlag(BaseModel):
    """The customer is on the red carpet: their next experiences get special care."""

    model_config = ConfigDict(from_attributes=True)

    remaining: int = Field(description="Experiences left in the period.")
    total: int
    started_at: UtcDateTime
    owner_id: int | None
    slipped_at: UtcDateTime | None = Field(description="When they first slipped, if they have.")


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
    opened_at: UtcDateTime
    updated_at: UtcDateTime
    closed_at: UtcDateTime | None
    # The customer's red carpet in progress, loaded with the case (Case.red_carpet).
    red_carpet: RedCarpetFlag | None = None
    # A public complaint made the case urgent: the post, its due time, its escalation.
    urgent: bool = False
    post_id: int | None = None
    due_at: UtcDateTime | None = None
    escalated_at: UtcDateTime | None = None


class ListMeta(BaseModel):
    """Where a page of a list stands: its number and size, the whole list's count."""

    page: int
    size: int
    total: int = Field(description="rows in the whole list")
    has_next: bool


def list_meta(found: Any) -> dict[str, Any]:
    """The ListMeta fields of a desk ListPage."""
    q = found.query
    return {"page": q.page, "size": q.size, "total": found.total, "has_next": found.has_next}


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
    at: UtcDateTime
    kind: ActivityKind
    channel: ContactChannel | None
    text: str


class CaseClose(Body):
    outcome: PersonOutcome
    note: str = ""
    follow_up_on: IsoDate | None = Field(
        None,
        description="the first follow-up's date: needed for won_back and will_return unless "
        "the case has a follow-up task open",
    )
    follow_up_title: str = ""
    confirm: StrictBool = Field(
        False, description="true to close: a close cannot be undone, so it is never assumed"
    )


class CaseReassign(Body):
    owner_id: IdField | None


class FilterQuery(BaseModel):
    state: CaseStateChoice = "active"
    status: str | None = None
    tier: str | None = None
    reason: str | None = None
    owner_id: Annotated[int, Field(ge=0, le=MAX_INT, description="0: unassigned")] | None = None
    min_value: float | None = None


class SavedFilterQuery(FilterQuery):
    """A saved filter's query: a filter the API does not know is refused, not dropped."""

    model_config = ConfigDict(extra="forbid")


class FilterCreate(Body):
    name: str = Field(min_length=1, max_length=100)
    query: SavedFilterQuery


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
    created_at: UtcDateTime


class TokenCreated(TokenPublic):
    token: str = Field(description="The token itself: shown this once, never again.")


class AuditPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: UtcDateTime
    actor_id: int | None
    actor_name: str
    action: str
    entity: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class EventPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    at: UtcDateTime
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
    sweet_spot: str | None = Field(
        None,
        description="What the customer buys, how often, for how much and what changed, "
        'in a sentence a rep can use ("buys Clothing every 5 weeks, also Toys; usual basket '
        '42.00 (mid price), by web; stopped buying Shoes after March 2026").',
    )
    doubtful_contact: str | None = Field(
        None,
        description="Contact details that may be out of date: e-mails that bounced after the "
        "customer last engaged, returned mail and wrong numbers recorded in interactions.",
    )


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
    assigned: int = Field(0, description="Open cases that had no owner and got one.")
    reassigned: int = Field(
        0, description="Open cases moved off a user who no longer holds work (deactivated)."
    )
    held_do_not_contact: int = Field(
        0, description="Customers on the list given no new case: marked do-not-contact."
    )
    held_red_carpet: int = Field(
        0, description="Customers given no new case: their red carpet is in progress."
    )
    held_won_back: int = Field(
        0, description="Customers given no new case: won back within [contact] won_back_days."
    )
    held_declined: int = Field(
        0, description="Customers given no new case: declined within [contact] declined_days."
    )
    held_unreachable: int = Field(
        0,
        description="Customers given no new case: unreachable within [contact] unreachable_days.",
    )
