"""Records not stored: finding where they stand in the file and saying why.

Three kinds of reject reach here: lines DuckDB's reader could not split (too many or too
few fields, bytes that are not UTF-8), records with a bad field (from the importer's
checks), and records that contradict an earlier record of the same file.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from winback.ledger.cells import safe_cell
from winback.ledger.contract import Table
from winback.ledger.lines import locate_lines
from winback.ledger.sources import Source

_STRUCTURAL = {
    "TOO MANY COLUMNS": "the line has more fields than the header ({detail}); a field "
    "holding the delimiter must be in quotes",
    "MISSING COLUMNS": "the line has fewer fields than the header ({detail})",
    "INVALID ENCODING": "the line holds bytes that are not UTF-8; if the whole file is in "
    "another encoding, import it with --encoding latin-1 (or its encoding)",
    "UNQUOTED VALUE": "a quote character stands inside an unquoted field ({detail})",
    "LINE SIZE OVER MAXIMUM": "the line is longer than 10 MB",
    "MAXIMUM LINE SIZE": "the line is longer than 10 MB",
}


@dataclass(frozen=True)
class Reject:
    """One record not stored, and why."""

    place: str  # "line 12", "row 4"
    field: str  # the contract field(s) at fault; blank when the whole record is
    reason: str
    record: str = ""


def structural_rejects(
    con: duckdb.DuckDBPyConnection, *, skip_cast: bool = False
) -> dict[int, tuple[str, str]]:
    """Lines DuckDB's reader could not split, by line number: (reason, the line as read);
    ``skip_cast``: leave out fields a typed read could not convert (the line split)."""
    where = "WHERE error_type <> 'CAST' " if skip_cast else ""
    try:
        rows = con.sql(
            "SELECT line, error_type, any_value(csv_line), count(*), "
            "max(column_idx), any_value(error_message) "
            f"FROM reject_errors {where}GROUP BY line, error_type ORDER BY line"
        ).fetchall()
    except duckdb.CatalogException:
        return {}
    found: dict[int, tuple[str, str]] = {}
    for line, error_type, text, _count, _col, message in rows:
        template = _STRUCTURAL.get(str(error_type), "{detail}")
        detail = str(message).split("\n")[0]
        detail = detail.replace("Expected Number of Columns: ", "expected ").replace(
            " Found: ", " fields, found "
        )
        if int(line) not in found:
            found[int(line)] = (template.format(detail=detail), str(text or "").strip("\r\n"))
    return found


def describe_rejects(
    source: Source,
    structural: dict[int, tuple[str, str]],
    bad: list[tuple[int, list[str]]],
    conflicts: list[tuple[int, int]],
    key: tuple[str, ...],
    known: dict[int, tuple[int, str]] | None = None,
) -> list[Reject]:
    """The rejects in file order; ``known``: the places of some ordinals found already
    (line, record), the others are looked for in the file."""
    known = known or {}
    ordinals = [o for o, _ in bad] + [o for o, _ in conflicts] + [f for _, f in conflicts]
    places = dict(known)
    places.update(locate_lines(source, [o for o in ordinals if o not in known], set(structural)))
    word = "row" if source.place == "row" else "line"

    def where(ordinal: int) -> tuple[int, str, str]:
        found = places.get(ordinal)
        if found is None:
            return (1 << 62) + ordinal, f"record {ordinal + 1}", ""
        return found[0], f"{word} {found[0]}", found[1]

    entries: list[tuple[int, Reject]] = []
    for line, (reason, text) in structural.items():
        entries.append((line, Reject(f"line {line}", "", reason, text)))
    for ordinal, problems in bad:
        sort_key, place, text = where(ordinal)
        problems = list(problems)
        # A field's problem sentence starts with the field's name.
        names = sorted({p.split(" ", 1)[0] for p in problems if not p.startswith("line ")})
        entries.append((sort_key, Reject(place, ", ".join(names), "; ".join(problems), text)))
    for ordinal, first in conflicts:
        sort_key, place, text = where(ordinal)
        _, first_place, _ = where(first)
        entries.append(
            (
                sort_key,
                Reject(
                    place,
                    ", ".join(key),
                    f"same key as {first_place} but different values; the file contradicts "
                    "itself, so neither is guessed right: fix one and import again",
                    text,
                ),
            )
        )
    entries.sort(key=lambda e: e[0])
    return [r for _, r in entries]


def write_rejects(rejects_dir: Path, table: Table, source: Source, rejects: list[Reject]) -> Path:
    rejects_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = rejects_dir / f"{table.name}-{stamp}-{source.path.name}.rejects.csv"
    n = 1
    while path.exists():
        n += 1
        path = rejects_dir / f"{table.name}-{stamp}-{n}-{source.path.name}.rejects.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "place", "field", "reason", "record"])
        for r in rejects:
            cells = (str(source.path), r.place, r.field, r.reason, r.record)
            writer.writerow([safe_cell(c) for c in cells])
    return path
