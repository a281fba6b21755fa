"""One helper shapes every API error: ``{"error": {"code": ..., "message": ...}}``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel

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


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    """Every API error: ``{"error": {"code": "not_found", "message": "no case 12"}}``."""

    error: ErrorDetail


# What any API call may answer besides its success, declared once for every router under
# /api so the OpenAPI document names each status the app sends.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in {
        400: "policy_error: the workspace's policy file is broken (or another desk error)",
        401: "not_authenticated: no token, or an unknown or revoked one",
        403: "permission_denied: the role may not do this, or the case is not yours",
        404: "not_found: no such case, customer, user, filter, call or token (a customer's "
        "lists too: a customer neither the desk, the latest scan nor the ledger knows)",
        409: "conflict: a name taken, a case already closed, the loser of a race",
        422: "invalid_input: a value the desk cannot accept, or a field it does not know",
    }.items()
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
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The JSON body every API error has; ``headers`` such as a 405's ``Allow`` or a
    lock-out's ``Retry-After`` are kept."""
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )
