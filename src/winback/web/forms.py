"""Forms that keep what was typed: a refused form POST shows the same page again, with
the values as typed and the message beside the field at fault.

A page POST route declares which page its form sits on with :func:`redisplay` (the page
function, called with the request, a database session and the user, and the id of the
form on that page). When the desk refuses the input (InvalidInput, Conflict, or a field
missing), the app's error handler renders that page with a :class:`FormErrors` in the
template context as ``forms``: templates read the typed value back with
``forms.value(form, name, default)`` and show the message with the ``field_error`` and
``form_error`` macros of ``_macros.html``. Nothing else needs per-page code.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from winback.desk.models import User
from winback.errors import WinbackError
from winback.web.sessions import CSRF_FIELD

# What a page function takes to show its page again: the request, a session, the user.
PageFunction = Callable[[Request, Session, User], Response]
_WORD = re.compile(r"^(?:the |a |an )?([a-z_]+)")


@dataclass(frozen=True)
class FormErrors:
    """What one refused form held and why it was refused. ``errors`` maps a field name
    to its message; the key "" holds a message about the form as a whole."""

    form: str = ""
    values: Mapping[str, str] = field(default_factory=dict)
    errors: Mapping[str, str] = field(default_factory=dict)

    def failed(self, form: str) -> bool:
        return bool(self.form) and self.form == form

    def value(self, form: str, name: str, default: Any = "") -> Any:
        """What was typed into ``name`` when ``form`` was refused, else ``default``."""
        if self.failed(form) and name in self.values:
            return self.values[name]
        return default

    def error(self, form: str, name: str) -> str:
        return self.errors.get(name, "") if self.failed(form) else ""

    def general(self, form: str) -> str:
        return self.errors.get("", "") if self.failed(form) else ""

    def elsewhere(self, shown: set[str]) -> str:
        """Every message of a refused form the page no longer shows (a request decided
        meanwhile leaves the list), so the message is not lost with it."""
        if not self.form or self.form in shown:
            return ""
        return "; ".join(self.errors.values())


NO_ERRORS = FormErrors()


def field_of(message: str, given: Mapping[str, str], named: str | None = None) -> str:
    """The form field a message is about: ``named`` (InvalidInput.field) when the form has
    it, else the field the message starts with ("amount '1,5': ...", "the password is
    too short"), else "" (the form as a whole)."""
    if named and named in given:
        return named
    found = _WORD.match(message.strip().lower())
    word = found.group(1) if found else ""
    return word if word in given and word != CSRF_FIELD else ""


def typed_values(form: Mapping[str, Any]) -> dict[str, str]:
    """The text fields of a submitted form (never passwords or the CSRF token: a page
    shown again does not echo a secret)."""
    return {
        k: v
        for k, v in form.items()
        if isinstance(v, str) and k != CSRF_FIELD and "password" not in k
    }


@dataclass(frozen=True)
class Redisplay:
    page: PageFunction
    form: str  # the form's id on the page; "{name}" parts are filled from the path


def redisplay(page: PageFunction, form: str) -> Any:
    """A route dependency: when this POST's input is refused, show ``page`` again with
    the form ``form`` (a str.format pattern over the path parameters, e.g.
    "limits-{user_id}") holding what was typed."""

    async def _mark(request: Request) -> None:
        # Read here, while the body can be read: the error handler's request cannot.
        sent = await request.form()
        request.state.form_names = set(sent.keys())
        request.state.form_values = typed_values(sent)
        request.state.redisplay = Redisplay(page, form.format(**request.path_params))

    return Depends(_mark)


def refused_form(request: Request, problems: list[tuple[str | None, str]]) -> FormErrors:
    """The FormErrors of the refused form of ``request`` (of no form when its route
    declared no redisplay): each problem is (the field named, if any; the message)."""
    target: Redisplay | None = getattr(request.state, "redisplay", None)
    values: dict[str, str] = getattr(request.state, "form_values", {})
    names = dict.fromkeys(getattr(request.state, "form_names", values), "")
    errors: dict[str, str] = {}
    for named, message in problems:
        where = field_of(message, names, named)
        errors[where] = f"{errors[where]}; {message}" if where in errors else message
    return FormErrors(target.form if target else "", values, errors)


def validation_problems(errors: list[Any]) -> list[tuple[str | None, str]]:
    """FastAPI's validation errors of a page form, in the desk's words."""
    problems: list[tuple[str | None, str]] = []
    for e in errors:
        name = str(e["loc"][-1]) if len(e["loc"]) > 1 else None
        what = "fill this in" if e.get("type") == "missing" else str(e.get("msg", "not valid"))
        problems.append((name, f"{name}: {what}" if name else what))
    return problems


async def show_again(request: Request, status: int, errors: FormErrors) -> Response | None:
    """The page of the refused form again, holding ``errors``; None when the request has
    no page to show again (no redisplay declared, or nobody logged in)."""
    from fastapi.concurrency import run_in_threadpool

    target: Redisplay | None = getattr(request.state, "redisplay", None)
    who: User | None = getattr(request.state, "user", None)
    if target is None or who is None:
        return None
    request.state.forms = errors
    user_id = who.id

    def _render() -> Response:
        # The route's session has closed by now: the page reads through a fresh one.
        with request.app.state.sessions() as db:
            user = db.get(User, user_id)
            assert user is not None
            request.state.user = user
            return target.page(request, db, user)

    try:
        response = await run_in_threadpool(_render)
    except WinbackError:  # the page itself is not theirs to see: the plain error page
        return None
    response.status_code = status
    return response
