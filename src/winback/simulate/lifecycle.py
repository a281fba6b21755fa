"""How each customer buys, suffers mistakes and decides to leave, month by month.

The loop runs over months and is vectorised over the customers of a chunk. Each month:

1. incidents strike active customers; each one may make its customer decide to leave,
   with a chance set by its type and severity (halved, by default, when put right);
2. the rest may decide to leave for reasons the business never sees (a base hazard);
3. a customer who has decided keeps buying for a while, less and less often (the slip),
   and stops on the true lapse date;
4. orders arrive as a renewal process: gamma-distributed gaps around the customer's own
   rate, scaled by the season and, while slipping, by the fade;
5. with a faulty product line (``settings.faulty_line``), a share of orders hold it, and
   some of those bring a quality incident a few days later, handled in step 1 of the next
   month like any other incident but with the line's own (higher) chance of a decision.
   These draws come from a stream of their own, so the rest of the world keeps its shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from winback.ledger.contract import INCIDENT_TYPES
from winback.simulate.calendar import DAYS_PER_MONTH, Window
from winback.simulate.people import Customers
from winback.simulate.settings import UNEXPLAINED_REASONS, WorldSettings

#: Every true reason for leaving; a customer's reasons are a bit mask over this tuple.
REASONS = INCIDENT_TYPES + UNEXPLAINED_REASONS
SEVERITY_SHARES = (0.25, 0.3, 0.25, 0.13, 0.07)
#: Slowest a slipping customer's buying is allowed to get, as a share of normal, so a gap
#: stays finite (the lapse date stops the orders anyway).
_MIN_FADE = 0.02


@dataclass
class Lives:
    """What happened to one chunk of customers during the window."""

    #: Day the customer decided to leave, and the true lapse date (last day of the slip);
    #: ``inf`` for customers who never decided.
    decided_day: np.ndarray
    lapse_day: np.ndarray
    reasons: np.ndarray
    order_customer: np.ndarray
    order_day: np.ndarray
    #: 1 for an ordinary order, falling towards 0 through the slip.
    order_fade: np.ndarray
    incident_customer: np.ndarray
    incident_day: np.ndarray
    incident_type: np.ndarray
    incident_severity: np.ndarray
    incident_resolved: np.ndarray
    #: Whether this incident made its customer decide to leave.
    incident_decisive: np.ndarray
    #: Whether each order holds the faulty product line, whether each incident came from
    #: it, and whether it is what made each customer decide to leave.
    order_faulty: np.ndarray
    incident_faulty: np.ndarray
    left_over_line: np.ndarray


def fade_at(day: np.ndarray, decided: np.ndarray, lapse: np.ndarray) -> np.ndarray:
    """How much of normal buying and engagement is left on ``day`` (1 before the slip)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        left = (lapse - day) / (lapse - decided)
    return np.where(day > decided, np.clip(left, 0.0, 1.0), 1.0)


def live(
    settings: WorldSettings,
    window: Window,
    c: Customers,
    rng: np.random.Generator,
    line_rng: np.random.Generator | None = None,
) -> Lives:
    """Run the window for one chunk of customers.

    ``line_rng`` draws the faulty product line's orders and incidents; without it (or
    without a faulty line) no order holds one.
    """
    s = settings
    faulty_on = bool(s.faulty_line) and line_rng is not None
    quality = INCIDENT_TYPES.index("quality_problem")
    pending_who = np.zeros(0, dtype=np.int64)
    pending_day = np.zeros(0)
    n = c.n
    left_over_line = np.zeros(n, dtype=bool)
    decided = np.full(n, np.inf)
    lapse = np.full(n, np.inf)
    reasons = np.zeros(n, dtype=np.int64)
    slip_days = s.slip_months * DAYS_PER_MONTH * rng.uniform(0.5, 1.5, n)
    renewals = s.profile == "subscription"

    types = list(s.incident_mix)
    type_p = np.array([s.incident_mix[t] for t in types])
    type_p = type_p / type_p.sum()
    type_code = np.array([INCIDENT_TYPES.index(t) for t in types])
    effect_by_code = np.array([s.incident_effect.get(t, 0.0) for t in INCIDENT_TYPES])

    gap = 1.0 / c.rate
    start_gap = rng.gamma(c.regularity, gap / c.regularity)
    next_order = np.where(c.signup_day < 0, rng.random(n) * start_gap, c.signup_day.astype(float))

    orders: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    incidents: list[tuple[np.ndarray, ...]] = []
    for m in range(window.months):
        a, b = float(window.month_starts[m]), float(window.month_starts[m + 1])
        season = s.seasonality[window.month_of_year[m]]
        from_day = np.maximum(c.signup_day, a)
        to_day = np.minimum(lapse, b)
        span = np.clip(to_day - from_day, 0.0, None)
        active = span > 0

        # 1. incidents, and the decisions they cause
        idx = np.flatnonzero(active)
        k = rng.poisson(s.incident_rate * span[idx] / DAYS_PER_MONTH)
        who = np.repeat(idx, k)
        day = np.floor(from_day[who] + rng.random(who.size) * span[who])
        code = type_code[rng.choice(len(types), who.size, p=type_p)]
        severity = rng.choice(5, who.size, p=SEVERITY_SHARES) + 1
        resolved = rng.random(who.size) < s.resolved_share
        p = effect_by_code[code] * severity / 3.0
        p = np.minimum(np.where(resolved, p * (1 - s.resolution_relief), p), 0.95)
        decisive = (rng.random(who.size) < p) & np.isinf(decided[who])
        incident_choice = np.full(n, np.inf)
        chosen_day = day + rng.integers(0, 15, who.size)
        np.minimum.at(incident_choice, who[decisive], chosen_day[decisive])
        incident_bits = np.zeros(n, dtype=np.int64)
        np.bitwise_or.at(incident_bits, who[decisive], np.left_shift(1, code[decisive]))

        # 1b. quality incidents brought by last month's orders of the faulty line
        due = pending_day < b
        f_who, f_day = pending_who[due], np.floor(pending_day[due])
        pending_who, pending_day = pending_who[~due], pending_day[~due]
        line_choice = np.full(n, np.inf)
        f_sev = np.zeros(f_who.size, dtype=np.int64)
        f_res = f_dec = np.zeros(f_who.size, dtype=bool)
        if faulty_on and f_who.size:
            assert line_rng is not None
            f_sev = line_rng.choice(5, f_who.size, p=SEVERITY_SHARES) + 1
            f_res = line_rng.random(f_who.size) < s.resolved_share
            f_p = s.faulty_leave_chance * f_sev / 3.0
            f_p = np.minimum(np.where(f_res, f_p * (1 - s.resolution_relief), f_p), 0.95)
            f_dec = (line_rng.random(f_who.size) < f_p) & np.isinf(decided[f_who])
            f_chosen = f_day + line_rng.integers(0, 15, f_who.size)
            np.minimum.at(line_choice, f_who[f_dec], f_chosen[f_dec])
            incident_bits[np.unique(f_who[f_dec])] |= 1 << quality
        ordinary_choice = incident_choice
        incident_choice = np.minimum(ordinary_choice, line_choice)

        # 2. leaving for reasons the business never sees
        undecided = active & np.isinf(decided)
        base = undecided & (rng.random(n) < c.base_hazard * span / DAYS_PER_MONTH)
        base_choice = np.where(base, from_day + rng.random(n) * span, np.inf)
        unexplained = len(INCIDENT_TYPES) + rng.integers(0, len(UNEXPLAINED_REASONS), n)
        base_bits = np.left_shift(1, unexplained)

        chosen = np.minimum(incident_choice, base_choice)
        new = np.isfinite(chosen)
        decided[new] = np.floor(chosen[new])
        lapse[new] = decided[new] + np.round(slip_days[new])
        by_incident = incident_choice <= base_choice
        reasons[new] = np.where(by_incident, incident_bits, base_bits)[new]
        # An incident only counts as decisive if the customer did not decide earlier anyway.
        by_line = by_incident & (line_choice < ordinary_choice)
        decisive &= by_incident[who] & ~by_line[who]
        f_dec = f_dec & by_line[f_who]
        left_over_line |= new & by_line
        incidents.append((who, day, code, severity, resolved, decisive, np.zeros(who.size, bool)))
        quality_code = np.full(f_who.size, quality)
        ones = np.ones(f_who.size, bool)
        incidents.append((f_who, f_day, quality_code, f_sev, f_res, f_dec, ones))

        # 3-4. orders until the month ends or the customer stops
        stop = np.minimum(lapse, b)
        idx = np.flatnonzero(active & (next_order < stop))
        while idx.size:
            when = next_order[idx]
            fade = np.ones(idx.size) if renewals else fade_at(when, decided[idx], lapse[idx])
            holds = np.zeros(idx.size, dtype=bool)
            if faulty_on:
                assert line_rng is not None
                holds = line_rng.random(idx.size) < s.faulty_order_share
                hit = holds & (line_rng.random(idx.size) < s.faulty_incident_chance)
                pending_who = np.concatenate([pending_who, idx[hit]])
                delay = line_rng.integers(1, 8, int(hit.sum()))
                pending_day = np.concatenate([pending_day, np.floor(when[hit]) + delay])
            orders.append((idx, np.floor(when).astype(np.int64), fade, holds))
            speed = season * np.maximum(fade, _MIN_FADE)
            shape = c.regularity[idx]
            next_order[idx] = when + rng.gamma(shape, gap[idx] / (shape * speed))
            idx = idx[next_order[idx] < stop[idx]]

    order_customer, order_day, order_fade, order_faulty = (
        np.concatenate([o[i] for o in orders]) if orders else np.zeros(0) for i in range(4)
    )
    order_customer = order_customer.astype(np.int64)
    order_day = order_day.astype(np.int64)
    by_customer = np.lexsort((order_day, order_customer))
    inc = [np.concatenate([x[i] for x in incidents]) for i in range(7)]
    inc_order = np.lexsort((inc[1], inc[0]))
    inc = [x[inc_order] for x in inc]
    return Lives(
        decided_day=decided,
        lapse_day=lapse,
        reasons=reasons,
        order_customer=order_customer[by_customer],
        order_day=order_day[by_customer],
        order_fade=order_fade[by_customer],
        incident_customer=inc[0].astype(np.int64),
        incident_day=inc[1].astype(np.int64),
        incident_type=inc[2].astype(np.int64),
        incident_severity=inc[3].astype(np.int64),
        incident_resolved=inc[4].astype(bool),
        incident_decisive=inc[5].astype(bool),
        order_faulty=order_faulty[by_customer].astype(bool),
        incident_faulty=inc[6].astype(bool),
        left_over_line=left_over_line,
    )
