"""Importing a file into the ledger: every record read is stored or reported back.

The path of one import::

    file ──► Source (text fields)        sources.py: CSV / Parquet / JSON Lines / preset
         ──► staged (typed + problems)   fields.py: one pass in DuckDB, spills to disk
         ──► duplicates and updates      natural keys, within the file and against the ledger
         ──► new segment + manifest      store.py: readers never wait
         ──► rejects file                file, line, field, reason for every record not stored

Every record lands in exactly one count: ``read = stored + updated + duplicates + rejected``.
A record is *updated* when its key is stored already with other values (an invoice now
paid): the new version is stored and the old one kept in history. A *duplicate* is a record
whose key and values are stored already, or that repeats an earlier record of the same
file. A record whose key appears earlier in the same file with *different* values is
rejected: the file contradicts itself and winback will not guess which is right.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from winback.errors import LedgerError
from winback.ledger import fields, reread
from winback.ledger.contract import Table
from winback.ledger.headers import Mapping, match_headers
from winback.ledger.rejects import Reject, describe_rejects, structural_rejects, write_rejects
from winback.ledger.sources import (
    Source,
    iter_sample,
    quote_ident,
    quote_literal,
    typed_relation,
    unreadable,
)
from winback.ledger.store import (
    TYPED_SUFFIXES,
    Ledger,
    Manifest,
    Segment,
    bound_memory,
    key_fingerprint,
    key_hash_sql,
    now_iso,
)

Progress = Callable[[str, float], None]
"""Called with a phase name and the fraction done (0 to 1) of that phase."""

_SAMPLE = 2000
# Row groups of DuckDB's default size: larger ones (1M rows were tried) cost the write more
# (string dictionaries built and then given up on) and read no faster. ZSTD level 1 writes
# faster than the default level 3 and decompresses as fast (measured: docs/import.md).
_PARQUET = "FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1, ROW_GROUP_SIZE 122880"
_REJECTS_SHOWN = 20


@dataclass
class ImportResult:
    """What one import of one table did."""

    table: str
    file: Path
    read: int = 0
    stored: int = 0
    updated: int = 0
    duplicates: int = 0
    rejected: int = 0
    ignored_columns: tuple[str, ...] = ()
    rejects_file: Path | None = None
    rejects: list[Reject] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def balanced(self) -> bool:
        return self.read == self.stored + self.updated + self.duplicates + self.rejected


def import_source(
    ledger: Ledger,
    table: Table,
    source: Source,
    *,
    mapping: Mapping | None = None,
    rejects_dir: Path,
    progress: Progress | None = None,
    staging: duckdb.DuckDBPyConnection | None = None,
    memory: str = "1GB",
    wait_seconds: float = 30.0,
) -> ImportResult:
    """Import one :class:`Source` into ``table`` (see the module docstring).

    ``staging`` is a connection from :func:`staging_connection` that already holds the
    source's relation (presets); by default a new one is made with ``memory`` as its limit.
    """
    started = time.perf_counter()
    match = match_headers(source.headers, table, mapping, source.path)
    mapping = mapping or Mapping()
    result = ImportResult(table=table.name, file=source.path, ignored_columns=match.ignored)
    con = staging or staging_connection(ledger, memory)
    # Ordinals: a preset's own column, else the record's position in the staged file.
    ordinal = "_ord" if source.ordinal_column else "file_row_number"
    staged_path: Path | None = None
    try:
        formats = _formats(con, table, source, match.matched, mapping)
        select = _staged_select(table, source, match.matched, mapping, formats)
        types = _reader_types(table, source, match.matched, formats)
        typed = typed_relation(source, types) if types else None
        with ledger.writing(wait_seconds) as manifest:
            batch = manifest.batches + 1
            path, name = ledger.new_segment_path(table.name, batch)
            staged_path = path.with_suffix(".staged")
            # One streaming pass writes every record, typed and with its problems, in the
            # segment's format: when nothing needs dropping (the usual case) it *is* the
            # segment, so a clean file is read once and written once.
            copy = (
                f"COPY (SELECT *, CAST({batch} AS BIGINT) AS _batch, "
                f"{key_hash_sql(table)} AS _key FROM ({{select}})) "
                f"TO {{path}} ({_PARQUET})"
            )
            staged_sql = quote_literal(str(staged_path))
            read = None
            if typed is not None:
                # First DuckDB's typed reader, which converts numbers and dates as it
                # splits the lines; the records it cannot take (unsplittable or
                # unconvertible: skipped, their lines kept) or that fail a check (marked)
                # are then read again as text, where each gets its own reasons.
                read = _typed_read(
                    con, table, source, match.matched, mapping, formats, typed, types,
                    copy, staged_path, progress,
                )  # fmt: skip
            if read is None:
                if source.structural_rejects and source.ordinal_column is None:
                    clear_rejects(con)
                try:
                    _run_with_progress(
                        con, copy.format(select=select, path=staged_sql), progress, "reading"
                    )
                except duckdb.Error as exc:  # the file stopped being readable part-way
                    raise unreadable(source.path, exc) from None
                con.execute(
                    "CREATE OR REPLACE TEMP VIEW staged AS SELECT * FROM "
                    f"read_parquet({staged_sql}, file_row_number=true)"
                )
                structural = structural_rejects(con) if source.structural_rejects else {}
                again = None
            else:
                structural, again = read
            result.read = _scalar(con, "SELECT count(*) FROM staged") + len(structural)
            bad = con.sql(
                f"SELECT {ordinal}, _problems FROM staged WHERE _problems IS NOT NULL"
            ).fetchall()
            # Records not to store are collected in SQL: a re-import of a large file drops
            # every record, and moving their ordinals through Python took minutes.
            con.execute("CREATE OR REPLACE TEMP TABLE dropped (o BIGINT)")
            conflicts, in_file_dups = _in_file_duplicates(con, table, ordinal)
            keep = f"_problems IS NULL AND {ordinal} NOT IN (SELECT o FROM dropped)"
            same, changed = _against_ledger(con, ledger, table, manifest, ordinal, keep)
            dropped = len(conflicts) + in_file_dups + same
            to_store = result.read - len(structural) - len(bad) - dropped
            added: dict[str, Segment] = {}
            if to_store and not bad and not dropped and again is None:
                staged_path.replace(path)
            elif to_store:
                columns = ", ".join(quote_ident(c) for c in table.column_names)
                _run_with_progress(
                    con,
                    f"COPY (SELECT {columns}, _batch, _key FROM staged WHERE {keep}) "
                    f"TO {quote_literal(str(path))} ({_PARQUET})",
                    progress,
                    "writing",
                )
            con.execute("DROP VIEW staged")
            if to_store:
                added[table.name] = Segment(
                    file=name,
                    rows=to_store,
                    batch=batch,
                    updates=bool(changed),
                    source=str(source.path),
                    written_at=now_iso(),
                    key_hash=key_fingerprint(),
                )
            result.updated = changed
            result.stored = to_store - result.updated
            result.duplicates = in_file_dups + same
            known: dict[int, tuple[int, str]] = {}
            if again is not None:  # staged keys, not ordinals: translated
                bad = [(again.ordinal(o), p) for o, p in bad]
                conflicts = [(again.ordinal(o), again.ordinal(f)) for o, f in conflicts]
                known = again.places
            rejects = describe_rejects(source, structural, bad, conflicts, table.key, known)
            result.rejected = len(rejects)
            if rejects:
                result.rejects_file = write_rejects(rejects_dir, table, source, rejects)
                result.rejects = rejects[:_REJECTS_SHOWN]
            result.seconds = time.perf_counter() - started
            manifest.batches = batch
            ledger.commit(manifest, added, _history(result, batch))
        if not result.balanced:  # a bug, never bad input: say so loudly
            raise LedgerError(
                f"import of {source.path} does not add up: read {result.read} != stored "
                f"{result.stored} + updated {result.updated} + duplicates {result.duplicates}"
                f" + rejected {result.rejected}"
            )
        return result
    finally:
        # A failed import leaves no half-written file beside the segments.
        if staged_path is not None:
            for left in _typed_files(staged_path):
                left.unlink(missing_ok=True)
            staged_path.unlink(missing_ok=True)
        if staging is None:
            con.close()


# The most records the typed read may leave to be read again as text (or one in a hundred
# of a larger file's); beyond it the whole file is read as text.
REREAD_AT_MOST = 10_000
REREAD_ONE_IN = 100


def _typed_files(staged_path: Path) -> tuple[Path, Path, Path]:
    """The typed read's staged records, the records read again, and the small CSV file of
    their lines, beside ``staged_path`` (which then holds both sets)."""
    typed, again, lines = TYPED_SUFFIXES
    return (
        staged_path.with_suffix(typed),
        staged_path.with_suffix(again),
        staged_path.with_suffix(lines),
    )


def _typed_read(
    con: duckdb.DuckDBPyConnection,
    table: Table,
    source: Source,
    matched: dict[str, int],
    mapping: Mapping,
    formats: dict[str, str],
    typed: str,
    types: dict[str, str],
    copy: str,
    staged_path: Path,
    progress: Progress | None,
) -> tuple[dict[int, tuple[str, str]], reread.Reread | None] | None:
    """Stage ``source`` through DuckDB's typed reader, reading again as text only the
    records it did not take (:mod:`winback.ledger.reread`), and make the ``staged`` view;
    returns the lines it could not split and what was read again (None: nothing), or
    None when the file must be read whole as text."""
    typed_path, again_path, lines_path = _typed_files(staged_path)
    fast = _staged_select(table, source, matched, mapping, formats, typed, frozenset(types))
    _empty_reject_tables(con)
    path_sql = quote_literal(str(typed_path))
    try:
        _run_with_progress(con, copy.format(select=fast, path=path_sql), progress, "reading")
    except duckdb.Error:
        return None
    typed_rows = _scalar(con, f"SELECT count(*) FROM read_parquet({path_sql})")
    if reread.to_read_again(con, typed_path) > max(REREAD_AT_MOST, typed_rows // REREAD_ONE_IN):
        # Many records in a form only the text path reads ("1,234.50" amounts, say):
        # reading the whole file as text is cheaper than keeping each of their lines.
        return None
    found = reread.rejected(con, typed_path)
    if not (found.cast_lines or found.recheck):
        # Every record the reader split it took: only lines it could not split are out,
        # as the text path leaves them out.
        typed_path.replace(staged_path)
        con.execute(
            "CREATE OR REPLACE TEMP VIEW staged AS SELECT * FROM "
            f"read_parquet({quote_literal(str(staged_path))}, file_row_number=true)"
        )
        return found.structural, None
    planned = reread.plan(source, found, typed_rows)
    if planned is None:
        return None
    small = reread.small_source(source, planned, lines_path)
    text = _staged_select(table, small, matched, mapping, formats)
    _empty_reject_tables(con)
    again_sql = quote_literal(str(again_path))
    try:
        con.execute(copy.format(select=text, path=again_sql))
    except duckdb.Error:
        return None
    if structural_rejects(con):  # the lines split differently alone: read it all as text
        return None
    reread.staged_view(con, typed_path, again_path, planned)
    return found.structural, planned


def clear_rejects(con: duckdb.DuckDBPyConnection) -> None:
    """Before the text path's read: DuckDB appends to its reject tables on every read;
    start each file afresh."""
    _empty_reject_tables(con)


def _empty_reject_tables(con: duckdb.DuckDBPyConnection) -> None:
    for name in ("reject_errors", "reject_scans"):
        with contextlib.suppress(duckdb.CatalogException):
            con.execute(f"DELETE FROM {name}")


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    return int(con.sql(sql).fetchall()[0][0])


def staging_connection(ledger: Ledger, memory: str = "1GB") -> duckdb.DuckDBPyConnection:
    """A private DuckDB database for one import; spills to the workspace past ``memory``."""
    tmp = ledger.root / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    bound_memory(con, memory, tmp / uuid.uuid4().hex)
    con.execute("SET preserve_insertion_order = true")
    con.execute("SET enable_progress_bar = true")
    con.execute("SET enable_progress_bar_print = false")
    return con


def _run_with_progress(
    con: duckdb.DuckDBPyConnection, sql: str, progress: Progress | None, phase: str
) -> None:
    if progress is None:
        con.execute(sql)
        return
    failure: list[BaseException] = []

    def run() -> None:
        try:
            con.execute(sql)
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)

    worker = threading.Thread(target=run, name=f"winback-{phase}")
    worker.start()
    while worker.is_alive():
        done = con.query_progress()
        if done >= 0:
            progress(phase, min(done, 100.0) / 100.0)
        worker.join(0.1)
    if failure:
        raise failure[0]
    progress(phase, 1.0)


def _formats(
    con: duckdb.DuckDBPyConnection,
    table: Table,
    source: Source,
    matched: dict[str, int],
    mapping: Mapping,
) -> dict[str, str]:
    formats: dict[str, str] = {}
    for name, index in matched.items():
        column = table.column(name)
        if column.kind not in ("date", "timestamp"):
            continue
        if name in mapping.formats:
            formats[name] = mapping.formats[name]
            continue
        header = source.headers[index]
        try:
            values = list(iter_sample(con, source, header, _SAMPLE))
        except duckdb.Error as exc:
            raise unreadable(source.path, exc) from None
        formats[name] = fields.detect_format(column, header, values, str(source.path))
    return formats


# Contract kinds DuckDB's CSV reader converts exactly as the text path's casts do (checked
# value by value in tests/ledger/test_typed_reader.py); dates only in ISO form.
_READER_TYPES = {
    "date": "DATE",
    "money": "DECIMAL(18,2)",
    "integer": "BIGINT",
    "number": "DOUBLE",
    "boolean": "BOOLEAN",
}


def _reader_types(
    table: Table, source: Source, matched: dict[str, int], formats: dict[str, str]
) -> dict[str, str]:
    """Header -> SQL type for the fields DuckDB's typed reader can convert itself."""
    types: dict[str, str] = {}
    used: dict[int, int] = {}
    for index in matched.values():
        used[index] = used.get(index, 0) + 1
    for name, index in matched.items():
        column = table.column(name)
        sql_type = _READER_TYPES.get(column.kind)
        if sql_type is None or used[index] > 1:
            continue
        if column.kind == "date" and formats.get(name, fields.ISO) != fields.ISO:
            continue
        types[source.headers[index]] = sql_type
    return types


