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
import secrets
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from winback import clock
from winback.desk import (
    audit,
    do_not_contact,
    tasks,
)
from winback.desk.campaign_audience import (
    AudienceFilter,
    OfferSpec,
    check_offers,
    held_out_elsewhere,
    members_of,
    offer_for,
    offers_of,
    select_audience,
)
from winback.desk.campaign_mail import Reach, channel_of, queue_emails
from winback.desk.cases import withdraw_pending_concessions
from winback.desk.db import write_lock
from winback.desk.models import (
    Campaign,
    CampaignMember,
    CampaignOffer,
    Case,
    CaseActivity,
    Task,
    User,
    utcnow,
)
from winback.desk.outcomes import NOT_EXPORTED
from winback.desk.permissions import Action, holds_work_sql, require
from winback.errors import Conflict, InvalidInput, NotFound
from winback.insights import lift
from winback.policy import Policy
from winback.scan.runs import ScanRun

MAX_NAME = 200
MAX_TEMPLATE = 20_000
HOLDOUT_RANGE = (0.01, 0.5)
CALL_DUE_DAYS = 3
_CHUNK = 900  # ids per IN (...) list (SQLite's parameter limit)


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
    wanted = audience.checked()
    # One build at a time per builder (the database's write lock on SQLite, the user's row
    # on PostgreSQL), so a double-click finds the draft the first click made.
    write_lock(db)
    db.get(User, actor.id, with_for_update=True)
    repeat = db.scalar(
        select(Campaign).where(
            Campaign.name == name, Campaign.state == "draft", Campaign.created_by == actor.id
        )
    )
    if repeat is not None:
        if repeat.run_id == run.info.run_id and repeat.filters == wanted.as_dict():
            db.rollback()
            return repeat
        raise Conflict(f"your draft campaign {repeat.id} is named {name!r} already: rename one")
    rows = select_audience(run, wanted)
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
        filters=wanted.as_dict(),
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
            offer_id=offer_for(r["reasons"] or [], rules, made).id,
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


def get_campaign(db: Session, actor: User | None, campaign_id: int) -> Campaign:
    """A campaign (``actor`` None: the command line, run by whoever holds the workspace)."""
    if actor is not None:
        require(actor, Action.VIEW_CAMPAIGNS)
    campaign = db.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(f"no campaign {campaign_id}")
    return campaign


def list_campaigns(db: Session, actor: User | None) -> list[Campaign]:
    """The newest 500 campaigns (``actor`` None: the command line)."""
    if actor is not None:
        require(actor, Action.VIEW_CAMPAIGNS)
    return list(db.scalars(select(Campaign).order_by(Campaign.id.desc()).limit(500)))


def strata_of(members: Sequence[CampaignMember]) -> list[str]:
    return [f"{m.tier}|{m.segment}" for m in members]


@dataclass(frozen=True)
class Preview:
    """What a campaign would do, before launch."""

    audience: int
    expected_value: float
    holdout: int  # before launch: how many the draw will hold out
    treated: int
    by_offer: dict[int, int]
    by_channel: dict[str, int]
    base_rate: float
    minimum_detectable_lift: float | None  # None: too small a holdout to detect anything


def _half_up(x: float) -> int:
    return math.floor(x + 0.5)


def preview(db: Session, actor: User | None, campaign: Campaign, policy: Policy) -> Preview:
    """Audience, expected value, channels and the smallest lift the holdout can detect."""
    if actor is not None:
        require(actor, Action.VIEW_CAMPAIGNS)
    members = members_of(db, campaign.id)
    if campaign.state == "launched":
        holdout = sum(m.holdout for m in members)
    else:
        # The draw's own count (insights.lift.draw_holdout): each stratum's share rounded
        # half up, topped up to the whole audience's share rounded half up.
        share = campaign.holdout_share
        sizes = Counter(strata_of(members)).values()
        holdout = max(sum(_half_up(share * n) for n in sizes), _half_up(share * len(members)))
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
    cases_held: int = 0


