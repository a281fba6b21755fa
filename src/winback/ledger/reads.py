"""The questions other rooms ask of the ledger, one function each.

The desk, insights, the demo and the CLI read facts only through these functions: no
other room opens a DuckDB connection or writes SQL over the ledger's tables (a test holds
this). Every function reads one consistent snapshot (the manifest as it is when called),
so none waits for an import, and each docstring names what it costs. Each answers with
plain values; a room turns them into its own types.

A ``ledger`` of None, or one nothing was ever imported into, answers empty.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NamedTuple

import duckdb
import pyarrow as pa

from winback.ledger.contract import counted_order_sql
from winback.ledger.store import Ledger
from winback.ledger.timeline import TimelineReader

TIMELINE_LIMIT = 200  # per kind: the newest events of each kind


@contextmanager
def _snapshot(ledger: Ledger, **tables: pa.Table) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection over the ledger's current snapshot, with ``tables`` registered by name."""
    con = ledger.connect()
    try:
        for name, table in tables.items():
            con.register(name, table)
        yield con
    finally:
        con.close()


def _wanted(customer_ids: Sequence[str]) -> pa.Table:
    return pa.table({"customer_id": pa.array(list(customer_ids), pa.string())})


# --- staff and contacts ------------------------------------------------------------------


class StaffMember(NamedTuple):
    staff_id: str
    name: str
    role: str


def staff(ledger: Ledger | None) -> list[StaffMember]:
    """Everyone in the staff table, by staff id: one DuckDB query over the staff segments."""
    if ledger is None or not ledger.manifest_path.exists():
        return []
    with _snapshot(ledger) as con:
        rows = con.sql("SELECT staff_id, name, role FROM staff ORDER BY staff_id").fetchall()
    return [StaffMember(*row) for row in rows]


class StaffContact(NamedTuple):
    """One staff member's dealings with one customer: last day and how many (a tuple:
    sync makes one per customer and staff member, 10^5-10^6 of them at a time)."""

    staff_id: str
    last: date
    count: int  # type: ignore[assignment]  # the field hides tuple.count, on purpose


def contact_history(
    ledger: Ledger | None, customer_ids: Sequence[str]
) -> tuple[dict[str, list[StaffContact]], dict[str, str]]:
    """Who dealt with each customer (interactions and orders, whatever the order's
    status: a cancelled order was still handled by someone) and each account's owner.

    Two DuckDB queries over the Parquet snapshot of interactions, orders and customers.
    """
    if ledger is None or not ledger.manifest_path.exists() or not customer_ids:
        return {}, {}
    with _snapshot(ledger, wanted=_wanted(customer_ids)) as con:
        rows = con.sql(
            """
            WITH touch AS (
                SELECT customer_id, staff_id, CAST(occurred_at AS DATE) AS day
                FROM interactions WHERE staff_id IS NOT NULL
                UNION ALL
                SELECT customer_id, staff_id, order_date FROM orders WHERE staff_id IS NOT NULL
            )
            SELECT customer_id, staff_id, max(day), count(*)
            FROM touch JOIN wanted USING (customer_id)
            GROUP BY customer_id, staff_id
            ORDER BY customer_id, staff_id
            """
        ).to_arrow_table()
        owners = con.sql(
            "SELECT customer_id, owner_staff_id FROM customers JOIN wanted USING (customer_id) "
            "WHERE owner_staff_id IS NOT NULL"
        ).fetchall()
    contacts: dict[str, list[StaffContact]] = {}
    for customer_id, contact in zip(
        rows.column(0).to_pylist(),
        map(StaffContact, *(rows.column(i).to_pylist() for i in (1, 2, 3))),
        strict=True,
    ):
        contacts.setdefault(customer_id, []).append(contact)
    return contacts, dict(owners)


# --- revenue -------------------------------------------------------------------------------


def values_before(ledger: Ledger | None, customer_ids: Sequence[str]) -> dict[str, float]:
    """Each customer's counted revenue over the 365 days up to their last counted order:
    what they were worth before they left. One DuckDB query over the orders segments."""
    if ledger is None or not ledger.manifest_path.exists() or not customer_ids:
        return {}
    with _snapshot(ledger, wanted=_wanted(customer_ids)) as con:
        rows = con.sql(
            f"""
            WITH counted AS (
                SELECT customer_id, order_date, CAST(amount AS DECIMAL(18, 2)) AS amount
                FROM orders JOIN wanted USING (customer_id)
                WHERE {counted_order_sql()}
            ), last AS (
                SELECT customer_id, max(order_date) AS last_day FROM counted GROUP BY customer_id
            )
            SELECT customer_id, CAST(sum(amount) AS DOUBLE)
            FROM counted JOIN last USING (customer_id)
            WHERE order_date > last_day - INTERVAL 365 DAY
            GROUP BY customer_id
            """
        ).fetchall()
    return {customer_id: float(value) for customer_id, value in rows}


class RevenueWindow(NamedTuple):
    """Count a customer's orders dated ``since`` <= day < ``until`` (None: no end)."""

    key: int
    customer_id: str
    since: date
    until: date | None


def revenue_in_windows(ledger: Ledger | None, windows: Sequence[RevenueWindow]) -> dict[int, float]:
    """Counted revenue per window key (keys without a counted order are left out).
    One DuckDB query over the orders segments."""
    if ledger is None or not ledger.manifest_path.exists() or not windows:
        return {}
    table = pa.table(
        {
            "key": pa.array([w.key for w in windows], pa.int64()),
            "customer_id": pa.array([w.customer_id for w in windows], pa.string()),
            "since": pa.array([w.since for w in windows], pa.date32()),
            "until": pa.array([w.until for w in windows], pa.date32()),
        }
    )
    with _snapshot(ledger, windows=table) as con:
        rows = con.execute(
            "SELECT w.key, CAST(sum(o.amount) AS DOUBLE) FROM windows w JOIN orders o "
            "ON o.customer_id = w.customer_id AND o.order_date >= w.since "
            "AND (w.until IS NULL OR o.order_date < w.until) "
            f"WHERE {counted_order_sql('o.status')} GROUP BY w.key"
        ).fetchall()
    return {int(key): float(amount or 0.0) for key, amount in rows}


class Cancellation(NamedTuple):
    """A subscription that ended with the customer's own reason for cancelling it."""

    customer_id: str
    customer_name: str | None
    subscription_id: str
    ended_on: date
    reason: str
    yearly_value: float  # the contract's price a year: price x 12 / months per period


def cancellations(ledger: Ledger | None, since: date | None = None) -> list[Cancellation]:
    """Every subscription that ended on or after ``since`` (all when None) with a cancel
    reason given, oldest first: one DuckDB query over the subscriptions and customers
    segments (its cost grows with the number of subscriptions)."""
    if ledger is None or not ledger.manifest_path.exists():
        return []
    with _snapshot(ledger) as con:
        rows = con.execute(
            """
            SELECT s.customer_id, c.name, s.subscription_id, s.ended_on, trim(s.cancel_reason),
                   CAST(coalesce(s.price, 0) AS DOUBLE) * 12 / coalesce(s.period_months, 1)
            FROM subscriptions s LEFT JOIN customers c USING (customer_id)
            WHERE s.ended_on IS NOT NULL AND trim(coalesce(s.cancel_reason, '')) <> ''
              AND ($1 IS NULL OR s.ended_on >= $1)
            ORDER BY s.ended_on, s.subscription_id
            """,
            [since],
        ).fetchall()
    return [Cancellation(*row) for row in rows]


# --- one customer ----------------------------------------------------------------------


class LedgerEvent(NamedTuple):
    """One fact of a customer's timeline, summarised for a person to read."""

    at: datetime
    kind: str
    ref: str
    summary: str
    who: str | None
    detail: str | None
    #: The amount the summary states (written in it with two decimals), for a page to
    #: show in its currency; None when it states none.
    amount: float | None = None


# kind, and SQL with one parameter (the customer id) giving at, ref, summary, who, detail
# and the amount the summary states.
_TIMELINE: tuple[tuple[str, str], ...] = (
    (
        "order",
        "SELECT CAST(order_date AS TIMESTAMP), order_id, "
        "format('order {} for {:.2f}', order_id, amount), staff_id, status, amount "
        "FROM orders WHERE customer_id = $1 ORDER BY order_date DESC LIMIT {limit}",
    ),
    (
        "incident",
        "SELECT CAST(occurred_on AS TIMESTAMP), incident_id, "
        "format('{} (severity {}){}', type, coalesce(CAST(severity AS VARCHAR), '?'), "
        "CASE WHEN resolved_on IS NULL THEN ', unresolved' ELSE ', resolved' END), "
        "NULL, description, NULL FROM incidents WHERE customer_id = $1 "
        "ORDER BY occurred_on DESC LIMIT {limit}",
    ),
    (
        "interaction",
        "SELECT occurred_at, interaction_id, "
        "format('{} {}{}', coalesce(direction, ''), channel, "
        "CASE WHEN customer_rude THEN ' (customer rude to staff)' ELSE '' END), "
        "staff_id, subject, NULL FROM interactions WHERE customer_id = $1 "
        "ORDER BY occurred_at DESC LIMIT {limit}",
    ),
    (
        "marketing",
        "SELECT occurred_at, campaign_id, format('{} {}', event, campaign_id), NULL, channel, NULL "
        "FROM marketing_events WHERE customer_id = $1 ORDER BY occurred_at DESC LIMIT {limit}",
    ),
    (
        "payment",
        "SELECT CAST(issued_on AS TIMESTAMP), invoice_id, "
        "format('invoice {} for {:.2f}, due {}, {}', invoice_id, amount, due_on, "
        "CASE WHEN paid_on IS NULL THEN 'unpaid' "
        "WHEN paid_on > due_on THEN format('paid late on {}', paid_on) "
        "ELSE format('paid on {}', paid_on) END), NULL, NULL, amount "
        "FROM invoices WHERE customer_id = $1 ORDER BY issued_on DESC LIMIT {limit}",
    ),
    (
        "subscription",
        "SELECT CAST(coalesce(ended_on, started_on) AS TIMESTAMP), subscription_id, "
        "CASE WHEN ended_on IS NULL "
        "THEN format('subscription {} ({}) since {}, {:.2f} every {} month(s)', "
        "subscription_id, coalesce(plan, 'no plan'), started_on, coalesce(price, 0), "
        "coalesce(period_months, 1)) "
        "ELSE format('subscription {} ({}) cancelled on {}{}', subscription_id, "
        "coalesce(plan, 'no plan'), ended_on, "
        "CASE WHEN trim(coalesce(cancel_reason, '')) = '' THEN '' "
        "ELSE format(': \"{}\"', trim(cancel_reason)) END) END, NULL, cancel_reason, "
        "CASE WHEN ended_on IS NULL THEN coalesce(price, 0) END "
        "FROM subscriptions WHERE customer_id = $1 "
        "ORDER BY coalesce(ended_on, started_on) DESC LIMIT {limit}",
    ),
    (
        "return",
        "SELECT CAST(returned_on AS TIMESTAMP), return_id, "
        "format('return {} of {:.2f}', return_id, amount), NULL, reason, amount "
        "FROM returns WHERE customer_id = $1 ORDER BY returned_on DESC LIMIT {limit}",
    ),
)


def customer_timeline(
    ledger: Ledger | None,
    customer_id: str,
    timeline: TimelineReader | None = None,
    limit: int = TIMELINE_LIMIT,
) -> tuple[dict[str, Any] | None, list[LedgerEvent]]:
    """The customer's profile (their customers row, or None) and their ledger events, the
    newest ``limit`` of each kind. Eight DuckDB queries: over the customer-sorted copy
    when it matches the ledger (milliseconds), else over the ledger's segments (their
    cost grows with the ledger)."""
    if ledger is None or not ledger.manifest_path.exists():
        return None, []
    con = _customer_connection(ledger, timeline)
    try:
        profile = _profile_row(con, customer_id)
        events = [
            LedgerEvent(at, kind, str(ref), summary, who, detail, amount)
            for kind, sql in _TIMELINE
            for at, ref, summary, who, detail, amount in con.execute(
                sql.replace("{limit}", str(int(limit))), [customer_id]
            ).fetchall()
        ]
    finally:
        con.close()
    return profile, events


def customer_profile(
    ledger: Ledger | None, customer_id: str, timeline: TimelineReader | None = None
) -> dict[str, Any] | None:
    """The customer's ``customers`` row (name, e-mail, phone ...), or None: one DuckDB
    query, over the customer-sorted copy when it matches the ledger."""
    if ledger is None or not ledger.manifest_path.exists():
        return None
    con = _customer_connection(ledger, timeline)
    try:
        return _profile_row(con, customer_id)
    finally:
        con.close()


def _customer_connection(
    ledger: Ledger, timeline: TimelineReader | None
) -> duckdb.DuckDBPyConnection:
    """A connection over the customer-sorted copy when it matches the ledger, else over
    the ledger's segments."""
    cursor = timeline.cursor(ledger) if timeline else None
    return cursor if cursor is not None else ledger.connect()


def _profile_row(con: duckdb.DuckDBPyConnection, customer_id: str) -> dict[str, Any] | None:
    found = con.execute("SELECT * FROM customers WHERE customer_id = $1", [customer_id])
    names = [d[0] for d in found.description or []]
    row = found.fetchone()
    return dict(zip(names, row, strict=True)) if row else None


def latest_incidents(
    ledger: Ledger | None, customer_id: str, limit: int = 3
) -> list[dict[str, Any]]:
    """The customer's latest incidents, unresolved first: ``type``, ``occurred_on``,
    ``description``, ``resolved_on``. One DuckDB query over the incidents segments."""
    if ledger is None or not ledger.manifest_path.exists():
        return []
    with _snapshot(ledger) as con:
        cursor = con.execute(
            "SELECT type, occurred_on, description, resolved_on FROM incidents "
            "WHERE customer_id = $1 ORDER BY resolved_on IS NOT NULL, occurred_on DESC LIMIT $2",
            [customer_id, limit],
        )
        names = [d[0] for d in cursor.description or []]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


# --- what happened since ---------------------------------------------------------------


class Happening(NamedTuple):
    """An order, interaction or incident of a customer: ``ref`` is ``<kind>:<its id>``;
    ``detail`` is an incident's type."""

    customer_id: str
    kind: str
    ref: str
    at: datetime
    detail: str | None


_SINCE_SQL = f"""
SELECT o.customer_id, 'order' AS kind, 'order:' || o.order_id AS ref,
       CAST(o.order_date AS TIMESTAMP) AS happened, NULL AS detail
FROM orders o JOIN wanted w ON o.customer_id = w.customer_id
WHERE o.order_date >= CAST(w.since AS DATE) AND {counted_order_sql("o.status")}
UNION ALL
SELECT i.customer_id, 'interaction', 'interaction:' || i.interaction_id, i.occurred_at,
       NULL
FROM interactions i JOIN wanted w ON i.customer_id = w.customer_id
WHERE i.occurred_at >= w.since
UNION ALL
SELECT n.customer_id, 'incident', 'incident:' || n.incident_id,
       CAST(n.occurred_on AS TIMESTAMP), n.type
FROM incidents n JOIN wanted w ON n.customer_id = w.customer_id
WHERE $incidents AND n.occurred_on >= CAST(w.since AS DATE)
ORDER BY happened, kind DESC, ref
"""


