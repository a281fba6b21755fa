"""A campaign's audience and offers: which of a scan run's customers it takes, which
offer fits each (the policy's ``[campaigns] offers_by_reason``), and who may not be
reached (held out of another campaign still running)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, get_args

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from winback.desk import (
    concessions,
)
from winback.desk.models import Campaign, CampaignMember, CampaignOffer, User
from winback.errors import InvalidInput
from winback.policy import CampaignOfferKind
from winback.policy import Campaigns as CampaignRules
from winback.scan.runs import STATUSES, TIERS, ScanRun

OFFER_KINDS: tuple[CampaignOfferKind, ...] = get_args(CampaignOfferKind)
OFFER_LABELS = {
    "price_break": "price break",
    "apology_guarantee": "apology plus guarantee",
    "coupon": "coupon",
    "plus_extra": "something extra",
}
MAX_OFFER_TEXT = 2000
_CHUNK = 900  # ids per IN (...) list (SQLite's parameter limit)
_RUN_COLUMNS = [
    "customer_id",
    "name",
    "segment",
    "status",
    "tier",
    "expected_value",
    "winback_odds",
    "lapse_risk",
    "reasons",
]


@dataclass(frozen=True)
class AudienceFilter:
    """Which of a scan run's customers a campaign takes (empty: no condition)."""

    tiers: tuple[str, ...] = ("campaign",)
    segments: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    reason: str = ""  # a word or phrase any of the customer's reasons contains
    min_value: float | None = None  # expected value of a win-back
    max_value: float | None = None
    min_risk: float | None = None  # lapse risk, 0 to 1
    max_risk: float | None = None

    def checked(self) -> AudienceFilter:
        """This filter, or InvalidInput naming the field to fix."""
        for name, given, known in (
            ("tiers", self.tiers, TIERS),
            ("statuses", self.statuses, STATUSES),
        ):
            wrong = [v for v in given if v not in known]
            if wrong:
                raise InvalidInput(f"{name} {', '.join(wrong)}: use {', '.join(known)}")
        for low, high, label in (
            (self.min_value, self.max_value, "value"),
            (self.min_risk, self.max_risk, "risk"),
        ):
            for name, v in ((f"min_{label}", low), (f"max_{label}", high)):
                if v is not None and not math.isfinite(v):
                    raise InvalidInput(f"{name} {v!r}: give a finite number")
                if label == "risk" and v is not None and not 0 <= v <= 1:
                    raise InvalidInput(f"{name} {v!r}: a lapse risk is from 0 to 1")
            if low is not None and high is not None and low > high:
                raise InvalidInput(f"min_{label} {low} is above max_{label} {high}")
        if len(self.reason) > 200:
            raise InvalidInput("reason: give at most 200 characters")
        return self

    def as_dict(self) -> dict[str, Any]:
        return {
            "tiers": list(self.tiers),
            "segments": list(self.segments),
            "statuses": list(self.statuses),
            "reason": self.reason,
            "min_value": self.min_value,
            "max_value": self.max_value,
            "min_risk": self.min_risk,
            "max_risk": self.max_risk,
        }


@dataclass(frozen=True)
class OfferSpec:
    """One offer as the manager sets it: its kind, its words, what it gives."""

    kind: str
    text: str
    concession_kind: str | None = None  # discount_pct, credit or free_items; None: nothing
    amount: float = 0.0


def default_offers() -> list[OfferSpec]:
    """The offers a new campaign starts with (a manager's limits cover them)."""
    return [
        OfferSpec("price_break", "10 % off your next order", "discount_pct", 10.0),
        OfferSpec(
            "apology_guarantee",
            "our apology, and our guarantee: if anything goes wrong with your next order, "
            "we put it right at our cost",
        ),
        OfferSpec("coupon", "10 off your next order", "credit", 10.0),
    ]


