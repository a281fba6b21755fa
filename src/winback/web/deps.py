"""Reusable typed dependencies: the database session, the current user and the policy."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import BackgroundTasks, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from winback.desk import users
from winback.desk.models import User
from winback.errors import NotAuthenticated, PermissionDenied
from winback.policy import Policy
from winback.web.sessions import CSRF_FIELD, CSRF_HEADER, SessionData, csrf_matches


def get_db(request: Request) -> Iterator[Session]:
    """A desk session for one request; closed (rolled back if uncommitted) afterwards."""
    with request.app.state.sessions() as session:
        yield session


Db = Annotated[Session, Depends(get_db)]


# Declares the API's security scheme in the OpenAPI document (every operation that takes
# ApiUser requires it); the answer to a missing or wrong token stays the desk's own 401.
bearer = HTTPBearer(
    scheme_name="apiToken",
    bearerFormat="wb_…",
    description="An API token, made on the account page (/account) or with POST "
    "/api/tokens: `Authorization: Bearer wb_…`.",
    auto_error=False,
)


def api_user(
    db: Db, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> User:
    """The owner of the request's ``Authorization: Bearer`` API token (one indexed query)."""
    token = credentials.credentials.strip() if credentials is not None else ""
    if not token:
        raise NotAuthenticated("send an API token: Authorization: Bearer wb_…")
    return users.user_for_token(db, token)


ApiUser = Annotated[User, Depends(api_user)]


def policy_of_request(request: Request) -> Policy:
    """The policy in force, read once for the request (fresh each time: an edited file
    applies at once). A bad file raises PolicyError, answered with 400 and its message.
    Declare it after the user, so a stranger is sent to log in rather than shown it."""
    policy: Policy = request.app.state.settings.read_policy()
    return policy


Rules = Annotated[Policy, Depends(policy_of_request)]


class LoginRequired(NotAuthenticated):
    """Raised by page dependencies; answered with a redirect to the login page."""


def page_session(request: Request) -> SessionData | None:
    session: SessionData | None = request.app.state.cookies.read(request)
    return session


def page_user(request: Request, db: Db) -> User:
    """The logged-in user of a page request, else a redirect to /login."""
    session = page_session(request)
    if session is None or session.user_id is None:
        raise LoginRequired("log in first")
    user = db.get(User, session.user_id)
    if user is None or not user.active or user.session_epoch != session.epoch:
        raise LoginRequired("your session has ended; log in again")
    request.state.session = session
    request.state.user = user
    return user


PageUser = Annotated[User, Depends(page_user)]


async def csrf_protect(request: Request) -> None:
    """Every form POST carries the session's CSRF token (a form field or, for htmx, a header)."""
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not csrf_matches(page_session(request), sent):
        raise PermissionDenied("the form's CSRF token is missing or stale; reload the page")


Csrf = Depends(csrf_protect)


def export_after_close(request: Request, background: BackgroundTasks) -> None:
    """After a case closes: the cycle's after-close step, once the answer is sent (outside
    the request's transaction)."""
    from winback import cycle

    background.add_task(cycle.after_close, request.app.state.settings, request.app.state.sessions)
