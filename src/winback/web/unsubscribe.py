"""The public unsubscribe pages (no login: the signed token in the address is the proof).

``GET /unsubscribe/<token>`` shows whom the link is for and a button: a GET changes nothing,
because mail scanners open links to check them. ``POST`` to the same address (the button, or
a mail program's one-click unsubscribe per RFC 8058) blocks the customer for good. A link
cut short or changed gets a page saying so (400), never a traceback.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from winback.desk import do_not_contact
from winback.desk.unsubscribe import read_token
from winback.errors import InvalidInput
from winback.web.deps import Db
from winback.web.pages import render

page_router = APIRouter(include_in_schema=False)


def _customer(request: Request, token: str) -> str | HTMLResponse:
    try:
        return read_token(request.app.state.settings.session_secret, token)
    except InvalidInput as exc:
        return render(request, "unsubscribe.html", status=400, state="invalid", message=str(exc))


@page_router.get("/unsubscribe/{token}")
def unsubscribe_page(request: Request, token: str, db: Db) -> HTMLResponse:
    customer = _customer(request, token)
    if isinstance(customer, HTMLResponse):
        return customer
    state = "done" if do_not_contact.is_blocked(db, customer) else "confirm"
    return render(request, "unsubscribe.html", state=state, action=f"/unsubscribe/{token}")


@page_router.post("/unsubscribe/{token}")
def unsubscribe(request: Request, token: str, db: Db) -> HTMLResponse:
    customer = _customer(request, token)
    if isinstance(customer, HTMLResponse):
        return customer
    do_not_contact.block(db, None, customer, source="unsubscribe")
    return render(request, "unsubscribe.html", state="done")
