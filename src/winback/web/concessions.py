"""Concessions within authority and users' limits: pages and API.

The handlers are thin: every rule (limits, who decides, who sets whose limits) lives in
``winback.desk.concessions``, so a form POST and an API call are held to the same limits.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from winback.desk import cases, lists, models, red_carpet
from winback.desk import concessions as service
from winback.desk.db import parse_id
from winback.desk.models import Case, Concession, ConcessionKind, ConcessionState, User
from winback.desk.numbers import parse_number, require_number
from winback.desk.permissions import Action, may
from winback.errors import InvalidInput
from winback.web import pages
from winback.web.calls import call_offer_page
from winback.web.deps import ApiUser, Csrf, Db, PageUser
from winback.web.errors import ERROR_RESPONSES
from winback.web.forms import redisplay
from winback.web.list_pages import PAGE_ONLY, csv_download, list_query, wants_csv
from winback.web.pages import back, local_path, render
from winback.web.schemas import (
    Body,
    Id,
    IdField,
    ListMeta,
    PageNumber,
    PageSize,
    UtcDateTime,
    list_meta,
)

api_router = APIRouter(prefix="/api", tags=["desk"], responses=ERROR_RESPONSES)
page_router = APIRouter(include_in_schema=False)

# --- shapes -------------------------------------------------------------------------------


class ConcessionCreate(Body):
    """A request; unknown fields (``state``, ``granted``, ``route``...) are refused."""

    kind: ConcessionKind
    # strict: a JSON number only, never true or "5" (the service refuses NaN and infinity).
    amount: float = Field(
        strict=True, description="percent (0-100], money (> 0) or whole items (>= 1)"
    )
    note: str = Field("", max_length=service.MAX_NOTE)
    call_id: IdField | None = None


class ConcessionDecision(Body):
    decision: models.ConcessionDecision
    amount: float | None = Field(
        None, strict=True, description="the counter's amount, below the asked"
    )
    note: str = Field("", max_length=service.MAX_NOTE)


class LimitsUpdate(Body):
    discount_pct: float = Field(strict=True)
    credit: float = Field(strict=True)
    free_items: float = Field(strict=True, description="a whole number")


class ConcessionPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    case_id: int
    call_id: int | None
    kind: ConcessionKind
    asked: float
    granted: float | None
    state: ConcessionState
    route: str
    note: str
    requested_by: int
    requested_at: UtcDateTime
    decided_by: int | None
    decided_at: UtcDateTime | None
    decision_note: str


class ApprovalPublic(ConcessionPublic):
    customer_id: str
    customer_name: str | None
    already_granted: float = Field(description="given of this kind on the case so far")


class ConcessionPage(ListMeta):
    concessions: list[ConcessionPublic]


class LimitsPublic(BaseModel):
    user_id: int
    discount_pct: float
    credit: float
    free_items: int


def _limits(user: User) -> LimitsPublic:
    return LimitsPublic(
        user_id=user.id,
        discount_pct=user.limit_discount_pct,
        credit=user.limit_credit,
        free_items=user.limit_free_items,
    )


# --- API ----------------------------------------------------------------------------------


@api_router.post("/cases/{case_id}/concessions", response_model=ConcessionPublic, status_code=201)
def api_request(case_id: Id, body: ConcessionCreate, db: Db, user: ApiUser) -> Any:
    """Grant a concession within my limit, or ask for one above it (state "pending")."""
    return service.request_concession(
        db, user, case_id, kind=body.kind, amount=body.amount, note=body.note, call_id=body.call_id
    )


@api_router.get("/cases/{case_id}/concessions", response_model=list[ConcessionPublic])
def api_list(case_id: Id, db: Db, user: ApiUser) -> Any:
    return service.list_for_case(db, user, case_id)


@api_router.get(
    "/customers/{customer_id}/concessions", response_model=ConcessionPage, dependencies=[PAGE_ONLY]
)
def api_customer_concessions(
    customer_id: str,
    request: Request,
    db: Db,
    user: ApiUser,
    page: PageNumber = 1,
    size: PageSize = 50,
) -> ConcessionPage:
    """The concessions asked on any of a customer's cases, newest first. 404 when
    neither the desk, the latest scan nor the ledger knows the customer."""
    pages.require_customer(request, db, user, customer_id)
    found = lists.customer_concessions(db, user, customer_id, page, size)
    rows = [ConcessionPublic.model_validate(c) for c in found.rows]
    return ConcessionPage(concessions=rows, **list_meta(found))


def _approvals(db: Db, pending: list[Concession]) -> list[tuple[Concession, Case, float]]:
    """Each pending request with its case and what the case has been given of its kind."""
    case_ids = {c.case_id for c in pending}
    found = {c.id: c for c in db.scalars(select(Case).where(Case.id.in_(case_ids)))}
    given = service.totals_of(service.concessions_of_cases(db, list(case_ids)))
    return [(c, found[c.case_id], given.get(c.case_id, {}).get(c.kind, 0.0)) for c in pending]


@api_router.get("/approvals", response_model=list[ApprovalPublic])
def api_approvals(db: Db, user: ApiUser) -> list[ApprovalPublic]:
    """Pending requests I may decide, oldest first (managers and executives)."""
    rows = _approvals(db, service.approvals_for(db, user))
    return [
        ApprovalPublic.model_validate(
            {
                **ConcessionPublic.model_validate(c).model_dump(),
                "customer_id": case.customer_id,
                "customer_name": case.customer_name,
                "already_granted": already,
            }
        )
        for c, case, already in rows
    ]


@api_router.post("/concessions/{concession_id}/decision", response_model=ConcessionPublic)
def api_decide(concession_id: Id, body: ConcessionDecision, db: Db, user: ApiUser) -> Any:
    """Approve, counter (``amount`` below the asked) or refuse a pending request."""
    return service.decide(
        db, user, concession_id, decision=body.decision, amount=body.amount, note=body.note
    )


@api_router.get("/users/{user_id}/limits", response_model=LimitsPublic)
def api_limits(user_id: Id, db: Db, user: ApiUser) -> LimitsPublic:
    return _limits(service.get_limits(db, user, user_id))


@api_router.put("/users/{user_id}/limits", response_model=LimitsPublic)
def api_set_limits(user_id: Id, body: LimitsUpdate, db: Db, user: ApiUser) -> LimitsPublic:
    """Set another user's limits (never your own; never above what you hold)."""
    target = service.set_limits(
        db,
        user,
        user_id,
        discount_pct=body.discount_pct,
        credit=body.credit,
        free_items=body.free_items,
    )
    return _limits(target)


