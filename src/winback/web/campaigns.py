"""Campaigns: build from the latest scan, preview, launch once, measure. Pages and API.

The handlers are thin: the rules live in ``winback.desk.campaigns`` (build, launch) and
``winback.desk.campaign_results`` (the measured lift).
"""

from __future__ import annotations

import math
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.orm import Session

from winback.desk import campaign_audience as audience
from winback.desk import campaign_mail as mail
from winback.desk import campaign_results, incentives, outbox
from winback.desk import campaigns as service
from winback.desk.models import Campaign, CampaignState, User
from winback.desk.permissions import Action, may, require
from winback.errors import InvalidInput, NoScanRunError
from winback.insights.lift import LiftEstimate
from winback.policy import CampaignOfferKind, Policy
from winback.scan.runs import ScanRun
from winback.web.deps import ApiUser, Csrf, Db, PageUser, Rules
from winback.web.errors import ERROR_RESPONSES
from winback.web.pages import back, render
from winback.web.schemas import Body, Id, UtcDateTime

api_router = APIRouter(prefix="/api", tags=["campaigns"], responses=ERROR_RESPONSES)
page_router = APIRouter(include_in_schema=False)

# --- shapes -------------------------------------------------------------------------------


class AudienceIn(Body):
    tiers: list[str] = Field(default_factory=lambda: ["campaign"], max_length=4)
    segments: list[Annotated[str, Field(max_length=100)]] = Field(
        default_factory=list, max_length=200
    )
    statuses: list[str] = Field(default_factory=list, max_length=4)
    reason: str = Field(default="", max_length=200, description="a phrase any reason contains")
    min_value: float | None = Field(default=None, strict=True)
    max_value: float | None = Field(default=None, strict=True)
    min_risk: float | None = Field(default=None, strict=True, ge=0, le=1)
    max_risk: float | None = Field(default=None, strict=True, ge=0, le=1)


class OfferIn(Body):
    kind: CampaignOfferKind
    text: str = Field(min_length=1, max_length=audience.MAX_OFFER_TEXT)
    concession_kind: str | None = Field(
        default=None, description="discount_pct, credit or free_items; none for words alone"
    )
    amount: float = Field(default=0.0, strict=True)


class CampaignCreate(Body):
    name: str = Field(min_length=1, max_length=service.MAX_NAME)
    audience: AudienceIn = Field(default_factory=lambda: AudienceIn())
    offers: list[OfferIn] | None = Field(
        default=None, max_length=4, description="default: a price break, an apology, a coupon"
    )
    holdout_share: float | None = Field(default=None, strict=True, ge=0.01, le=0.5)
    window_days: int | None = Field(default=None, strict=True, ge=1, le=730)
    template: str = Field(default="", max_length=service.MAX_TEMPLATE)


class OfferPublic(BaseModel):
    id: int
    kind: str
    text: str
    concession_kind: str | None
    amount: float
    members: int


class PreviewPublic(BaseModel):
    audience: int
    expected_value: float
    treated: int
    holdout: int
    by_channel: dict[str, int]
    base_rate: float
    minimum_detectable_lift: float | None = Field(
        description="the smallest win-back rate difference the holdout can detect "
        "(5 % two-sided, 80 % power); null when a group is empty"
    )


class CampaignPublic(BaseModel):
    id: int
    name: str
    state: CampaignState
    run_id: str
    filters: dict[str, Any]
    holdout_share: float
    window_days: int
    created_at: UtcDateTime
    launched_at: UtcDateTime | None
    seed: int | None
    ends_on: str | None
    counts: dict[str, Any]
    offers: list[OfferPublic]
    preview: PreviewPublic
    messages: dict[str, int] = Field(description="the outbox's messages by state")


class LaunchPublic(BaseModel):
    campaign_id: int
    treated: int
    holdout: int
    emails: int
    calls: int
    no_address: int
    cases_held: int = Field(
        description="holdout members' active cases closed at launch (held out: no contact)"
    )
    queued: int
    duplicates: int
    blocked: int
    left_out: dict[str, int]


class EstimatePublic(BaseModel):
    treated_n: int
    holdout_n: int
    treated: float
    holdout: float
    difference: float
    low: float
    high: float
    method: str


class GroupPublic(BaseModel):
    label: str
    offer_id: int | None
    treated_n: int
    holdout_n: int
    win_back_rate: EstimatePublic | None
    revenue_per_member: EstimatePublic | None
    redeemed: int
    cost: float
    incremental_revenue: float | None
    net_revenue: float | None


class ProblemPublic(BaseModel):
    code: str
    order_id: str
    customer_id: str
    problem: str


class ResultsPublic(BaseModel):
    campaign_id: int
    since: str
    until: str
    window_over: bool
    overall: GroupPublic
    by_offer: list[GroupPublic]
    problems: list[ProblemPublic]


# --- helpers ------------------------------------------------------------------------------


def _latest(request: Request) -> ScanRun:
    run: ScanRun | None = request.app.state.latest_run()
    if run is None:
        raise NoScanRunError("no scan run yet: run winback scan first, then build a campaign")
    return run


def _reach(request: Request, db: Session, campaign: Campaign) -> mail.Reach:
    state = request.app.state
    return mail.reach_of(db, campaign, state.ledger, state.settings)


def _public(db: Session, actor: User, campaign: Campaign, policy: Policy) -> CampaignPublic:
    shown = service.preview(db, actor, campaign, policy)
    return CampaignPublic(
        id=campaign.id,
        name=campaign.name,
        state=campaign.state,  # type: ignore[arg-type]
        run_id=campaign.run_id,
        filters=campaign.filters,
        holdout_share=campaign.holdout_share,
        window_days=campaign.window_days,
        created_at=campaign.created_at,
        launched_at=campaign.launched_at,
        seed=campaign.seed,
        ends_on=campaign.ends_on.isoformat() if campaign.ends_on else None,
        counts=campaign.counts,
        offers=[
            OfferPublic(
                id=o.id,
                kind=o.kind,
                text=o.text,
                concession_kind=o.concession_kind,
                amount=o.amount,
                members=shown.by_offer.get(o.id, 0),
            )
            for o in audience.offers_of(db, campaign.id)
        ],
        preview=PreviewPublic(
            audience=shown.audience,
            expected_value=shown.expected_value,
            treated=shown.treated,
            holdout=shown.holdout,
            by_channel=shown.by_channel,
            base_rate=shown.base_rate,
            minimum_detectable_lift=shown.minimum_detectable_lift,
        ),
        messages=outbox.message_states(db, campaign.id),
    )


def _estimate(e: LiftEstimate | None) -> EstimatePublic | None:
    if e is None:
        return None
    return EstimatePublic(
        treated_n=e.treated_n,
        holdout_n=e.holdout_n,
        treated=e.treated_rate,
        holdout=e.holdout_rate,
        difference=e.difference,
        low=e.low,
        high=e.high,
        method=e.method,
    )


def _group(g: campaign_results.GroupResult) -> GroupPublic:
    return GroupPublic(
        label=g.label,
        offer_id=g.offer_id,
        treated_n=g.treated_n,
        holdout_n=g.holdout_n,
        win_back_rate=_estimate(g.rate),
        revenue_per_member=_estimate(g.revenue),
        redeemed=g.redeemed,
        cost=g.cost,
        incremental_revenue=g.incremental_revenue,
        net_revenue=g.net_revenue,
    )


def _results(r: campaign_results.CampaignResults) -> ResultsPublic:
    return ResultsPublic(
        campaign_id=r.campaign_id,
        since=r.since.isoformat(),
        until=r.until.isoformat(),
        window_over=r.window_over,
        overall=_group(r.overall),
        by_offer=[_group(g) for g in r.by_offer],
        problems=[ProblemPublic(**p.__dict__) for p in r.problems],
    )


def _build(
    request: Request, db: Session, user: User, body: CampaignCreate, rules: Policy
) -> Campaign:
    require(user, Action.BUILD_CAMPAIGN)
    a = body.audience
    offers = (
        [audience.OfferSpec(o.kind, o.text, o.concession_kind, o.amount) for o in body.offers]
        if body.offers is not None
        else audience.default_offers()
    )
    return service.build_campaign(
        db,
        user,
        _latest(request),
        name=body.name,
        audience=audience.AudienceFilter(
            tuple(a.tiers),
            tuple(a.segments),
            tuple(a.statuses),
            a.reason,
            a.min_value,
            a.max_value,
            a.min_risk,
            a.max_risk,
        ),
        offers=offers,
        policy=rules,
        holdout_share=body.holdout_share,
        window_days=body.window_days,
        template=body.template,
    )


