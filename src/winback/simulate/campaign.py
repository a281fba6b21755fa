"""The simulated business answers a win-back campaign: who comes back, and what they buy.

Given the ground truth of a simulated business, a campaign's audience, its holdout and the
offer made to each member, :func:`answer_campaign` draws who returns in the campaign's
window (a treated member with the chance ``p_return_<offer>``, a holdout or uncontacted
member with ``p_return_baseline``) and writes the orders that follow, in the shape of the
contract's ``orders`` table plus the ``discount_code`` used. It also says what the
campaign *truly* won, so a measured lift can be graded against it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from winback.errors import SettingsError
from winback.simulate.settings import OFFERS
from winback.simulate.tables import build, ids, money, pick
from winback.simulate.truth import respond

#: Campaign orders are numbered from here unless told otherwise: far above any world's.
FIRST_ORDER = 9_000_000_000
#: Spread of a returning customer's order values around their own mean (gamma shape).
ORDER_VALUE_SHAPE = 4.0


@dataclass(frozen=True)
class CampaignOutcome:
    """What the campaign's members did, and what the campaign truly won.

    ``came_back`` and ``revenue`` have one value per member, in audience order; ``orders``
    holds their orders in the window. ``true_lift`` is the mean over the treated of
    ``p_return_<offer> - p_return_baseline`` (the expected rise in win-back rate), and
    ``true_revenue_lift`` the expected rise in revenue per treated member.
    """

    came_back: np.ndarray
    revenue: np.ndarray
    treated: np.ndarray
    orders: pa.Table
    true_lift: float
    true_revenue_lift: float
    true_uplift: np.ndarray

    def write_orders(self, folder: Path) -> Path:
        """Write the orders as ``folder/orders.csv``, ready for ``winback ledger import``."""
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "orders.csv"
        pacsv.write_csv(self.orders, path, pacsv.WriteOptions(quoting_style="needed"))
        return path


def answer_campaign(
    truth: pa.Table,
    audience: Sequence[str],
    holdout: np.ndarray,
    offers: Sequence[str | None],
    start: dt.date,
    days: int,
    *,
    seed: int,
    codes: Sequence[str | None] | None = None,
    redeem_share: float = 0.9,
    first_order: int = FIRST_ORDER,
) -> CampaignOutcome:
    """Draw how a simulated business answers a campaign and write the orders that follow.

    Parameters
    ----------
    truth
        The business's ground truth (``truth`` of :func:`winback.simulate.generate`).
    audience
        The members' customer ids.
    holdout
        One boolean per member; True = held back, never contacted.
    offers
        The offer (one of :data:`OFFERS`) made to each member, or None for a member not
        contacted; a holdout member's offer is never made.
    start, days
        The campaign's window: its first day and length.
    seed
        Seed of every draw: the same campaign and seed give the same answer.
    codes
        The discount code given to each member (None for none). A treated member who comes
        back uses it on the first order with chance ``redeem_share``.
    first_order
        Number of the first order written (``O`` + ten digits).

    Returns
    -------
    CampaignOutcome

    Raises
    ------
    SettingsError
        When the lengths disagree, a customer is not in the truth, an offer is unknown or
        the window is empty.
    """
    n = len(audience)
    holdout = np.asarray(holdout, dtype=bool)
    if holdout.shape != (n,) or len(offers) != n or (codes is not None and len(codes) != n):
        raise SettingsError("audience, holdout, offers and codes need one entry per member")
    if days < 1:
        raise SettingsError(f"a campaign window needs at least one day, not {days}")
    if not 0 <= redeem_share <= 1:
        raise SettingsError(f"redeem_share must lie between 0 and 1, not {redeem_share}")
    rows = _rows_of(truth, audience)
    members = truth.take(pa.array(rows, type=pa.int64()))
    made: list[str | None] = [None if h else o for h, o in zip(holdout, offers, strict=True)]
    treated = np.array([o is not None for o in made], dtype=bool)
    came_back = respond(members, made, seed)

    baseline = members.column("p_return_baseline").to_numpy()
    with_offer = baseline.copy()
    for offer in OFFERS:
        chosen = np.array([o == offer for o in made], dtype=bool)
        with_offer[chosen] = members.column(f"p_return_{offer}").to_numpy()[chosen]
    uplift = with_offer - baseline

    rng = np.random.default_rng([seed, 1])
    per_year = members.column("orders_per_year").to_numpy()
    mean_value = members.column("mean_order_value").to_numpy()
    margin_rate = members.column("margin_rate").to_numpy()
    # A returner's first order falls anywhere in the window; more follow at their own
    # buying rate until it closes. So a return is worth, on average:
    expected_orders = 1 + per_year * ((days + 1) / 2) / 365.25
    value_if_back = mean_value * expected_orders

    back = np.flatnonzero(came_back)
    first_day = rng.integers(0, days, back.size)
    extra = rng.poisson(per_year[back] * (days - first_day) / 365.25)
    who = np.repeat(back, 1 + extra)
    starts = np.cumsum(1 + extra) - (1 + extra)
    first = np.zeros(who.size, dtype=bool)
    first[starts] = True
    day = np.repeat(first_day, 1 + extra)
    later = ~first
    day[later] = rng.integers(day[later], days)
    order = np.lexsort((who, day))
    who, day, first = who[order], day[order], first[order]
    amount = np.maximum(
        np.round(rng.gamma(ORDER_VALUE_SHAPE, mean_value[who] / ORDER_VALUE_SHAPE), 2), 0.01
    )
    code_of = np.array(codes if codes is not None else [None] * n, dtype=object)
    redeems = first & treated[who] & (rng.random(who.size) < redeem_share)
    used = code_of[who]
    used[~redeems] = None
    orders = _orders_table(
        [str(a) for a in audience], who, start, day, amount, margin_rate, used, first_order
    )
    revenue = np.bincount(who, weights=amount, minlength=n)
    true_lift = float(uplift[treated].mean()) if treated.any() else 0.0
    true_revenue = float((uplift * value_if_back)[treated].mean()) if treated.any() else 0.0
    return CampaignOutcome(came_back, revenue, treated, orders, true_lift, true_revenue, uplift)


def _rows_of(truth: pa.Table, audience: Sequence[str]) -> np.ndarray:
    known = truth.column("customer_id").to_pylist()
    index = {cid: i for i, cid in enumerate(known)}
    missing = [cid for cid in audience if cid not in index]
    if missing:
        shown = ", ".join(map(str, missing[:5]))
        raise SettingsError(
            f"{len(missing)} audience member(s) are not customers of this business: {shown}"
        )
    return np.array([index[cid] for cid in audience], dtype=np.int64)


def _orders_table(
    audience: list[str],
    who: np.ndarray,
    start: dt.date,
    day: np.ndarray,
    amount: np.ndarray,
    margin_rate: np.ndarray,
    used: np.ndarray,
    first_order: int,
) -> pa.Table:
    n = who.size
    when = np.datetime64(start, "D") + day.astype("timedelta64[D]")
    table = build(
        "orders",
        {
            "order_id": ids("O", first_order + np.arange(n)),
            "customer_id": pa.array([audience[i] for i in who], type=pa.string()),
            "order_date": pa.array(when, type=pa.date32()),
            "amount": money(amount),
            "margin": money(amount * margin_rate[who]),
            "quantity": np.ones(n, dtype=np.int64),
            "currency": pick(("USD",), np.zeros(n, dtype=np.int64)),
            "channel": pick(("web",), np.zeros(n, dtype=np.int64)),
            "status": pick(("completed",), np.zeros(n, dtype=np.int64)),
        },
        n,
    )
    code = pa.array(used.tolist(), type=pa.string())
    if "discount_code" in table.schema.names:
        index = table.schema.get_field_index("discount_code")
        return table.set_column(index, "discount_code", code)
    return table.append_column("discount_code", code)


def redeemed(outcome: CampaignOutcome) -> pa.Table:
    """The campaign's orders that carry a discount code."""
    codes = outcome.orders.column("discount_code")
    return outcome.orders.filter(pc.is_valid(codes))
