"""The whole simulated business, built chunk by chunk of customers.

Each chunk has its own random stream, derived from the seed and the chunk's number, so
the world is the same whatever is done with it (kept in memory, written as CSV or as
Parquet) and memory stays bounded by the chunk size.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winback.ledger.contract import MARKETING_EVENTS
from winback.simulate import commerce, service
from winback.simulate.calendar import Window
from winback.simulate.lifecycle import live
from winback.simulate.marketing import campaign_names, mail
from winback.simulate.names import COUNTRIES, REGIONS, draw_names, draw_people, emails
from winback.simulate.people import Customers, draw_customers
from winback.simulate.settings import WorldSettings
from winback.simulate.staff import Staff, plan_staff, staff_table
from winback.simulate.tables import build, dates, ids, pick, timestamps
from winback.simulate.truth import truth_table

#: Customers per chunk: big enough for numpy to be efficient, small enough that a chunk's
#: orders, lines and marketing events fit comfortably in memory.
CHUNK = 50_000
_ACCOUNT_TYPE = {"retail": "consumer", "b2b": "business", "subscription": "subscription"}


@dataclass
class Numbering:
    """Where each kind of record's numbering has reached, carried from chunk to chunk."""

    orders: int = 1
    incidents: int = 1
    interactions: int = 1
    posts: int = 1


def chunks(customers: int) -> list[tuple[int, int]]:
    """(first customer number, size) of each chunk."""
    return [(first, min(CHUNK, customers - first + 1)) for first in range(1, customers + 1, CHUNK)]


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def _segments(s: WorldSettings, c: Customers) -> pa.Array:
    if s.profile == "b2b":
        size = np.digitize(c.mean_spend / s.mean_order_value, [0.8, 2.0])
        return pick(("smb", "mid_market", "enterprise"), size)
    if s.profile == "subscription":
        return pick(("monthly", "yearly"), (c.period_months == 12).astype(np.int64))
    heavy = np.digitize(c.rate * 365.25 / s.orders_per_year, [0.5, 2.0])
    return pick(("occasional", "regular", "vip"), heavy)


def customers_table(
    s: WorldSettings,
    window: Window,
    c: Customers,
    owner: np.ndarray,
    rng: np.random.Generator,
    name_rng: np.random.Generator,
) -> pa.Table:
    """The customers table: names, contacts, segment and account owner. People's names
    come from ``name_rng``; the short lists' draw still takes its turn on ``rng`` (and
    names businesses), so every other column is what it was before names grew diverse."""
    n = c.n
    customer_id = ids("C", c.first + np.arange(n))
    names = draw_names(n, s.profile == "b2b", rng)
    if s.profile != "b2b":
        names = draw_people(n, name_rng)
    digits = pa.array(rng.integers(0, 10000, n)).cast(pa.string())
    phone = pc.binary_join_element_wise("+1-555-", pc.utf8_lpad(digits, 4, "0"), "")
    return build(
        "customers",
        {
            "customer_id": customer_id,
            "name": names,
            "email": pc.if_else(
                pa.array(rng.random(n) < 0.05),
                pa.nulls(n, pa.string()),
                emails(names, pc.utf8_lower(customer_id), "example.com"),
            ),
            "phone": pc.if_else(pa.array(rng.random(n) < 0.3), pa.nulls(n, pa.string()), phone),
            "segment": _segments(s, c),
            "account_type": pick([_ACCOUNT_TYPE[s.profile]], np.zeros(n, dtype=np.int64)),
            "signup_date": dates(window, c.signup_day),
            "country": pick(COUNTRIES, rng.integers(0, len(COUNTRIES), n)),
            "region": pick(REGIONS, rng.integers(0, len(REGIONS), n)),
            "owner_staff_id": ids("S", owner, missing=owner == 0),
        },
        n,
    )


def staff_of(settings: WorldSettings) -> tuple[Staff, pa.Table]:
    """The staff plan and table (drawn from their own stream)."""
    staff = plan_staff(settings)
    return staff, staff_table(staff, _rng(settings.seed, 0))


def build_chunk(
    s: WorldSettings,
    window: Window,
    staff: Staff,
    index: int,
    first: int,
    n: int,
    numbering: Numbering,
) -> dict[str, pa.Table]:
    """Every contract table (but staff) for one chunk of customers, plus ``truth``."""
    rng = _rng(s.seed, 1, index)
    c = draw_customers(s, window, first, n, rng)
    owned = rng.random(n) < s.owned_share
    owner = np.where(owned, rng.choice(staff.reps, n), 0)
    lives = live(s, window, c, rng, _rng(s.seed, 2, index))

    out: dict[str, pa.Table] = {
        "customers": customers_table(s, window, c, owner, rng, _rng(s.seed, 4, index))
    }
    o = commerce.orders(s, window, c, lives, owner, staff, numbering.orders, rng)
    line_rng = _rng(s.seed, 3, index)
    favourite = commerce.favourite_lines(s, n, line_rng)
    lines, units = commerce.order_lines(s, o, rng, favourite, line_rng)
    quantity = o.table.schema.get_field_index("quantity")
    out["orders"] = o.table.set_column(quantity, "quantity", pa.array(units, pa.int64()))
    out["order_lines"] = lines
    out["invoices"], _ = commerce.invoices(s, window, c, o, rng)
    out["returns"] = commerce.returns(s, window, c, o, rng)
    out["subscriptions"] = commerce.subscriptions(s, window, c, lives, rng)
    out["incidents"] = service.incidents_table(s, window, c, lives, o, numbering.incidents)
    out["interactions"] = service.interactions(
        s, window, c, lives, staff, owner, numbering.interactions, rng
    )
    out["public_posts"] = service.public_posts(s, window, c, lives, numbering.posts, rng)

    m = mail(s, window, c, lives, rng)
    out["marketing_events"] = build(
        "marketing_events",
        {
            "customer_id": ids("C", c.first + m.customer),
            "campaign_id": pick(campaign_names(s, window), m.campaign),
            "event": pick(MARKETING_EVENTS, m.event),
            "occurred_at": timestamps(window, m.second),
            "channel": pick(["email"], np.zeros(m.event.size, dtype=np.int64)),
        },
        m.event.size,
    )
    out["truth"] = truth_table(s, window, c, lives, rng)
    names = commerce.line_names(s)
    out["truth"] = out["truth"].append_column(
        "favourite_line",
        pick(names, favourite) if favourite is not None else pa.nulls(n, pa.string()),
    )

    numbering.orders += o.day.size
    numbering.incidents += lives.incident_day.size
    numbering.interactions += out["interactions"].num_rows
    numbering.posts += out["public_posts"].num_rows
    return out


def iter_world(settings: WorldSettings) -> Iterator[dict[str, pa.Table]]:
    """The world as a stream: first ``{"staff": …}``, then one dict of tables per chunk."""
    window = Window.ending(settings.end, settings.months)
    staff, table = staff_of(settings)
    yield {"staff": table}
    numbering = Numbering()
    for index, (first, n) in enumerate(chunks(settings.customers)):
        yield build_chunk(settings, window, staff, index, first, n, numbering)


def generate(settings: WorldSettings) -> dict[str, pa.Table]:
    """The whole world in memory (for tests and small runs): contract tables and ``truth``."""
    parts: dict[str, list[pa.Table]] = {}
    for piece in iter_world(settings):
        for name, table in piece.items():
            parts.setdefault(name, []).append(table)
    return {name: pa.concat_tables(tables) for name, tables in parts.items()}
