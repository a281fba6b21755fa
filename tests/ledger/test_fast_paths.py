"""The importer's fast paths give what the slower expressions they skip would give."""

from __future__ import annotations

from pathlib import Path

import duckdb

from tests.ledger.conftest import rows
from winback.ledger.contract import TABLES
from winback.ledger.fields import blank_as_null_sql, typed_sql
from winback.ledger.store import Ledger

# Every Unicode space separator (trim removes these), and look-alikes it keeps.
_ZS = [" ", "\u00a0", "\u1680", *(chr(c) for c in range(0x2000, 0x200B)), "\u202f", "\u205f"]
_ZS.append("\u3000")
_KEPT = ["\t", "\n", "\r", "\x0b", "\x0c", "\x00", "\x7f", "\u200b", "\ufeff", "\u2028"]
_WORDS = ["", "a", "!", "~", "~x", "é", "ab c", "日本", "\U0001f600", "a b"]


def _values() -> list[str | None]:
    values: list[str | None] = [None]
    for word in _WORDS:
        values.append(word)
        for pad in _ZS + _KEPT:
            values += [pad + word, word + pad, pad + word + pad, pad * 2 + word + pad * 3]
    return values


def test_cheap_trim_equals_nullif_trim() -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE t (i INTEGER, x VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?, ?)", list(enumerate(_values())))
    differ = con.sql(
        f"SELECT i, x FROM t WHERE ({blank_as_null_sql('x')}) IS DISTINCT FROM NULLIF(trim(x), '')"
    ).fetchall()
    assert differ == []
    assert con.sql("SELECT count(*) FROM t").fetchall()[0][0] > 1000


def test_padded_fields_are_trimmed_on_import(tmp_path: Path, ledger: Ledger, do_import) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(
        "order_id,customer_id,order_date,amount,channel\n"
        " 1 ,\u00a0a\u3000, 2024-01-05 ,\u2009 5.50 ,web\n"
        "2,b,2024-01-06,6,\u00a0\n"
        "3,\u00a0,2024-01-07,7,\tstore\t\n",
        encoding="utf-8",
    )

    result = do_import("orders", path)

    assert (result.stored, result.rejected) == (2, 1)
    assert rows(ledger, "SELECT order_id, customer_id, amount, channel FROM orders ORDER BY 1") == [
        ("1", "a", 5.5, "web"),
        ("2", "b", 6, None),
    ]


def test_category_fast_path_equals_the_normalizing_expression() -> None:
    con = duckdb.connect()
    checked = 0
    for table in TABLES.values():
        for column in table.columns:
            if column.kind != "category":
                continue
            values: list[str | None] = [None, "", "other", "x-y", " a b "]
            for v in column.values:
                values += [v, v.upper(), v.title(), v.replace("_", "-"), v.replace("_", " ")]
                values += [v + "x", v.replace("_", " - ")]
            con.execute("CREATE OR REPLACE TABLE t (i INTEGER, x VARCHAR)")
            con.executemany("INSERT INTO t VALUES (?, ?)", list(enumerate(values)))
            new = typed_sql(column, "x", None)
            old = "lower(regexp_replace(x, '[\\s-]+', '_', 'g'))"
            differ = con.sql(f"SELECT i, x FROM t WHERE ({new}) IS DISTINCT FROM {old}").fetchall()
            assert differ == [], (table.name, column.name)
            checked += 1
    assert checked >= 5