# --- pages --------------------------------------------------------------------------------


def concession_form_page(request: Request, db: Session, user: User) -> Response:
    """Where a refused concession request shows again: the call's offer step when it was
    asked from a call, else the case's customer page."""
    call_id = getattr(request.state, "form_values", {}).get("call_id", "")
    try:
        call = parse_id(call_id, "call_id", "give the call's number") if call_id else None
    except InvalidInput:  # no call to show: the customer page
        call = None
    if call is not None:
        return call_offer_page(request, db, user, call)
    return pages.case_customer_page(request, db, user)


@page_router.post(
    "/cases/{case_id}/concessions",
    dependencies=[Csrf, redisplay(concession_form_page, "concession")],
)
def page_request(
    case_id: Id,
    db: Db,
    user: PageUser,
    kind: Annotated[str, Form()],
    amount: Annotated[str, Form()],
    note: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
    call_id: Annotated[str, Form()] = "",
) -> Response:
    call = parse_id(call_id, "call_id", "give the call's number") if call_id else None
    service.request_concession(
        db,
        user,
        case_id,
        kind=kind,
        amount=require_number(amount, "amount"),
        note=note,
        call_id=call,
    )
    case = cases.get_case(db, user, case_id)
    return back(local_path(next, f"/customers/{quote(case.customer_id, safe='')}"))


