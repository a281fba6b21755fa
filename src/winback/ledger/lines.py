"""Finding the line of the file on which a record starts.

DuckDB reads a file in parallel and keeps its records in order, but does not say on which
line each good record stood; it does say so for the lines it rejects. A record rejected
later (a negative amount, say) is known by its ordinal among the records DuckDB kept. This
module walks the file once, the way DuckDB splits it (blank lines skipped, quoted fields
may hold line breaks), skipping the lines DuckDB rejected, and so maps ordinals to line
numbers. It runs only when a file has such rejects, and stops at the last one wanted.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterable

from winback.ledger.sources import Source, open_text


def locate_lines(
    source: Source, ordinals: Iterable[int], skipped: set[int]
) -> dict[int, tuple[int, str]]:
    """Map record ordinals (0-based) to (1-based start line, the record's text).

    ``skipped`` holds the lines of records the reader rejected, which have no ordinal.
    """
    wanted = set(ordinals)
    if not wanted:
        return {}
    if source.place == "row":
        return {o: (o + 1, "") for o in wanted}
    if source.place == "given":
        return {o: (o, "") for o in wanted}
    last = max(wanted)
    found: dict[int, tuple[int, str]] = {}
    with open_text(source.path, source.encoding) as handle:
        if source.format == "jsonl":
            records = _json_records(handle)
        else:
            records = _csv_records(handle, source.delimiter, source.quotechar)
        ordinal = -1
        first = True
        for start, blank, text in records:
            if blank or start in skipped:
                continue
            if first and source.has_header:
                first = False
                continue
            first = False
            ordinal += 1
            if ordinal in wanted:
                found[ordinal] = (start, text)
            if ordinal >= last:
                break
    return found


def record_text(line: str, delimiter: str, quotechar: str) -> str:
    """One CSV line as the rejects show its record (fields joined by the delimiter)."""
    return next(iter(_csv_records([line], delimiter, quotechar)))[2]


def _csv_records(
    handle: Iterable[str], delimiter: str, quotechar: str
) -> Iterable[tuple[int, bool, str]]:
    # DuckDB reads lines up to 10 MB; the csv module stops at fields over 128 kB.
    csv.field_size_limit(max(csv.field_size_limit(), sys.maxsize >> 1))
    reader = csv.reader(handle, delimiter=delimiter, quotechar=quotechar, strict=False)
    previous = 0
    for row in reader:
        start = previous + 1
        previous = reader.line_num
        yield start, not row or (len(row) == 1 and row[0] == ""), delimiter.join(row)


def _json_records(handle: Iterable[str]) -> Iterable[tuple[int, bool, str]]:
    for number, line in enumerate(handle, start=1):
        text = line.strip("\r\n")
        yield number, text == "", text
