"""Who the customers are: each one's own rates, spend, margin, habits and temperament.

Traits are drawn once per customer and never shown to winback directly; the scan has to
infer them from behaviour. They are kept in the ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from winback.simulate.calendar import DAYS_PER_MONTH, Window
from winback.simulate.settings import WorldSettings


@dataclass
class Customers:
    """Hidden traits of one chunk of customers, one array entry per customer."""

    #: Global number of the first customer in this chunk (customer ids count from 1).
    first: int
    signup_day: np.ndarray
    #: Orders per day at a seasonal multiplier of 1.
    rate: np.ndarray
    #: Gamma shape of the time between orders (regularity of the buying cycle).
    regularity: np.ndarray
    mean_spend: np.ndarray
    margin_rate: np.ndarray
    #: Monthly chance of deciding to leave for reasons the business never sees.
    base_hazard: np.ndarray
    late_payer: np.ndarray
    return_abuser: np.ndarray
    rude: np.ndarray
    heavy_contact: np.ndarray
    opted_in: np.ndarray
    open_rate: np.ndarray
    #: Renewal period in months (subscriptions) or 0.
    period_months: np.ndarray

    @property
    def n(self) -> int:
        return len(self.signup_day)

    @property
    def value_per_year(self) -> np.ndarray:
        """Expected yearly margin while the customer stays (ignores seasonality)."""
        value: np.ndarray = self.rate * 365.25 * self.mean_spend * self.margin_rate
        return value


def draw_customers(
    settings: WorldSettings, window: Window, first: int, n: int, rng: np.random.Generator
) -> Customers:
    """Draw the traits of ``n`` customers numbered from ``first``.

    Parameters
    ----------
    settings
        The world's knobs.
    window
        The observation window; signups before it are negative day offsets.
    first, n
        Global number of the first customer and how many to draw.
    rng
        The chunk's generator.
    """
    s = settings
    existing = rng.random(n) < s.existing_share
    # Existing customers joined up to four years before the window opens; the others
    # arrive evenly through it, stopping a week short so each has a first order inside.
    before = -rng.integers(1, 4 * 365, n)
    during = rng.integers(0, max(window.days - 7, 1), n)
    signup_day = np.where(existing, before, during)

    mean_rate = s.orders_per_year / 365.25
    rate = rng.gamma(s.rate_shape, mean_rate / s.rate_shape, n)
    low, high = s.cycle_regularity
    regularity = rng.uniform(low, high, n)

    period_months = np.zeros(n, dtype=np.int64)
    if s.profile == "subscription":
        # A subscriber's "rate" is fixed by the plan: one renewal per period.
        period_months = np.where(rng.random(n) < s.yearly_share, 12, 1)
        rate = np.asarray(1.0 / (period_months * DAYS_PER_MONTH), dtype=np.float64)

    mean_spend = rng.gamma(s.spend_shape, s.mean_order_value / s.spend_shape, n)
    if s.profile == "subscription":
        # A yearly plan costs ten months' price: the usual discount for paying ahead.
        mean_spend = np.round(mean_spend, 0) - 0.01
        mean_spend = np.where(period_months == 12, (mean_spend + 0.01) * 10 - 0.01, mean_spend)
    a = s.margin_rate * s.margin_concentration
    margin_rate = rng.beta(a, s.margin_concentration - a, n)
    base_hazard = np.minimum(
        rng.gamma(s.lapse_rate_shape, s.base_lapse_rate / s.lapse_rate_shape, n), 0.5
    )

    return Customers(
        first=first,
        signup_day=signup_day.astype(np.int64),
        rate=rate,
        regularity=regularity,
        mean_spend=mean_spend,
        margin_rate=margin_rate,
        base_hazard=base_hazard,
        late_payer=rng.random(n) < s.late_payer_share,
        return_abuser=rng.random(n) < s.return_abuser_share,
        rude=rng.random(n) < s.rude_share,
        heavy_contact=rng.random(n) < s.heavy_contact_share,
        opted_in=rng.random(n) < s.marketing_opt_in,
        open_rate=rng.beta(3.0, 3.0 * (1 - s.mean_open_rate) / s.mean_open_rate, n),
        period_months=period_months,
    )