def happenings_since(
    ledger: Ledger | None, since: Sequence[tuple[str, datetime]], *, incidents: bool
) -> list[Happening]:
    """Each customer's counted orders (on or after the day of ``since``), interactions (at
    or after ``since``) and, when ``incidents``, incidents (on or after its day), oldest
    first, for ``since`` pairs of (customer id, moment). One DuckDB query over the orders,
    interactions and incidents segments."""
    if ledger is None or not ledger.manifest_path.exists() or not since:
        return []
    wanted = pa.table(
        {
            "customer_id": pa.array([c for c, _ in since], pa.string()),
            "since": pa.array([s for _, s in since], pa.timestamp("us")),
        }
    )
    with _snapshot(ledger, wanted=wanted) as con:
        rows = con.execute(_SINCE_SQL, {"incidents": incidents}).fetchall()
    return [Happening(*row) for row in rows]


# --- the whole ledger ------------------------------------------------------------------


@dataclass
class OrdersSummary:
    """The counted orders, and how many orders the rule left out (cancelled, refunded)."""

    first: date | None  # None when no order counts
    last: date | None
    orders: int
    customers: int
    revenue: float
    repeaters: int  # customers with counted orders on more than one day
    not_counted: int


@dataclass
class LedgerSummary:
    """Rows (current versions) and segments per stored table, and the counted orders."""

    tables: dict[str, tuple[int, int]] = field(default_factory=dict)
    orders: OrdersSummary | None = None


def summary(ledger: Ledger) -> LedgerSummary:
    """What the ledger holds. One DuckDB count per stored table and one query over the
    orders segments: it reads every segment, so it takes seconds on a large ledger."""
    manifest = ledger.manifest()
    result = LedgerSummary()
    if not manifest.tables:
        return result
    con = ledger.connect(manifest)
    try:
        for name in manifest.tables:
            (rows,) = con.sql(f'SELECT count(*) FROM "{name}"').fetchall()[0]
            result.tables[name] = (int(rows), len(manifest.segments(name)))
        if not manifest.segments("orders"):
            return result
        first, last, orders, customers, revenue, repeaters, not_counted = con.sql(
            f"""
            WITH counted AS (SELECT * FROM orders WHERE {counted_order_sql()}),
            per AS (
                SELECT customer_id, count(DISTINCT order_date) AS days FROM counted
                GROUP BY customer_id
            )
            SELECT min(order_date), max(order_date), count(*),
                   (SELECT count(*) FROM per), CAST(coalesce(sum(amount), 0) AS DOUBLE),
                   (SELECT count(*) FROM per WHERE days > 1),
                   (SELECT count(*) FROM orders) - count(*)
            FROM counted
            """
        ).fetchall()[0]
    finally:
        con.close()
    if orders or not_counted:
        result.orders = OrdersSummary(
            first, last, int(orders), int(customers), float(revenue), int(repeaters),
            int(not_counted),
        )  # fmt: skip
    return result


# --- public posts ----------------------------------------------------------------------


def _rows(ledger: Ledger, sql: str) -> list[dict[str, Any]]:
    """The rows of one query over a snapshot, each a dict by column name."""
    with _snapshot(ledger) as con:
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description or []]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def customer_directory(ledger: Ledger | None) -> list[dict[str, Any]]:
    """Every customer's ``customer_id``, ``name``, ``email``, ``region`` and ``country``
    (what a public post's author is matched against). One DuckDB query over the customers
    segments."""
    if ledger is None or not ledger.manifest_path.exists():
        return []
    with _snapshot(ledger) as con:
        cursor = con.execute(
            "SELECT customer_id, name, email, region, country FROM customers ORDER BY customer_id"
        )
        names = [d[0] for d in cursor.description or []]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def order_customers(ledger: Ledger | None, order_ids: Sequence[str]) -> dict[str, str]:
    """Order id -> its customer, for those of ``order_ids`` the ledger holds. One DuckDB
    query over the orders segments."""
    if ledger is None or not ledger.manifest_path.exists() or not order_ids:
        return {}
    wanted = pa.table({"order_id": pa.array(sorted(set(order_ids)), pa.string())})
    with _snapshot(ledger, wanted=wanted) as con:
        rows = con.sql(
            "SELECT DISTINCT o.order_id, o.customer_id FROM orders o JOIN wanted USING (order_id)"
        ).fetchall()
    return dict(rows)


