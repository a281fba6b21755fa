"""docs/data-contract.md, rendered from the contract in code so the two cannot drift."""

from __future__ import annotations

from winback.ledger.contract import DATE_RANGE, SQL_TYPES, TABLES, Table

_INTRO = """\
# The data contract

The tables a business hands winback. This page is generated from
`src/winback/ledger/contract.py` by `winback contract --markdown`; a test fails when the two
differ, so edit the code, not this page.

Import a file with `winback import TABLE FILE` (see [import.md](import.md)). Headers are
matched to the column names below, or to any of the names listed under *also accepted*,
ignoring case, spaces and punctuation; a mapping file overrides the match. A *key* is the
natural key: re-importing a record with a stored key stores nothing new when the values
are the same, and stores a new version when they differ.

## Kinds

| kind | stored as | accepted text |
|---|---|---|
| id | VARCHAR | any non-blank text; surrounding spaces trimmed |
| text | VARCHAR | anything; blank is missing |
| category | VARCHAR | one of the listed values, case-insensitive, spaces or hyphens read as `_` |
| date | DATE | `YYYY-MM-DD`, or the format detected from the file (`YYYYMMDD`, `DD/MM/YYYY`, `MM/DD/YYYY`, `DD.MM.YYYY`, `YYYY/MM/DD`, `DD-MM-YYYY`) or set in a mapping file; a date-time keeps its own date; from {first} to {last} |
| timestamp | TIMESTAMP | `YYYY-MM-DD HH:MM:SS` (a `T` and a time-zone suffix are accepted; the local time is kept); a bare date is midnight; from {first} to {last} |
| money | DECIMAL(18,2) | a decimal number (`1234.50`); a leading currency symbol and `1,234.50`-style thousands separators are accepted; rounded to cents |
| integer | BIGINT | a whole number |
| number | DOUBLE | a decimal number |
| boolean | BOOLEAN | true/false, t/f, yes/no, y/n, 1/0 |

A date outside {first} to {last} (a placeholder such as `0000-01-01` or `9999-12-31`, or
a typo) is rejected with its line: no business has orders there, and one such value would
distort every customer's history.
""".format(first=DATE_RANGE[0].isoformat(), last=DATE_RANGE[1].isoformat())


def _table_section(table: Table) -> str:
    lines = [
        f"## {table.name}",
        "",
        table.description,
        "",
        f"**Key:** {', '.join(f'`{k}`' for k in table.key)}. **Used for:** {table.used_for}",
        "",
    ]
    if table.synonyms:
        lines += [f"Also accepted as a table name: {', '.join(table.synonyms)}.", ""]
    lines += [
        "| column | kind | required | meaning | also accepted |",
        "|---|---|---|---|---|",
    ]
    for col in table.columns:
        meaning = col.description
        if col.values:
            meaning += " One of: " + ", ".join(f"`{v}`" for v in col.values) + "."
        if col.minimum is not None and col.maximum is not None:
            meaning += f" From {col.minimum:g} to {col.maximum:g}."
        elif col.minimum is not None:
            meaning += f" At least {col.minimum:g}."
        assert col.kind in SQL_TYPES
        lines.append(
            f"| `{col.name}` | {col.kind} | {'yes' if col.required else ''} | {meaning} | "
            f"{', '.join(col.synonyms)} |"
        )
    return "\n".join(lines) + "\n"


def render_markdown() -> str:
    """The whole of docs/data-contract.md."""
    return _INTRO + "\n" + "\n".join(_table_section(t) for t in TABLES.values())