def _measured(
    request: Request, db: Session, user: User, campaign_id: int, rules: Policy
) -> ResultsPublic:
    """The campaign's measured lift, as the API and the campaign's page show it."""
    ledger = request.app.state.ledger
    return _results(campaign_results.measure(db, user, campaign_id, ledger, rules))


def _csv(db: Session, user: User, campaign_id: int) -> Response:
    text = service.audience_csv(db, user, campaign_id)
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="campaign-{campaign_id}.csv"'},
    )


# --- the API ------------------------------------------------------------------------------


@api_router.get("/campaigns", response_model=list[CampaignPublic])
def list_campaigns(db: Db, user: ApiUser, rules: Rules) -> list[CampaignPublic]:
    """Every campaign, newest first (managers, executives, admins)."""
    return [_public(db, user, c, rules) for c in service.list_campaigns(db, user)]


@api_router.post("/campaigns", response_model=CampaignPublic, status_code=201)
def create_campaign(
    body: CampaignCreate, request: Request, db: Db, user: ApiUser, rules: Rules
) -> CampaignPublic:
    """Build a draft campaign from the latest scan run: its audience, offers and preview
    (audience size, expected value, smallest detectable lift)."""
    return _public(db, user, _build(request, db, user, body, rules), rules)


@api_router.get("/campaigns/{campaign_id}", response_model=CampaignPublic)
def get_campaign(campaign_id: Id, db: Db, user: ApiUser, rules: Rules) -> CampaignPublic:
    return _public(db, user, service.get_campaign(db, user, campaign_id), rules)


@api_router.post("/campaigns/{campaign_id}/launch", response_model=LaunchPublic)
def launch_campaign(campaign_id: Id, request: Request, db: Db, user: ApiUser) -> LaunchPublic:
    """Launch once: holdout drawn, codes issued, e-mails queued, calls tasked. A second
    launch is 409."""
    require(user, Action.LAUNCH_CAMPAIGN)
    campaign = service.get_campaign(db, user, campaign_id)
    report = service.launch(db, user, campaign_id, _reach(request, db, campaign))
    return LaunchPublic(**report.__dict__)


@api_router.post("/campaigns/{campaign_id}/requeue", response_model=LaunchPublic)
def requeue_campaign(campaign_id: Id, request: Request, db: Db, user: ApiUser) -> LaunchPublic:
    """Queue a launched campaign's e-mails again if queuing failed after the launch
    committed. Never twice: a message queued already counts as a duplicate."""
    require(user, Action.LAUNCH_CAMPAIGN)
    campaign = service.get_campaign(db, user, campaign_id)
    report = service.requeue(db, user, campaign_id, _reach(request, db, campaign))
    return LaunchPublic(**report.__dict__)


@api_router.get("/campaigns/{campaign_id}/audience.csv", response_class=Response)
def audience_csv(campaign_id: Id, db: Db, user: ApiUser) -> Response:
    """The audience as CSV: offer, treated or holdout, channel and code of each member."""
    return _csv(db, user, campaign_id)


@api_router.get("/campaigns/{campaign_id}/results", response_model=ResultsPublic)
def results(
    campaign_id: Id, request: Request, db: Db, user: ApiUser, rules: Rules
) -> ResultsPublic:
    """The measured lift, treated against holdout, overall and by offer (409 before launch)."""
    return _measured(request, db, user, campaign_id, rules)


# --- pages --------------------------------------------------------------------------------


def _float(value: str, field: str) -> float | None:
    if not value.strip():
        return None
    try:
        number = float(value)
    except ValueError:
        raise InvalidInput(f"{field} {value!r}: give a number") from None
    if not math.isfinite(number):
        raise InvalidInput(f"{field} {value!r}: give a finite number")
    return number


@page_router.get("/campaigns")
def campaigns_page(request: Request, db: Db, user: PageUser, rules: Rules) -> Response:
    campaigns = service.list_campaigns(db, user)
    run: ScanRun | None = request.app.state.latest_run()
    segments: list[str] = []
    if run is not None:
        column = run.customers(["segment"]).column("segment").unique().to_pylist()
        segments = sorted(s for s in column if s)
    return render(
        request,
        "campaigns.html",
        campaigns=campaigns,
        run=run,
        segments=segments,
        offers=audience.default_offers(),
        labels=audience.OFFER_LABELS,
        rules=rules.campaigns,
    )


