"""Reading a file into the importer: each format becomes a relation of text columns.

A :class:`Source` is what the importer needs from a file: its headers, a SQL relation
that yields one row per record with every field as text (DuckDB reads the file itself, so
it streams and runs in parallel), and how to turn a record's position back into the line
or row a person can find in the file. Formats:

- CSV and TSV (optionally ``.gz``): DuckDB's CSV reader with the dialect sniffed here;
  lines it cannot split (too many or too few fields, bad bytes) come back as rejects with
  their line numbers.
- Parquet: DuckDB's Parquet reader; a record's place is its row number.
- JSON Lines: each line is read as one text value and its fields are taken with DuckDB's
  JSON functions, so a malformed line is a reject, not a failed import.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

import duckdb

from winback.errors import ImportFileError

Format = Literal["csv", "parquet", "jsonl"]
_SNIFF_BYTES = 256 * 1024
# A character that does not occur in JSON text outside strings, used as the "delimiter"
# so that DuckDB's CSV reader hands over each JSON line whole.
_UNIT_SEPARATOR = "\x1f"


@dataclass
class Source:
    """One file, ready to be staged.

    ``relation`` is SQL for a relation with one text column per header (quoted names) in
    file order. ``place`` says how a record's ordinal maps back to the file: ``"line"``
    (count physical lines, see :mod:`winback.ledger.lines`), ``"row"`` (the ordinal
    plus one is the row number), or ``"given"`` (``ordinal_column`` holds the line itself).
    """

    path: Path
    format: Format
    headers: list[str]
    relation: str
    place: Literal["line", "row", "given"]
    encoding: str = "utf-8"
    delimiter: str = ","
    quotechar: str = '"'
    has_header: bool = True
    row_problem: str | None = None  # SQL giving a reason when a whole record is unusable
    columns_sql: dict[str, str] = field(default_factory=dict)  # header -> SQL text expr
    structural_rejects: bool = False  # whether DuckDB's reject tables apply
    ordinal_column: str | None = None  # a column giving each record's ordinal (or its line)

    def field_sql(self, header: str) -> str:
        return self.columns_sql.get(header, quote_ident(header))


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def detect_format(path: Path, given: str | None = None) -> Format:
    """The file's format from ``given`` or its name."""
    if given:
        if given in ("csv", "tsv"):
            return "csv"
        if given in ("parquet", "jsonl"):
            return given  # type: ignore[return-value]
        raise ImportFileError(f"{path}: unknown format {given!r}; use csv, tsv, parquet or jsonl")
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".gz", ".gzip"):
        suffixes = suffixes[:-1]
    last = suffixes[-1] if suffixes else ""
    if last in (".csv", ".tsv", ".txt", ".tab"):
        return "csv"
    if last in (".parquet", ".pq"):
        return "parquet"
    if last in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    raise ImportFileError(
        f"{path}: cannot tell the format from the name; "
        "use a .csv, .tsv, .parquet or .jsonl file, or pass --format"
    )


def open_text(path: Path, encoding: str) -> IO[str]:
    """Open a possibly gzip-compressed text file, keeping line endings as they are."""
    enc = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    if path.suffix.lower() in (".gz", ".gzip"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding=enc, errors="replace", newline="")
    return open(path, encoding=enc, errors="replace", newline="")


def first_line(exc: BaseException) -> str:
    """The first line of an error's message (DuckDB's run to a page of hints)."""
    return str(exc).split("\n")[0].strip()


def unreadable(path: Path, exc: BaseException) -> ImportFileError:
    """The error for a file that stops being readable part-way (a cut-off or damaged .gz)."""
    # DuckDB's message names the file again; the error says it once.
    detail = str(exc).split("\n")[0].replace(f": {path}", "").strip()
    hint = (
        "the compressed file is damaged or cut short: copy or export it again"
        if path.suffix.lower() in (".gz", ".gzip")
        else "check that the file is complete and in the format its name says"
    )
    return ImportFileError(f"{path}: cannot read the file ({detail}); {hint}")


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise ImportFileError(f"{path}: file not found")
    if not path.is_file():
        raise ImportFileError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise ImportFileError(f"{path}: the file is empty")


_DELIMITERS = (",", ";", "\t", "|")  # also the order that breaks a tie
_DETECT_RECORDS = 50
_DETECT_CHARS = 64 * 1024


