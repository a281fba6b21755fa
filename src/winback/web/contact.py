"""Do-not-contact on the desk: the flag on the customer page and in the API.

Anyone on the desk sets it (the customer asked); managers lift it. While it stands the
desk refuses a call or a logged contact and winback sync opens no case
(:mod:`winback.desk.do_not_contact`). Setting it twice, or lifting it twice (a
double-click), does the thing once.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Response
from pydantic import BaseModel, Field

from winback.desk import do_not_contact
from winback.desk.models import ContactBlock, ContactBlockSource
from winback.desk.permissions import Action, require
from winback.web.deps import ApiUser, Csrf, Db, PageUser
from winback.web.errors import ERROR_RESPONSES
from winback.web.pages import back
from winback.web.schemas import Body, UtcDateTime

api_router = APIRouter(prefix="/api", tags=["desk"], responses=ERROR_RESPONSES)
page_router = APIRouter(include_in_schema=False)
MAX_NOTE = 2000


class ContactBlockSet(Body):
    note: str = Field("", max_length=MAX_NOTE, description="Why (what the customer said).")


class ContactBlockLift(Body):
    note: str = Field("", max_length=MAX_NOTE, description="Why contact is allowed again.")


class ContactBlockPublic(BaseModel):
    customer_id: str
    blocked: bool = Field(description="True while the customer must not be contacted.")
    source: ContactBlockSource | None = Field(
        None, description="Who set the flag: desk, unsubscribe or import (null: not blocked)."
    )
    note: str = ""
    since: UtcDateTime | None = None


def _public(customer_id: str, row: ContactBlock | None) -> ContactBlockPublic:
    if row is None or row.lifted_at is not None:
        return ContactBlockPublic(customer_id=customer_id, blocked=False, source=None)
    return ContactBlockPublic(
        customer_id=row.customer_id,
        blocked=True,
        source=row.source,  # type: ignore[arg-type]  # CONTACT_BLOCK_SOURCES by construction
        note=row.note,
        since=row.created_at,
    )


# --- the API ------------------------------------------------------------------------------


@api_router.get("/customers/{customer_id}/do-not-contact", response_model=ContactBlockPublic)
def get_block(customer_id: str, db: Db, user: ApiUser) -> ContactBlockPublic:
    """Whether the customer is do-not-contact, since when and why."""
    require(user, Action.VIEW_CUSTOMER)
    return _public(customer_id, do_not_contact.current(db, customer_id))


@api_router.post("/customers/{customer_id}/do-not-contact", response_model=ContactBlockPublic)
def set_block(
    customer_id: str, db: Db, user: ApiUser, body: ContactBlockSet | None = None
) -> ContactBlockPublic:
    """Mark the customer do-not-contact (anyone on the desk). Already marked: unchanged."""
    note = body.note if body else ""
    row = do_not_contact.block(db, user, customer_id, source="desk", note=note)
    return _public(customer_id, row)


@api_router.delete("/customers/{customer_id}/do-not-contact", response_model=ContactBlockPublic)
def lift_block(
    customer_id: str, db: Db, user: ApiUser, body: ContactBlockLift | None = None
) -> ContactBlockPublic:
    """Allow contact again (managers). Not marked, or lifted already: nothing changes."""
    do_not_contact.lift(db, user, customer_id, note=body.note if body else "")
    return _public(customer_id, None)


# --- the customer page's buttons ----------------------------------------------------------


@page_router.post("/customers/{customer_id}/do-not-contact", dependencies=[Csrf])
def set_by_hand(
    customer_id: str,
    db: Db,
    user: PageUser,
    note: Annotated[str, Form(max_length=MAX_NOTE)] = "",
) -> Response:
    do_not_contact.block(db, user, customer_id, source="desk", note=note.strip())
    return back(f"/customers/{quote(customer_id, safe='')}")


@page_router.post("/customers/{customer_id}/do-not-contact/lift", dependencies=[Csrf])
def lift_by_hand(
    customer_id: str,
    db: Db,
    user: PageUser,
    note: Annotated[str, Form(max_length=MAX_NOTE)] = "",
) -> Response:
    do_not_contact.lift(db, user, customer_id, note=note.strip())
    return back(f"/customers/{quote(customer_id, safe='')}")
