"""The hidden responsiveness to win-back offers lets a campaign with a holdout measure the
true incremental lift; public complaints come from unhappy leavers."""

from __future__ import annotations

import numpy as np
import pytest

from winback.errors import SettingsError
from winback.simulate.settings import OFFERS
from winback.simulate.truth import REMEDIES, respond

from .simworld import Sim, day_of, frame, window_of


def test_responsiveness_kinds_behave_as_described(retail_world: Sim) -> None:
    settings, world = retail_world
    truth = frame(world["truth"])
    offers = truth[[f"p_return_{o}" for o in OFFERS]].to_numpy()
    base = truth["p_return_baseline"].to_numpy()
    kind = truth["responsiveness"]
    assert (offers >= base[:, None]).all()
    assert (offers <= 1).all()

    never = (kind == "never").to_numpy()
    assert abs(never.mean() - settings.never_share) < 4 * np.sqrt(0.21 / len(truth))
    assert (offers[never] == 0).all()
    assert (base[never] == 0).all()
    anyway = (kind == "anyway").to_numpy()
    assert base[anyway].mean() > 0.4
    assert (offers[anyway] - base[anyway, None]).max() < 0.06

    # A remedy-seeker comes back with the remedy that fits the reason, hardly otherwise.
    remedy = truth[kind == "remedy"]
    assert len(remedy) > 500
    for offer in OFFERS:
        fits = remedy["primary_reason"].map(lambda r, o=offer: o in REMEDIES.get(r, ()))
        lift = remedy[f"p_return_{offer}"] - remedy["p_return_baseline"]
        if fits.any():
            assert lift[fits].mean() > 0.45
        assert lift[~fits].max() < 0.04


def test_a_campaign_with_a_holdout_measures_the_true_lift(retail_world: Sim) -> None:
    _, world = retail_world
    truth = world["truth"]
    lapsed = truth.filter(truth.column("lapsed"))
    n = lapsed.num_rows
    rng = np.random.default_rng(3)
    treated = rng.random(n) < 0.5
    offers: list[str | None] = ["coupon" if t else None for t in treated]
    back = respond(lapsed, offers, seed=5)
    measured = back[treated].mean() - back[~treated].mean()
    true_lift = float(
        np.mean(
            lapsed.column("p_return_coupon").to_numpy()
            - lapsed.column("p_return_baseline").to_numpy()
        )
    )
    assert 0.02 < true_lift < 0.3
    p = back.mean()
    se = np.sqrt(p * (1 - p) * (1 / treated.sum() + 1 / (~treated).sum()))
    assert abs(measured - true_lift) < 4 * se
    # The holdout's return rate is the "comes back anyway" baseline.
    baseline = lapsed.column("p_return_baseline").to_numpy()
    assert abs(back[~treated].mean() - baseline[~treated].mean()) < 4 * se


def test_respond_refuses_unknown_offers(retail_world: Sim) -> None:
    truth = retail_world[1]["truth"].slice(0, 2)
    with pytest.raises(SettingsError, match="unknown offers"):
        respond(truth, ["free_pony", None], seed=0)
    with pytest.raises(SettingsError, match="one offer"):
        respond(truth, [None], seed=0)


def test_public_complaints_come_from_a_few_unhappy_leavers(retail_world: Sim) -> None:
    settings, world = retail_world
    window = window_of(settings)
    posts = frame(world["public_posts"])
    truth = frame(world["truth"]).set_index("customer_id")
    assert 0 < len(posts) < 0.02 * len(truth)
    assert (posts["sentiment"] < 0).all()
    assert posts["text"].str.contains(settings.business_name, regex=False).all()
    named = posts.dropna(subset=["customer_id"])
    assert 0.5 < len(named) / len(posts) < 0.9
    authors = truth.loc[named["customer_id"]]
    assert authors["decided_on"].notna().all()
    # Each named author left over a mistake they then wrote about, within three weeks.
    from winback.ledger.contract import INCIDENT_TYPES

    first = authors["reasons"].str.split(";").map(lambda r: set(r) & set(INCIDENT_TYPES))
    assert first.map(bool).all()
    posted = day_of(window, named["posted_at"])
    decided = day_of(window, authors["decided_on"])
    assert (posted - decided < 21).all()
