"""One helper shapes every API error: ``{"error": {"code": ..., "message": ...}}``."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from winback.errors import (
    Conflict,
    DeskError,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
)

STATUS: dict[type[DeskError], tuple[int, str]] = {
    NotAuthenticated: (401, "not_authenticated"),
    PermissionDenied: (403, "permission_denied"),
    NotFound: (404, "not_found"),
    Conflict: (409, "conflict"),
    InvalidInput: (422, "invalid_input"),
}


def status_of(exc: DeskError) -> tuple[int, str]:
    for kind, answer in STATUS.items():
        if isinstance(exc, kind):
            return answer
    return 400, "desk_error"


def api_error(status: int, code: str, message: str) -> JSONResponse:
    """The JSON body every API error has."""
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )
