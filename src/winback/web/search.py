"""Finding a customer (the header's search box, its results page, GET /api/customers) and
opening a case by hand for one who calls in (from their page, or the API)."""

from __future__ import annotations

from contextlib import suppress
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from winback.desk import inbound, search
from winback.desk.models import Case, User
from winback.web.deps import ApiUser, Csrf, Db, PageUser
from winback.web.errors import ERROR_RESPONSES
from winback.web.pages import back, render
from winback.web.schemas import Body, CasePublic

api_router = APIRouter(prefix="/api", tags=["desk"], responses=ERROR_RESPONSES)
page_router = APIRouter(include_in_schema=False)

SearchText = Annotated[
    str,
    Query(
        max_length=search.MAX_QUERY,
        description="A name (typos forgiven), e-mail, phone number (any format) or part of "
        "a customer id; 2 to 200 characters",
    ),
]
SearchLimit = Annotated[
    int, Query(ge=1, le=search.MAX_LIMIT, description="results to return (1 to 100)")
]


def _find(request: Request, db: Db, user: User, q: str, limit: int) -> list[search.Hit]:
    return search.search_customers(
        db,
        user,
        q,
        ledger=request.app.state.ledger,
        reader=request.app.state.search,
        limit=limit,
    )


def _open(request: Request, db: Db, user: User, customer_id: str, reason: str, note: str) -> Case:
    return inbound.open_by_hand(
        db,
        user,
        customer_id,
        reason=reason,
        note=note,
        run=request.app.state.latest_run(),
        ledger=request.app.state.ledger,
        timeline=request.app.state.timeline,
    )


# --- the API ------------------------------------------------------------------------------


class CustomerHit(BaseModel):
    customer_id: str
    name: str | None
    email: str | None
    phone: str | None
    status: str | None = Field(
        description="The open case's status as of the last sync, else the latest scan's "
        "(null: the scan did not see the customer)"
    )
    score: float = Field(description="How well the customer matches, 0 to 100")
    open_case_id: int | None = Field(description="The customer's open case, if any")


class CaseOpen(Body):
    reason: str = Field(
        min_length=1, max_length=50, description="A reason code of the taxonomy (GET /reasons)"
    )
    note: str = Field("", max_length=inbound.MAX_NOTE, description="What the customer said")


@api_router.get("/customers", response_model=list[CustomerHit])
def find_customers(
    request: Request, db: Db, user: ApiUser, q: SearchText, limit: SearchLimit = search.LIMIT
) -> Any:
    """Customers matching ``q``, best first: an exact id, e-mail or phone, then ids
    holding it, then names and e-mails by likeness (typos forgiven)."""
    return _find(request, db, user, q, limit)


@api_router.post("/customers/{customer_id}/cases", response_model=CasePublic, status_code=201)
def open_case(
    customer_id: str, body: CaseOpen, request: Request, db: Db, user: ApiUser
) -> CasePublic:
    """Open a case by hand for a customer who calls in, owned by you. 409 when they have
    an open case already (the message names it) or are do-not-contact."""
    case = _open(request, db, user, customer_id, body.reason, body.note)
    return CasePublic.model_validate(case)


# --- the pages ----------------------------------------------------------------------------


@page_router.get("/customers")
def find_customer(
    request: Request, db: Db, user: PageUser, q: str = "", customer_id: str = ""
) -> Response:
    """The results page (an old link's ``customer_id`` still goes straight to the page)."""
    if customer_id.strip() and not q:
        return back(f"/customers/{quote(customer_id.strip(), safe='')}")
    hits = _find(request, db, user, q, search.LIMIT) if q.strip() else []
    return render(request, "customer_search.html", q=q, hits=hits)


@page_router.post("/customers/{customer_id}/cases", dependencies=[Csrf])
def open_case_page(
    request: Request,
    customer_id: str,
    db: Db,
    user: PageUser,
    reason: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    # A double-click, or a case opened meanwhile: the customer's page shows the case.
    with suppress(inbound.OpenCaseExists):
        _open(request, db, user, customer_id, reason, note)
    return back(f"/customers/{quote(customer_id, safe='')}")