def detect_delimiter(sample: str) -> str:
    """The delimiter of a CSV sample: the candidate found outside quotes the same non-zero
    number of times on the most of the first records (ties go to , ; tab |).

    Replaces ``csv.Sniffer``, whose regular expression backtracks for minutes on some
    files (a 36 kB one took 30 s). This reads at most 64 kB once, splitting on the quote
    character so that the counting runs in C: linear in the sample.
    """
    counts: list[dict[str, int]] = [dict.fromkeys(_DELIMITERS, 0)]
    for index, part in enumerate(sample[:_DETECT_CHARS].split('"')):
        if index % 2:  # inside quotes (a doubled quote "" re-enters at once)
            continue
        pieces = part.split("\n")
        for number, piece in enumerate(pieces):
            if number:
                if len(counts) > _DETECT_RECORDS:
                    break
                counts.append(dict.fromkeys(_DELIMITERS, 0))
            for delimiter in _DELIMITERS:
                counts[-1][delimiter] += piece.count(delimiter)
        if len(counts) > _DETECT_RECORDS:
            break
    # Blank lines are not records; a cut-off last record would count short.
    records = [c for c in counts[:-1] if any(c.values())] or counts[:1]
    best, best_score = _DELIMITERS[0], (0.0, 0)
    for delimiter in _DELIMITERS:
        tally: dict[int, int] = {}
        for record in records:
            tally[record[delimiter]] = tally.get(record[delimiter], 0) + 1
        common, times = max(tally.items(), key=lambda item: (item[1], item[0]))
        if common == 0:
            continue
        score = (times / len(records), common)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _sniff_csv(path: Path, encoding: str, delimiter: str | None) -> tuple[str, str, list[str]]:
    try:
        with open_text(path, encoding) as handle:
            sample = handle.read(_SNIFF_BYTES)
    except LookupError as exc:  # an unknown --encoding
        raise ImportFileError(f"{path}: cannot read the file ({exc})") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise unreadable(path, exc) from None
    lines = [ln for ln in sample.splitlines() if ln.strip()]
    if not lines:
        raise ImportFileError(f"{path}: no header line (the file holds only blank lines)")
    if delimiter is None:
        if path.name.lower().removesuffix(".gz").endswith((".tsv", ".tab")):
            delimiter = "\t"
        else:
            delimiter = detect_delimiter(sample)
    header = next(csv.reader([lines[0]], delimiter=delimiter, quotechar='"'))
    header = [h.replace("\ufeff", "").strip() for h in header]
    if not any(header):
        raise ImportFileError(f"{path}: the first line has no column names")
    return delimiter, '"', header


def csv_source(path: Path, encoding: str = "utf-8", delimiter: str | None = None) -> Source:
    """A CSV or TSV file with a header line."""
    _check_readable(path)
    delim, quote, headers = _sniff_csv(path, encoding, delimiter)
    seen: set[str] = set()
    for name in headers:
        if name in seen:
            raise ImportFileError(f"{path}: the header names column {name!r} twice")
        seen.add(name)
    return Source(
        path=path,
        format="csv",
        headers=headers,
        relation=_csv_relation(path, headers, delim, quote, encoding),
        place="line",
        encoding=encoding,
        delimiter=delim,
        quotechar=quote,
        structural_rejects=True,
    )


def _csv_relation(
    path: Path,
    headers: list[str],
    delim: str,
    quote: str,
    encoding: str,
    types: dict[str, str] | None = None,
) -> str:
    """DuckDB's reader over a CSV file: every column as text, keeping the lines it cannot
    split as rejects; or, given ``types`` (header -> SQL type), reading those columns
    typed, keeping also the lines with a field it cannot convert as rejects (``CAST``)."""
    columns = ", ".join(
        f"{quote_literal(h)}: {quote_literal((types or {}).get(h, 'VARCHAR'))}" for h in headers
    )
    return (
        f"read_csv({quote_literal(str(path))}, header=true, auto_detect=false, "
        f"columns={{{columns}}}, delim={quote_literal(delim)}, quote={quote_literal(quote)}, "
        f"escape={quote_literal(quote)}, encoding={quote_literal(encoding)}, "
        "store_rejects=true, strict_mode=true, null_padding=false, max_line_size=10000000)"
    )


def text_relation(path: Path, headers: list[str], delim: str, quote: str) -> str:
    """DuckDB's reader over a UTF-8 CSV file with ``headers``, every column as text."""
    return _csv_relation(path, headers, delim, quote, "utf-8")


