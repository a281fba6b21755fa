"""The world's leaving matches its settings: incidents raise the chance of leaving by the
configured effect, the base rate holds, and the ground truth agrees with the tables.

Tolerances are four standard errors of a binomial count (a false alarm about once in
16,000 runs), computed from the sample each test actually has.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from winback.simulate.calendar import DAYS_PER_MONTH
from winback.simulate.settings import WorldSettings

from .simworld import Sim, big, day_of, frame, number, window_of

_DELAY = 14  # an incident's decision comes up to two weeks after it


def incident_panel(sim: Sim) -> pd.DataFrame:
    """One row per customer-month in which the customer had not yet decided to leave.

    Columns: ``incident`` (an incident struck that month), ``left`` (decided that month,
    or within two weeks after an incident month) and ``expected`` (that chance under the
    settings, from the customer's own hidden monthly lapse chance).
    """
    settings, world = sim
    window = window_of(settings)
    truth = frame(world["truth"])
    signup = np.maximum(day_of(window, truth["signup_date"]), 0)
    decided = day_of(window, truth["decided_on"])
    hazard = truth["monthly_lapse_chance"].to_numpy()
    starts = window.month_starts.astype(float)
    first = np.searchsorted(starts, signup, side="right") - 1
    last = np.minimum(np.searchsorted(starts, decided, side="right") - 1, window.months - 2)
    count = np.clip(last - first + 1, 0, None)
    cust = np.repeat(np.arange(len(truth)), count)
    month = np.arange(cust.size) - np.repeat(np.cumsum(count) - count, count) + first[cust]
    ms, me = starts[month], starts[month + 1]
    span = me - np.maximum(signup[cust], ms)

    inc = frame(world["incidents"])
    inc_cust = number(inc["customer_id"]) - 1
    inc_day = day_of(window, inc["occurred_on"])
    inc_month = np.searchsorted(starts, inc_day, side="right") - 1
    p = incident_chance(settings, inc["type"], inc["severity"], inc["resolved_on"].notna())
    # A quality problem with the faulty product line has the line's own chance.
    line = (inc["description"] == f"quality problem with {settings.faulty_line}").to_numpy()
    p = np.where(line, _line_chance(settings, inc["severity"], inc["resolved_on"].notna()), p)
    row_of = dict(zip(zip(cust, month, strict=True), range(cust.size), strict=True))
    keep_p = np.ones(cust.size)
    hit = np.zeros(cust.size, dtype=bool)
    for c, m, chance in zip(inc_cust, inc_month, p, strict=True):
        row = row_of.get((c, m))
        if row is not None:
            keep_p[row] *= 1 - chance
            hit[row] = True
    after_hit = np.zeros(cust.size, dtype=bool)
    after_hit[1:] = hit[:-1] & (cust[1:] == cust[:-1])

    d = decided[cust]
    left = np.where(hit, (d >= ms) & (d < me + _DELAY), (d >= ms) & (d < me))
    base = hazard[cust] * span / DAYS_PER_MONTH
    base_hit = hazard[cust] * (span + _DELAY) / DAYS_PER_MONTH
    expected = np.where(hit, 1 - (1 - base_hit) * keep_p, base)
    frame_ = pd.DataFrame({"incident": hit, "left": left, "expected": expected})
    # A month right after an incident can hold that incident's late decision: leave it out.
    return frame_[~after_hit]


def incident_chance(
    settings: WorldSettings, kind: pd.Series, severity: pd.Series, resolved: pd.Series
) -> np.ndarray:
    effect = kind.map(settings.incident_effect).to_numpy()
    p = effect * severity.to_numpy() / 3
    p = np.where(resolved.to_numpy(), p * (1 - settings.resolution_relief), p)
    return np.minimum(p, 0.95)


def _line_chance(settings: WorldSettings, severity: pd.Series, resolved: pd.Series) -> np.ndarray:
    p = settings.faulty_leave_chance * severity.to_numpy() / 3
    p = np.where(resolved.to_numpy(), p * (1 - settings.resolution_relief), p)
    return np.minimum(p, 0.95)


def check_matches(panel: pd.DataFrame) -> None:
    for incident, group in panel.groupby("incident"):
        observed = group["left"].sum()
        expected = group["expected"].sum()
        sd = np.sqrt((group["expected"] * (1 - group["expected"])).sum())
        assert abs(observed - expected) < 4 * sd, (incident, observed, expected, sd)


def test_an_incident_raises_the_lapse_rate_by_its_configured_effect(retail_world: Sim) -> None:
    panel = incident_panel(retail_world)
    rates = panel.groupby("incident")["left"].mean()
    assert panel["incident"].sum() > 5000
    assert rates[True] > 4 * rates[False]
    check_matches(panel)


def test_without_an_incident_effect_incidents_change_nothing() -> None:
    settings, world = big(
        "retail", 8000, incident_effect=dict.fromkeys(_types(), 0.0), faulty_leave_chance=0.0
    )
    panel = incident_panel((settings, world))
    check_matches(panel)
    rates = panel.groupby("incident")["left"].mean()
    assert rates[True] < 2.5 * rates[False]  # only the two-week longer window


def _types() -> tuple[str, ...]:
    from winback.ledger.contract import INCIDENT_TYPES

    return INCIDENT_TYPES


def test_every_leaver_has_true_reasons_and_stops_buying(retail_world: Sim) -> None:
    settings, world = retail_world
    window = window_of(settings)
    truth = frame(world["truth"])
    decided = truth["decided_on"].notna()
    assert (truth["reasons"].notna() == decided).all()
    assert truth.loc[decided].apply(lambda r: r.primary_reason in r.reasons.split(";"), 1).all()
    assert not (truth["lapsed"] & truth["slipping"]).any()
    assert 0.2 < truth["lapsed"].mean() < 0.6

    orders = frame(world["orders"])
    lapse = day_of(window, truth["lapse_date"])
    last = orders.groupby(number(orders["customer_id"]) - 1)["order_date"].max()
    last_day = day_of(window, last)
    assert (last_day < lapse[last.index]).all()

    # An incident named as a reason came at most two weeks before the decision.
    inc = frame(world["incidents"])
    inc["decided"] = day_of(window, truth["decided_on"])[number(inc["customer_id"]) - 1]
    inc["day"] = day_of(window, inc["occurred_on"])
    reasons = truth["reasons"].fillna("").to_numpy()[number(inc["customer_id"]) - 1]
    named = np.array([k in r.split(";") for k, r in zip(inc["type"], reasons, strict=True)])
    gap = (inc["decided"] - inc["day"])[named]
    explained = {r for rs in truth["reasons"].dropna() for r in rs.split(";")}
    assert {"late_delivery", "too_expensive"} <= explained
    # (later incidents of the same type can follow the decision: one must precede it)
    assert gap.between(0, _DELAY).groupby(inc["customer_id"][named]).any().all()


def test_subscriptions_end_on_the_true_lapse_date(subscription_world: Sim) -> None:
    settings, world = subscription_world
    truth = frame(world["truth"])
    subs = frame(world["subscriptions"])
    assert (subs["customer_id"] == truth["customer_id"]).all()
    assert (subs["ended_on"].notna() == truth["lapsed"]).all()
    ended = truth["lapsed"]
    assert (subs.loc[ended, "ended_on"] == truth.loc[ended, "lapse_date"]).all()
    # Cancellation decisions follow the configured monthly rate (plus incidents' share).
    panel = incident_panel(subscription_world)
    check_matches(panel)
    monthly = panel.loc[~panel["incident"], "left"].mean()
    assert abs(monthly - settings.base_lapse_rate) < 0.25 * settings.base_lapse_rate
    # Yearly subscribers renew once a year, monthly ones every month.
    orders = frame(world["orders"])
    per = orders.groupby("customer_id").size()
    yearly = subs.set_index("customer_id")["period_months"] == 12
    assert per[yearly[yearly].index.intersection(per.index)].mean() < 4
    assert per[yearly[~yearly].index.intersection(per.index)].mean() > 8


def test_the_faulty_lines_orders_bring_quality_incidents_at_its_rate(retail_world: Sim) -> None:
    settings, world = retail_world
    window = window_of(settings)
    # Orders before the last two months have had every incident they bring recorded.
    edge = float(window.month_starts[-3])
    lines = frame(world["order_lines"])
    orders = frame(world["orders"]).set_index("order_id")
    held = lines.loc[lines["category"] == settings.faulty_line, "order_id"].unique()
    held_day = day_of(window, orders.loc[held, "order_date"])
    n = int((held_day < edge).sum())
    inc = frame(world["incidents"])
    from_line = inc["description"] == f"quality problem with {settings.faulty_line}"
    assert (inc.loc[from_line, "type"] == "quality_problem").all()
    observed = int((from_line & (day_of(window, inc["occurred_on"]) < edge)).sum())
    p = settings.faulty_incident_chance
    assert n > 2000
    assert abs(observed - n * p) < 4 * np.sqrt(n * p * (1 - p)), (observed, n * p)
    # And no order outside the faulty share holds the line.
    assert len(held) / len(orders) == pytest.approx(settings.faulty_order_share, rel=0.1)
