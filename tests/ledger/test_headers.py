"""Matching headers to the contract, and the mapping file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ledger.conftest import rows
from winback.errors import ImportFileError, MappingError
from winback.ledger.contract import TABLES
from winback.ledger.headers import load_mapping, match_headers, normalise
from winback.ledger.store import Ledger


@pytest.mark.parametrize(
    ("header", "expected"),
    [("\ufeffOrder Date ", "order_date"), ("ORDER-DATE", "order_date"), ("Cust.No", "cust_no")],
)
def test_headers_are_compared_without_case_space_or_punctuation(header: str, expected: str) -> None:
    assert normalise(header) == expected


def test_synonyms_match_and_unknown_headers_are_reported(tmp_path: Path) -> None:
    match = match_headers(
        ["Transaction ID", "Cust_ID", "Purchase Date", "Revenue", "Colour"],
        TABLES["orders"],
        None,
        tmp_path / "f.csv",
    )
    assert match.matched == {"order_id": 0, "customer_id": 1, "order_date": 2, "amount": 3}
    assert match.ignored == ("Colour",)


def test_missing_required_column_names_it_and_its_synonyms(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError) as info:
        match_headers(
            ["order_id", "customer_id", "amount"], TABLES["orders"], None, tmp_path / "f.csv"
        )
    message = str(info.value)
    assert "order_date (also accepted: date, ordered_at" in message
    assert "--mapping" in message


def test_mapping_file_overrides_headers_formats_and_defaults(
    tmp_path: Path, ledger: Ledger, do_import
) -> None:
    mapping = tmp_path / "map.toml"
    mapping.write_text(
        '[columns]\n"Ref" = "order_id"\n"Who" = "customer_id"\n"When" = "order_date"\n'
        '"Paid" = "amount"\n"Note" = "-"\n'
        '[formats]\norder_date = "%d.%m.%y"\n[defaults]\ncurrency = "EUR"\n'
    )
    data = tmp_path / "export.csv"
    data.write_text("Ref;Who;When;Paid;Note\nR1;k1;05.03.24;€12,50;x\nR2;k2;06.03.24;7;y\n")

    result = do_import("orders", data, mapping_path=mapping)

    # "€12,50" uses a decimal comma: not accepted as money, and said so.
    assert (result.stored, result.rejected) == (1, 1)
    assert "amount '€12,50' is not an amount of money" in result.rejects[0].reason
    assert result.ignored_columns == ("Note",)
    assert rows(ledger, "SELECT order_id, CAST(order_date AS VARCHAR), currency FROM orders") == [
        ("R2", "2024-03-06", "EUR")
    ]


def test_mapping_to_an_unknown_column_is_refused(tmp_path: Path) -> None:
    mapping = tmp_path / "map.toml"
    mapping.write_text('[columns]\n"X" = "order_total"\n')
    with pytest.raises(MappingError, match="'order_total', which is not a column of orders"):
        load_mapping(mapping, TABLES["orders"])


def test_two_headers_for_one_column_must_be_resolved(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match=r"both match orders\.amount"):
        match_headers(
            ["order_id", "customer_id", "date", "total", "revenue"],
            TABLES["orders"],
            None,
            tmp_path / "f.csv",
        )
