"""The records DuckDB's typed reader did not take, read again as text on their own.

An import reads a CSV file with DuckDB's typed reader first (numbers, amounts, ISO dates
and booleans converted as the lines are split). With ``store_rejects`` the reader skips
a line it cannot split or a field it cannot convert and names the line in its
``reject_errors`` table; a converted record failing a check (a negative amount, a missing
customer) is marked in the staged file. Only those records are then read again through
the text path, which gives each its reasons (or takes it: ``$1,200.50`` is an amount the
text path reads), from a small file of their lines; the clean records stay as the typed
reader staged them.

This needs each record of the file on a line of its own, so that a line number is a
record's place: the lines are counted, and a file where they do not add up (blank lines,
a quoted field holding a line break) or that is compressed or not UTF-8 goes down the
text path whole, as before.
"""

from __future__ import annotations

import bisect
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import duckdb

from winback.ledger.lines import record_text
from winback.ledger.rejects import structural_rejects
from winback.ledger.sources import Source, quote_literal, text_relation

# What the typed select writes in ``_problems`` of a converted record that fails a check.
RECHECK = "winback: read this record again as text"


@dataclass(frozen=True)
class Rejected:
    """What the typed reader left to the text path."""

    structural: dict[int, tuple[str, str]]  # line: (reason, text), as rejects.py gives
    cast_lines: list[int]  # lines with a field the reader could not convert, sorted
    recheck: list[int]  # positions in the typed staged file of records failing a check


def to_read_again(con: duckdb.DuckDBPyConnection, typed_path: Path) -> int:
    """How many records the typed read into ``typed_path`` left to be read again, counted
    without fetching them."""
    cast = con.sql(
        "SELECT count(DISTINCT line) FROM reject_errors WHERE error_type = 'CAST'"
    ).fetchall()[0][0]
    recheck = con.sql(
        f"SELECT count(*) FROM read_parquet({quote_literal(str(typed_path))}) "
        "WHERE _problems IS NOT NULL"
    ).fetchall()[0][0]
    return int(cast) + int(recheck)


def rejected(con: duckdb.DuckDBPyConnection, typed_path: Path) -> Rejected:
    """What the typed read into ``typed_path`` (a staged Parquet file) did not take."""
    structural = structural_rejects(con, skip_cast=True)
    cast = con.sql(
        "SELECT DISTINCT line FROM reject_errors WHERE error_type = 'CAST' ORDER BY line"
    ).fetchall()
    recheck = con.sql(
        f"SELECT file_row_number FROM read_parquet({quote_literal(str(typed_path))}, "
        "file_row_number=true) WHERE _problems IS NOT NULL ORDER BY 1"
    ).fetchall()
    return Rejected(
        structural,
        [int(line) for (line,) in cast if int(line) not in structural],
        [int(k) for (k,) in recheck],
    )


# Keys of the staged records: the typed reader's k-th record is k x SPACING; a record it
# skipped sits between the typed records around it (several in a row, one apart), so the
# keys keep the file's order without rewriting the typed file.
SPACING = 1 << 20


@dataclass(frozen=True)
class Reread:
    """The records to read again: their lines (header first), keys and places."""

    lines: list[bytes]  # the header line, then each record's line in file order
    keys: list[int]  # each record's key among the staged records (see SPACING)
    places: dict[int, tuple[int, str]]  # ordinal: (line, the record as rejects show it)
    starts: list[int]  # per record skipped by the typed reader: the typed records before it
    skipped: dict[int, int]  # key of a record the typed reader skipped: its ordinal

    def ordinal(self, key: int) -> int:
        """A staged record's ordinal among the records the text path would keep."""
        if key % SPACING:
            return self.skipped[key]
        k = key // SPACING
        return k + bisect.bisect_right(self.starts, k)


def plan(source: Source, found: Rejected, typed_rows: int) -> Reread | None:
    """The lines to read again and where every record lands; None when the file is not
    one record a line (or not plain UTF-8), so the caller reads it whole as text."""
    if source.encoding.lower().replace("_", "-") not in ("utf-8", "utf8", "ascii"):
        return None
    if source.path.suffix.lower() == ".gz" or not source.has_header:
        return None
    structural = sorted(found.structural)

    def ordinal_of(line: int) -> int:  # lines from 2 hold records; structural ones do not
        return line - 2 - bisect.bisect_left(structural, line)

    def line_of(ordinal: int) -> int:
        line = ordinal + 2
        for s in structural:
            if s <= line:
                line += 1
        return line

    # The j-th skipped record (by ordinal c) has c - j typed records before it.
    starts: list[int] = []
    skipped: dict[int, int] = {}
    key_of_line: dict[int, int] = {}
    run = 0
    for j, line in enumerate(found.cast_lines):
        c = ordinal_of(line)
        u = c - j
        run = run + 1 if starts and starts[-1] == u else 0
        if run >= SPACING // 2:
            return None
        starts.append(u)
        key = u * SPACING - SPACING // 2 + run
        skipped[key] = c
        key_of_line[line] = key
    made = Reread([], [], {}, starts, skipped)
    for k in found.recheck:
        key_of_line[line_of(made.ordinal(k * SPACING))] = k * SPACING
    taken: dict[int, bytes] = {}
    header = b""
    count = 0
    with open(source.path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if number == 1:
                header = raw
            elif number in key_of_line:
                taken[number] = raw
            count = number
    expected = 1 + typed_rows + len(found.cast_lines) + len(structural)
    if count != expected or len(taken) != len(key_of_line):
        return None
    ordered = sorted(key_of_line)
    for line in ordered:
        text = taken[line].decode("utf-8", errors="replace").rstrip("\r\n")
        record = record_text(text, source.delimiter, source.quotechar)
        made.places[made.ordinal(key_of_line[line])] = (line, record)
        made.keys.append(key_of_line[line])
    kept = [header] + [taken[n] for n in ordered]
    made.lines.extend(line.rstrip(b"\r\n") + b"\n" for line in kept)
    return made


def small_source(source: Source, reread: Reread, path: Path) -> Source:
    """The records to read again as a CSV file of their own, written to ``path``."""
    path.write_bytes(b"".join(reread.lines))
    return dataclasses.replace(
        source,
        path=path,
        encoding="utf-8",
        relation=text_relation(path, source.headers, source.delimiter, source.quotechar),
    )


def staged_view(
    con: duckdb.DuckDBPyConnection, typed_path: Path, reread_path: Path, reread: Reread
) -> None:
    """The ``staged`` view: the typed file's clean records and the records read again,
    each with its key (SPACING) as ``file_row_number``."""
    # A list parameter, not Arrow or Parquet written by pyarrow: both load pandas (seconds).
    con.execute(
        "CREATE OR REPLACE TEMP TABLE reread_keys AS "
        "SELECT unnest(range(?)) AS m, unnest(?::BIGINT[]) AS key",
        [len(reread.keys), reread.keys],
    )
    con.execute(
        "CREATE OR REPLACE TEMP VIEW staged AS "
        "SELECT * EXCLUDE (file_row_number), "
        f"file_row_number * {SPACING} AS file_row_number "
        f"FROM read_parquet({quote_literal(str(typed_path))}, file_row_number=true) "
        "WHERE _problems IS NULL "
        "UNION ALL BY NAME "
        "SELECT r.* EXCLUDE (file_row_number), k.key AS file_row_number "
        f"FROM read_parquet({quote_literal(str(reread_path))}, file_row_number=true) r "
        "JOIN reread_keys k ON r.file_row_number = k.m"
    )
