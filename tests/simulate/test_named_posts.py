"""Named public posts: their truth is who wrote each, on a stream of their own."""

from __future__ import annotations

import pyarrow as pa
from rapidfuzz import fuzz, process

from tests.simulate.simworld import Sim
from winback.desk.matching import fold
from winback.simulate.names import name_pool
from winback.simulate.posts import named_posts


def _posts(world: Sim, seed: int = 3, n: int = 600) -> pa.Table:
    settings, tables = world
    return named_posts(
        tables["customers"], tables["orders"], business_name=settings.business_name, n=n, seed=seed
    )


def test_each_post_names_its_author_as_typed_and_strangers_have_no_customer(
    retail_world: Sim,
) -> None:
    posts = _posts(retail_world).to_pylist()
    names = {r["customer_id"]: r["name"] for r in retail_world[1]["customers"].to_pylist()}
    strangers = [p for p in posts if p["customer_id"] is None]
    assert 0.05 < len(strangers) / len(posts) < 0.15
    # Strangers' names are drawn as customers' are: a first name and a surname of the
    # pools, but for a typo.
    firsts = sorted({fold(s) for s in name_pool("first").names})
    lasts = sorted({fold(s) for s in name_pool("last").names})
    for p in strangers:
        words = fold(p["author"]).split()
        assert process.extractOne(words[0], firsts, scorer=fuzz.ratio, score_cutoff=75), p
        assert process.extractOne(words[-1], lasts, scorer=fuzz.ratio, score_cutoff=75), p
    for p in posts:
        if p["customer_id"] is None:
            continue
        typed = fold(p["author"].split(",")[0])
        # Folded, the typed name is the customer's but for at most one typo.
        assert fuzz.ratio(typed, fold(names[p["customer_id"]])) >= 80, p
    hows = {h for p in posts for h in p["perturbation"].split("+")}
    assert {"accent", "typo", "lower case", "upper case", "as written"} <= hows
    with_place = [p for p in posts if p["location"]]
    assert 0.4 < len(with_place) / len(posts) < 0.7


def test_the_same_seed_draws_the_same_posts_and_another_seed_others(retail_world: Sim) -> None:
    assert _posts(retail_world).equals(_posts(retail_world))
    assert not _posts(retail_world, seed=4).equals(_posts(retail_world))