def approvals_page(request: Request, db: Db, user: PageUser) -> Response:
    """The requests I may decide, sorted, paged and totalled in SQL (``?format=csv``:
    the whole list)."""
    q = list_query(request, lists.APPROVAL_SORTING)
    if wants_csv(request):
        return csv_download(lists.approvals_csv(db, user, q), "approvals")
    result = lists.approvals(db, user, q)
    rows = _approvals(db, result.rows)
    ids = {c.requested_by for c, _, _ in rows}
    names = service.names_of(db, ids)
    flags = red_carpet.flags_for(db, [case.customer_id for _, case, _ in rows])
    return render(
        request,
        "approvals.html",
        result=result,
        rows=rows,
        names=names,
        flags=flags,
        shown_forms={f"decide-{c.id}" for c, _, _ in rows},
        decided=_decided(db, user, request.query_params.get("decided", "")),
    )


def _decided(db: Db, user: PageUser, concession_id: str) -> str:
    """The confirmation of a decision ``user`` just made (``?decided=<id>`` after the
    redirect); "" for anything else, so the link shows nobody another's decision."""
    if not concession_id.isdigit():
        return ""
    concession = db.get(Concession, int(concession_id))
    if concession is None or concession.decided_by != user.id:
        return ""
    case = db.get(Case, concession.case_id)
    asker = service.names_of(db, {concession.requested_by}).get(concession.requested_by, "")
    assert case is not None
    said = service.decision_text(concession, case, "You", f"{asker}'s")
    return f"{said}. {asker or 'The asker'} has been told."


@page_router.get("/approvals")
def approvals(request: Request, db: Db, user: PageUser) -> Response:
    return approvals_page(request, db, user)


@page_router.post(
    "/concessions/{concession_id}/decide",
    dependencies=[Csrf, redisplay(approvals_page, "decide-{concession_id}")],
)
def page_decide(
    concession_id: Id,
    db: Db,
    user: PageUser,
    decision: Annotated[str, Form()],
    amount: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    service.decide(
        db, user, concession_id, decision=decision, amount=parse_number(amount, "amount"), note=note
    )
    return back(local_path(next, f"/approvals?decided={concession_id}"))


def limits_page(request: Request, db: Db, user: PageUser) -> Response:
    """Everyone whose limits I may set (executives cannot list users, so not /users)."""
    people = service.users_for_limits(db, user)
    return render(
        request,
        "limits.html",
        people=people,
        settable={u.id for u in people if service.may_set_limits(user, u)},
    )


@page_router.get("/limits")
def limits(request: Request, db: Db, user: PageUser) -> Response:
    return limits_page(request, db, user)


def _limits_form_page(request: Request, db: Db, user: PageUser) -> Response:
    """The page the refused limits form came from: the users page or the limits page."""
    if getattr(request.state, "form_values", {}).get("next") == "/users":
        return pages.users_page(request, db, user)
    return limits_page(request, db, user)


@page_router.post(
    "/users/{user_id}/limits",
    dependencies=[Csrf, redisplay(_limits_form_page, "limits-{user_id}")],
)
def page_set_limits(
    user_id: Id,
    db: Db,
    user: PageUser,
    discount_pct: Annotated[str, Form()],
    credit: Annotated[str, Form()],
    free_items: Annotated[str, Form()],
    next: Annotated[str, Form()] = "",
) -> Response:
    service.set_limits(
        db,
        user,
        user_id,
        discount_pct=require_number(discount_pct, "discount_pct"),
        credit=require_number(credit, "credit"),
        free_items=require_number(free_items, "free_items"),
    )
    return back(local_path(next, "/users" if may(user, Action.LIST_USERS) else "/limits"))
