"""The money side of each order: value and margin, lines, invoices, returns, subscriptions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winback.errors import SettingsError
from winback.simulate.calendar import Window
from winback.simulate.lifecycle import REASONS, Lives
from winback.simulate.people import Customers
from winback.simulate.settings import WorldSettings
from winback.simulate.staff import Staff
from winback.simulate.tables import build, dates, ids, money, pick
from winback.simulate.truth import primary_reason

_CANCELLED_SHARE = 0.02
_PRODUCTS = 200
_CATEGORIES = {
    "retail": ("Clothing", "Shoes", "Home", "Beauty", "Toys", "Garden"),
    "b2b": ("Fasteners", "Tools", "Safety", "Packaging", "Electrical", "Cleaning"),
    "subscription": ("Plan",),
}
_CHANNELS = {
    "retail": (("web", "store", "phone"), (0.7, 0.25, 0.05)),
    "b2b": (("rep", "web", "phone"), (0.5, 0.3, 0.2)),
    "subscription": (("renewal",), (1.0,)),
}
_EXTRA_UNITS = {"retail": 0.3, "b2b": 6.0, "subscription": 0.0}
_RETURN_REASONS = ("Did not fit", "Changed mind", "Damaged", "Not as described", "Too late")
_CANCEL_WORDS = {
    "billing_error": "Billing mistakes",
    "rude_service": "Poor service",
    "price_rise": "Price went up",
    "quality_problem": "Quality not good enough",
    "competitor_offer": "Better offer elsewhere",
    "outage": "Service kept going down",
    "too_expensive": "Too expensive",
    "found_elsewhere": "Switched provider",
    "no_longer_needed": "No longer needed",
    "moved_away": "Moving",
}


@dataclass
class Orders:
    """The chunk's orders with their values (order ``i`` is number ``first + i``)."""

    first: int
    customer: np.ndarray
    day: np.ndarray
    amount: np.ndarray
    cancelled: np.ndarray
    #: Whether the order holds the faulty product line (drawn with the customer's life).
    faulty: np.ndarray
    table: pa.Table


def orders(
    s: WorldSettings,
    window: Window,
    c: Customers,
    lives: Lives,
    owner: np.ndarray,
    staff: Staff,
    first: int,
    rng: np.random.Generator,
) -> Orders:
    """The orders table; amounts are gamma around the customer's own mean spend."""
    who, day, n = lives.order_customer, lives.order_day, lives.order_day.size
    fade = s.slip_value_floor + (1 - s.slip_value_floor) * lives.order_fade
    mean = c.mean_spend[who]
    if s.profile == "subscription":
        amount = mean
    else:
        shape = s.order_value_shape
        amount = np.maximum(rng.gamma(shape, mean / shape) * fade, 1.0)
    amount = np.round(amount, 2)
    margin = amount * np.clip(c.margin_rate[who] * rng.uniform(0.85, 1.15, n), 0, 1)
    names, shares = _CHANNELS[s.profile]
    channel = rng.choice(len(names), n, p=shares)
    # Orders taken by a person name them: the account owner when there is one.
    by_person = np.isin(channel, [i for i, name in enumerate(names) if name in ("rep", "store")])
    taker = np.where(owner[who] > 0, owner[who], rng.choice(staff.reps, n))
    cancelled = (rng.random(n) < _CANCELLED_SHARE) & (s.profile != "subscription")
    pending = ~cancelled & (day >= window.days - 3) & (rng.random(n) < 0.5)
    status = np.where(cancelled, 1, np.where(pending, 3, 0))
    numbers = first + np.arange(n)
    table = build(
        "orders",
        {
            "order_id": ids("O", numbers),
            "customer_id": ids("C", c.first + who),
            "order_date": dates(window, day),
            "amount": money(amount),
            "margin": money(margin),
            "quantity": np.ones(n, dtype=np.int64),  # replaced from the lines
            "currency": pick(("USD",), np.zeros(n, dtype=np.int64)),
            "channel": pick(names, channel),
            "staff_id": ids("S", taker, missing=~by_person),
            "status": pick(("completed", "cancelled", "refunded", "pending"), status),
        },
        n,
    )
    return Orders(first, who, day, amount, cancelled, lives.order_faulty, table)


