"""What the list pages share: reading the sort and page from the URL, and answering
``?format=csv`` with the whole filtered, sorted list as a download."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import Response

from winback.desk.listing import ListQuery, Sorting, read_query
from winback.errors import InvalidInput


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


def only_query(*names: str) -> Any:
    """A route dependency refusing (422) a query parameter the call does not take, naming
    it: a typo such as ``?sise=10`` is an error, not silently the default."""
    allowed = frozenset(names)

    def _check(request: Request) -> None:
        for name in request.query_params:
            if name not in allowed:
                taken = ", ".join(sorted(allowed))
                raise InvalidInput(
                    f"query parameter {name[:40]!r}: this call takes only {taken}", field=name
                )

    return Depends(_check)


# The API's paged lists take a page and a size, nothing else.
PAGE_ONLY = only_query("page", "size")