def last_orders(ledger: Ledger | None, customer_ids: Sequence[str]) -> dict[str, date]:
    """Each customer's last counted order day (those with none are left out). One DuckDB
    query over the orders segments."""
    if ledger is None or not ledger.manifest_path.exists() or not customer_ids:
        return {}
    with _snapshot(ledger, wanted=_wanted(customer_ids)) as con:
        rows = con.sql(
            f"SELECT customer_id, max(order_date) FROM orders JOIN wanted USING (customer_id) "
            f"WHERE {counted_order_sql()} GROUP BY customer_id"
        ).fetchall()
    return {customer_id: day for customer_id, day in rows if day is not None}


def public_posts(ledger: Ledger | None) -> list[dict[str, Any]]:
    """The imported ``public_posts`` rows, oldest first. One DuckDB query over its
    segments."""
    if ledger is None or not ledger.manifest_path.exists():
        return []
    return _rows(
        ledger,
        "SELECT post_id, posted_at, source, author, customer_id, url, text "
        "FROM public_posts ORDER BY posted_at, post_id",
    )


# --- campaigns -------------------------------------------------------------------------


def customer_emails(ledger: Ledger | None, customer_ids: Sequence[str]) -> dict[str, str]:
    """Each of ``customer_ids``' e-mail address, for those the customers table gives one.
    One DuckDB query over the customers segments."""
    if ledger is None or not ledger.manifest_path.exists() or not customer_ids:
        return {}
    with _snapshot(ledger, wanted=_wanted(customer_ids)) as con:
        rows = con.sql(
            "SELECT customer_id, any_value(trim(email)) FROM customers JOIN wanted "
            "USING (customer_id) WHERE email IS NOT NULL AND trim(email) <> '' "
            "GROUP BY customer_id"
        ).fetchall()
    return dict(rows)


class WindowOrder(NamedTuple):
    """A counted order placed in a campaign's window, with the discount code used."""

    order_id: str
    customer_id: str
    order_date: date
    amount: float
    discount_code: str | None


def orders_in_window(
    ledger: Ledger | None, customer_ids: Sequence[str], since: date, until: date
) -> list[WindowOrder]:
    """The counted orders of ``customer_ids`` dated ``since`` <= day <= ``until``, by date
    and order id. One DuckDB query over the orders segments."""
    if ledger is None or not ledger.manifest_path.exists() or not customer_ids:
        return []
    with _snapshot(ledger, wanted=_wanted(customer_ids)) as con:
        rows = con.execute(
            "SELECT order_id, customer_id, order_date, CAST(amount AS DOUBLE), discount_code "
            "FROM orders JOIN wanted USING (customer_id) "
            f"WHERE {counted_order_sql()} AND order_date >= ? AND order_date <= ? "
            "ORDER BY order_date, order_id",
            [since, until],
        ).fetchall()
    return [WindowOrder(o, c, d, float(a or 0.0), code) for o, c, d, a, code in rows]


def orders_with_codes(ledger: Ledger | None, since: date) -> list[WindowOrder]:
    """Every counted order dated ``since`` or later that carries a discount code, whoever
    placed it (a code passed on to someone else shows up here). One DuckDB query over the
    orders segments."""
    if ledger is None or not ledger.manifest_path.exists():
        return []
    with _snapshot(ledger) as con:
        rows = con.execute(
            "SELECT order_id, customer_id, order_date, CAST(amount AS DOUBLE), discount_code "
            "FROM orders WHERE discount_code IS NOT NULL AND trim(discount_code) <> '' "
            f"AND {counted_order_sql()} AND order_date >= ? ORDER BY order_date, order_id",
            [since],
        ).fetchall()
    return [WindowOrder(o, c, d, float(a or 0.0), code) for o, c, d, a, code in rows]
