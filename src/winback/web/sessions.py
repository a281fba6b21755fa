"""Signed session cookies (itsdangerous) and CSRF tokens.

The cookie holds the user id, the user's session epoch (raised on logout, password change
or deactivation, which ends every session at once) and the CSRF token of the session. It
is signed, HttpOnly, SameSite=Lax, and expires after ``WINBACK_SESSION_HOURS``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

COOKIE = "winback_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


@dataclass(frozen=True)
class SessionData:
    user_id: int | None
    epoch: int
    csrf: str


class SessionCookies:
    """Reads and writes the session cookie."""

    def __init__(self, secret: str, max_age_seconds: int) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="winback-session")
        self.max_age = max_age_seconds

    def read(self, request: Request) -> SessionData | None:
        raw = request.cookies.get(COOKIE)
        if not raw:
            return None
        try:
            data = self._serializer.loads(raw, max_age=self.max_age)
            return SessionData(data["u"], int(data["e"]), str(data["c"]))
        except (BadSignature, KeyError, TypeError, ValueError):
            return None

    def write(self, request: Request, response: Response, data: SessionData) -> None:
        value = self._serializer.dumps({"u": data.user_id, "e": data.epoch, "c": data.csrf})
        response.set_cookie(
            COOKIE,
            value,
            max_age=self.max_age,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
            path="/",
        )

    def clear(self, response: Response) -> None:
        response.delete_cookie(COOKIE, path="/")

    @staticmethod
    def new(user_id: int | None = None, epoch: int = 0) -> SessionData:
        return SessionData(user_id, epoch, secrets.token_urlsafe(24))


def csrf_matches(session: SessionData | None, sent: str | None) -> bool:
    return bool(session and sent and secrets.compare_digest(session.csrf, sent))