@page_router.post("/campaigns", dependencies=[Csrf])
async def build_by_hand(request: Request, db: Db, user: PageUser, rules: Rules) -> Response:
    form = await request.form()

    def text(name: str) -> str:
        value = form.get(name)
        return value.strip() if isinstance(value, str) else ""

    def many(name: str) -> list[str]:
        return [v for v in form.getlist(name) if isinstance(v, str) and v]

    offers = []
    for kind in audience.OFFER_KINDS:
        if text(f"offer_{kind}") != "on":
            continue
        offers.append(
            OfferIn(
                kind=kind,
                text=text(f"text_{kind}") or audience.OFFER_LABELS[kind],
                concession_kind=text(f"concession_{kind}") or None,
                amount=_float(text(f"amount_{kind}"), f"{kind} amount") or 0.0,
            )
        )
    share = _float(text("holdout_pct"), "holdout %")
    window = _float(text("window_days"), "window days")
    try:
        body = _form_body(text, many, offers, share, window)
    except ValidationError as exc:
        raise InvalidInput(
            "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'form'}: {e['msg']}" for e in exc.errors()
            )
        ) from None
    campaign = _build(request, db, user, body, rules)
    return back(f"/campaigns/{campaign.id}")


def _form_body(
    text: Any, many: Any, offers: list[OfferIn], share: float | None, window: float | None
) -> CampaignCreate:
    return CampaignCreate(
        name=text("name") or "campaign",
        audience=AudienceIn(
            tiers=many("tiers"),
            segments=many("segments"),
            statuses=many("statuses"),
            reason=text("reason"),
            min_value=_float(text("min_value"), "minimum value"),
            max_value=_float(text("max_value"), "maximum value"),
            min_risk=_float(text("min_risk"), "minimum risk"),
            max_risk=_float(text("max_risk"), "maximum risk"),
        ),
        offers=offers or None,
        holdout_share=None if share is None else share / 100,
        window_days=None if window is None else int(window),
        template="",
    )


@page_router.get("/campaigns/{campaign_id}")
def campaign_page(
    campaign_id: Id, request: Request, db: Db, user: PageUser, rules: Rules
) -> Response:
    campaign = service.get_campaign(db, user, campaign_id)
    shown = _public(db, user, campaign, rules)
    sample = None
    reach = _reach(request, db, campaign)
    offers = {o.id: o for o in audience.offers_of(db, campaign.id)}
    for member in audience.members_of(db, campaign.id):
        if mail.channel_of(member, reach.emails) == "email" and not member.holdout:
            offer = offers.get(member.offer_id) if member.offer_id else None
            code = member.code or "WB-XXXX-XXXX-XXXX-XXXX"  # codes are issued at launch
            sample = (member, mail.render_for(campaign, member, offer, reach, code=code))
            break
    measured = None
    board = None
    if campaign.state == "launched":
        measured = _measured(request, db, user, campaign.id, rules)
        if may(user, Action.VIEW_LEADERBOARD):
            # The rep leaderboard over the campaign's window: the calls it tasked count.
            since, until = date.fromisoformat(measured.since), date.fromisoformat(measured.until)
            period = incentives.Period(since, max(since, until))
            board = incentives.leaderboard(
                db, user, request.app.state.ledger, rules.incentives, period
            )
    return render(
        request,
        "campaign.html",
        campaign=campaign,
        shown=shown,
        sample=sample,
        measured=measured,
        board=board,
        unit=rules.incentives.unit,
        labels=audience.OFFER_LABELS,
    )


@page_router.post("/campaigns/{campaign_id}/launch", dependencies=[Csrf])
def launch_by_hand(campaign_id: Id, request: Request, db: Db, user: PageUser) -> Response:
    require(user, Action.LAUNCH_CAMPAIGN)
    campaign = service.get_campaign(db, user, campaign_id)
    service.launch(db, user, campaign_id, _reach(request, db, campaign))
    return back(f"/campaigns/{campaign_id}")


@page_router.post("/campaigns/{campaign_id}/requeue", dependencies=[Csrf])
def requeue_by_hand(campaign_id: Id, request: Request, db: Db, user: PageUser) -> Response:
    require(user, Action.LAUNCH_CAMPAIGN)
    campaign = service.get_campaign(db, user, campaign_id)
    service.requeue(db, user, campaign_id, _reach(request, db, campaign))
    return back(f"/campaigns/{campaign_id}")


@page_router.get("/campaigns/{campaign_id}/audience.csv")
def audience_csv_page(campaign_id: Id, db: Db, user: PageUser) -> Response:
    return _csv(db, user, campaign_id)
