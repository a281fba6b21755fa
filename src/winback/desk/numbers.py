"""Numbers as people type them into a form: "1,000", "$300", "300.50", " 25 % ".

One parser for every number a desk form takes (amounts, limits, filter values), so each
form accepts the same spellings and refuses the same ambiguous ones with the same words.
A comma is read only as a thousands separator (groups of three digits); "1,5" could be
one and a half or fifteen, so it is refused with a message saying how to write either.
"""

from __future__ import annotations

import re

from winback.errors import InvalidInput

# Currency marks and the percent sign a person may put around a number; the field itself
# says what the number counts, so they are dropped, never converted.
_MARKS = "$€£¥%"
_PLAIN = re.compile(r"^[+-]?(?:\d+(?:\.\d+)?|\.\d+)$", re.ASCII)
_GROUPED = re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$", re.ASCII)
_EXAMPLE = "e.g. 300, 1,000 or 12.50"


def parse_number(text: str | None, field: str) -> float | None:
    """``text`` as a number, None when blank; InvalidInput naming ``field`` otherwise.

    Spaces, a currency mark and a percent sign are dropped; commas must group thousands
    (``1,000``, ``12,345.67``); a decimal comma (``1,5``) is refused as ambiguous.
    """
    if text is None:
        return None
    raw = str(text)
    shown = raw.strip()
    cleaned = "".join(ch for ch in shown if not ch.isspace() and ch not in _MARKS)
    if not cleaned:
        if shown:
            raise InvalidInput(f"{field} {shown!r}: give a number, {_EXAMPLE}", field=field)
        return None
    if _PLAIN.match(cleaned):
        return float(cleaned)
    if _GROUPED.match(cleaned):
        return float(cleaned.replace(",", ""))
    if "," in cleaned and re.fullmatch(r"[+-]?[\d,]*\d(?:\.\d+)?", cleaned, re.ASCII):
        raise InvalidInput(
            f"{field} {shown!r}: is the comma a decimal point or a thousands separator? "
            "Write decimals with a point (1.5) and thousands in groups of three (1,500)",
            field=field,
        )
    raise InvalidInput(f"{field} {shown!r}: give a number, {_EXAMPLE}", field=field)


def require_number(text: str | None, field: str) -> float:
    """:func:`parse_number` for a field that must be filled in."""
    value = parse_number(text, field)
    if value is None:
        raise InvalidInput(f"{field}: give a number, {_EXAMPLE}", field=field)
    return value
