"""The call's offer suggestion fits what the customer bought (the scan's sweet spot)."""

from __future__ import annotations

from winback.desk.calls import suggested_offer
from winback.desk.models import OFFER_KINDS


def test_a_line_that_drives_buyers_away_gets_a_guarantee_first() -> None:
    spot = {"risk_driver_line": "Shoes", "stopped_line": "Toys", "top_lines": ["Home"]}
    kind, text = suggested_offer(spot) or ("", "")
    assert kind == "guarantee"
    assert text.startswith("A guarantee on Shoes")


def test_a_line_they_stopped_buying_gets_a_discount_with_their_usual_basket() -> None:
    spot = {"stopped_line": "Filters", "top_lines": ["Coffee beans"], "usual_basket": 42.0}
    assert suggested_offer(spot) == (
        "coupon",
        "A discount on Filters, which they stopped buying (their usual basket is 42.00).",
    )


def test_else_their_favourite_line_and_nothing_without_a_sweet_spot() -> None:
    assert suggested_offer({"top_lines": ["Coffee beans"], "usual_basket": None}) == (
        "coupon",
        "A discount on their next order of Coffee beans.",
    )
    assert suggested_offer({"top_lines": [], "stopped_line": None}) is None
    assert suggested_offer(None) is None


def test_every_suggested_kind_is_an_offer_kind_a_call_accepts() -> None:
    for spot in ({"risk_driver_line": "X"}, {"stopped_line": "X"}, {"top_lines": ["X"]}):
        suggestion = suggested_offer(spot)
        assert suggestion is not None
        assert suggestion[0] in OFFER_KINDS
