"""The page templates: the Jinja environment every page renders with, what every page
gets (the user, the CSRF token), and the owner pickers' markup."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

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
from winback.desk.permissions import Action, may, may_hold_work
from winback.insights import render as report_render
from winback.web.forms import NO_ERRORS
from winback.web.money_filter import money
from winback.web.sessions import CSRF_FIELD, CSRF_HEADER

TEMPLATES = Path(__file__).resolve().parent / "templates"


def page_templates() -> Jinja2Templates:
    """The templates folder, with the globals and filters the templates use."""
    templates = Jinja2Templates(directory=TEMPLATES)
    # The reasons x revenue partial is the insights room's: the dashboard includes the
    # same file the standalone report does.
    templates.env.loader = ChoiceLoader(
        [FileSystemLoader(TEMPLATES), FileSystemLoader(report_render.TEMPLATES)]
    )
    templates.env.globals.update(
        may=may,
        Action=Action,
        CSRF_FIELD=CSRF_FIELD,
        CSRF_HEADER=CSRF_HEADER,
        quote=quote,
        outcome_label=outcome_label,
        nav_counts=nav_counts_of,
        SIZES=SIZES,
    )
    templates.env.filters["with_selected"] = with_selected
    templates.env.filters["money"] = money
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
