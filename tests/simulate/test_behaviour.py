"""The customers behave as configured: late payers pay late, abusers return goods, heavy
contacts contact, rude customers are recorded as rude, marketing engagement fades before
a lapse and a business account's volume drifts down before it stops.

Tolerances are four binomial standard errors of the sample at hand unless said otherwise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from winback.simulate.calendar import DAYS_PER_MONTH

from .simworld import Sim, day_of, frame, window_of


def sd(p: float, n: int) -> float:
    return float(np.sqrt(p * (1 - p) / n))


def test_late_payers_are_the_configured_share_and_pay_late(b2b_world: Sim) -> None:
    settings, world = b2b_world
    truth = frame(world["truth"]).set_index("customer_id")
    share = truth["late_payer"].mean()
    assert abs(share - settings.late_payer_share) < 4 * sd(settings.late_payer_share, len(truth))

    inv = frame(world["invoices"]).dropna(subset=["paid_on"])
    inv["late"] = inv["paid_on"] > inv["due_on"]
    inv["late_payer"] = truth.loc[inv["customer_id"], "late_payer"].to_numpy()
    for flag, target in (
        (True, settings.late_payer_late_share),
        (False, settings.punctual_late_share),
    ):
        group = inv.loc[inv["late_payer"] == flag, "late"]
        # Invoices of one customer share nothing but the flag, so they are independent.
        assert abs(group.mean() - target) < 4 * sd(target, len(group)), (flag, group.mean())

    # Seen from the invoices alone, customers who pay most invoices late are the late payers.
    per = inv.groupby("customer_id")["late"].agg(["mean", "size"])
    per = per[per["size"] >= 8]
    looks_late = per["mean"] > 0.35
    assert (looks_late == truth.loc[per.index, "late_payer"]).mean() > 0.98


def test_return_abusers_return_far_more_than_peers(retail_world: Sim) -> None:
    settings, world = retail_world
    window = window_of(settings)
    truth = frame(world["truth"]).set_index("customer_id")
    orders = frame(world["orders"])
    # Orders in the last month may have returns still to come: leave them out.
    orders = orders[
        (orders["status"] != "cancelled")
        & (day_of(window, orders["order_date"]) < window.days - 31)
    ]
    returned = orders["order_id"].isin(frame(world["returns"])["order_id"])
    abuser = truth.loc[orders["customer_id"], "return_abuser"].to_numpy()
    for flag, target in ((True, settings.abuser_return_rate), (False, settings.return_rate)):
        rate = returned[abuser == flag].mean()
        assert abs(rate - target) < 4 * sd(target, int((abuser == flag).sum())), (flag, rate)


def test_heavy_contacts_and_rude_customers(retail_world: Sim) -> None:
    settings, world = retail_world
    window = window_of(settings)
    truth = frame(world["truth"]).set_index("customer_id")
    start = np.maximum(day_of(window, truth["signup_date"]), 0)
    stop = np.minimum(day_of(window, truth["lapse_date"]), window.days)
    months = pd.Series(np.clip(stop - start, 0, None) / DAYS_PER_MONTH, truth.index)
    contacts = frame(world["interactions"])
    routine = contacts[contacts["tags"].isna()]
    per = routine.groupby("customer_id").size().reindex(truth.index, fill_value=0)
    heavy = truth["heavy_contact"]
    rate_heavy = per[heavy].sum() / months[heavy].sum()
    rate_other = per[~heavy].sum() / months[~heavy].sum()
    assert abs(rate_other - settings.contact_rate) < 0.05 * settings.contact_rate
    expected_heavy = settings.contact_rate * settings.heavy_contact_multiple
    assert abs(rate_heavy - expected_heavy) < 0.1 * expected_heavy

    rude = truth.loc[contacts["customer_id"], "rude"].to_numpy()
    recorded = contacts["customer_rude"].to_numpy()
    target = settings.rude_record_share
    assert abs(recorded[rude].mean() - target) < 4 * sd(target, int(rude.sum()))
    assert recorded[~rude].mean() < 0.01


def open_rates(sim: Sim, customers: pd.Series, anchor: np.ndarray) -> dict[str, float]:
    """Open rate of sends 0-3 months and 12-15 months before each customer's anchor day."""
    settings, world = sim
    window = window_of(settings)
    events = frame(world["marketing_events"])
    events = events[events["customer_id"].isin(customers)]
    anchor_of = pd.Series(anchor, customers.to_numpy())
    sent = events[events["event"] == "sent"]
    opened = events[events["event"] == "opened"]
    before = (anchor_of[sent["customer_id"]].to_numpy() - day_of(window, sent["occurred_at"])) / (
        DAYS_PER_MONTH
    )
    was_opened = pd.MultiIndex.from_frame(sent[["customer_id", "campaign_id"]]).isin(
        pd.MultiIndex.from_frame(opened[["customer_id", "campaign_id"]])
    )
    late = (before > 0) & (before <= 3)
    early = (before > 12) & (before <= 15)
    return {
        "late": was_opened[late].mean(),
        "early": was_opened[early].mean(),
        "n_late": int(late.sum()),
    }


