"""Sorted, paged lists with totals and a CSV copy: the machinery the desk's lists share.

A list names the columns it may be sorted by (:class:`Sorting`); the URL says only a
column's name and a direction, never SQL. Sorting, paging, the count and the value sum are
all done by the database (an ORDER BY ... LIMIT/OFFSET and one COUNT/SUM query), so a
page costs the same at 100 cases as at 100,000. Every order ends with the row's id, so
rows that tie keep one order from page to page.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode

from sqlalchemy import Select, func
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.elements import ColumnElement

from winback.errors import InvalidInput
from winback.ledger.cells import safe_cell

T = TypeVar("T")
# A column to sort or sum on: a mapped attribute or any SQL expression.
Sql = ColumnElement[Any] | InstrumentedAttribute[Any]

SIZES = (25, 50, 100, 200)
DEFAULT_SIZE = 50
# A CSV export holds at most this many rows (the list says so when it is cut).
CSV_LIMIT = 100_000


@dataclass(frozen=True)
class SortKey:
    """A column a list may be sorted by: its name in the URL, its heading, its SQL."""

    name: str
    label: str
    sql: Sql
    # What the query needs joined to sort on ``sql`` (an owner's name, the next due date):
    # a join costs one hash join over the list, where a subquery per row would not scale.
    join: Callable[[Select[Any]], Select[Any]] | None = None


@dataclass(frozen=True)
class Sorting:
    """The columns a list may be sorted by and its usual order. ``lead`` goes before the
    default order only (urgent cases first in the queue's own order)."""

    keys: tuple[SortKey, ...]
    default: str
    default_desc: bool
    tiebreak: Sql
    lead: tuple[Sql, ...] = ()

    def key(self, name: str) -> SortKey:
        for k in self.keys:
            if k.name == name:
                return k
        raise InvalidInput(
            f"sort {name!r}: sort by one of {', '.join(k.name for k in self.keys)}", field="sort"
        )

    def order(self, sort: str, desc: bool) -> list[Sql]:
        column = self.key(sort).sql
        lead = list(self.lead) if sort == self.default and desc == self.default_desc else []
        # Blanks (no worth, no due date) last in either direction, on both databases.
        ordered = (column.desc() if desc else column.asc()).nulls_last()
        return [*lead, ordered, self.tiebreak]


@dataclass(frozen=True)
class ListQuery:
    """How the list is asked for: sort column, direction, page and page size."""

    sort: str
    desc: bool
    page: int = 1
    size: int = DEFAULT_SIZE
    # The list's own filters, carried along in every link (state, done, ...).
    extra: tuple[tuple[str, str], ...] = ()

    def params(self, **changes: Any) -> str:
        """The query string of this list with ``changes`` (for sort and page links)."""
        q = replace(self, **changes)
        values = [*q.extra, ("sort", q.sort), ("dir", "desc" if q.desc else "asc")]
        values += [("page", str(q.page)), ("size", str(q.size))]
        return urlencode(values)

    def sorted_by(self, name: str) -> str:
        """The query string sorting by ``name``: the other way if already sorted by it."""
        desc = not self.desc if name == self.sort else name in DESCENDING_FIRST
        return self.params(sort=name, desc=desc, page=1)

    def export(self) -> str:
        """The query string of the whole list, sorted the same way, as CSV."""
        direction = "desc" if self.desc else "asc"
        return urlencode([*self.extra, ("sort", self.sort), ("dir", direction), ("format", "csv")])


# Columns people read biggest first when they first click them.
DESCENDING_FIRST = frozenset({"worth", "asked", "remaining"})


def _whole(text: str, name: str, low: int, high: int) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise InvalidInput(f"{name} {text!r}: give a whole number", field=name) from None
    if not low <= value <= high:
        raise InvalidInput(f"{name} {value}: give a number from {low} to {high}", field=name)
    return value


def read_query(params: Mapping[str, str], sorting: Sorting, keep: Sequence[str] = ()) -> ListQuery:
    """The list query from a URL's parameters; a sort or size the list does not offer is
    refused naming the field. ``keep`` names the list's own filters to carry in links."""
    sort = (params.get("sort") or sorting.default).strip()
    sorting.key(sort)
    direction = (params.get("dir") or "").strip().lower()
    if direction not in ("", "asc", "desc"):
        raise InvalidInput(f"dir {direction!r}: use asc or desc", field="dir")
    if direction:
        desc = direction == "desc"
    elif sort == sorting.default:
        desc = sorting.default_desc
    else:
        desc = sort in DESCENDING_FIRST
    page = _whole(params.get("page") or "1", "page", 1, 1_000_000)
    size = _whole(params.get("size") or str(DEFAULT_SIZE), "size", 1, max(SIZES))
    extra = tuple((k, params[k]) for k in keep if params.get(k) not in (None, ""))
    return ListQuery(sort, desc, page, size, extra)


@dataclass
class ListPage(Generic[T]):
    """One page of a list with the whole list's count and value sum."""

    rows: list[T]
    query: ListQuery
    sorting: Sorting
    total: int
    value_sum: float

    @property
    def page(self) -> int:
        return self.query.page

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.query.size))

    @property
    def has_next(self) -> bool:
        return self.query.page < self.pages


def totals(db: Session, query: Select[Any], value: Sql | None) -> tuple[int, float]:
    """The count and value sum of every row of ``query`` (one query)."""
    wanted = [func.count(), func.coalesce(func.sum(value), 0.0) if value is not None else None]
    summary = query.with_only_columns(
        *[w for w in wanted if w is not None], maintain_column_froms=True
    ).order_by(None)
    row = db.execute(summary).one()
    return int(row[0]), float(row[1]) if value is not None else 0.0


def ordered(query: Select[Any], q: ListQuery, sorting: Sorting) -> Select[Any]:
    join = sorting.key(q.sort).join
    if join is not None:
        query = join(query)
    return query.order_by(*sorting.order(q.sort, q.desc))


def fetch(
    db: Session,
    query: Select[Any],
    q: ListQuery,
    sorting: Sorting,
    value: Sql | None = None,
    *,
    scalars: bool = True,
) -> ListPage[Any]:
    """The page ``q`` asks for of ``query``, sorted in SQL, with the totals."""
    total, value_sum = totals(db, query, value)
    page = ordered(query, q, sorting).limit(q.size).offset((q.page - 1) * q.size)
    rows: list[Any] = list(db.scalars(page)) if scalars else list(db.execute(page).all())
    return ListPage(rows, q, sorting, total, value_sum)


def everything(q: ListQuery) -> ListQuery:
    """The same list, sorted the same way, in one page of up to :data:`CSV_LIMIT` rows."""
    return replace(q, page=1, size=CSV_LIMIT)


@dataclass(frozen=True)
class CsvColumn(Generic[T]):
    heading: str
    cell: Callable[[T], Any]


def to_csv(columns: Sequence[CsvColumn[T]], rows: Iterable[T]) -> str:
    """``rows`` as CSV text; text cells are made safe to open in a spreadsheet (a name
    starting with = never runs as a formula); numbers stay numbers."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([c.heading for c in columns])
    for row in rows:
        writer.writerow([_cell(c.cell(row)) for c in columns])
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, int):
        return str(value)
    return safe_cell(str(value))
