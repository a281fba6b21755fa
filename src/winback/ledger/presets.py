"""Presets: known file layouts imported without a mapping file.

- ``cdnow``: the CDNOW transaction files of the customer-base-analysis literature
  (whitespace-separated; the full cohort ``customer date cds dollars`` with a header line, or
  the 1/10 sample ``master_id sample_id date cds dollars`` without one). Gives ``orders``
  and ``customers``. CDNOW has no order number: an order's id is
  ``<customer>-<date>-<n>``, the n-th line of that customer on that date, so re-importing
  the same file finds the same ids. A customer's signup date is their first purchase (the
  cohort was drawn by first purchase in Q1 1997).
- ``shopify``: a Shopify orders export (one line per line item; the first line of an order
  carries the order's fields). Gives ``orders`` (from each order's first line),
  ``order_lines`` (every line) and ``customers`` (one per e-mail address). A customer is
  identified by e-mail, lower-cased.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from winback.errors import ImportFileError
from winback.ledger.contract import TABLES, Table
from winback.ledger.importer import (
    ImportResult,
    Progress,
    clear_rejects,
    import_source,
    staging_connection,
)
from winback.ledger.sources import Source, csv_source, open_text, quote_ident
from winback.ledger.store import Ledger

PRESETS = ("cdnow", "shopify")


@dataclass(frozen=True)
class PresetPart:
    table: Table
    source: Source


def import_preset(
    ledger: Ledger,
    preset: str,
    path: Path,
    *,
    rejects_dir: Path,
    progress: Progress | None = None,
    memory: str = "1GB",
) -> list[ImportResult]:
    """Import ``path`` laid out as ``preset``; one result per table it fills."""
    if preset not in PRESETS:
        raise ImportFileError(f"unknown preset {preset!r}; winback knows {', '.join(PRESETS)}")
    con = staging_connection(ledger, memory)
    try:
        parts = _cdnow(con, path) if preset == "cdnow" else _shopify(con, path)
        return [
            import_source(
                ledger,
                part.table,
                part.source,
                rejects_dir=rejects_dir,
                progress=progress,
                staging=con,
            )
            for part in parts
        ]
    finally:
        con.close()


# --- CDNOW ---------------------------------------------------------------------------

_CDNOW_COLUMNS = ("order_id", "customer_id", "order_date", "amount", "quantity", "_line")


def _cdnow_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    with open_text(path, "utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            fields = line.split()
            if not fields or (number == 1 and not fields[0][:1].isdigit()):
                continue  # blank line, or the full cohort's header
            yield number, fields


def _cdnow(con: duckdb.DuckDBPyConnection, path: Path) -> list[PresetPart]:
    if not path.exists():
        raise ImportFileError(f"{path}: file not found")
    columns: dict[str, list[str | None]] = {c: [] for c in _CDNOW_COLUMNS}
    seen: dict[tuple[str, str], int] = {}
    for number, fields in _cdnow_rows(path):
        if len(fields) == 5:  # the sample: master id, sample id, date, cds, dollars
            fields = [fields[0], *fields[2:]]
        if len(fields) != 4:
            # Left for the importer to report: a row with nothing in the required fields.
            customer = date = cds = dollars = None
        else:
            customer, date, cds, dollars = fields
            customer = customer.lstrip("0") or "0"
        key = (customer or "", date or "")
        seen[key] = seen.get(key, 0) + 1
        order_id = f"{customer}-{date}-{seen[key]}" if customer and date else None
        iso = (
            f"{date[:4]}-{date[4:6]}-{date[6:]}" if date and re.fullmatch(r"\d{8}", date) else date
        )
        for name, value in zip(
            _CDNOW_COLUMNS,
            (order_id, customer, iso, dollars, cds, str(number)),
            strict=True,
        ):
            columns[name].append(value)
    if not columns["_line"]:
        raise ImportFileError(f"{path}: no CDNOW records found")
    arrow = pa.table({name: pa.array(values, pa.string()) for name, values in columns.items()})
    con.register("cdnow_arrow", arrow)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE cdnow_rows AS "
        "SELECT * REPLACE (CAST(_line AS BIGINT) AS _line) FROM cdnow_arrow"
    )
    headers = list(_CDNOW_COLUMNS[:-1])
    orders = Source(
        path=path,
        format="csv",
        headers=headers,
        relation="cdnow_rows",
        place="given",
        ordinal_column="_line",
    )
    customers = Source(
        path=path,
        format="csv",
        headers=["customer_id", "signup_date"],
        relation=(
            "(SELECT customer_id, min(order_date) AS signup_date, min(_line) AS _line "
            "FROM cdnow_rows WHERE customer_id IS NOT NULL GROUP BY customer_id)"
        ),
        place="given",
        ordinal_column="_line",
    )
    return [PresetPart(TABLES["orders"], orders), PresetPart(TABLES["customers"], customers)]


# --- Shopify -------------------------------------------------------------------------

_SHOPIFY_REQUIRED = ("Name", "Email", "Created at", "Total")


def _shopify(con: duckdb.DuckDBPyConnection, path: Path) -> list[PresetPart]:
    raw = csv_source(path)
    missing = [h for h in _SHOPIFY_REQUIRED if h not in raw.headers]
    if missing:
        raise ImportFileError(
            f"{path}: not a Shopify orders export: no column(s) {', '.join(missing)} "
            f"(its headers are {', '.join(raw.headers)})"
        )

    def col(name: str) -> str:
        return quote_ident(name) if name in raw.headers else "CAST(NULL AS VARCHAR)"

    clear_rejects(con)
    con.execute(f"CREATE OR REPLACE TEMP TABLE shopify_raw AS SELECT * FROM {raw.relation}")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE shopify AS SELECT *, rowid AS _ord, "
        f"row_number() OVER (PARTITION BY {col('Name')} ORDER BY rowid) AS _nth "
        "FROM shopify_raw"
    )
    email = f"lower(trim({col('Email')}))"
    status = (
        f"CASE WHEN {col('Cancelled at')} IS NOT NULL THEN 'cancelled' "
        f"WHEN lower({col('Financial Status')}) = 'refunded' THEN 'refunded' "
        f"WHEN lower({col('Financial Status')}) IN ('pending', 'authorized') THEN 'pending' "
        "ELSE 'completed' END"
    )
    orders_sql = (
        f"(SELECT {col('Name')} AS order_id, {email} AS customer_id, "
        f"{col('Created at')} AS order_date, {col('Total')} AS amount, "
        f"{col('Currency')} AS currency, {col('Source')} AS channel, {status} AS status, "
        f"{col('Employee')} AS staff_id, {col('Discount Code')} AS discount_code, _ord "
        "FROM shopify WHERE _nth = 1)"
    )
    lines_sql = (
        f"(SELECT {col('Name')} AS order_id, CAST(_nth AS VARCHAR) AS line_number, "
        f"{col('Lineitem sku')} AS product_id, {col('Lineitem name')} AS product_name, "
        f"{col('Lineitem quantity')} AS quantity, "
        f"CAST(TRY_CAST({col('Lineitem price')} AS DECIMAL(18,2)) * "
        f"TRY_CAST({col('Lineitem quantity')} AS BIGINT) AS VARCHAR) AS amount, _ord "
        "FROM shopify)"
    )
    customers_sql = (
        f"(SELECT {email} AS customer_id, arg_min({col('Billing Name')}, _ord) AS name, "
        f"{email} AS email, arg_min(coalesce({col('Phone')}, {col('Billing Phone')}), _ord) "
        f"AS phone, arg_min({col('Billing Country')}, _ord) AS country, "
        f"arg_min({col('Billing Province')}, _ord) AS region, "
        f"min({col('Created at')}) AS signup_date, min(_ord) AS _ord "
        f"FROM shopify WHERE _nth = 1 AND {email} <> '' GROUP BY {email})"
    )

    def derived(relation: str, headers: list[str], structural: bool) -> Source:
        return Source(
            path=path,
            format="csv",
            headers=headers,
            relation=relation,
            place="line",
            delimiter=raw.delimiter,
            quotechar=raw.quotechar,
            ordinal_column="_ord",
            structural_rejects=structural,
        )

    orders = derived(
        orders_sql,
        [
            "order_id",
            "customer_id",
            "order_date",
            "amount",
            "currency",
            "channel",
            "status",
            "staff_id",
            "discount_code",
        ],
        structural=True,
    )
    lines = derived(
        lines_sql,
        ["order_id", "line_number", "product_id", "product_name", "quantity", "amount"],
        structural=False,
    )
    customers = derived(
        customers_sql,
        ["customer_id", "name", "email", "phone", "country", "region", "signup_date"],
        structural=False,
    )
    return [
        PresetPart(TABLES["customers"], customers),
        PresetPart(TABLES["orders"], orders),
        PresetPart(TABLES["order_lines"], lines),
    ]
