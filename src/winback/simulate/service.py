"""Mistakes, support contacts and public complaints: the business as the customer meets it.

Every incident opens a complaint ticket. Routine contacts come at the customer's own rate
(heavy contacts many times the usual); their sentiment sours as a customer slips away.
Rude customers are recorded as rude on a share of their contacts. A few customers who
leave after a mistake complain in public.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winback.ledger.contract import INCIDENT_TYPES, INTERACTION_CHANNELS
from winback.simulate.calendar import DAYS_PER_MONTH, Window
from winback.simulate.commerce import Orders
from winback.simulate.lifecycle import Lives, fade_at
from winback.simulate.people import Customers
from winback.simulate.settings import WorldSettings
from winback.simulate.staff import Staff
from winback.simulate.tables import build, dates, ids, pick, timestamps

_SUBJECTS = ("Question about an order", "Account change", "Delivery date", "Invoice copy",
             "Product advice", "Password reset", "Feedback")  # fmt: skip
_CHANNEL_SHARES = {"ticket": 0.3, "call": 0.3, "email": 0.25, "chat": 0.15}
_ORDER_MISTAKES = [
    INCIDENT_TYPES.index(t)
    for t in ("late_delivery", "wrong_item", "quality_problem", "billing_error")
]
_POST_SOURCES = ("review site", "social network", "forum", "blog")
_FALSE_RUDE = 0.002
_DAY = 86400


def incidents_table(
    s: WorldSettings, window: Window, c: Customers, lives: Lives, orders: Orders, first: int
) -> pa.Table:
    """The incidents table; a resolved incident is put right within three weeks.

    A mistake about an order (late delivery, wrong item, quality, billing) names the
    customer's latest order on or before the day it happened, when there is one. A quality
    problem with the faulty product line says so in its description.
    """
    n = lives.incident_day.size
    # Resolution takes 1-21 days, spread by a fixed scramble of the incident number so
    # this table needs no random draws of its own.
    resolved_day = lives.incident_day + 1 + (np.arange(n) * 7919) % 21
    # Orders are sorted by customer then day, so one search finds each latest order.
    span = window.days + 1
    order_key = orders.customer * span + orders.day
    latest = (
        np.searchsorted(order_key, lives.incident_customer * span + lives.incident_day, "right") - 1
    )
    about_order = np.isin(lives.incident_type, _ORDER_MISTAKES)
    found = about_order & (latest >= 0)
    found &= orders.customer[np.maximum(latest, 0)] == lives.incident_customer if n else found
    open_ = ~lives.incident_resolved | (resolved_day >= window.days)
    kind = pick(INCIDENT_TYPES, lives.incident_type)
    return build(
        "incidents",
        {
            "incident_id": ids("I", first + np.arange(n)),
            "customer_id": ids("C", c.first + lives.incident_customer),
            "occurred_on": dates(window, lives.incident_day),
            "type": kind,
            "severity": lives.incident_severity,
            "description": pc.if_else(
                pa.array(lives.incident_faulty, pa.bool_()),
                f"quality problem with {s.faulty_line}",
                pc.replace_substring(kind, "_", " "),
            ),
            "order_id": ids("O", orders.first + np.maximum(latest, 0), missing=~found),
            "resolved_on": dates(window, resolved_day, missing=open_),
        },
        n,
    )


def interactions(
    s: WorldSettings,
    window: Window,
    c: Customers,
    lives: Lives,
    staff: Staff,
    owner: np.ndarray,
    first: int,
    rng: np.random.Generator,
) -> pa.Table:
    """Complaint tickets for incidents plus routine contacts, in one table."""
    # Routine contacts over each customer's active span.
    begin = np.maximum(c.signup_day, 0).astype(float)
    end = np.minimum(lives.lapse_day, window.days)
    span = np.clip(end - begin, 0, None)
    rate = s.contact_rate * np.where(c.heavy_contact, s.heavy_contact_multiple, 1.0)
    k = rng.poisson(rate * span / DAYS_PER_MONTH)
    who = np.repeat(np.arange(c.n), k)
    day = np.floor(begin[who] + rng.random(who.size) * span[who]).astype(np.int64)
    left = fade_at(day.astype(float), lives.decided_day[who], lives.lapse_day[who])
    routine_mood = rng.normal(0.25, 0.3, who.size) - 0.5 * (1 - left)

    tickets = lives.incident_customer
    t_day = lives.incident_day + rng.integers(0, 3, tickets.size)
    keep = t_day < window.days
    tickets, t_day = tickets[keep], t_day[keep]
    t_kind = lives.incident_type[keep]
    t_severity = lives.incident_severity[keep]
    t_resolved = lives.incident_resolved[keep]
    t_mood = rng.normal(-0.45, 0.25, tickets.size) - 0.05 * t_severity

    customer = np.concatenate([who, tickets])
    when = np.concatenate([day, t_day])
    n_routine, n = who.size, customer.size
    routine = np.arange(n) < n_routine
    names = list(_CHANNEL_SHARES)
    channel = np.where(
        routine,
        rng.choice(len(names), n, p=list(_CHANNEL_SHARES.values())),
        rng.choice([0, 1, 2], n),
    )
    channel_code = np.array([INTERACTION_CHANNELS.index(x) for x in names])[channel]
    inbound = ~routine | (rng.random(n) < 0.75)
    # Who answers: the account owner if any, else the customer's usual agent most of the
    # time; a manager takes severity-4 complaints and an executive severity-5 ones.
    usual = staff.agents[(c.first + customer) % staff.agents.size]
    agent = np.where(rng.random(n) < 0.6, usual, rng.choice(staff.agents, n))
    handler = np.where(owner[customer] > 0, owner[customer], agent)
    severity = np.concatenate([np.zeros(n_routine, np.int64), t_severity])
    handler = np.where(severity == 4, rng.choice(staff.managers, n), handler)
    handler = np.where(severity == 5, rng.choice(staff.executives, n), handler)
    mood = np.clip(np.concatenate([routine_mood, t_mood]), -1, 1).round(2)
    rude = np.where(c.rude[customer], s.rude_record_share, _FALSE_RUDE) > rng.random(n)
    subject = pa.concat_arrays(
        [
            pick(_SUBJECTS, rng.integers(0, len(_SUBJECTS), n_routine)),
            pc.binary_join_element_wise(
                "Complaint: ", pc.replace_substring(pick(INCIDENT_TYPES, t_kind), "_", " "), ""
            ),
        ]
    )
    tags = pa.concat_arrays(
        [
            pa.nulls(n_routine, pa.string()),
            pc.binary_join_element_wise("complaint;", pick(INCIDENT_TYPES, t_kind), ""),
        ]
    )
    resolved = np.concatenate([rng.random(n_routine) < 0.92, t_resolved])
    seconds = when * _DAY + rng.integers(8 * 3600, 18 * 3600, n)
    order = np.lexsort((seconds, customer))
    idx = pa.array(order)
    return build(
        "interactions",
        {
            "interaction_id": ids("X", first + np.arange(n)),
            "customer_id": ids("C", c.first + customer[order]),
            "occurred_at": timestamps(window, seconds[order]),
            "channel": pick(INTERACTION_CHANNELS, channel_code[order]),
            "direction": pick(("outbound", "inbound"), inbound[order].astype(np.int64)),
            "staff_id": ids("S", handler[order]),
            "subject": subject.take(idx),
            "sentiment": mood[order],
            "tags": tags.take(idx),
            "resolved": resolved[order],
            "customer_rude": rude[order],
        },
        n,
    )


def public_posts(
    s: WorldSettings, window: Window, c: Customers, lives: Lives, first: int,
    rng: np.random.Generator,
) -> pa.Table:  # fmt: skip
    """Complaints in public from a few customers who left over a mistake."""
    decisive = np.flatnonzero(lives.incident_decisive)
    posts = decisive[rng.random(decisive.size) < s.public_complaint_rate]
    day = lives.incident_day[posts] + rng.integers(0, 21, posts.size)
    posts, day = posts[day < window.days], day[day < window.days]
    n = posts.size
    who = lives.incident_customer[posts]
    numbers = first + np.arange(n)
    # The business matches most authors to a customer; the rest stay anonymous handles.
    matched = rng.random(n) < 0.7
    kind = pc.replace_substring(pick(INCIDENT_TYPES, lives.incident_type[posts]), "_", " ")
    return build(
        "public_posts",
        {
            "post_id": ids("W", numbers),
            "posted_at": timestamps(window, day * _DAY + rng.integers(0, _DAY, n)),
            "source": pick(_POST_SOURCES, rng.integers(0, len(_POST_SOURCES), n)),
            "author": pc.binary_join_element_wise(
                "@reviewer", pa.array(rng.integers(100, 100000, n)).cast(pa.string()), ""
            ),
            "customer_id": ids("C", c.first + who, missing=~matched),
            "url": pc.binary_join_element_wise(
                "https://reviews.example.com/p/", ids("W", numbers), ""
            ),
            "text": pc.binary_join_element_wise(
                f"Never again with {s.business_name}. Their ",
                kind,
                " ruined it for me and nobody cared.",
                "",
            ),
            "sentiment": np.clip(rng.normal(-0.75, 0.15, n), -1, 1).round(2),
        },
        n,
    )
