"""The page templates: the Jinja environment every page renders with, what every page
gets (the user, the CSRF token), and the owner pickers' markup."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

from babel.numbers import format_currency
from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, FileSystemLoader
from markupsafe import Markup
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import object_session

from winback.desk.listing import SIZES
from winback.desk.models import User
from winback.desk.nav import NavCounts, nav_counts
from winback.desk.outcomes import outcome_label
from winback.desk.permissions import Action, may, may_hold_work, may_work_case
from winback.insights import render as report_render
from winback.web.forms import NO_ERRORS
from winback.web.sessions import CSRF_FIELD, CSRF_HEADER

TEMPLATES = Path(__file__).resolve().parent / "templates"


LOCALE = "en"


def day(value: date | datetime | None) -> str:
    """A date as people write it: "12 Nov 2026" ("" for none)."""
    if value is None:
        return ""
    return f"{value.day} {value:%b %Y}"


def money(value: float | int | None, currency: str = "USD", *, cents: bool = False) -> str:
    """``value`` in ``currency`` as a person reads it: ``$1,235`` (whole units, rounded),
    or ``$1,234.50`` with ``cents``; a dash for no value. Text, not markup: Jinja escapes
    it like any other value."""
    if value is None:
        return "–"
    if cents:
        return format_currency(value, currency, locale=LOCALE)
    return format_currency(
        Decimal(str(value)).quantize(Decimal(1), ROUND_HALF_UP),
        currency,
        format="¤#,##0",
        currency_digits=False,
        locale=LOCALE,
    )


def amounts_of(request: Request) -> Callable[[float], str]:
    """How the app shows an amount with its cents, for text built outside a template (the
    customer timeline's)."""
    currency: str = request.app.state.settings.currency
    return lambda value: money(value, currency, cents=True)


def page_templates(currency: str = "USD") -> Jinja2Templates:
    """The templates folder, with the globals and filters the templates use; amounts are
    shown in ``currency`` (the ``WINBACK_CURRENCY`` setting)."""
    templates = Jinja2Templates(directory=TEMPLATES)
    # The reasons x revenue partial is the insights room's: the dashboard includes the
    # same file the standalone report does.
    templates.env.loader = ChoiceLoader(
        [FileSystemLoader(TEMPLATES), FileSystemLoader(report_render.TEMPLATES)]
    )
    templates.env.globals.update(
        may=may,
        may_work_case=may_work_case,
        day=day,
        Action=Action,
        CSRF_FIELD=CSRF_FIELD,
        CSRF_HEADER=CSRF_HEADER,
        quote=quote,
        outcome_label=outcome_label,
        nav_counts=nav_counts_of,
        SIZES=SIZES,
    )
    templates.env.filters["with_selected"] = with_selected

    def money_in_currency(value: float | int | None, cents: bool = False) -> str:
        return money(value, currency, cents=cents)

    # A filter ({{ value | money }}) and a function ({{ money(value) }}) alike.
    templates.env.filters["money"] = money_in_currency
    templates.env.globals["money"] = money_in_currency
    templates.env.globals["currency"] = currency
    return templates


def template_context(request: Request, **values: Any) -> dict[str, Any]:
    """What every page template gets: the user, the session's CSRF token, and ``values``."""
    session = getattr(request.state, "session", None)
    context: dict[str, Any] = {
        "user": getattr(request.state, "user", None),
        "csrf": session.csrf if session else "",
        # A refused form's typed values and messages (winback.web.forms).
        "forms": getattr(request.state, "forms", NO_ERRORS),
    }
    context.update(values)
    return context


def nav_counts_of(user: User | None) -> NavCounts:
    """The nav's counts for the page's user, read through the request's own session (the
    one the user was loaded in); none for a page without a user."""
    db = object_session(user) if user is not None else None
    if user is None or db is None:
        return NavCounts()
    try:
        return nav_counts(db, user)
    except SQLAlchemyError:  # an error page after a failed write: the page, without counts
        return NavCounts()


def owner_options(people: list[User]) -> Markup:
    """The <option>s of the owner pickers, rendered once a page rather than once a row."""
    return Markup("").join(
        Markup('<option value="{}">{} ({})</option>').format(u.id, u.name, u.role)
        for u in people
        if may_hold_work(u)
    )


def with_selected(options: Markup, owner_id: int | None) -> Markup:
    """``options`` with the current owner's option selected."""
    if owner_id is None:
        return options
    mark = f'<option value="{owner_id}">'
    # str() first: Markup.replace would escape the replacement.
    return Markup(str(options).replace(mark, f'<option value="{owner_id}" selected>', 1))
