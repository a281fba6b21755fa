"""The one parser of numbers typed into desk forms."""

from __future__ import annotations

import pytest

from winback.desk.numbers import parse_number, require_number
from winback.errors import InvalidInput


@pytest.mark.parametrize(
    ("typed", "value"),
    [
        ("300", 300.0),
        ("1,000", 1000.0),
        ("$300", 300.0),
        ("300.50", 300.5),
        (" 25 % ", 25.0),
        ("12,345.67", 12345.67),
        ("€ 1,234,567", 1234567.0),
        (".5", 0.5),
        ("-3", -3.0),
        ("", None),
        ("   ", None),
    ],
)
def test_numbers_as_people_write_them(typed: str, value: float | None) -> None:
    assert parse_number(typed, "amount") == value


@pytest.mark.parametrize("typed", ["1,5", "1,50", "12,3456", "1,000,00"])
def test_a_decimal_comma_is_refused_as_ambiguous(typed: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_number(typed, "credit")
    message = str(refused.value)
    assert message.startswith(f"credit {typed!r}:")
    assert "1.5" in message
    assert "1,500" in message
    assert refused.value.field == "credit"


@pytest.mark.parametrize("typed", ["lots", "nan", "inf", "1e5", "1.2.3", "$", "%", "0x10", "١٢"])
def test_what_is_no_number_is_refused_naming_the_field(typed: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_number(typed, "min_value")
    assert str(refused.value).startswith("min_value ")
    assert "give a number" in str(refused.value)
    assert "could not convert" not in str(refused.value)


def test_a_required_number_must_be_there() -> None:
    with pytest.raises(InvalidInput, match="amount: give a number"):
        require_number("  ", "amount")
    assert require_number("1,000", "amount") == 1000.0
