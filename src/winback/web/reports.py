"""Reasons x revenue: the manager's dashboard (the same content as winback report)."""

from __future__ import annotations

from fastapi import APIRouter

api_router = APIRouter(prefix="/api", tags=["desk"])
page_router = APIRouter(include_in_schema=False)
