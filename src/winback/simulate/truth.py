"""The ground truth: what really happened to each customer, and how they would answer a
win-back offer. Nothing in a scan ever reads it; tests and benchmarks grade the scan by it.

Responsiveness comes in four kinds of lapsed customer:

* **never** - nothing brings them back (every probability is 0);
* **anyway** - they come back on their own about half the time; an offer adds little;
* **remedy** - they rarely come back unless offered the remedy that fits why they left
  (a price break or coupon after a price rise, a guarantee after a quality problem, an
  apology after rude service …);
* **mild** - a small baseline and a small lift from any offer.

So a campaign with a holdout measures true incremental lift: the holdout's return rate is
the baseline, and :func:`respond` draws what each customer does.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winback.errors import SettingsError
from winback.simulate.calendar import Window
from winback.simulate.lifecycle import REASONS, Lives
from winback.simulate.people import Customers
from winback.simulate.settings import OFFERS, WorldSettings
from winback.simulate.tables import dates, ids, pick

KINDS = ("never", "anyway", "remedy", "mild")
#: The offers that fit each reason for leaving; reasons not listed have no remedy.
REMEDIES: dict[str, tuple[str, ...]] = {
    "price_rise": ("price_break", "coupon"),
    "too_expensive": ("price_break", "coupon"),
    "competitor_offer": ("price_break", "coupon"),
    "found_elsewhere": ("price_break", "coupon"),
    "late_delivery": ("guarantee", "plus_extra"),
    "wrong_item": ("guarantee", "plus_extra"),
    "quality_problem": ("guarantee", "plus_extra"),
    "outage": ("guarantee", "plus_extra"),
    "rude_service": ("apology_only", "plus_extra"),
    "billing_error": ("apology_only", "plus_extra"),
}


def primary_reason(bits: np.ndarray) -> np.ndarray:
    """Index in :data:`REASONS` of the lowest reason bit set (0 when there is none)."""
    lowest = bits & -bits
    return np.where(bits > 0, np.log2(np.maximum(lowest, 1)), 0).astype(np.int64)


def reason_text(bits: np.ndarray) -> pa.Array:
    """Semicolon-separated reasons; blank for a customer who never decided to leave."""
    text = pa.array([""] * bits.size, type=pa.string())
    for i, name in enumerate(REASONS):
        has = pa.array(((bits >> i) & 1).astype(bool))
        text = pc.if_else(has, pc.binary_join_element_wise(text, name + ";", ""), text)
    text = pc.utf8_rtrim(text, ";")
    return pc.if_else(pa.array(bits == 0), pa.nulls(bits.size, pa.string()), text)


def responsiveness(
    s: WorldSettings, reasons: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each customer's kind, baseline chance of returning, and chance with each offer.

    Returns
    -------
    kind, baseline, with_offer
        ``kind`` indexes :data:`KINDS`; ``with_offer`` has one column per :data:`OFFERS`.
    """
    n = reasons.size
    u = rng.random(n)
    cut = np.cumsum([s.never_share, s.anyway_share, s.remedy_share])
    kind = np.searchsorted(cut, u, side="right")
    primary = primary_reason(reasons)
    fits = np.zeros((n, len(OFFERS)), dtype=bool)
    for i, reason in enumerate(REASONS):
        for offer in REMEDIES.get(reason, ()):
            fits[:, OFFERS.index(offer)] |= (primary == i) & (reasons > 0)
    # A remedy-seeker whose reason has no remedy behaves mildly.
    kind = np.where((kind == 2) & ~fits.any(axis=1), 3, kind)

    baseline = np.select(
        [kind == 0, kind == 1, kind == 2],
        [np.zeros(n), rng.beta(6, 6, n), rng.beta(1, 30, n)],
        rng.beta(2, 20, n),
    )
    lift = np.select(
        [kind[:, None] == 0, kind[:, None] == 1, kind[:, None] == 2],
        [
            np.zeros((n, len(OFFERS))),
            np.full((n, len(OFFERS)), 0.05),
            np.where(fits, rng.beta(6, 4, (n, 1)), 0.03),
        ],
        rng.beta(2, 18, (n, 1)) * np.linspace(1.2, 0.6, len(OFFERS)),
    )
    return kind, baseline, baseline[:, None] + (1 - baseline[:, None]) * lift


def truth_table(
    s: WorldSettings, window: Window, c: Customers, lives: Lives, rng: np.random.Generator
) -> pa.Table:
    """One row of ground truth per customer."""
    kind, baseline, with_offer = responsiveness(s, lives.reasons, rng)
    decided = np.isfinite(lives.decided_day) & (lives.decided_day < window.days)
    lapsed = lives.lapse_day < window.days
    no_decision = ~np.isfinite(lives.decided_day)
    columns: dict[str, pa.Array | np.ndarray] = {
        "customer_id": ids("C", c.first + np.arange(c.n)),
        "signup_date": dates(window, c.signup_day),
        "lapsed": lapsed,
        "slipping": decided & ~lapsed,
        "decided_on": dates(window, np.where(no_decision, 0, lives.decided_day), no_decision),
        "lapse_date": dates(window, np.where(no_decision, 0, lives.lapse_day), no_decision),
        "reasons": reason_text(lives.reasons),
        "primary_reason": pc.if_else(
            pa.array(lives.reasons == 0),
            pa.nulls(c.n, pa.string()),
            pick(REASONS, primary_reason(lives.reasons)),
        ),
        "responsiveness": pick(KINDS, kind),
        "p_return_baseline": baseline,
    }
    for i, offer in enumerate(OFFERS):
        columns[f"p_return_{offer}"] = with_offer[:, i]
    columns |= {
        "rude": c.rude,
        "heavy_contact": c.heavy_contact,
        "late_payer": c.late_payer,
        "return_abuser": c.return_abuser,
        "monthly_lapse_chance": c.base_hazard,
        "orders_per_year": c.rate * 365.25,
        "mean_order_value": c.mean_spend,
        "margin_rate": c.margin_rate,
        "value_per_year": c.value_per_year,
        "bought_faulty_line": np.isin(np.arange(c.n), lives.order_customer[lives.order_faulty]),
        "left_over_line": lives.left_over_line,
    }
    return pa.table(columns)


def respond(truth: pa.Table, offers: list[str | None], seed: int) -> np.ndarray:
    """Draw whether each customer in ``truth`` returns after a win-back attempt.

    Parameters
    ----------
    truth
        Rows of the ground-truth customers table, in the order of ``offers``.
    offers
        The offer made to each customer, or ``None`` for the holdout (no contact).
    seed
        Seed of the draw, so a campaign's outcome is reproducible.
    """
    if len(offers) != truth.num_rows:
        raise SettingsError("one offer (or None) per customer is needed")
    known = {None, *OFFERS}
    bad = {o for o in offers if o not in known}
    if bad:
        raise SettingsError(f"unknown offers {sorted(map(str, bad))}; offers are {OFFERS}")
    p = truth.column("p_return_baseline").to_numpy().copy()
    for offer in OFFERS:
        made = np.array([o == offer for o in offers], dtype=bool)
        p[made] = truth.column(f"p_return_{offer}").to_numpy()[made]
    came_back: np.ndarray = np.random.default_rng(seed).random(p.size) < p
    return came_back
