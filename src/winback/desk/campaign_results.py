"""A launched campaign's measured lift: treated against holdout, over its window.

A member is won back when the ledger holds a counted order of theirs in the window (from
the launch day to ``ends_on``, or to today while it runs); their revenue is the counted
revenue of those orders. The win-back rate's difference carries the interval of
:func:`winback.insights.lift.rate_lift`, revenue per member that of
:func:`~winback.insights.lift.mean_lift`, overall and for each offer (holdout members were
given an offer by the same rule, so each offer has a holdout of its own).

An offer is redeemed when its code appears on a counted order of the member it was given
to, counted once; a code used again, or by another customer, is reported and not counted.
What a redeemed offer cost: a credit its amount; a percent discount what it took off the
order (the order's amount is after the discount); free items the policy's
``free_item_cost`` each. Incremental revenue is (treated - holdout revenue per member) x
treated members; net of the cost of the offers redeemed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
from sqlalchemy.orm import Session

from winback import clock
from winback.desk.campaign_audience import members_of, offers_of
from winback.desk.campaigns import get_campaign, normal_code
from winback.desk.models import CampaignMember, CampaignOffer, User
from winback.errors import Conflict
from winback.insights import lift
from winback.ledger import reads
from winback.ledger.store import Ledger
from winback.policy import Policy


@dataclass(frozen=True)
class GroupResult:
    """Treated against holdout for the whole campaign or one offer."""

    label: str
    offer_id: int | None
    treated_n: int
    holdout_n: int
    rate: lift.LiftEstimate | None  # None: a group is empty
    revenue: lift.LiftEstimate | None
    redeemed: int
    cost: float
    incremental_revenue: float | None
    net_revenue: float | None


@dataclass(frozen=True)
class CodeProblem:
    code: str
    order_id: str
    customer_id: str
    problem: str


@dataclass(frozen=True)
class CampaignResults:
    campaign_id: int
    since: date
    until: date
    window_over: bool
    overall: GroupResult
    by_offer: list[GroupResult]
    problems: list[CodeProblem] = field(default_factory=list)


def offer_cost(offer: CampaignOffer | None, order_amount: float, free_item_cost: float) -> float:
    """What redeeming ``offer`` on an order of ``order_amount`` (after discount) cost."""
    if offer is None or not offer.concession_kind:
        return 0.0
    if offer.concession_kind == "credit":
        return float(offer.amount)
    if offer.concession_kind == "free_items":
        return float(offer.amount) * free_item_cost
    pct = float(offer.amount)
    return order_amount * pct / (100.0 - pct) if pct < 100 else order_amount


def _group(
    label: str,
    offer_id: int | None,
    members: list[CampaignMember],
    won: dict[str, bool],
    revenue: dict[str, float],
    redeemed: dict[str, float],
) -> GroupResult:
    treated = [m for m in members if not m.holdout]
    holdout = [m for m in members if m.holdout]
    cost = sum(redeemed.get(m.customer_id, 0.0) for m in treated)
    n_redeemed = sum(m.customer_id in redeemed for m in treated)
    if not treated or not holdout:
        return GroupResult(
            label, offer_id, len(treated), len(holdout), None, None, n_redeemed, cost, None, None
        )

    def won_of(group: list[CampaignMember]) -> np.ndarray:
        return np.array([won.get(m.customer_id, False) for m in group], dtype=bool)

    def revenue_of(group: list[CampaignMember]) -> np.ndarray:
        return np.array([revenue.get(m.customer_id, 0.0) for m in group], dtype=float)

    rate = lift.rate_lift(won_of(treated), won_of(holdout))
    money = lift.mean_lift(revenue_of(treated), revenue_of(holdout))
    incremental = money.difference * len(treated)
    return GroupResult(
        label,
        offer_id,
        len(treated),
        len(holdout),
        rate,
        money,
        n_redeemed,
        cost,
        incremental,
        incremental - cost,
    )


def measure(
    db: Session, actor: User | None, campaign_id: int, ledger: Ledger | None, policy: Policy
) -> CampaignResults:
    """The campaign's lift from the ledger's orders (two DuckDB queries over the orders
    segments, one desk query). ``actor`` None: the command line."""
    campaign = get_campaign(db, actor, campaign_id)
    if campaign.state != "launched" or campaign.ends_on is None:
        raise Conflict(f"campaign {campaign_id} is not launched yet: nothing to measure")
    since = campaign.ends_on - timedelta(days=campaign.window_days)
    today = clock.today()
    until = min(campaign.ends_on, today)
    members = members_of(db, campaign.id)
    offers = {o.id: o for o in offers_of(db, campaign.id)}
    orders = reads.orders_in_window(ledger, [m.customer_id for m in members], since, until)
    won = {o.customer_id: True for o in orders}
    revenue: dict[str, float] = {}
    for o in orders:
        revenue[o.customer_id] = revenue.get(o.customer_id, 0.0) + o.amount
    holders = {normal_code(m.code): m for m in members if m.code}
    redeemed: dict[str, float] = {}  # customer id -> the cost of their offer redeemed
    problems: list[CodeProblem] = []
    for o in reads.orders_with_codes(ledger, since):
        if o.order_date > until:
            continue
        code = normal_code(o.discount_code or "")
        holder = holders.get(code)
        if holder is None:
            continue
        if o.customer_id != holder.customer_id:
            problems.append(
                CodeProblem(
                    code,
                    o.order_id,
                    o.customer_id,
                    f"used by {o.customer_id}, but it was given to {holder.customer_id}",
                )
            )
        elif holder.customer_id in redeemed:
            problems.append(
                CodeProblem(code, o.order_id, o.customer_id, "used again (counted once)")
            )
        else:
            offer = offers.get(holder.offer_id) if holder.offer_id else None
            redeemed[holder.customer_id] = offer_cost(
                offer, o.amount, policy.campaigns.free_item_cost
            )
    overall = _group("all offers", None, members, won, revenue, redeemed)
    by_offer = [
        _group(
            offer.kind,
            offer.id,
            [m for m in members if m.offer_id == offer.id],
            won,
            revenue,
            redeemed,
        )
        for offer in offers.values()
    ]
    return CampaignResults(
        campaign.id, since, until, today > campaign.ends_on, overall, by_offer, problems
    )
