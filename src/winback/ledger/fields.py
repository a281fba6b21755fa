"""Turning a field's text into its contract type, and saying what is wrong when it cannot.

Everything here builds DuckDB SQL, so that checks run inside the engine over millions of
rows. For each contract column the importer gets a typed expression and a *problem*
expression that is NULL when the value is fine and otherwise a sentence naming the field,
the value and what was expected.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta

from winback.errors import ImportFileError
from winback.ledger.contract import DATE_RANGE, Column
from winback.ledger.sources import quote_literal

ISO = "iso"
# Formats tried, in order, when a file does not say; day-first and month-first are both
# tried and a file where both fit every sampled value is refused as ambiguous.
DATE_FORMATS = (ISO, "%Y%m%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%Y/%m/%d", "%d-%m-%Y")
TIMESTAMP_FORMATS = (
    ISO,
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M:%S",
)
_SHOWN = {
    ISO: "YYYY-MM-DD",
    "%Y%m%d": "YYYYMMDD",
    "%d/%m/%Y": "DD/MM/YYYY",
    "%m/%d/%Y": "MM/DD/YYYY",
    "%d.%m.%Y": "DD.MM.YYYY",
    "%Y/%m/%d": "YYYY/MM/DD",
    "%d-%m-%Y": "DD-MM-YYYY",
}
_ISO_PREFIX = r"^\d{4}-\d{1,2}-\d{1,2}"
_TZ_SUFFIX = r"\s*(Z|UTC|[+-]\d{2}:?\d{2})$"


def shown(fmt: str) -> str:
    """A date format as a person writes it."""
    return _SHOWN.get(fmt, fmt)


def _parses(value: str, fmt: str, kind: str) -> bool:
    text = value.strip()
    if fmt == ISO:
        # Python also takes the basic form 20240105 as ISO; DuckDB's cast does not.
        if not re.match(_ISO_PREFIX, text):
            return False
        text = re.sub(_TZ_SUFFIX, "", text).replace("T", " ")
        if kind == "date" and re.match(_ISO_PREFIX + r"[ ]", text):
            text = text[:10]
        try:
            datetime.fromisoformat(text)
        except ValueError:
            return False
        return True
    try:
        datetime.strptime(text, fmt)
    except ValueError:
        return False
    return True


def detect_format(column: Column, header: str, values: Iterable[str], file: str) -> str:
    """The format that reads the most sampled values of a date or timestamp column."""
    sample = list(values)
    if not sample:
        return ISO
    candidates = DATE_FORMATS if column.kind == "date" else TIMESTAMP_FORMATS
    scores = {fmt: sum(_parses(v, fmt, column.kind) for v in sample) for fmt in candidates}
    best = max(scores.values())
    if best == 0:
        example = sample[0]
        raise ImportFileError(
            f"{file}: column {header!r} ({column.name}) holds values like {example!r} that are "
            "not dates in any format winback knows; set the format in a mapping file "
            f'([formats] {column.name} = "%d/%m/%Y", a Python strptime format)'
        )
    winners = [fmt for fmt in candidates if scores[fmt] == best]
    if {"%d/%m/%Y", "%m/%d/%Y"} <= set(winners) or {"%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M"} <= set(
        winners
    ):
        raise ImportFileError(
            f"{file}: column {header!r} ({column.name}) could be day-first or month-first "
            f"(e.g. {sample[0]!r}); say which in a mapping file "
            f'([formats] {column.name} = "%d/%m/%Y" or "%m/%d/%Y")'
        )
    return winners[0]


def _describe(column: Column, fmt: str | None) -> str:
    kind = column.kind
    if kind == "date":
        return f"is not a date (expected {shown(fmt or ISO)})"
    if kind == "timestamp":
        expected = "YYYY-MM-DD HH:MM:SS" if (fmt or ISO) == ISO else fmt
        return f"is not a date and time (expected {expected})"
    if kind == "money":
        return "is not an amount of money (expected a number like 1234.50)"
    if kind == "integer":
        return "is not a whole number"
    if kind == "number":
        return "is not a number"
    if kind == "boolean":
        return "is not true or false (expected true/false, yes/no, 1/0)"
    return "is not valid"


def blank_as_null_sql(text: str) -> str:
    """SQL equal to ``NULLIF(trim(text), '')`` for a text column reference ``text``, cheaper.

    DuckDB's ``trim`` removes Unicode space separators (category Zs) from both ends and
    copies every value. Nearly all values have nothing to trim: a value that is ASCII only
    (as many bytes as characters), whose first byte is above the space (so it is not blank
    and does not start with a space) and that does not end with a space is kept as it is;
    anything else (NULL included) goes through ``trim`` as before.
    """
    return (
        f"CASE WHEN {text} >= '!' AND NOT ends_with({text}, ' ') "
        f"AND strlen({text}) = length({text}) THEN {text} ELSE NULLIF(trim({text}), '') END"
    )


def typed_sql(column: Column, raw: str, fmt: str | None) -> str:
    """SQL turning the text expression ``raw`` (already trimmed, blank as NULL) into the type."""
    kind = column.kind
    if kind in ("id", "text"):
        return raw
    if kind == "category":
        normalized = f"lower(regexp_replace({raw}, '[\\s-]+', '_', 'g'))"
        # A value already written as the contract writes it (nearly all) is its own
        # normal form: skip the regular expression for it.
        plain = [v for v in column.values if re.fullmatch(r"[a-z0-9_]+", v)]
        if not plain:
            return normalized
        listed = ", ".join(quote_literal(v) for v in plain)
        return f"CASE WHEN {raw} IN ({listed}) THEN {raw} ELSE {normalized} END"
    if kind == "date":
        if fmt in (None, ISO):
            # A timestamp in a date column keeps its own (local) date: cut, do not convert.
            return (
                f"TRY_CAST(CASE WHEN length({raw}) > 10 AND regexp_matches({raw}, "
                f"'{_ISO_PREFIX}[ T]') THEN left({raw}, 10) ELSE {raw} END AS DATE)"
            )
        return f"CAST(TRY_STRPTIME({raw}, {quote_literal(fmt)}) AS DATE)"
    if kind == "timestamp":
        if fmt in (None, ISO):
            return f"TRY_CAST(regexp_replace({raw}, '{_TZ_SUFFIX}', '') AS TIMESTAMP)"
        return f"TRY_STRPTIME({raw}, {quote_literal(fmt)})"
    if kind == "money":
        thousands = r"'[^0-9]*-?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]*)?'"
        cleaned = (
            f"regexp_replace(CASE WHEN regexp_full_match({raw}, {thousands}) "
            f"THEN replace({raw}, ',', '') ELSE {raw} END, '[\\s$€£¥]', '', 'g')"
        )
        return f"COALESCE(TRY_CAST({raw} AS DECIMAL(18,2)), TRY_CAST({cleaned} AS DECIMAL(18,2)))"
    if kind == "integer":
        return f"TRY_CAST({raw} AS BIGINT)"
    if kind == "number":
        return f"TRY_CAST({raw} AS DOUBLE)"
    if kind == "boolean":
        return f"TRY_CAST({raw} AS BOOLEAN)"
    raise AssertionError(kind)


def problem_sql(column: Column, raw: str, typed: str, fmt: str | None) -> tuple[str, str] | None:
    """``(condition, sentence)``: SQL true when the value is bad, and SQL saying what is
    wrong with it (NULL for a good value); None when the column has nothing to check.

    The importer tests the cheap conditions on every record and builds sentences only for
    the records that fail one.
    """
    name = column.name
    shown_value = f"'''' || left({raw}, 60) || ''''"
    cases: list[tuple[str, str]] = []
    if column.required:
        cases.append((f"{raw} IS NULL", f"'{name} is missing'"))
    if column.kind not in ("id", "text", "category"):
        cases.append(
            (
                f"({raw} IS NOT NULL AND {typed} IS NULL)",
                f"'{name} ' || {shown_value} || ' {_describe(column, fmt)}'",
            )
        )
    if column.kind == "category" and column.values:
        allowed = ", ".join(quote_literal(v) for v in column.values)
        cases.append(
            (
                f"({typed} IS NOT NULL AND {typed} NOT IN ({allowed}))",
                f"'{name} ' || {shown_value} || ' is not one of: {', '.join(column.values)}'",
            )
        )
    if column.kind in ("date", "timestamp"):
        first, last = (d.isoformat() for d in DATE_RANGE)
        after = (DATE_RANGE[1] + timedelta(days=1)).isoformat()
        cases.append(
            (
                f"coalesce({typed} < DATE '{first}' OR {typed} >= DATE '{after}', false)",
                f"'{name} ' || {shown_value} || ' is outside {first} to {last} "
                "(a placeholder or a typo): correct the date'",
            )
        )
    if column.minimum is not None:
        what = "negative" if column.minimum == 0 else f"below {column.minimum:g}"
        cases.append(
            (
                f"coalesce({typed} < {column.minimum}, false)",
                f"'{name} ' || {shown_value} || ' is {what}'",
            )
        )
    if column.maximum is not None:
        cases.append(
            (
                f"coalesce({typed} > {column.maximum}, false)",
                f"'{name} ' || {shown_value} || ' is above {column.maximum:g}'",
            )
        )
    if not cases:
        return None
    condition = " OR ".join(c for c, _ in cases)
    sentence = "CASE " + " ".join(f"WHEN {c} THEN {m}" for c, m in cases) + " END"
    return condition, sentence
