"""A stand-in for the ``money`` filter (currency formatting) until the page-look work
brings the desk's own: an amount with its currency sign and thousands separators."""

from __future__ import annotations

CURRENCY_SIGN = "$"


def money(value: float | None) -> str:
    """``1234.5`` as "$1,235"; nothing known as "–"; a negative amount as "-$20"."""
    if value is None:
        return "–"
    sign = "-" if value < 0 else ""
    return f"{sign}{CURRENCY_SIGN}{abs(value):,.0f}"