def _staged_select(
    table: Table,
    source: Source,
    matched: dict[str, int],
    mapping: Mapping,
    formats: dict[str, str],
    relation: str | None = None,
    typed: frozenset[str] = frozenset(),
) -> str:
    """The staged records: each field typed, and ``_problems`` listing what is wrong.

    With ``relation`` (a typed read, :func:`typed_relation`) the headers in ``typed`` come
    converted already, and a record with any problem is only marked (``reread.RECHECK``):
    it is read again as text.
    """
    ordinal_column = source.ordinal_column
    # Each field's text is taken once (_s), then trimmed with blank as NULL (_r): the
    # cheap trim refers to its text several times, which must not repeat a JSON lookup.
    text_cols: list[str] = []
    raw_cols: list[str] = []
    for i, column in enumerate(table.columns):
        if column.name in matched:
            expr = source.field_sql(source.headers[matched[column.name]])
            text_cols.append(f"{expr} AS _s{i}")
            if source.headers[matched[column.name]] in typed:
                raw = f"_s{i}"  # converted by the reader; empty is NULL
            else:
                raw = fields.blank_as_null_sql(f"_s{i}")
        elif column.name in mapping.defaults:
            raw = quote_literal(mapping.defaults[column.name])
        else:
            raw = "CAST(NULL AS VARCHAR)"
        raw_cols.append(f"{raw} AS _r{i}")
    extra = f", {quote_ident(ordinal_column)} AS _ord" if ordinal_column else ""
    row_problem = f", {source.row_problem} AS _row_problem" if source.row_problem else ""
    texts = f"SELECT {', '.join(text_cols) or 'NULL AS _s'}{extra}{row_problem}"
    texts += f" FROM {relation or source.relation}"
    passed = (", _ord" if ordinal_column else "") + (", _row_problem" if source.row_problem else "")
    inner = f"SELECT {', '.join(raw_cols)}{passed} FROM ({texts})"

    typed_cols = []
    for i, column in enumerate(table.columns):
        if column.name in matched and source.headers[matched[column.name]] in typed:
            typed_cols.append(f"_r{i} AS _t{i}")
            continue
        typed_cols.append(
            f"{fields.typed_sql(column, f'_r{i}', formats.get(column.name))} AS _t{i}"
        )
    middle = f"SELECT *, {', '.join(typed_cols)} FROM ({inner})"

    conditions: list[str] = []
    sentences: list[str] = []
    outputs = []
    for i, column in enumerate(table.columns):
        parts = fields.problem_sql(column, f"_r{i}", f"_t{i}", formats.get(column.name))
        if parts is not None:
            conditions.append(parts[0])
            sentences.append(parts[1])
        outputs.append(f"_t{i} AS {quote_ident(column.name)}")
    # Good records (nearly all) pay only for the conditions; sentences are built for the
    # bad ones. _problems is NULL for a good record.
    listed = f"list_filter([{', '.join(sentences) or 'NULL'}], lambda x: x IS NOT NULL)"
    problem_list = f"CASE WHEN {' OR '.join(conditions) or 'false'} THEN {listed} END"
    if relation is not None:
        problem_list = (
            f"CAST(CASE WHEN {' OR '.join(conditions) or 'false'} "
            f"THEN [{quote_literal(reread.RECHECK)}] END AS VARCHAR[])"
        )
    elif source.row_problem:
        # A record that is not even an object has no fields worth complaining about.
        problem_list = (
            f"CASE WHEN _row_problem IS NOT NULL THEN [_row_problem] ELSE {problem_list} END"
        )
    ord_out = ", _ord" if ordinal_column else ""
    return f"SELECT {', '.join(outputs)}{ord_out}, {problem_list} AS _problems FROM ({middle})"


def _in_file_duplicates(
    con: duckdb.DuckDBPyConnection, table: Table, ordinal: str
) -> tuple[list[tuple[int, int]], int]:
    """Records repeating an earlier key of the same file, added to ``dropped``: the
    conflicts (with their first record) and the number of exact repeats."""
    key = ", ".join(quote_ident(k) for k in table.key)
    good = "_problems IS NULL"
    # Distinct hashes (_key, written with the staged records) prove distinct keys, and a
    # 64-bit hash aggregates much faster than text; a collision only sends the file down
    # the exact path below.
    total, distinct = con.sql(
        f"SELECT count(*), count(DISTINCT _key) FROM staged WHERE {good}"
    ).fetchall()[0]
    if total == distinct:
        return [], 0
    # The values themselves decide: equal hashes would also be two different records whose
    # hashes collide.
    same = " AND ".join(
        f"{quote_ident(c)} IS NOT DISTINCT FROM first_value({quote_ident(c)}) OVER w"
        for c in table.column_names
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE repeats AS "
        f"SELECT o, first_o, same FROM (SELECT {ordinal} AS o, "
        f"first_value({ordinal}) OVER w AS first_o, "
        f"{same} AS same, "
        f"row_number() OVER w AS rn FROM staged WHERE {good} "
        f"WINDOW w AS (PARTITION BY {key} ORDER BY {ordinal})) WHERE rn > 1"
    )
    con.execute("INSERT INTO dropped SELECT o FROM repeats")
    conflicts = con.sql("SELECT o, first_o FROM repeats WHERE NOT same ORDER BY o").fetchall()
    exact = _scalar(con, "SELECT count(*) FROM repeats WHERE same")
    con.execute("DROP TABLE repeats")
    return [(int(o), int(first)) for o, first in conflicts], exact