def check_offers(actor: User, offers: Sequence[OfferSpec]) -> list[OfferSpec]:
    """``offers`` checked: known distinct kinds, words given, amounts valid and within the
    actor's concession limits (InvalidInput naming the offer otherwise)."""
    if not offers:
        raise InvalidInput("a campaign needs at least one offer")
    seen: set[str] = set()
    out = []
    for i, offer in enumerate(offers, start=1):
        where = f"offer {i} ({offer.kind})"
        if offer.kind not in OFFER_KINDS:
            raise InvalidInput(f"offer {i}: kind {offer.kind!r}: use {', '.join(OFFER_KINDS)}")
        if offer.kind in seen:
            raise InvalidInput(f"{where}: a campaign makes each kind of offer once")
        seen.add(offer.kind)
        text = offer.text.strip()
        if not text or len(text) > MAX_OFFER_TEXT:
            raise InvalidInput(
                f"{where}: say what the customer gets (1-{MAX_OFFER_TEXT} characters)"
            )
        amount = 0.0
        if offer.concession_kind:
            kind = concessions.check_kind(offer.concession_kind)
            amount = concessions.check_amount(kind, offer.amount, f"{where} amount")
            limit = concessions.limit_of(actor, kind)
            if amount > limit:
                raise InvalidInput(
                    f"{where}: {amount:g} {concessions.LABELS[kind]} is above your limit of "
                    f"{limit:g}; lower it or ask someone with a higher limit to build it"
                )
        out.append(OfferSpec(offer.kind, text, offer.concession_kind or None, amount))
    return out


def offer_kind_for(reasons: Iterable[str], rules: CampaignRules) -> str:
    """The offer kind that fits ``reasons``: the first policy key any reason contains."""
    said = [r.lower() for r in reasons]
    for key, kind in rules.offers_by_reason.items():
        if any(key.lower() in r for r in said):
            return kind
    return rules.default_offer


def offer_for(
    reasons: Iterable[str], rules: CampaignRules, offers: list[CampaignOffer]
) -> CampaignOffer:
    by_kind = {o.kind: o for o in offers}
    return (
        by_kind.get(offer_kind_for(reasons, rules)) or by_kind.get(rules.default_offer) or offers[0]
    )


def select_audience(run: ScanRun, wanted: AudienceFilter) -> list[dict[str, Any]]:
    """The rows of ``run`` that ``wanted`` takes, by customer id (reads the run's Parquet
    file once)."""
    table = run.customers(_RUN_COLUMNS)
    keep = pc.is_valid(table["customer_id"])
    for column, values in (
        ("tier", wanted.tiers),
        ("segment", wanted.segments),
        ("status", wanted.statuses),
    ):
        if values:
            keep = pc.and_(keep, pc.is_in(table[column], value_set=pa.array(list(values))))
    for column, low, high in (
        ("expected_value", wanted.min_value, wanted.max_value),
        ("lapse_risk", wanted.min_risk, wanted.max_risk),
    ):
        if low is not None:
            keep = pc.and_(keep, pc.greater_equal(table[column], low))
        if high is not None:
            keep = pc.and_(keep, pc.less_equal(table[column], high))
    rows = table.filter(pc.fill_null(keep, False)).to_pylist()
    phrase = wanted.reason.strip().lower()
    if phrase:
        rows = [r for r in rows if any(phrase in s.lower() for s in r["reasons"] or [])]
    return sorted(rows, key=lambda r: r["customer_id"])


def holdouts_on(on: date) -> Select[Any]:
    """The customer ids in the holdout of a launched campaign whose window has not ended
    on ``on``."""
    return (
        select(CampaignMember.customer_id)
        .join(Campaign, Campaign.id == CampaignMember.campaign_id)
        .where(
            CampaignMember.holdout.is_(True),
            Campaign.state == "launched",
            Campaign.ends_on >= on,
        )
    )


def held_out_elsewhere(db: Session, customer_ids: Iterable[str], on: date) -> set[str]:
    """Which of ``customer_ids`` are in the holdout of a launched campaign whose window
    has not ended on ``on``: no other campaign may reach them yet."""
    ids = list(dict.fromkeys(customer_ids))
    found: set[str] = set()
    for start in range(0, len(ids), _CHUNK):
        query = holdouts_on(on).where(CampaignMember.customer_id.in_(ids[start : start + _CHUNK]))
        found.update(db.scalars(query))
    return found


def offers_of(db: Session, campaign_id: int) -> list[CampaignOffer]:
    query = select(CampaignOffer).where(CampaignOffer.campaign_id == campaign_id)
    return list(db.scalars(query.order_by(CampaignOffer.id)))


def members_of(db: Session, campaign_id: int) -> list[CampaignMember]:
    """The campaign's members by customer id (one query; the draw's fixed order)."""
    query = select(CampaignMember).where(CampaignMember.campaign_id == campaign_id)
    return list(db.scalars(query.order_by(CampaignMember.customer_id)))
