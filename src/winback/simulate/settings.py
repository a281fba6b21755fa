"""The knobs of a simulated business, one frozen set per profile.

Every rate is per customer and per month unless its name says otherwise. The three
profiles differ in how customers buy (a retail shopper's irregular visits, a business
account's regular re-orders, a subscriber's renewals) and in how much goes wrong.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from winback.errors import SettingsError

Profile = Literal["retail", "b2b", "subscription"]
PROFILES: tuple[Profile, ...] = ("retail", "b2b", "subscription")

#: Offers a win-back campaign can make; the ground truth holds each lapsed customer's
#: chance of returning with each of them.
OFFERS = ("price_break", "coupon", "guarantee", "plus_extra", "apology_only")

#: Reasons for leaving that are not a mistake the business made (it never sees them).
UNEXPLAINED_REASONS = ("too_expensive", "found_elsewhere", "no_longer_needed", "moved_away")


@dataclass(frozen=True)
class WorldSettings:
    """Everything that shapes one simulated business.

    Attributes are grouped as the world is built: who the customers are, how they buy,
    what goes wrong and how that makes them leave, how they deal with staff, and how a
    lapsed customer answers a win-back offer.
    """

    profile: Profile
    #: The business's name, as public posts mention it.
    business_name: str = "Northwind Outfitters"
    customers: int = 3000
    months: int = 36
    seed: int = 0
    #: Last day of the observation window; fixed so a run never depends on today's date.
    end: dt.date = dt.date(2026, 6, 30)
    #: Share of customers who were already customers when the window opens.
    existing_share: float = 0.5

    # --- how they buy -------------------------------------------------------------------
    #: Mean orders per year across customers, and the gamma shape of its heterogeneity
    #: (small shape = a few heavy buyers and many light ones).
    orders_per_year: float = 6.0
    rate_shape: float = 1.5
    #: Gamma shape of the time between one customer's orders: 1 is memoryless (retail),
    #: large is a regular buying cycle with jitter (a business re-ordering stock).
    cycle_regularity: tuple[float, float] = (1.0, 3.0)
    #: Purchase-rate multiplier for January … December.
    seasonality: tuple[float, ...] = (
        0.8,
        0.75,
        0.9,
        0.95,
        1.0,
        0.95,
        0.9,
        0.95,
        1.0,
        1.05,
        1.3,
        1.6,
    )
    #: Mean order value and the gamma shape of its spread between customers.
    mean_order_value: float = 60.0
    spend_shape: float = 4.0
    #: Gamma shape of one order's value around the customer's own mean.
    order_value_shape: float = 6.0
    #: Mean gross margin rate and its beta concentration across customers.
    margin_rate: float = 0.35
    margin_concentration: float = 30.0
    #: Extra lines per order beyond the first (Poisson mean).
    extra_lines: float = 0.5
    #: Share of a customer's order lines from their favourite product line (drawn once per
    #: customer, never the faulty line); the rest pick a product at random. 0 for none.
    favourite_share: float = 0.5

    # --- leaving ------------------------------------------------------------------------
    #: Mean monthly chance of deciding to leave for reasons the business never sees, and
    #: the gamma shape of its spread between customers.
    base_lapse_rate: float = 0.02
    lapse_rate_shape: float = 2.0
    #: Months between the decision to leave and the last order: buying and marketing
    #: engagement fade over this slip (a business account's volume drifts down).
    slip_months: float = 3.0
    #: A slipping customer's order value falls to this share of normal by the end.
    slip_value_floor: float = 1.0

    # --- what goes wrong ----------------------------------------------------------------
    #: Incidents per active customer-month, the mix of types and, per type, the chance
    #: that one incident of middling severity (3) makes the customer decide to leave.
    incident_rate: float = 0.03
    incident_mix: dict[str, float] = field(
        default_factory=lambda: {
            "late_delivery": 0.35,
            "wrong_item": 0.2,
            "billing_error": 0.05,
            "rude_service": 0.08,
            "price_rise": 0.1,
            "quality_problem": 0.15,
            "competitor_offer": 0.07,
        }
    )
    incident_effect: dict[str, float] = field(
        default_factory=lambda: {
            "late_delivery": 0.12,
            "wrong_item": 0.15,
            "billing_error": 0.15,
            "rude_service": 0.3,
            "price_rise": 0.25,
            "quality_problem": 0.2,
            "competitor_offer": 0.3,
            "outage": 0.2,
        }
    )
    #: Share of incidents the business puts right, and how much that cuts their effect.
    resolved_share: float = 0.6
    resolution_relief: float = 0.5
    #: The product line (a category of the order lines) with a quality problem, or "" for
    #: none. An order holds it with ``faulty_order_share``; each such order brings a
    #: quality incident with ``faulty_incident_chance``, which makes its customer decide to
    #: leave with ``faulty_leave_chance`` at middling severity (3), halved when put right
    #: like any incident. Drawn from a stream of its own; the truth marks who it drove away.
    faulty_line: str = "Shoes"
    faulty_order_share: float = 0.02
    faulty_incident_chance: float = 0.5
    faulty_leave_chance: float = 0.6

    # --- intangibles --------------------------------------------------------------------
    late_payer_share: float = 0.1
    return_abuser_share: float = 0.02
    rude_share: float = 0.03
    heavy_contact_share: float = 0.04
    #: Returns per order for ordinary customers and for return abusers.
    return_rate: float = 0.06
    abuser_return_rate: float = 0.45
    #: Support contacts per active customer-month, and the heavy contacts' multiple.
    contact_rate: float = 0.08
    heavy_contact_multiple: float = 8.0
    #: Share of a rude customer's contacts where staff record rudeness.
    rude_record_share: float = 0.4
    #: Invoices: days until due; a late payer pays late on this share of invoices.
    invoice_terms_days: int = 0
    late_payer_late_share: float = 0.7
    punctual_late_share: float = 0.04

    # --- marketing ----------------------------------------------------------------------
    marketing_opt_in: float = 0.4
    sends_per_month: int = 1
    mean_open_rate: float = 0.3
    click_rate: float = 0.2
    #: Engagement of a customer who has lapsed, as a share of their normal engagement.
    engagement_floor: float = 0.1
    unsubscribe_rate: float = 0.003

    # --- public complaints --------------------------------------------------------------
    #: Chance that a customer who leaves after an incident complains in public.
    public_complaint_rate: float = 0.04

    # --- responsiveness to win-back offers ----------------------------------------------
    #: Shares of lapsed customers who never return, who return anyway (offer or not), and
    #: who return only with the remedy that fits their reason; the rest respond mildly.
    never_share: float = 0.3
    anyway_share: float = 0.1
    remedy_share: float = 0.35

    # --- staff --------------------------------------------------------------------------
    customers_per_rep: int = 20000
    customers_per_agent: int = 2000
    #: Share of customers with an account owner (key accounts).
    owned_share: float = 0.02

    # --- subscriptions ------------------------------------------------------------------
    #: Share of subscribers on yearly plans (the rest renew monthly).
    yearly_share: float = 0.0

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise SettingsError(
                f"unknown profile {self.profile!r}; choose one of {', '.join(PROFILES)}"
            )
        if self.customers < 1:
            raise SettingsError(f"--customers must be at least 1, not {self.customers}")
        if not 1 <= self.months <= 240:
            raise SettingsError(f"--months must be between 1 and 240, not {self.months}")
        if self.seed < 0:
            raise SettingsError(f"--seed must be zero or positive, not {self.seed}")
        if len(self.seasonality) != 12:
            raise SettingsError("seasonality needs one multiplier per month (12)")
        unknown = set(self.incident_mix) - set(self.incident_effect)
        if unknown:
            raise SettingsError(f"incident types without an effect: {sorted(unknown)}")
        if self.never_share + self.anyway_share + self.remedy_share > 1:
            raise SettingsError("never_share + anyway_share + remedy_share exceeds 1")

    def as_json(self) -> dict[str, Any]:
        """The settings as plain JSON values (recorded next to the ground truth)."""
        out = asdict(self)
        out["end"] = self.end.isoformat()
        return out


_B2B = {
    "business_name": "Harbour Industrial Supply",
    "orders_per_year": 14.0,
    "rate_shape": 3.0,
    "cycle_regularity": (6.0, 12.0),
    "seasonality": (0.9, 1.0, 1.05, 1.0, 1.0, 0.95, 0.85, 0.8, 1.05, 1.1, 1.1, 0.9),
    "mean_order_value": 900.0,
    "spend_shape": 1.5,
    "order_value_shape": 8.0,
    "margin_rate": 0.25,
    "extra_lines": 2.0,
    "base_lapse_rate": 0.008,
    "slip_months": 6.0,
    "slip_value_floor": 0.4,
    "incident_rate": 0.05,
    "incident_mix": {
        "late_delivery": 0.3,
        "wrong_item": 0.15,
        "billing_error": 0.2,
        "rude_service": 0.05,
        "price_rise": 0.15,
        "quality_problem": 0.1,
        "competitor_offer": 0.05,
    },
    "faulty_line": "Safety",
    "faulty_order_share": 0.003,
    "late_payer_share": 0.15,
    "return_rate": 0.02,
    "abuser_return_rate": 0.3,
    "contact_rate": 0.3,
    "heavy_contact_multiple": 5.0,
    "invoice_terms_days": 30,
    "marketing_opt_in": 0.7,
    "mean_open_rate": 0.25,
    "customers_per_rep": 60,
    "customers_per_agent": 400,
    "owned_share": 1.0,
    "public_complaint_rate": 0.02,
}

_SUBSCRIPTION = {
    "business_name": "Streamwise",
    "orders_per_year": 12.0,
    "rate_shape": 50.0,
    "cycle_regularity": (1000.0, 1000.0),
    "seasonality": (1.0,) * 12,
    "mean_order_value": 15.0,
    "spend_shape": 6.0,
    "order_value_shape": 1000.0,
    "margin_rate": 0.7,
    "extra_lines": 0.0,
    "base_lapse_rate": 0.025,
    "slip_months": 2.0,
    "incident_rate": 0.03,
    "incident_mix": {
        "billing_error": 0.25,
        "rude_service": 0.1,
        "price_rise": 0.25,
        "quality_problem": 0.15,
        "competitor_offer": 0.1,
        "outage": 0.15,
    },
    "faulty_line": "",
    "return_rate": 0.01,
    "abuser_return_rate": 0.2,
    "invoice_terms_days": 7,
    "contact_rate": 0.1,
    "marketing_opt_in": 0.6,
    "sends_per_month": 2,
    "customers_per_rep": 50000,
    "owned_share": 0.0,
    "yearly_share": 0.2,
}

_PRESETS: dict[str, dict[str, Any]] = {"retail": {}, "b2b": _B2B, "subscription": _SUBSCRIPTION}


def settings_for(profile: str, **overrides: Any) -> WorldSettings:
    """The settings of ``profile`` with any knob overridden by keyword.

    Raises
    ------
    SettingsError
        For an unknown profile, an unknown knob or a value out of range.
    """
    if profile not in _PRESETS:
        raise SettingsError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    base = WorldSettings(profile=profile, **_PRESETS[profile])  # type: ignore[arg-type]
    if isinstance(overrides.get("end"), str):
        try:
            overrides["end"] = dt.date.fromisoformat(overrides["end"])
        except ValueError:
            wrong = overrides["end"]
            raise SettingsError(f"end must be a date YYYY-MM-DD, not {wrong!r}") from None
    for name, value in overrides.items():
        default = getattr(base, name, None)
        if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            overrides[name] = float(value)
        elif default is not None and not isinstance(value, type(default)):
            raise SettingsError(
                f"{name} must be {type(default).__name__} like {default!r}, not {value!r}"
            )
    try:
        return replace(base, **overrides)
    except TypeError as exc:
        raise SettingsError(f"unknown simulation setting: {exc}") from None