def _against_ledger(
    con: duckdb.DuckDBPyConnection,
    ledger: Ledger,
    table: Table,
    manifest: Manifest,
    ordinal: str,
    keep: str,
) -> tuple[int, int]:
    """Good records whose key is stored already: (same values, changed values). The same
    ones are added to ``dropped``; all in DuckDB.

    First the key index: the records whose key hash is among the stored rows' (one
    integer column per segment, :meth:`Ledger.keys_sql`). Only those candidates, none for
    a file of new orders, are then compared with the stored rows, key and values
    themselves (never their hashes: a collision would drop a real change).
    """
    if not manifest.segments(table.name):
        return 0, 0
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE candidates AS SELECT {ordinal} AS o FROM staged "
        f"WHERE {keep} AND _key IN (SELECT _key FROM ({ledger.keys_sql(table, manifest)}))"
    )
    if not _scalar(con, "SELECT count(*) FROM candidates"):
        con.execute("DROP TABLE candidates")
        return 0, 0
    # Key and values compared themselves (a hash would call two colliding records same).
    same = " AND ".join(
        f"s.{quote_ident(c)} IS NOT DISTINCT FROM e.{quote_ident(c)}" for c in table.column_names
    )
    on = " AND ".join(f"s.{quote_ident(k)} = e.{quote_ident(k)}" for k in table.key)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE existing AS "
        f"SELECT s._o AS o, {same} AS same "
        f"FROM (SELECT *, {ordinal} AS _o FROM staged "
        f"WHERE {ordinal} IN (SELECT o FROM candidates)) s "
        f"JOIN ({ledger.select_sql(table, manifest)}) e ON {on}"
    )
    con.execute("DROP TABLE candidates")
    con.execute("INSERT INTO dropped SELECT o FROM existing WHERE same")
    same, changed = con.sql(
        "SELECT count(*) FILTER (WHERE same), count(*) FILTER (WHERE NOT same) FROM existing"
    ).fetchall()[0]
    con.execute("DROP TABLE existing")
    return int(same), int(changed)