def test_marketing_engagement_fades_before_a_lapse(retail_world: Sim) -> None:
    settings, world = retail_world
    window = window_of(settings)
    truth = frame(world["truth"])
    lapse = day_of(window, truth["lapse_date"])
    signup = day_of(window, truth["signup_date"])
    year = 16 * DAYS_PER_MONTH
    leavers = truth["lapsed"] & (lapse > year) & (signup < lapse - year)
    rates = open_rates(retail_world, truth.loc[leavers, "customer_id"], lapse[leavers])
    assert rates["n_late"] > 2000
    assert abs(rates["early"] - settings.mean_open_rate) < 0.03
    assert rates["late"] < 0.7 * rates["early"]

    # Customers who stay keep their engagement: same comparison, anchored on the last day.
    stayers = truth["decided_on"].isna() & (signup < window.days - year)
    end = np.full(int(stayers.sum()), float(window.days))
    steady = open_rates(retail_world, truth.loc[stayers, "customer_id"], end)
    assert abs(steady["late"] / steady["early"] - 1) < 0.1


def test_b2b_volume_drifts_down_before_an_account_stops(b2b_world: Sim) -> None:
    settings, world = b2b_world
    window = window_of(settings)
    truth = frame(world["truth"])
    orders = frame(world["orders"])
    lapse = day_of(window, truth["lapse_date"])
    signup = day_of(window, truth["signup_date"])
    span = 18 * DAYS_PER_MONTH

    def monthly_value(chosen: pd.Series, anchor: np.ndarray) -> tuple[float, float]:
        ids = truth.loc[chosen, "customer_id"]
        mine = orders[orders["customer_id"].isin(ids)]
        anchor_of = pd.Series(anchor[chosen], ids.to_numpy())
        months_before = (
            anchor_of[mine["customer_id"]].to_numpy() - day_of(window, mine["order_date"])
        ) / DAYS_PER_MONTH
        amount = mine["amount"].astype(float).to_numpy()
        last3 = amount[(months_before > 0) & (months_before <= 3)].sum() / 3
        before = amount[(months_before > 12) & (months_before <= 18)].sum() / 6
        return last3, before

    leavers = truth["lapsed"] & (lapse > span) & (signup < lapse - span)
    assert leavers.sum() > 300
    last3, before = monthly_value(leavers, lapse)
    assert last3 < 0.35 * before

    stayers = truth["decided_on"].isna() & (signup < window.days - span)
    last3, before = monthly_value(stayers, np.full(len(truth), float(window.days)))
    assert 0.8 < last3 / before < 1.2


def test_mistakes_about_an_order_name_the_customers_latest_order(retail_world: Sim) -> None:
    _, world = retail_world
    incidents = frame(world["incidents"])
    orders = frame(world["orders"]).set_index("order_id")
    linked = incidents.dropna(subset=["order_id"])
    assert len(linked) > 0.5 * len(incidents)
    assert set(linked["type"]) <= {
        "late_delivery",
        "wrong_item",
        "quality_problem",
        "billing_error",
    }
    order = orders.loc[linked["order_id"]]
    assert (order["customer_id"].to_numpy() == linked["customer_id"].to_numpy()).all()
    assert (order["order_date"].to_numpy() <= linked["occurred_on"].to_numpy()).all()
