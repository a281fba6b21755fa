"""Campaigns: a win-back offer to a segment of the latest scan, with a randomised holdout.

A manager builds a campaign (:func:`build_campaign`) from a scan run: audience filters
(tier, segment, status, reason, expected value, lapse risk) and one or more offers, each
checked against the builder's concession limits. Every member gets the offer that fits
their reasons (the policy's ``[campaigns] offers_by_reason``). Do-not-contact customers
and those held out of another campaign still running are left out.

Launching (:func:`launch`) happens once, however many clicks: the holdout is drawn first
(stratified by tier and segment, its seed recorded), then each treated member gets a
single-use code and either an e-mail (queued in the outbox after the commit) or, in the
scan's rep tier, a call task on their case owner's queue. The measured lift is
:mod:`winback.desk.campaign_results`.
"""

from __future__ import annotations

import base64
import csv
import io
import math
import re
import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, get_args

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import select
from sqlalchemy.orm import Session

from winback import clock
from winback.desk import audit, concessions, do_not_contact, emails, outbox, tasks
from winback.desk.db import write_lock
from winback.desk.models import Campaign, CampaignMember, CampaignOffer, Case, User, utcnow
from winback.desk.permissions import Action, require
from winback.errors import Conflict, InvalidInput, NotFound
from winback.insights import lift
from winback.policy import CampaignOfferKind, Policy
from winback.policy import Campaigns as CampaignRules
from winback.scan.runs import STATUSES, TIERS, ScanRun

