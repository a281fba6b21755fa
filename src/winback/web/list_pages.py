"""What the list pages share: reading the sort and page from the URL, and answering
``?format=csv`` with the whole filtered, sorted list as a download."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import Request
from fastapi.responses import Response

from winback.desk.listing import ListQuery, Sorting, read_query


def list_query(request: Request, sorting: Sorting, keep: Sequence[str] = ()) -> ListQuery:
    """The list's sort, direction, page and size from the query string (a sort the list
    does not offer is refused, 422, naming the field); ``keep`` names the page's own
    filters that its links carry."""
    return read_query(dict(request.query_params), sorting, keep)


def wants_csv(request: Request) -> bool:
    return request.query_params.get("format", "").strip().lower() == "csv"


def csv_download(text: str, name: str) -> Response:
    """``text`` as a CSV file named ``name``.csv (the browser saves it)."""
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}.csv"',
            "Cache-Control": "no-store",
        },
    )
