"""The red carpet: the list, experiences from other systems, and the flag."""

from __future__ import annotations

from fastapi import APIRouter

api_router = APIRouter(prefix="/api", tags=["desk"])
page_router = APIRouter(include_in_schema=False)
