"""The demo's worked cases: reps call some of the demo's lapsed customers, and what each
customer says and does comes from the simulator's ground truth, so the reasons x revenue
dashboard has real content on the first run.

The diagnosis is the customer's true reason for leaving (as the taxonomy names it); the
rep offers the remedy that fits the diagnosed reason most of the time; whether the customer
comes back is drawn with the truth's probability of returning under that offer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from winback.desk.calls import OFFER_CONCESSIONS, Commitment, LoggedCall, log_call
from winback.desk.models import Case, User, utcnow
from winback.policy import Policy

# The simulator's reasons for leaving, as the desk's starting taxonomy names them.
TAXONOMY = {
    "late_delivery": "delivery",
    "wrong_item": "delivery",
    "billing_error": "billing",
    "rude_service": "service",
    "price_rise": "price",
    "too_expensive": "price",
    "quality_problem": "product_quality",
    "outage": "service",
    "competitor_offer": "competitor",
    "found_elsewhere": "competitor",
    "no_longer_needed": "no_longer_needed",
    "moved_away": "no_longer_needed",
}
# What the rep offers for each diagnosis when they pick the fitting remedy.
REMEDY = {
    "delivery": "guarantee",
    "billing": "apology_only",
    "service": "plus_extra",
    "price": "price_break",
    "product_quality": "guarantee",
    "competitor": "coupon",
    "no_longer_needed": "coupon",
    "other": "coupon",
}
WORDS = {
    "delivery": "I could not plan around deliveries that might come any day.",
    "billing": "I was charged twice and it took weeks to sort out.",
    "service": "Nobody listened when I rang; I felt like a number.",
    "price": "The prices went up and nobody told me why.",
    "product_quality": "The last two orders were not up to your old standard.",
    "competitor": "Someone else offered me a better deal and you never called.",
    "no_longer_needed": "I simply do not need it any more.",
    "other": "It just stopped being worth the trouble.",
}


@dataclass
class Worked:
    calls: int = 0
    won_back: int = 0


def work_cases(
    db: Session,
    data: Path,
    policy: Policy,
    count: int = 60,
    seed: int = 0,
    progress: Callable[[int, int], None] = lambda _done, _total: None,
) -> Worked:
    """Log ``count`` calls on the highest-priority assigned cases, as their owners. The
    executive tier's cases are left open, for the executives to see on the desk."""
    truth = pq.read_table(data / "truth" / "customers_truth.parquet").to_pylist()
    by_id = {row["customer_id"]: row for row in truth}
    rng = np.random.default_rng(seed)
    query = (
        select(Case)
        .where(
            Case.state != "closed",
            Case.owner_id.is_not(None),
            or_(Case.tier.is_(None), Case.tier != "executive"),
        )
        .order_by(Case.priority, Case.id)
        .limit(count)
    )
    worked = Worked()
    chosen = list(db.scalars(query))
    for i, case in enumerate(chosen):
        progress(i, len(chosen))
        row = by_id.get(case.customer_id)
        owner = db.get(User, case.owner_id)
        if row is None or owner is None:
            continue
        code = TAXONOMY.get(row["primary_reason"] or "", "other")
        fitting = rng.random() < 0.7
        offer = REMEDY[code] if fitting else str(rng.choice(list(REMEDY.values())))
        p_return = row.get(f"p_return_{offer}", row["p_return_baseline"])
        won = bool(rng.random() < p_return)
        outcome = "won_back" if won else ("unreachable" if rng.random() < 0.15 else "declined")
        partly = rng.random() < 0.25
        when = utcnow() - timedelta(days=int(rng.integers(1, 30)), hours=i % 8)
        log_call(
            db,
            owner,
            case.id,
            LoggedCall(
                occurred_at=when,
                apology="We let you down and I am sorry.",
                listening=WORDS[code],
                reasons=[code],
                verification="partly" if partly else "yes",
                correction="there was more to it than that" if partly else "",
                customer_words=WORDS[code],
                asks="to be treated like a customer who matters",
                commitments=[Commitment("Check the account is set right", owner.id, when.date())],
                offer_kind=offer,
                # A discount, credit or free item within every rep's limit: granted at once.
                offer_amount=1.0 if offer in OFFER_CONCESSIONS else None,
                outcome=outcome,
                follow_up_on=utcnow().date() + timedelta(days=7) if won else None,
            ),
            policy=policy,
        )
        worked.calls += 1
        worked.won_back += won
    return worked