def favourite_lines(s: WorldSettings, n: int, rng: np.random.Generator) -> np.ndarray | None:
    """Each customer's favourite product line (an index into the profile's lines), never
    the faulty one; None when the profile has a single line or favourites are off."""
    categories = _CATEGORIES[s.profile]
    choices = [i for i, name in enumerate(categories) if name != s.faulty_line]
    if s.favourite_share <= 0 or len(categories) < 2:
        return None
    return np.array(choices)[rng.integers(0, len(choices), n)]


def line_names(s: WorldSettings) -> tuple[str, ...]:
    return _CATEGORIES[s.profile]


def order_lines(
    s: WorldSettings,
    o: Orders,
    rng: np.random.Generator,
    favourite: np.ndarray | None = None,
    line_rng: np.random.Generator | None = None,
) -> tuple[pa.Table, np.ndarray]:
    """Lines whose amounts add up to each order's amount to the cent, and units per order.

    With ``favourite`` (per customer, from :func:`favourite_lines`) and ``line_rng``, a
    share ``favourite_share`` of lines move to the product of the favourite line beside
    the one drawn (drawn from ``line_rng``, so nothing else in the world changes).
    """
    n_orders = o.day.size
    count = 1 + rng.poisson(s.extra_lines, n_orders)
    order = np.repeat(np.arange(n_orders), count)
    starts = np.cumsum(count) - count
    line = np.arange(order.size) - starts[order] + 1
    weight = rng.gamma(2.0, 1.0, order.size)
    total = np.add.reduceat(weight, starts) if n_orders else weight
    cents = np.round(o.amount * 100).astype(np.int64)
    line_cents = np.floor(weight / total[order] * cents[order]).astype(np.int64)
    # The rounding remainder goes on the first line so the lines add up exactly.
    short = cents - (np.add.reduceat(line_cents, starts) if n_orders else 0)
    line_cents[starts] += short
    product = rng.integers(1, _PRODUCTS + 1, order.size)
    categories = _CATEGORIES[s.profile]
    if favourite is not None and line_rng is not None:
        k = len(categories)
        fav = favourite[o.customer[order]]
        move = line_rng.random(order.size) < s.favourite_share
        moved = product[move] - product[move] % k + fav[move]
        moved = np.where(moved < 1, moved + k, np.where(moved > _PRODUCTS, moved - k, moved))
        product = product.copy()
        product[move] = moved
    if s.faulty_line:
        product = _place_faulty_line(s.faulty_line, categories, product, o.faulty[order], starts)
    units = 1 + rng.poisson(_EXTRA_UNITS[s.profile], order.size)
    per_order = np.add.reduceat(units, starts) if n_orders else units
    table = build(
        "order_lines",
        {
            "order_id": ids("O", o.first + order),
            "line_number": line,
            "product_id": ids("P", product),
            "product_name": pick(
                [f"{categories[i % len(categories)]} item {i}" for i in range(_PRODUCTS + 1)],
                product,
            ),
            "category": pick(categories, product % len(categories)),
            "quantity": units,
            "amount": money(line_cents / 100),
        },
        order.size,
    )
    return table, per_order