def _history(result: ImportResult, batch: int) -> dict[str, object]:
    return {
        "batch": batch,
        "table": result.table,
        "file": str(result.file),
        "at": now_iso(),
        "read": result.read,
        "stored": result.stored,
        "updated": result.updated,
        "duplicates": result.duplicates,
        "rejected": result.rejected,
        "rejects_file": str(result.rejects_file) if result.rejects_file else None,
    }


def import_file(
    ledger: Ledger,
    table_name: str,
    path: Path,
    *,
    rejects_dir: Path,
    fmt: str | None = None,
    mapping_path: Path | None = None,
    encoding: str = "utf-8",
    delimiter: str | None = None,
    progress: Progress | None = None,
    memory: str = "1GB",
    wait_seconds: float = 30.0,
) -> ImportResult:
    """Import ``path`` into the contract table ``table_name`` (waiting up to
    ``wait_seconds`` for another writer to finish)."""
    from winback.ledger.contract import table as contract_table
    from winback.ledger.headers import load_mapping
    from winback.ledger.sources import open_source

    table = contract_table(table_name)
    mapping = load_mapping(mapping_path, table) if mapping_path else None
    source = open_source(path, fmt, encoding, delimiter)
    return import_source(
        ledger,
        table,
        source,
        mapping=mapping,
        rejects_dir=rejects_dir,
        progress=progress,
        memory=memory,
        wait_seconds=wait_seconds,
    )