def typed_relation(source: Source, types: dict[str, str]) -> str | None:
    """``source``'s relation with the columns in ``types`` (header -> SQL type) read typed
    by DuckDB's reader, which skips a record it cannot take and names its line in
    ``reject_errors`` (see :func:`_csv_relation`); None when the format has no such
    reader."""
    if source.format != "csv" or source.ordinal_column or source.row_problem:
        return None
    return _csv_relation(
        source.path, source.headers, source.delimiter, source.quotechar, source.encoding, types
    )


def parquet_source(path: Path) -> Source:
    """A Parquet file; every column is read as text and checked like any other file."""
    _check_readable(path)
    try:
        described = (
            duckdb.connect()
            .execute(f"DESCRIBE SELECT * FROM read_parquet({quote_literal(str(path))})")
            .fetchall()
        )
    except duckdb.Error as exc:
        raise ImportFileError(
            f"{path}: not a readable Parquet file ({first_line(exc)}); export it again"
        ) from None
    headers = [str(row[0]) for row in described]
    columns_sql = {h: f"CAST({quote_ident(h)} AS VARCHAR)" for h in headers}
    return Source(
        path=path,
        format="parquet",
        headers=headers,
        relation=f"read_parquet({quote_literal(str(path))})",
        place="row",
        columns_sql=columns_sql,
    )


def jsonl_source(path: Path, encoding: str = "utf-8") -> Source:
    """A JSON Lines file: one JSON object per line."""
    _check_readable(path)
    # Blank lines are not records (as in CSV), so they are dropped here.
    relation = (
        f"(SELECT _json FROM read_csv({quote_literal(str(path))}, header=false, "
        f"auto_detect=false, columns={{'_json': 'VARCHAR'}}, "
        f"delim={quote_literal(_UNIT_SEPARATOR)}, quote='', escape='', "
        f"encoding={quote_literal(encoding)}, store_rejects=true, max_line_size=10000000) "
        "WHERE trim(_json, ' \t\r') <> '')"
    )
    try:
        keys = (
            duckdb.connect()
            .execute(
                "SELECT DISTINCT unnest(json_keys(_json)) AS k FROM "
                f"(SELECT _json FROM {relation} WHERE json_valid(_json) "
                "AND json_type(_json) = 'OBJECT' LIMIT 10000)"
            )
            .fetchall()
        )
    except duckdb.Error as exc:
        raise ImportFileError(
            f"{path}: cannot read JSON Lines ({first_line(exc)}); each line must be one "
            "JSON object in UTF-8"
        ) from None
    headers = sorted(str(k[0]) for k in keys)
    if not headers:
        raise ImportFileError(f"{path}: no JSON object found in the first 10,000 lines")
    columns_sql = {
        h: "CASE WHEN json_valid(_json) THEN "
        f"json_extract_string(_json, {quote_literal('$.' + quote_ident(h))}) END"
        for h in headers
    }
    return Source(
        path=path,
        format="jsonl",
        headers=headers,
        relation=relation,
        place="line",
        encoding=encoding,
        has_header=False,
        row_problem=(
            "CASE WHEN NOT json_valid(_json) THEN 'line is not valid JSON' "
            "WHEN json_type(_json) <> 'OBJECT' THEN 'line is JSON but not an object {...}' END"
        ),
        columns_sql=columns_sql,
        structural_rejects=True,
    )


def open_source(
    path: Path, fmt: str | None = None, encoding: str = "utf-8", delimiter: str | None = None
) -> Source:
    """The :class:`Source` for ``path``."""
    kind = detect_format(path, fmt)
    if kind == "csv":
        return csv_source(path, encoding, delimiter)
    if kind == "parquet":
        return parquet_source(path)
    return jsonl_source(path, encoding)


def iter_sample(
    con: duckdb.DuckDBPyConnection, source: Source, header: str, n: int
) -> Iterator[str]:
    """Up to ``n`` non-blank values of one column, for format detection."""
    expr = source.field_sql(header)
    where = (
        "json_valid(_json) AND json_type(_json) = 'OBJECT' AND " if source.format == "jsonl" else ""
    )
    rows = con.sql(
        f"SELECT v FROM (SELECT trim({expr}) AS v FROM {source.relation} "
        f"WHERE {where}{expr} IS NOT NULL) WHERE v <> '' LIMIT {int(n)}"
    ).fetchall()
    for (value,) in rows:
        yield str(value)