def _place_faulty_line(
    line: str,
    categories: tuple[str, ...],
    product: np.ndarray,
    holds: np.ndarray,
    starts: np.ndarray,
) -> np.ndarray:
    """Products moved so that exactly the orders that hold the faulty line have one of it.

    A line of another order that fell in it moves to the next product (another line); an
    order that holds it but drew none gets its first line's product swapped for the one
    of the faulty line beside it.
    """
    if line not in categories or len(categories) < 2:
        raise SettingsError(
            f"faulty_line {line!r} is not one of this profile's product lines "
            f"({', '.join(categories)}); set it to one of them or to '' for none"
        )
    k, f = len(categories), categories.index(line)
    product = product.copy()
    stray = ~holds & (product % k == f)
    # Spread them over the other lines: a shift of d products is a shift of d lines.
    moved = product[stray] + 1 + (product[stray] // k) % (k - 1)
    product[stray] = np.where(moved > _PRODUCTS, moved - k, moved)
    has = np.logical_or.reduceat(product % k == f, starts) if starts.size else starts > 0
    need = starts[holds[starts] & ~has]
    swapped = product[need] - product[need] % k + f
    product[need] = np.where(
        swapped < 1, swapped + k, np.where(swapped > _PRODUCTS, swapped - k, swapped)
    )
    return product


def invoices(
    s: WorldSettings, window: Window, c: Customers, o: Orders, rng: np.random.Generator
) -> tuple[pa.Table, np.ndarray]:
    """Invoices for accounts that pay on terms; late payers pay late most of the time.

    Returns the table and, per invoice, whether it was paid late (for the tests).
    """
    if s.invoice_terms_days <= 0:
        return build("invoices", {}, 0), np.zeros(0, dtype=bool)
    billed = np.flatnonzero(~o.cancelled)
    who, issued = o.customer[billed], o.day[billed]
    n = billed.size
    due = issued + s.invoice_terms_days
    late_share = np.where(c.late_payer[who], s.late_payer_late_share, s.punctual_late_share)
    late = rng.random(n) < late_share
    days_late = 1 + rng.gamma(1.5, 12.0, n).astype(np.int64)
    early = rng.integers(0, s.invoice_terms_days + 1, n)
    paid = np.where(late, due + days_late, due - early)
    unpaid = paid >= window.days
    return (
        build(
            "invoices",
            {
                "invoice_id": ids("N", o.first + billed),
                "customer_id": ids("C", c.first + who),
                "issued_on": dates(window, issued),
                "due_on": dates(window, due),
                "amount": money(o.amount[billed]),
                "paid_on": dates(window, paid, missing=unpaid),
                "paid_amount": money(o.amount[billed], missing=unpaid),
                "order_id": ids("O", o.first + billed),
            },
            n,
        ),
        late,
    )


def returns(
    s: WorldSettings, window: Window, c: Customers, o: Orders, rng: np.random.Generator
) -> pa.Table:
    """Goods sent back: a few per hundred orders, many more from return abusers."""
    rate = np.where(c.return_abuser[o.customer], s.abuser_return_rate, s.return_rate)
    back = np.flatnonzero(~o.cancelled & (rng.random(o.day.size) < rate))
    day = o.day[back] + rng.integers(2, 31, back.size)
    back, day = back[day < window.days], day[day < window.days]
    share = np.where(rng.random(back.size) < 0.6, 1.0, rng.uniform(0.2, 1.0, back.size))
    return build(
        "returns",
        {
            "return_id": ids("R", o.first + back),
            "customer_id": ids("C", c.first + o.customer[back]),
            "returned_on": dates(window, day),
            "amount": money(o.amount[back] * share),
            "order_id": ids("O", o.first + back),
            "reason": pick(_RETURN_REASONS, rng.integers(0, len(_RETURN_REASONS), back.size)),
        },
        back.size,
    )


def subscriptions(
    s: WorldSettings, window: Window, c: Customers, lives: Lives, rng: np.random.Generator
) -> pa.Table:
    """One contract per subscriber; a cancellation ends it on the true lapse date."""
    if s.profile != "subscription":
        return build("subscriptions", {}, 0)
    n = c.n
    ended = lives.lapse_day < window.days
    words = [_CANCEL_WORDS.get(r, "") for r in REASONS]
    said = ended & (rng.random(n) < 0.7)
    reason = pick(words, primary_reason(lives.reasons))
    plan = np.where(c.period_months == 12, 1, 0) + 2 * (c.mean_spend > 20)
    return build(
        "subscriptions",
        {
            "subscription_id": ids("SUB", c.first + np.arange(n)),
            "customer_id": ids("C", c.first + np.arange(n)),
            "plan": pick(("Monthly", "Yearly", "Monthly Plus", "Yearly Plus"), plan),
            "started_on": dates(window, c.signup_day),
            "ended_on": dates(window, np.where(ended, lives.lapse_day, 0), missing=~ended),
            "period_months": c.period_months,
            "price": money(c.mean_spend),
            "cancel_reason": pc.if_else(pa.array(said), reason, pa.nulls(n, pa.string())),
        },
        n,
    )
