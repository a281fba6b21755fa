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
from winback.ledger.store import Ledger, Manifest, bound_memory

SIZE = 37  # the folded alphabet: space, 0-9, a-z
KEYS = SIZE**3  # trigrams of that alphabet
ROWS = "rows.arrow"
SEGMENTS = "customers.json"  # the customer segments an index was built from
POSTINGS = ("offsets.npy", "postings.npy")
COLUMNS = ("customer_id", "name", "email", "phone", "digits", "status", "folded", "local")

_FOLD_SQL = "trim(regexp_replace(lower(strip_accents(coalesce({0}, ''))), '[^0-9a-z]+', ' ', 'g'))"
_LOCAL_SQL = "split_part(email, '@', 1)"  # an e-mail's local part
_DIGITS_SQL = "regexp_replace(coalesce({0}, ''), '[^0-9]', '', 'g')"


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
        bound_memory(con, memory, folder / "tmp")
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
    found = con.sql(
        f"SELECT *, ' ' || {hay} || ' ' AS hay FROM ("
        + _select("customers c LEFT JOIN run_status r USING (customer_id)").format(
            status="r.status"
        )
        + " WHERE customer_id IS NOT NULL) ORDER BY customer_id"
    ).to_arrow_table()
    rows = found.select(list(COLUMNS)).combine_chunks()
    with pa.OSFile(str(folder / ROWS), "wb") as sink, pa.ipc.new_file(sink, rows.schema) as out:
        out.write_table(rows)
    hay = found.column("hay")
    del rows, found  # the texts are all the trigrams need
    offsets, postings = postings_of(hay)
    np.save(folder / "offsets.npy", offsets)
    np.save(folder / "postings.npy", postings)


# Each byte of a folded text (space, 0-9, a-z) as its number in the trigram code.
_CODES = np.zeros(256, dtype=np.uint16)
_CODES[ord("0") : ord("9") + 1] = np.arange(1, 11)
_CODES[ord("a") : ord("z") + 1] = np.arange(11, 37)


#: Texts worked out at a time by :func:`postings_of`.
PIECE = 250_000


def postings_of(hay: pa.ChunkedArray, piece: int = PIECE) -> tuple[np.ndarray, np.ndarray]:
    """For each trigram key, the rows whose padded folded text holds it: the offsets
    (``KEYS + 1``, int64) into the postings (uint32, each key's rows ascending).

    Worked out ``piece`` texts at a time: each piece's rows sorted by key and its count
    of each key kept, then the pieces' rows written into their keys' places in order (a
    piece's rows all follow the last piece's, so each key's rows stay ascending). At 5.5M
    customers the whole texts' trigrams at once, with their sort order and copies, took
    several times the postings' own memory; now it is twice the postings and a piece's.
    """
    pieces: list[tuple[np.ndarray, np.ndarray]] = []
    counts = np.zeros(KEYS, dtype=np.int64)
    for start in range(0, len(hay), piece):
        keys, rows = _postings(hay.slice(start, piece), start)
        held = np.bincount(keys, minlength=KEYS)
        counts += held
        pieces.append((held, rows))
    offsets = np.zeros(KEYS + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    postings = np.empty(int(offsets[-1]), dtype=np.uint32)
    filled = offsets[:-1].copy()  # where each key's next row goes
    while pieces:
        held, rows = pieces.pop(0)
        # Each posting's place: its key's next free place plus its rank among the
        # piece's postings of that key (they come sorted by key).
        first = np.cumsum(held) - held
        at = np.repeat(filled - first, held) + np.arange(len(rows))
        postings[at] = rows
        filled += held
        del rows, at
    return offsets, postings


def _postings(hay: pa.ChunkedArray, first_row: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """For each distinct (trigram key, row) of the padded folded texts, sorted by key then
    row: the keys and the rows (uint32, numbered from ``first_row``). In NumPy over the
    texts' bytes (folded texts are ASCII): a stable radix sort of the 16-bit keys keeps
    each key's rows in row order, so a row holding a trigram twice shows as two
    neighbours."""
    texts = pc.cast(
        hay.combine_chunks() if hay.num_chunks else pa.array([], pa.string()), pa.large_string()
    )
    bounds = np.frombuffer(texts.buffers()[1], dtype=np.int64)[
        texts.offset : texts.offset + len(texts) + 1
    ]
    data = texts.buffers()[2]
    raw = (
        np.frombuffer(data, dtype=np.uint8)[bounds[0] : bounds[-1]]
        if data
        else np.empty(0, np.uint8)
    )
    bounds = bounds - bounds[0]
    codes = np.concatenate([_CODES[raw], np.zeros(2, dtype=np.uint16)])
    keys = (codes[:-2] * SIZE + codes[1:-1]) * SIZE + codes[2:]
    del codes
    starts = np.ones(len(raw), dtype=bool)  # a trigram starts here within one text
    lengths = np.diff(bounds)
    starts[bounds[1:][lengths >= 1] - 1] = False  # the last two bytes of each text
    starts[bounds[1:][lengths >= 2] - 2] = False
    rows = np.repeat(np.arange(first_row, first_row + len(texts), dtype=np.uint32), lengths)
    rows, keys = rows[starts], keys[starts]
    order = np.argsort(keys, kind="stable")
    keys, rows = keys[order], rows[order]
    del order
    first = np.ones(len(keys), dtype=bool)
    first[1:] = (keys[1:] != keys[:-1]) | (rows[1:] != rows[:-1])
    return keys[first], rows[first]


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
