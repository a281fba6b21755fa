"""Matching a file's column headers to the data contract, and the mapping file that overrides it.

A mapping file is TOML::

    # orders-mapping.toml
    [columns]              # file header = contract column ("" or "-" skips a file column)
    "Cust No" = "customer_id"
    "Order Total (USD)" = "amount"
    "Internal note" = "-"

    [formats]              # strptime formats, for date and timestamp columns
    order_date = "%d/%m/%Y"

    [defaults]             # a constant for a contract column the file lacks
    currency = "EUR"

Headers are matched case-insensitively, ignoring surrounding spaces, a byte-order mark and
punctuation (``Order-Date``, ``order date`` and ``ORDER_DATE`` are the same), against each
column's name and its synonyms.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from winback.errors import ImportFileError, MappingError
from winback.ledger.contract import Table

_SKIP = ("", "-")


def normalise(header: str) -> str:
    """The form under which headers and synonyms are compared."""
    text = header.replace("\ufeff", "").strip()
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", text).lower()  # OrderID -> order_id
    return re.sub(r"[^0-9a-z]+", "_", text).strip("_")


@dataclass(frozen=True)
class Mapping:
    """An explicit mapping from a file's headers to contract columns."""

    columns: dict[str, str] = field(default_factory=dict)
    formats: dict[str, str] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=dict)
    source: str = "mapping"


def load_mapping(path: Path, table: Table) -> Mapping:
    """Read and check a mapping file against ``table``."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MappingError(f"{path}: mapping file not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise MappingError(f"{path}: not a valid TOML file ({exc})") from None
    unknown_sections = set(data) - {"columns", "formats", "defaults"}
    if unknown_sections:
        raise MappingError(
            f"{path}: unknown section(s) {sorted(unknown_sections)}; "
            "a mapping file has [columns], [formats] and [defaults]"
        )
    mapping = Mapping(
        columns={str(k): str(v) for k, v in data.get("columns", {}).items()},
        formats={str(k): str(v) for k, v in data.get("formats", {}).items()},
        defaults={str(k): str(v) for k, v in data.get("defaults", {}).items()},
        source=str(path),
    )
    known = set(table.column_names)
    for header, target in mapping.columns.items():
        if target not in _SKIP and target not in known:
            raise MappingError(
                f"{path}: [columns] maps {header!r} to {target!r}, which is not a column of "
                f"{table.name}; its columns are {', '.join(table.column_names)}"
            )
    for section in ("formats", "defaults"):
        for name in getattr(mapping, section):
            if name not in known:
                raise MappingError(
                    f"{path}: [{section}] names {name!r}, which is not a column of {table.name}"
                )
    return mapping


@dataclass(frozen=True)
class HeaderMatch:
    """How each file column maps to the contract."""

    matched: dict[str, int]  # contract column -> index of the file column
    ignored: tuple[str, ...]  # file headers that map to nothing


def match_headers(
    headers: list[str], table: Table, mapping: Mapping | None, file: Path
) -> HeaderMatch:
    """Map file ``headers`` to ``table``'s columns; raise when a required column is absent."""
    mapping = mapping or Mapping()
    explicit = {normalise(h): t for h, t in mapping.columns.items()}
    lookup: dict[str, str] = {}
    for col in table.columns:
        for name in (*col.synonyms, col.name):  # a column's own name wins over a synonym
            lookup[normalise(name)] = col.name
    matched: dict[str, int] = {}
    ignored: list[str] = []
    for index, header in enumerate(headers):
        key = normalise(header)
        target = explicit[key] if key in explicit else lookup.get(key)
        if target in _SKIP or target is None:
            ignored.append(header)
            continue
        if target in matched:
            first = headers[matched[target]]
            raise ImportFileError(
                f"{file}: columns {first!r} and {header!r} both match {table.name}.{target}; "
                "say which one to use in a mapping file ([columns] "
                f'"{header}" = "-" skips one)'
            )
        matched[target] = index
    missing = [c for c in table.required if c not in matched and c not in mapping.defaults]
    if missing:
        hints = []
        for name in missing:
            col = table.column(name)
            also = f" (also accepted: {', '.join(col.synonyms)})" if col.synonyms else ""
            hints.append(f"{name}{also}")
        raise ImportFileError(
            f"{file}: no column for required {table.name} field(s): {'; '.join(hints)}. "
            f"The file's headers are: {', '.join(repr(h) for h in headers)}. "
            'Rename the headers or map them with --mapping FILE.toml ([columns] "Header" = '
            '"field").'
        )
    return HeaderMatch(matched=matched, ignored=tuple(ignored))