OFFER_KINDS: tuple[CampaignOfferKind, ...] = get_args(CampaignOfferKind)
OFFER_LABELS = {
    "price_break": "price break",
    "apology_guarantee": "apology plus guarantee",
    "coupon": "coupon",
    "plus_extra": "something extra",
}
MAX_NAME = 200
MAX_OFFER_TEXT = 2000
MAX_TEMPLATE = 20_000
HOLDOUT_RANGE = (0.01, 0.5)
CALL_DUE_DAYS = 3
_CHUNK = 900  # ids per IN (...) list (SQLite's parameter limit)
# An address worth queuing (the outbox refuses the whole batch for one bad address, so a
# junk address in the ledger leaves that member without an e-mail instead).
_ADDRESS = re.compile(r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
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
        for name, given, known in (("tiers", self.tiers, TIERS), ("statuses", self.statuses, STATUSES)):
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
            raise InvalidInput(f"{where}: say what the customer gets (1-{MAX_OFFER_TEXT} characters)")
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


def _offer_for(reasons: Iterable[str], rules: CampaignRules, offers: list[CampaignOffer]) -> CampaignOffer:
    by_kind = {o.kind: o for o in offers}
    return (
        by_kind.get(offer_kind_for(reasons, rules))
        or by_kind.get(rules.default_offer)
        or offers[0]
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


def held_out_elsewhere(db: Session, customer_ids: Iterable[str], on: date) -> set[str]:
    """Which of ``customer_ids`` are in the holdout of a launched campaign whose window
    has not ended on ``on``: no other campaign may reach them yet."""
    ids = list(dict.fromkeys(customer_ids))
    found: set[str] = set()
    for start in range(0, len(ids), _CHUNK):
        query = (
            select(CampaignMember.customer_id)
            .join(Campaign, Campaign.id == CampaignMember.campaign_id)
            .where(
                CampaignMember.holdout.is_(True),
                Campaign.state == "launched",
                Campaign.ends_on >= on,
                CampaignMember.customer_id.in_(ids[start : start + _CHUNK]),
            )
        )
        found.update(db.scalars(query))
    return found


def _check_settings(name: str, share: float, window: int, template: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise InvalidInput(f"name: give the campaign a name (1-{MAX_NAME} characters)")
    low, high = HOLDOUT_RANGE
    if not math.isfinite(share) or not low <= share <= high:
        raise InvalidInput(f"holdout_share {share!r}: give a share from {low} to {high}")
    if not 1 <= window <= 730:
        raise InvalidInput(f"window_days {window!r}: give 1 to 730 days")
    if len(template) > MAX_TEMPLATE:
        raise InvalidInput(f"template: give at most {MAX_TEMPLATE} characters")
    return name


def build_campaign(
    db: Session,
    actor: User,
    run: ScanRun,
    *,
    name: str,
    audience: AudienceFilter,
    offers: Sequence[OfferSpec],
    policy: Policy,
    holdout_share: float | None = None,
    window_days: int | None = None,
    template: str = "",
) -> Campaign:
    """A draft campaign over ``run``'s customers that ``audience`` takes (managers and
    admins). Commits."""
    require(actor, Action.BUILD_CAMPAIGN)
    rules = policy.campaigns
    share = rules.holdout_share if holdout_share is None else float(holdout_share)
    window = rules.window_days if window_days is None else int(window_days)
    name = _check_settings(name, share, window, template)
    checked = check_offers(actor, offers)
    rows = select_audience(run, audience.checked())
    ids = [r["customer_id"] for r in rows]
    blocked = do_not_contact.blocked_among(db, ids)
    held = held_out_elsewhere(db, ids, clock.today()) - blocked
    rows = [r for r in rows if r["customer_id"] not in blocked and r["customer_id"] not in held]
    if not rows:
        raise InvalidInput(
            f"no customer of scan run {run.info.run_id} matches these filters (after "
            f"{len(blocked)} do-not-contact and {len(held)} held out elsewhere): widen them"
        )
    campaign = Campaign(
        name=name,
        run_id=run.info.run_id,
        run_as_of=run.as_of,
        filters=audience.as_dict(),
        holdout_share=share,
        window_days=window,
        template=template,
        created_by=actor.id,
        counts={"do_not_contact": len(blocked), "held_out_elsewhere": len(held)},
    )
    db.add(campaign)
    db.flush()
    made = [
        CampaignOffer(
            campaign_id=campaign.id,
            kind=o.kind,
            text=o.text,
            concession_kind=o.concession_kind,
            amount=o.amount,
        )
        for o in checked
    ]
    db.add_all(made)
    db.flush()
    db.add_all(
        CampaignMember(
            campaign_id=campaign.id,
            customer_id=r["customer_id"],
            customer_name=r["name"],
            tier=r["tier"],
            segment=r["segment"],
            status=r["status"],
            expected_value=r["expected_value"],
            winback_odds=r["winback_odds"],
            reasons=list(r["reasons"] or []),
            offer_id=_offer_for(r["reasons"] or [], rules, made).id,
        )
        for r in rows
    )
    audit.record(
        db,
        actor,
        "campaign.create",
        "campaign",
        campaign.id,
        None,
        {"name": name, "run_id": campaign.run_id, "audience": len(rows), **campaign.counts},
    )
    db.commit()
    return campaign


def get_campaign(db: Session, actor: User, campaign_id: int) -> Campaign:
    require(actor, Action.VIEW_CAMPAIGNS)
    campaign = db.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(f"no campaign {campaign_id}")
    return campaign


def list_campaigns(db: Session, actor: User) -> list[Campaign]:
    require(actor, Action.VIEW_CAMPAIGNS)
    return list(db.scalars(select(Campaign).order_by(Campaign.id.desc()).limit(500)))


def offers_of(db: Session, campaign_id: int) -> list[CampaignOffer]:
    query = select(CampaignOffer).where(CampaignOffer.campaign_id == campaign_id)
    return list(db.scalars(query.order_by(CampaignOffer.id)))


def members_of(db: Session, campaign_id: int) -> list[CampaignMember]:
    """The campaign's members by customer id (one query; the draw's fixed order)."""
    query = select(CampaignMember).where(CampaignMember.campaign_id == campaign_id)
    return list(db.scalars(query.order_by(CampaignMember.customer_id)))


def channel_of(member: CampaignMember, emails_known: Mapping[str, str] | None = None) -> str:
    """How a treated member is reached: the rep tier by a call, the rest by e-mail (none
    when ``emails_known`` is given and holds no address for them)."""
    if member.tier == "rep":
        return "call"
    if emails_known is not None and not _ADDRESS.match(emails_known.get(member.customer_id, "")):
        return "none"
    return "email"


def strata_of(members: Sequence[CampaignMember]) -> list[str]:
    return [f"{m.tier}|{m.segment}" for m in members]


@dataclass(frozen=True)
class Preview:
    """What a campaign would do, before launch."""

    audience: int
    expected_value: float
    holdout: int  # about: each stratum's share, rounded
    treated: int
    by_offer: dict[int, int]
    by_channel: dict[str, int]
    base_rate: float
    minimum_detectable_lift: float | None  # None: too small a holdout to detect anything


def preview(db: Session, actor: User, campaign: Campaign, policy: Policy) -> Preview:
    """Audience, expected value, channels and the smallest lift the holdout can detect."""
    require(actor, Action.VIEW_CAMPAIGNS)
    members = members_of(db, campaign.id)
    if campaign.state == "launched":
        holdout = sum(m.holdout for m in members)
    else:
        sizes = Counter(strata_of(members))
        holdout = sum(round(campaign.holdout_share * n) for n in sizes.values())
    treated = len(members) - holdout
    base = policy.campaigns.base_rate
    mde: float | None = None
    if treated > 0 and holdout > 0:
        found = lift.minimum_detectable_lift(treated, holdout, base)
        mde = found if math.isfinite(found) else None
    return Preview(
        audience=len(members),
        expected_value=sum(m.expected_value or 0.0 for m in members),
        holdout=holdout,
        treated=treated,
        by_offer=dict(Counter(m.offer_id for m in members if m.offer_id is not None)),
        by_channel=dict(Counter(channel_of(m) for m in members if not m.holdout)),
        base_rate=base,
        minimum_detectable_lift=mde,
    )


def new_code() -> str:
    """A single-use code: 80 random bits as 16 base-32 letters, in groups of four."""
    letters = base64.b32encode(secrets.token_bytes(10)).decode()
    return "WB-" + "-".join(letters[i : i + 4] for i in range(0, 16, 4))


def normal_code(code: str) -> str:
    """A code as typed at a till or pasted in a shop (any case, spaces, dashes or none)."""
    bare = "".join(c for c in code.upper() if c.isalnum())
    if bare.startswith("WB") and len(bare) == 18:
        bare = bare[2:]
    return "WB-" + "-".join(bare[i : i + 4] for i in range(0, len(bare), 4))


@dataclass
class LaunchReport:
    campaign_id: int
    treated: int = 0
    holdout: int = 0
    emails: int = 0
    calls: int = 0
    no_address: int = 0
    left_out: dict[str, int] = field(default_factory=dict)
    queued: int = 0
    duplicates: int = 0
    blocked: int = 0


@dataclass(frozen=True)
class Reach:
    """What launching needs from outside the desk database: each member's e-mail address
    (the ledger's customers), their unsubscribe link, and the business's name."""

    emails: Mapping[str, str]
    unsubscribe_url: Callable[[str], str]
    business_name: str = ""


def _owners(db: Session, customer_ids: list[str]) -> dict[str, int | None]:
    owners: dict[str, int | None] = {}
    for start in range(0, len(customer_ids), _CHUNK):
        rows = db.execute(
            select(Case.customer_id, Case.owner_id).where(
                Case.state != "closed", Case.customer_id.in_(customer_ids[start : start + _CHUNK])
            )
        ).all()
        owners.update({c: o for c, o in rows})
    return owners


def launch(db: Session, actor: User, campaign_id: int, reach: Reach) -> LaunchReport:
    """Launch a draft campaign once: drop members blocked or held out elsewhere since the
    build, draw the holdout, give each treated member a code and an e-mail or a call
    task; commit; then queue the e-mails in the outbox (idempotent by key). A second
    launch, in parallel or later, is a Conflict and does nothing."""
    require(actor, Action.LAUNCH_CAMPAIGN)
    write_lock(db)
    campaign = db.get(Campaign, campaign_id, with_for_update=True, populate_existing=True)
    if campaign is None:
        raise NotFound(f"no campaign {campaign_id}")
    if campaign.state != "draft":
        raise Conflict(f"campaign {campaign_id} was launched already")
    offers = {o.id: o for o in offers_of(db, campaign.id)}
    # The offers are checked again against the limits of whoever launches them.
    check_offers(actor, [OfferSpec(o.kind, o.text, o.concession_kind, o.amount) for o in offers.values()])
    members = members_of(db, campaign.id)
    today = clock.today()
    ids = [m.customer_id for m in members]
    blocked = do_not_contact.blocked_among(db, ids)
    held = held_out_elsewhere(db, ids, today) - blocked
    for m in members:
        if m.customer_id in blocked or m.customer_id in held:
            db.delete(m)
    members = [m for m in members if m.customer_id not in blocked and m.customer_id not in held]
    if not members:
        raise Conflict(f"campaign {campaign_id}: every member is now do-not-contact or held out")
    seed = secrets.randbelow(2**31 - 1)
    drawn = lift.draw_holdout(strata_of(members), campaign.holdout_share, seed)
    report = LaunchReport(
        campaign.id, left_out={"do_not_contact": len(blocked), "held_out_elsewhere": len(held)}
    )
    owners = _owners(db, [m.customer_id for m in members if m.tier == "rep"])
    for m, out in zip(members, drawn, strict=True):
        m.holdout = bool(out)
        if m.holdout:
            report.holdout += 1
            continue
        report.treated += 1
        m.code = new_code()
        m.channel = channel_of(m, reach.emails)
        if m.channel == "call":
            offer = offers[m.offer_id] if m.offer_id else None
            task = tasks.add_task(
                db,
                actor,
                kind="campaign_call",
                title=f"Campaign “{campaign.name}”: call with the offer "
                f"({offer.text if offer else 'none'}), code {m.code}",
                customer_id=m.customer_id,
                owner_id=owners.get(m.customer_id),
                due_on=today + timedelta(days=CALL_DUE_DAYS),
            )
            m.task_id = task.id
            report.calls += 1
        elif m.channel == "email":
            report.emails += 1
        else:
            report.no_address += 1
    campaign.state, campaign.launched_by, campaign.launched_at = "launched", actor.id, utcnow()
    campaign.seed, campaign.ends_on = seed, today + timedelta(days=campaign.window_days)
    campaign.counts = {**campaign.counts, **_report_counts(report)}
    audit.record(
        db,
        actor,
        "campaign.launch",
        "campaign",
        campaign.id,
        {"state": "draft"},
        {"state": "launched", "seed": seed, "ends_on": campaign.ends_on, **campaign.counts},
    )
    db.commit()
    queued = queue_emails(db, campaign, reach)
    report.queued, report.duplicates, report.blocked = (
        queued.queued,
        queued.duplicates,
        queued.blocked,
    )
    return report


def _report_counts(report: LaunchReport) -> dict[str, int]:
    return {
        "treated": report.treated,
        "holdout": report.holdout,
        "emails": report.emails,
        "calls": report.calls,
        "no_address": report.no_address,
    }


def email_context(
    member: CampaignMember, offer: CampaignOffer | None, reach: Reach, code: str | None = None
) -> dict[str, Any]:
    """What the e-mail template of ``member`` is rendered with (``code``: instead of the
    member's, for a preview before launch)."""
    return {
        "customer_name": member.customer_name or "",
        "offer_text": offer.text if offer else "",
        "code": code or member.code or "",
        "unsubscribe_url": reach.unsubscribe_url(member.customer_id),
        "business_name": reach.business_name,
        "reasons": list(member.reasons or []),
    }


def render_for(
    campaign: Campaign,
    member: CampaignMember,
    offer: CampaignOffer | None,
    reach: Reach,
    *,
    code: str | None = None,
) -> emails.RenderedEmail:
    template = campaign.template or emails.DEFAULT_TEMPLATE
    return emails.render_email(template, email_context(member, offer, reach, code))


def queue_emails(db: Session, campaign: Campaign, reach: Reach) -> outbox.EnqueueReport:
    """Queue the e-mail of every treated e-mail member of a launched campaign (commits).
    Safe to repeat: a key already queued is skipped (the outbox's idempotency key)."""
    offers = {o.id: o for o in offers_of(db, campaign.id)}
    messages = []
    for m in members_of(db, campaign.id):
        if m.holdout or m.channel != "email" or not m.code:
            continue
        address = reach.emails.get(m.customer_id, "")
        if not _ADDRESS.match(address):
            continue
        offer = offers.get(m.offer_id) if m.offer_id else None
        mail = render_for(campaign, m, offer, reach)
        messages.append(
            outbox.OutgoingMessage(
                key=f"campaign:{campaign.id}:{m.customer_id}:offer:{m.offer_id}",
                customer_id=m.customer_id,
                to_address=address,
                subject=mail.subject,
                text=mail.text,
                html=mail.html,
                campaign_id=campaign.id,
                headers={"List-Unsubscribe": f"<{reach.unsubscribe_url(m.customer_id)}>"},
            )
        )
    return outbox.enqueue(db, messages)


AUDIENCE_COLUMNS = [
    "customer_id",
    "name",
    "tier",
    "segment",
    "status",
    "expected_value",
    "offer",
    "group",
    "channel",
    "code",
]


def audience_csv(db: Session, actor: User, campaign_id: int) -> str:
    """The audience as CSV: each member, their offer, holdout or treated, channel, code."""
    require(actor, Action.BUILD_CAMPAIGN)
    campaign = get_campaign(db, actor, campaign_id)
    offers = {o.id: o.kind for o in offers_of(db, campaign.id)}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(AUDIENCE_COLUMNS)
    launched = campaign.state == "launched"
    for m in members_of(db, campaign.id):
        group = ("holdout" if m.holdout else "treated") if launched else "not drawn yet"
        writer.writerow(
            [
                _cell(m.customer_id),
                _cell(m.customer_name or ""),
                m.tier or "",
                _cell(m.segment or ""),
                m.status or "",
                "" if m.expected_value is None else f"{m.expected_value:.2f}",
                offers.get(m.offer_id, "") if m.offer_id else "",
                group,
                m.channel or "",
                m.code or "",
            ]
        )
    return out.getvalue()


def _cell(value: str) -> str:
    # A spreadsheet runs a cell that starts with = + - @ as a formula: quote it as text.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