def _owners(db: Session, customer_ids: list[str]) -> dict[str, int]:
    """The owner of each customer's open case who may hold work (a call task goes to
    them; a customer without one gets an unassigned task for a manager to give out)."""
    owners: dict[str, int] = {}
    for start in range(0, len(customer_ids), _CHUNK):
        rows = db.execute(
            select(Case.customer_id, Case.owner_id)
            .join(User, User.id == Case.owner_id)
            .where(
                Case.state != "closed",
                Case.customer_id.in_(customer_ids[start : start + _CHUNK]),
                holds_work_sql(),
            )
        ).all()
        owners.update({customer: owner for customer, owner in rows if owner is not None})
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
    # The offers were checked against the builder's limits: building is the granting.
    members = members_of(db, campaign.id)
    today = clock.today()
    ids = [m.customer_id for m in members]
    blocked = do_not_contact.blocked_among(db, ids)
    held = held_out_elsewhere(db, ids, today) - blocked
    for m in members:
        if m.customer_id in blocked or m.customer_id in held:
            db.delete(m)
    members = [m for m in members if m.customer_id not in blocked and m.customer_id not in held]
    if reach.problem and any(channel_of(m, reach.emails) == "email" for m in members):
        raise InvalidInput(f"campaign {campaign_id} cannot e-mail its members: {reach.problem}")
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
    held_ids = [m.customer_id for m in members if m.holdout]
    report.cases_held = _hold_cases(db, actor, campaign, held_ids)
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


def requeue(db: Session, actor: User, campaign_id: int, reach: Reach) -> LaunchReport:
    """Queue a launched campaign's e-mails again, for when queuing failed after the launch
    had committed (the mail settings were wrong, the process died). Nothing is sent
    twice: each e-mail's outbox key was fixed at launch, so a message queued already is
    counted as a duplicate and left alone, however often or in parallel this runs."""
    require(actor, Action.LAUNCH_CAMPAIGN)
    campaign = get_campaign(db, actor, campaign_id)
    if campaign.state != "launched":
        raise Conflict(f"campaign {campaign_id} is not launched yet: launch it first")
    emails = sum(1 for m in members_of(db, campaign.id) if not m.holdout and m.channel == "email")
    if reach.problem and emails:
        raise InvalidInput(f"campaign {campaign_id} cannot e-mail its members: {reach.problem}")
    queued = queue_emails(db, campaign, reach)
    audit.record(
        db,
        actor,
        "campaign.requeue",
        "campaign",
        campaign.id,
        None,
        {"queued": queued.queued, "duplicates": queued.duplicates, "blocked": queued.blocked},
    )
    db.commit()
    report = LaunchReport(campaign.id, emails=emails)
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
        "cases_held": report.cases_held,
    }


def _hold_cases(db: Session, actor: User, campaign: Campaign, held: list[str]) -> int:
    """Close the active cases of the holdout (in the launch's transaction): a rep who
    called a held-out customer would be the contact the holdout measures the absence of.

    Each case closes ``not_pursued``, uncontacted by the campaign, and leaves its owner's
    queue (unassigned, so it weighs on nobody's incentive baseline) and is not exported as
    an outcome (the campaign's holdout row is the customer's, once); its open tasks are
    marked done and its pending concession requests withdrawn; a note on the case and an
    audit row (``case.held_out``) say which campaign and until when. Sync opens no new
    case for the customer until the window ends (the ``campaign_holdout`` contact rule).
    Returns how many cases closed."""
    now = utcnow()
    why = (
        f"Held out of campaign “{campaign.name}” (id {campaign.id}): no contact until "
        f"{campaign.ends_on}, so the holdout measures what the campaign adds"
    )
    closed = 0
    for start in range(0, len(held), _CHUNK):
        chunk = held[start : start + _CHUNK]
        active = select(Case).where(Case.state != "closed", Case.customer_id.in_(chunk))
        for case in db.scalars(active.order_by(Case.id).with_for_update()):
            before = {"state": case.state, "outcome": None, "owner_id": case.owner_id}
            case.state, case.outcome, case.owner_id = "closed", "not_pursued", None
            case.closed_at = case.updated_at = now
            # Not exported to winback_outcomes: the campaign's holdout row stands for the
            # customer (read over the window), and one uncontacted outcome is one.
            case.outcome_batch = NOT_EXPORTED
            open_tasks = db.scalars(
                select(Task).where(Task.customer_id == case.customer_id, Task.done_at.is_(None))
            ).all()
            for task in open_tasks:
                task.done_at, task.done_by, task.result = now, actor.id, why
            db.add(CaseActivity(case_id=case.id, user_id=actor.id, kind="note", text=why))
            after = {
                "state": "closed",
                "outcome": "not_pursued",
                "owner_id": None,
                "campaign": campaign.id,
                "until": campaign.ends_on,
                "tasks_done": len(open_tasks),
            }
            audit.record(db, actor, "case.held_out", "case", case.id, before, after)
            withdraw_pending_concessions(db, actor, case)
            closed += 1
    return closed


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
