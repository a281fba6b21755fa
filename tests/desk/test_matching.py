"""The matcher on its own: e-mail, order number, name (case, accents, typos), place."""

from __future__ import annotations

from winback.desk.matching import Customer, Directory, fold, split_author

PEOPLE = Directory(
    [
        Customer("c1", "Zoë Ärnström", "zoe@example.com", "West", "GB"),
        Customer("c2", "Ben Hart", "ben.hart@example.com", "East", "US"),
        Customer("c3", "Ben Hart", None, "East", "CA"),
        Customer("c4", "Omar Costa", "shared@example.com", "North", "US"),
        Customer("c5", "Pia Costa", "shared@example.com", "North", "US"),
    ]
)


def test_folding_drops_case_accents_and_punctuation() -> None:
    assert fold("  ZOË  Ärnström-Smith!") == "zoe arnstrom smith"
    assert split_author("Ben Hart (East, CA)") == ("Ben Hart", "East, CA")
    assert split_author("@benhart") == ("", "")


def test_an_email_is_certain_and_a_shared_one_is_not() -> None:
    found = PEOPLE.match("someone", "write to ZOE@example.com.")
    assert (found.customer_id, found.confidence, found.method) == ("c1", 1.0, "email")
    shared = PEOPLE.match("x", "I am shared@example.com")
    assert shared.customer_id is None
    assert shared.candidates == ("c4", "c5")


def test_a_name_typed_by_hand_still_matches() -> None:
    for typed in ("zoe arnstrom", "ZOË ÄRNSTRÖM", "Zoe Arnstrmo", "Arnström Zoë"):
        found = PEOPLE.match(typed, "late again")
        assert found.customer_id == "c1", typed
        assert found.confidence >= 0.85, typed
    assert PEOPLE.match("Somebody Else", "late").customer_id is None


def test_a_shared_name_needs_a_place_or_an_order() -> None:
    shared = PEOPLE.match("Ben Hart", "late again")
    assert shared.customer_id is None
    assert shared.candidates == ("c2", "c3")
    assert shared.confidence < 0.85
    placed = PEOPLE.match("Ben Hart, East, CA", "late again")
    assert (placed.customer_id, placed.method) == ("c3", "name and place")
    by_field = PEOPLE.match("Ben Hart", "late again", location="East US")
    assert by_field.customer_id == "c2"
    ordered = PEOPLE.match("Ben Hart", "order A-1001 late", orders={"A-1001": "c3"})
    assert (ordered.customer_id, ordered.confidence) == ("c3", 1.0)


def test_an_order_and_a_name_that_disagree_go_to_a_person() -> None:
    found = PEOPLE.match("Zoe Arnstrom", "order A-1001 late", orders={"A-1001": "c2"})
    assert found.customer_id is None
    assert set(found.candidates) == {"c1", "c2"}


def test_a_name_near_a_customers_but_made_of_real_names_goes_to_a_person() -> None:
    people = Directory(
        [
            Customer("m1", "Michael Fox", None, "West", "US"),
            Customer("m2", "Laura Cox", None, "East", "US"),
        ]
    )
    # "Michael Cox": one letter from Michael Fox, but Cox is a customer's surname too, so
    # it is likelier another Michael than a typo.
    like = people.match("Michael Cox", "late again")
    assert like.candidates == ("m1",)
    assert like.confidence < 0.85
    placed = people.match("Michael Cox, West, US", "late again")
    assert placed.confidence < 0.85
    # A typo that makes no customer's name still matches.
    typo = people.match("Michael Fxo", "late again")
    assert (typo.customer_id, typo.method) == ("m1", "name")
    assert typo.confidence >= 0.85
    assert people.match("Michael Fox", "late").confidence == 1.0
