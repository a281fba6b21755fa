"""The ledger's customers as the desk's search reads them: written once into a search
index (winback.desk.search builds and reads it), or scanned directly while no index
matches the ledger. The only ledger SQL the search needs, kept in the ledger's room.

Each row: the customer's id, name, e-mail, phone, the phone's digits, the scan's status,
and the name and the e-mail's local part folded (accents off, lower case, anything but a
letter or digit a single space: the same fold as winback.desk.matching.fold).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from winback.ledger.sources import quote_literal
from winback.ledger.store import Ledger, Manifest

SIZE = 37  # the folded alphabet: space, 0-9, a-z
KEYS = SIZE**3  # trigrams of that alphabet
ROWS = "rows.arrow"
SEGMENTS = "customers.json"  # the customer segments an index was built from
POSTINGS = ("offsets.npy", "postings.npy")
COLUMNS = ("customer_id", "name", "email", "phone", "digits", "status", "folded", "local")

_FOLD_SQL = "trim(regexp_replace(lower(strip_accents(coalesce({0}, ''))), '[^0-9a-z]+', ' ', 'g'))"
_LOCAL_SQL = "split_part(email, '@', 1)"  # an e-mail's local part
_DIGITS_SQL = "regexp_replace(coalesce({0}, ''), '[^0-9]', '', 'g')"
# A folded character's number in the trigram code: space 0, digits 1-10, letters 11-36.
_CODE_SQL = (
    "CREATE MACRO tcode(c) AS CASE WHEN c = ' ' THEN 0 WHEN c <= '9' THEN ascii(c) - 47 "
    "ELSE ascii(c) - 86 END"
)


def _select(table: str) -> str:
    """The index's row columns, from a table of customers."""
    digits = _DIGITS_SQL.format("phone")
    return (
        f"SELECT customer_id, name, email, phone, {digits} AS digits, {{status}} AS status, "
        f"{_FOLD_SQL.format('name')} AS folded, "
        f"{_FOLD_SQL.format(_LOCAL_SQL)} AS local FROM {table}"
    )


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def write_search_rows(
    ledger: Ledger, manifest: Manifest, folder: Path, statuses: Path | None, memory: str
) -> None:
    """Write the ledger's customers (``ROWS``, an Arrow file, in customer-id order) and
    their trigram postings (``offsets.npy``, ``postings.npy``: for each trigram key, the
    rows whose folded name, e-mail's local part, id and phone digits hold it) into
    ``folder``. ``statuses``: a scan run's customers.parquet, for each row's status."""
    con = ledger.connect(manifest)
    try:
        con.execute(f"SET memory_limit = {quote_literal(memory)}")
        con.execute(f"SET temp_directory = {quote_literal(str(folder / 'tmp'))}")
        con.execute("SET enable_progress_bar = false")
        _write(con, folder, statuses)
    finally:
        con.close()


def _write(con: Any, folder: Path, statuses: Path | None) -> None:
    if statuses is not None and statuses.exists():
        path = quote_literal(str(statuses))
        con.execute(f"CREATE TEMP VIEW run_status AS SELECT customer_id, status FROM {path}")
    else:
        con.execute(
            "CREATE TEMP VIEW run_status AS SELECT NULL::VARCHAR AS customer_id, "
            "NULL::VARCHAR AS status WHERE false"
        )
    hay = _FOLD_SQL.format("concat_ws(' ', name, split_part(email, '@', 1), customer_id, digits)")
    con.execute(
        "CREATE TEMP TABLE found AS SELECT "
        "(row_number() OVER (ORDER BY customer_id) - 1)::UINTEGER AS row, *, "
        f"' ' || {hay} || ' ' AS hay FROM ("
        + _select("customers c LEFT JOIN run_status r USING (customer_id)").format(
            status="r.status"
        )
        + " WHERE customer_id IS NOT NULL)"
    )
    rows = con.sql(f"SELECT {', '.join(COLUMNS)} FROM found ORDER BY row").to_arrow_table()
    rows = rows.combine_chunks()
    with pa.OSFile(str(folder / ROWS), "wb") as sink, pa.ipc.new_file(sink, rows.schema) as out:
        out.write_table(rows)
    con.execute(_CODE_SQL)
    trigrams = con.execute(
        "SELECT key::USMALLINT AS key, row FROM (SELECT DISTINCT row, "
        "(tcode(hay[i]) * 37 + tcode(hay[i + 1])) * 37 + tcode(hay[i + 2]) AS key "
        "FROM (SELECT row, hay, unnest(range(1, length(hay) - 1)) AS i FROM found)) "
        "ORDER BY key, row"
    ).fetchnumpy()
    keys = np.asarray(trigrams["key"], dtype=np.int64)
    offsets = np.zeros(KEYS + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys, minlength=KEYS), out=offsets[1:])
    np.save(folder / "offsets.npy", offsets)
    np.save(folder / "postings.npy", np.asarray(trigrams["row"], dtype=np.uint32))


def customer_segments(manifest: Manifest) -> list[str]:
    """The files of the ledger's customers table: what an index's rows are made from."""
    return [segment.file for segment in manifest.segments("customers")]


def restatus(previous: Path, folder: Path, statuses: Path | None) -> None:
    """Write into ``folder`` the index in ``previous`` with each row's status taken from
    ``statuses`` (a scan run's customers.parquet; None or missing: no status): the rows
    rewritten, the trigram files linked (copied where links are refused)."""
    rows = pa.ipc.open_file(pa.memory_map(str(previous / ROWS))).read_all()
    kind = rows.schema.field("status").type
    if statuses is not None and statuses.exists():
        run = pq.read_table(statuses, columns=["customer_id", "status"])
        where = pc.index_in(rows.column("customer_id"), value_set=run.column("customer_id"))
        status = pc.take(run.column("status"), where).cast(kind)
    else:
        status = pa.nulls(rows.num_rows, kind)
    rows = rows.set_column(rows.schema.get_field_index("status"), "status", status)
    rows = rows.combine_chunks()
    with pa.OSFile(str(folder / ROWS), "wb") as sink, pa.ipc.new_file(sink, rows.schema) as out:
        out.write_table(rows)
    for name in POSTINGS:
        try:
            os.link(previous / name, folder / name)
        except OSError:
            shutil.copyfile(previous / name, folder / name)


def scan_customers(
    ledger: Ledger, text: str, digits: str | None, folded: str, limit: int
) -> pa.Table:
    """Customers whose id, name or e-mail holds ``text`` (any case), whose phone holds
    ``digits`` (when the query is a phone number), or whose folded name is within
    Jaro-Winkler 0.85 of ``folded``: at most ``limit``, in the index's row columns."""
    con = ledger.connect()
    try:
        table: pa.Table = con.sql(
            f"SELECT * FROM ({_select('customers').format(status='NULL::VARCHAR')}) WHERE "
            "customer_id ILIKE $1 ESCAPE '\\' OR name ILIKE $1 ESCAPE '\\' "
            "OR email ILIKE $1 ESCAPE '\\' OR ($2 AND digits LIKE $3) "
            f"OR jaro_winkler_similarity(folded, $4) >= 0.85 LIMIT {int(limit)}",
            params=[_like(text), digits is not None, _like(digits or ""), folded],
        ).to_arrow_table()
    finally:
        con.close()
    return table
