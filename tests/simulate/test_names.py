"""Customers' names: as diverse as a real base's, drawn on a stream of their own."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa
import pytest

from winback.simulate import world
from winback.simulate.names import draw_people, name_pool
from winback.simulate.settings import settings_for


def test_names_have_a_few_common_ones_and_a_long_tail() -> None:
    names = draw_people(20_000, np.random.default_rng(5)).to_pylist()
    counts = Counter(names)
    shared = sum(c for c in counts.values() if c > 1) / len(names)
    # A real base of 20,000 has a few per cent of people sharing their full name with
    # another (the old 34 x 30 lists gave 100%); none is shared by dozens.
    assert 0.01 < shared < 0.08
    assert max(counts.values()) < 20
    surnames = Counter(n.split()[-1] for n in names)
    firsts = Counter(n.split()[0] for n in names)
    # Skewed like real ones: Smith is about one in a hundred, most surnames are rare.
    assert surnames.most_common(1)[0][0] == "Smith"
    assert 0.004 < surnames["Smith"] / len(names) < 0.015
    assert len(surnames) > 5_000
    assert len(firsts) > 2_000
    once = sum(1 for c in surnames.values() if c == 1)
    assert once > len(surnames) / 2


def test_the_pools_shares_sum_to_one_and_every_name_is_one_word() -> None:
    for kind in ("first", "last"):
        pool = name_pool(kind)
        assert pool.shares.sum() == pytest.approx(1.0)
        assert len(set(pool.names)) == len(pool.names)
        assert all(n and " " not in n for n in pool.names)
        # The head is ordered by Faker's shares, not by rank: its largest is a real
        # common name and the tail's are all equal and smaller.
        assert pool.shares[-1] < pool.shares.max() / 50


def test_names_draw_from_their_own_stream_so_every_other_column_is_unchanged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = settings_for("retail", customers=400, months=12, seed=9)
    before = world.generate(settings)

    def other_names(n: int, rng: np.random.Generator) -> pa.Array:
        rng.random(3 * n)  # draws differently from the real one
        return pa.array([f"Someone Else{i}" for i in range(n)])

    monkeypatch.setattr(world, "draw_people", other_names)
    after = world.generate(settings)
    assert after["customers"]["name"].to_pylist()[0] == "Someone Else0"
    for table, rows in before.items():
        kept = [
            c for c in rows.column_names if not (table == "customers" and c in ("name", "email"))
        ]
        assert after[table].select(kept).equals(rows.select(kept)), table
    # E-mail addresses follow the names, the rest of the address is as before.
    old = before["customers"]["email"].to_pylist()
    new = after["customers"]["email"].to_pylist()
    assert [o is None for o in old] == [n is None for n in new]
    assert all(n.startswith("someone.else") for n in new if n)


def test_email_addresses_drop_accents() -> None:
    from winback.simulate.names import emails

    got = emails(pa.array(["Jürgen Müller", "Şükrü Öztürk"]), pa.array(["c1", "c2"]), "x.test")
    assert got.to_pylist() == ["jurgen.muller.c1@x.test", "sukru.ozturk.c2@x.test"]
