"""Text cells made safe for a spreadsheet: CSV files that people open are not programs.

A spreadsheet runs a cell starting with ``=``, ``+``, ``-`` or ``@`` (and, in some, a tab
or carriage return) as a formula: a customer named ``=HYPERLINK("http://…")`` in a rejects
file or the ranked list would become a live link, or worse, on the manager's machine.
Following OWASP's advice on CSV injection, such a cell gets a leading single quote, which
the spreadsheet shows as text and does not run. A cell that is just a number (``-12.5``,
``+3``) is left alone: it is data, and quoting it would turn a number into text.
"""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_RISKY = r"^[=+\-@\t\r]"
_NUMBER = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"


def safe_cell(text: str) -> str:
    """``text`` as a spreadsheet shows it and never runs it."""
    if text.startswith(_TRIGGERS) and not re.match(_NUMBER, text):
        return "'" + text
    return text


def safe_table(table: pa.Table) -> pa.Table:
    """``table`` with :func:`safe_cell` applied to every text column (vectorised)."""
    for index, column_field in enumerate(table.schema):
        if not pa.types.is_string(column_field.type) and not pa.types.is_large_string(
            column_field.type
        ):
            continue
        column = table.column(index)
        risky = pc.and_(
            pc.match_substring_regex(column, _RISKY),
            pc.invert(pc.match_substring_regex(column, _NUMBER)),
        )
        quoted = pc.binary_join_element_wise("'", column, "")
        table = table.set_column(index, column_field, pc.if_else(risky, quoted, column))
    return table
