"""One helper shapes every API error: ``{"error": {"code": ..., "message": ...}}``."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from winback.errors import (
    Busy,
    Conflict,
    DeskError,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    TooManyAttempts,
)

STATUS: dict[type[DeskError], tuple[int, str]] = {
    NotAuthenticated: (401, "not_authenticated"),
    PermissionDenied: (403, "permission_denied"),
    NotFound: (404, "not_found"),
    Conflict: (409, "conflict"),
    InvalidInput: (422, "invalid_input"),
    TooManyAttempts: (429, "too_many_attempts"),
    Busy: (503, "busy"),
}


def status_of(exc: DeskError) -> tuple[int, str]:
    for kind, answer in STATUS.items():
        if isinstance(exc, kind):
            return answer
    return 400, "desk_error"


def retry_after(exc: Exception) -> dict[str, str]:
    """The Retry-After header of a refusal that ends by itself (a lock-out, a busy server)."""
    if isinstance(exc, TooManyAttempts | Busy):
        return {"Retry-After": str(exc.retry_after)}
    return {}


def api_error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The JSON body every API error has."""
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )
