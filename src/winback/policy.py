"""The policy file: every rule the scan and the desk apply, in one TOML file a business
can edit.

One typed object, :class:`Policy`, one section class per ``[section]``, validated once at
load (:func:`load_policy`). ``winback scan --policy my-policy.toml`` reads it; keys left out
keep their defaults, and ``winback policy --defaults`` prints a complete file to start
from. docs/policy.md is generated from this module (``winback policy --markdown``), so the
documentation of each key cannot drift from the code. A bad value stops whoever reads the
file with the section, the key and what is expected. Nothing reads the file behind the
caller's back: the cycle, the web app and the CLI read it and pass it down.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from winback.errors import PolicyError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Lapse(_Section):
    """When a customer counts as slipping, lapsed or lost."""

    cycle_multiple: float = Field(
        3.0,
        gt=1,
        description="No order within this many times the customer's own typical interval "
        "between purchases: lapsed. Half way there (from 1.5x): slipping.",
    )
    cycle_prior_intervals: float = Field(
        3.0,
        ge=0,
        description="How strongly a customer's own interval is shrunk toward the segment's: "
        "the segment's median interval counts as this many observed intervals, so a customer "
        "with few orders is judged mostly by the segment.",
    )
    volume_period_days: int = Field(
        90, gt=0, description="Length of the period whose order volume is compared."
    )
    volume_drop_percent: float = Field(
        50.0,
        gt=0,
        le=100,
        description="Slipping when revenue in the last period is down by at least this "
        "percentage against the period before it, or against the same period a year earlier.",
    )
    volume_min_revenue: float = Field(
        0.0,
        ge=0,
        description="The volume rule applies only to customers whose revenue in the earlier "
        "period was at least this much (small accounts swing too much to judge).",
    )
    no_engagement_months: int = Field(
        6,
        gt=0,
        description="Slipping when the customer was sent marketing but opened or clicked "
        "nothing for this many months.",
    )
    no_purchase_months: int = Field(
        6, gt=0, description="Lapsed when there has been no purchase for this many months."
    )
    lost_after_months: int = Field(
        18, gt=0, description="Lost (not just lapsed) after this many months without a purchase."
    )
    p_alive_slipping: float = Field(
        0.5,
        gt=0,
        lt=1,
        description="Model signal: slipping when P(alive) from the BG/NBD model is below this.",
    )
    p_alive_lost: float = Field(
        0.1,
        gt=0,
        lt=1,
        description="Model signal: a lapsed customer with P(alive) below this is lost.",
    )
    overdue_gaps: float = Field(
        2.0,
        gt=0,
        description="Model signal: slipping when the time since the last purchase is at "
        "least this many of the model's expected gaps between the customer's purchases "
        "(the expected next purchase is overdue).",
    )
    expected_purchases_days: int = Field(
        90, gt=0, description="The period over which expected purchases are reported."
    )
    follow_suit_window_days: int = Field(
        90,
        gt=0,
        description="The lapse risk is the probability of no counted order within this many "
        "days (a subscriber: every contract ended); the backtest grades it this far back.",
    )
    slipping_precision: float = Field(
        0.65,
        gt=0,
        lt=1,
        description="Slipping when the lapse risk is at or above the lowest threshold at "
        "which, on the backtest's held-out cutoff, at least this share of the customers "
        "flagged really placed no order within the horizon (and at least half way from the "
        "base rate to certainty), and no larger a share than that precision stayed away "
        "180 days on the backtest's longer grade. Higher: fewer, surer alerts.",
    )


class Worth(_Section):
    """What a customer is worth, and the intangibles."""

    years: int = Field(3, gt=0, description="Profitability is measured over this many past years.")
    default_margin_rate: float = Field(
        0.3,
        ge=0,
        le=1,
        description="Margin as a share of revenue for orders that carry no margin of their own.",
    )
    horizon_months: int = Field(
        36, gt=0, description="Lifetime value is predicted over this many months."
    )
    yearly_discount_rate: float = Field(
        0.10, ge=0, lt=1, description="Discount rate for lifetime value, per year."
    )
    recent_incident_days: int = Field(
        180, gt=0, description="An incident this recent counts as a mistake the customer suffered."
    )
    intangible_confidence: float = Field(
        0.8,
        gt=0,
        lt=1,
        description="An intangible is raised when the chance that the customer stands out "
        "from their peers (read from the peers' record as two groups, the ordinary and the "
        "few) is at least this; a business with fewer than 150 customers to compare uses "
        "the peers' median instead.",
    )
    rude_interactions: int = Field(
        1,
        gt=0,
        description="Rude to staff: at least this many interactions where staff recorded "
        "the customer as rude or abusive (the rude mark, a tag or a note saying so).",
    )
    heavy_contact_multiple: float = Field(
        3.0,
        gt=1,
        description="Contacts far more than peers: contacts a month (not counting "
        "complaints) at least this many times the usual rate of customers of the same "
        "segment and value.",
    )
    late_payer_share: float = Field(
        0.3,
        gt=0,
        le=1,
        description="Pays late: at least this share of invoices paid after their due date "
        "(plus the grace days).",
    )
    late_grace_days: int = Field(
        7, ge=0, description="An invoice paid within this many days after it was due is on time."
    )
    return_abuse_multiple: float = Field(
        3.0,
        gt=1,
        description="Abuses returns: returns per order at least this many times the usual "
        "rate of customers of the same segment.",
    )


class Decision(_Section):
    """Keeper decision: pursue, don't pursue, or let go gracefully."""

    min_value: float = Field(
        50.0,
        ge=0,
        description="Don't pursue when the value at stake (predicted value if won back) is "
        "below this.",
    )
    let_go_intangibles: int = Field(
        2,
        gt=0,
        description="Let go gracefully when the customer shows at least this many "
        "intangibles (rude, heavy contact, late payer, return abuser).",
    )
    let_go_unprofitable: bool = Field(
        True,
        description="Let go gracefully when the customer's margin over the past years is "
        "negative (returns and costs exceeded what they brought).",
    )


class Odds(_Section):
    """Win-back odds: a prior by segment, learned from recorded outcomes."""

    prior_mean: float = Field(
        0.30,
        gt=0,
        lt=1,
        description="Prior probability that an ex-customer can be won back; the brief's "
        "20-40% (Marketing Metrics) centred.",
    )
    prior_strength: float = Field(
        70.0,
        gt=0,
        description="How many outcomes the prior is worth. 70 puts 95% of the prior between "
        "about 20% and 40%; recorded outcomes outweigh it once there are more of them.",
    )
    segment_prior_means: dict[str, float] = Field(
        default_factory=dict,
        description="Prior means for particular segments, e.g. {enterprise = 0.4}.",
    )
    unprompted_prior_mean: float = Field(
        0.10,
        ge=0,
        lt=1,
        description="Prior probability that an ex-customer comes back with no call at all "
        "(the baseline a call's lift is measured from); learned from uncontacted outcomes "
        "(holdouts, returned_unprompted).",
    )
    level_strength: float = Field(
        20.0,
        gt=0,
        description="How many outcomes the segment's rate is worth when learning the rate "
        "for one reason within the segment, and the reason's rate when learning one "
        "customer's own.",
    )
    campaign_uplift: bool = Field(
        False,
        description="true: once the ledger holds past campaigns' outcomes with at least 30 "
        "treated and 30 holdout members, a campaign's customer (below the rep tier) is worth "
        "the uplift an uplift model learned from them predicts, times their value, less "
        "costs. Off by default: on the simulator the scan's own columns rank persuadability "
        "no better than random (docs/campaigns.md).",
    )


class Costs(_Section):
    """Expected cost of one win-back attempt, by tier."""

    executive_call: float = Field(250.0, ge=0, description="An executive's call and follow-up.")
    rep_call: float = Field(40.0, ge=0, description="A rep's guided call and follow-ups.")
    campaign: float = Field(3.0, ge=0, description="A campaign touch (e-mail, offer).")
    offer_share: float = Field(
        0.10,
        ge=0,
        le=1,
        description="Expected concession, as a share of the value won back.",
    )


class Tiers(_Section):
    """Who makes the approach."""

    executive_top: int = Field(
        20,
        ge=0,
        description="The most valuable customers to pursue, by expected value, go to an executive.",
    )
    executive_min_value: float = Field(
        5000.0, ge=0, description="…but only those whose value at stake is at least this."
    )
    executive_max_returns_anyway: float = Field(
        0.5,
        gt=0,
        le=1,
        description="…and only those less likely than this to come back with no call at all "
        "(an account that will buy anyway does not take an executive's call).",
    )
    rep_min_value: float = Field(
        300.0,
        ge=0,
        description="Below this value at stake a customer gets a campaign, not a rep's call.",
    )


class Models(_Section):
    """The customer-base models the scan fits."""

    # With repeat_model = "auto" the scan fits BG/NBD, MBG/NBD and Pareto/NBD on the history
    # up to holdout_days before its date, predicts each customer's repeat purchases in those
    # days, keeps the model with the smallest mean absolute error against what customers
    # really bought and refits it on all the history; run.json (models.choice) keeps every
    # candidate's error and the reason. bg_bb is never chosen automatically.
    repeat_model: Literal["auto", "pareto_nbd", "bg_nbd", "mbg_nbd", "bg_bb"] = Field(
        "auto",
        description="Model of repeat purchases for P(alive) and expected purchases: auto "
        "(chosen by holdout fit on the ledger among mbg_nbd, bg_nbd and pareto_nbd), mbg_nbd, "
        "bg_nbd, pareto_nbd, or bg_bb for purchases at discrete opportunities (see "
        "opportunity_days). BG/NBD counts a customer with no repeat purchase as certainly "
        "alive; the others do not.",
    )
    holdout_days: int = Field(
        180,
        gt=0,
        description="With repeat_model = auto: the last this many days of history are held "
        "out to compare the candidate models on what customers really bought.",
    )
    opportunity_days: int = Field(
        365,
        gt=0,
        description="With repeat_model = bg_bb: the length of one purchase opportunity in "
        "days (365 for a yearly event); a customer's repeat purchases count the "
        "opportunities after the first one in which they bought.",
    )
    penalizer: float = Field(
        0.0, ge=0, description="L2 penalty on the log-parameters, against runaway fits."
    )
    min_customers: int = Field(
        200, gt=0, description="Fewer customers than this: the models are not fitted."
    )


class RedCarpet(_Section):
    """How a won-back customer is looked after (read by the desk)."""

    experiences: int = Field(
        10,
        gt=0,
        description="A won-back customer gets the red carpet for this many later orders or "
        "interactions.",
    )
    cycle_multiple: float = Field(
        1.5,
        gt=0,
        description="Tighter watch: a red-carpet customer has slipped when no order came "
        "within this many times their typical interval (the usual rule waits far longer).",
    )
    p_alive_slipping: float = Field(
        0.8,
        gt=0,
        lt=1,
        description="Tighter watch: a red-carpet customer has slipped when P(alive) falls "
        "below this.",
    )
    incident_slips: bool = Field(
        True, description="A new incident during the period counts as a slip."
    )
    order_gesture: str = Field(
        "priority handling and a personal thank-you",
        description="The gesture recorded for an order that arrives by import.",
    )
    interaction_gesture: str = Field(
        "senior staff handle the contact",
        description="The gesture recorded for an interaction that arrives by import.",
    )
    appreciation_days: list[int] = Field(
        default_factory=lambda: [7, 30],
        description="When the period ends, appreciation touches are scheduled for the "
        "owner this many days later.",
    )


# The desk roles that may hold a case (the desk's own list: desk/assignment.py; a test
# keeps the two equal, since this bottom layer may not import the desk).
HolderRole = Literal["executive", "manager", "rep"]
# The scan's approach tiers that a case can be opened for (scan/runs.py's TIERS without
# "none"; a test keeps them equal).
CaseTier = Literal["executive", "rep", "campaign"]
_DEFAULT_CASE_TIERS: list[CaseTier] = ["executive", "rep"]


class Assignment(_Section):
    """Who gets a new case (read by the desk; the rules in order: docs/desk.md)."""

    recent_days: int = Field(
        180,
        ge=0,
        description="Whoever dealt with the customer last gets the case if that was within "
        "this many days of the scan date; otherwise whoever dealt with them most.",
    )
    prefer_account_owner: bool = Field(
        True,
        description="The account owner (customers.owner_staff_id), when a desk user, gets "
        "the case before anyone who merely dealt with the customer.",
    )
    executive_tier: HolderRole = Field(
        "executive",
        description="The desk role that takes the executive tier's cases: executive, "
        "manager or rep.",
    )
    fallback_role: HolderRole = Field(
        "rep",
        description="When nobody has dealt with the customer, the least busy user of this "
        "role takes the case: executive, manager or rep.",
    )
    case_tiers: list[CaseTier] = Field(
        default_factory=lambda: _DEFAULT_CASE_TIERS.copy(),
        description="The scan's tiers whose customers get a case on the desk: executive, "
        "rep, campaign. The others are left to campaigns.",
    )


class ContactRules(_Section):
    """Who winback sync opens no new case for: the just won back and the just refused."""

    won_back_days: int = Field(
        180,
        ge=0,
        le=3650,
        description="No new case for a customer whose case closed won back within this "
        "many days, nor while their red carpet lasts.",
    )
    declined_days: int = Field(
        90,
        ge=0,
        le=3650,
        description="Cool-down: no new case for a customer whose case closed declined "
        "within this many days.",
    )
    unreachable_days: int = Field(
        30,
        ge=0,
        le=3650,
        description="Cool-down: no new case for a customer whose case closed unreachable "
        "within this many days.",
    )


class Contracts(_Section):
    """How the scan reads subscribers' contracts (docs/scan.md, "Contracts")."""

    late_window_days: int = Field(
        180,
        ge=1,
        le=3650,
        description="Late payments (paid after the due date, or unpaid past it) due within "
        "this many days before the scan count toward a subscriber's payment trouble.",
    )
    downgrade_window_days: int = Field(
        365,
        ge=1,
        le=3650,
        description="A running contract started this recently at a lower monthly price than "
        "the contract before it is a downgrade.",
    )
    risk_cutoffs: int = Field(
        4,
        ge=2,
        le=24,
        description="Past cutoffs (one horizon apart) the contract-risk model learns from; "
        "the newest grades it.",
    )
    risk_min_class: int = Field(
        20,
        ge=1,
        description="Fewer subscribers than this who left (or who stayed) over the cutoffs: "
        "no contract-risk model, the sBG's figure stands.",
    )


class FeedSource(_Section):
    """One RSS or Atom feed the cycle polls for public posts."""

    name: str = Field(min_length=1, max_length=100, description="What the desk calls it.")
    url: str = Field(min_length=1, description="The feed's address (http or https).")
    reach: int = Field(
        1000, ge=0, description="About how many people read it (weighs a post's urgency)."
    )


class Complaints(_Section):
    """Public posts: who wrote them, and the urgent case a complaint opens."""

    match_threshold: float = Field(
        0.85,
        gt=0,
        le=1,
        description="A post matched to a customer with at least this confidence is theirs; "
        "below it the post waits in triage for a person.",
    )
    complaint_below: float = Field(
        -0.05,
        ge=-1,
        le=1,
        description="A post whose sentiment (VADER compound, -1 to 1) is below this is a "
        "complaint; above minus it, praise.",
    )
    due_hours: float = Field(
        4.0, gt=0, description="Business hours an urgent case has before it is overdue."
    )
    business_hours: list[int] = Field(
        default_factory=lambda: [9, 17],
        min_length=2,
        max_length=2,
        description="The working day, [first hour, hour it ends], in the business's "
        "timezone (WINBACK_TIMEZONE).",
    )
    business_days: list[int] = Field(
        default_factory=lambda: [0, 1, 2, 3, 4],
        description="Working weekdays, 0 = Monday.",
    )
    webhook_window_seconds: int = Field(
        300,
        gt=0,
        description="A signed webhook post older or newer than this is refused, and a "
        "signature seen within it is refused as a replay.",
    )
    backoff_minutes: int = Field(
        30,
        gt=0,
        description="After a feed fails, it waits this long (doubling with each failure in "
        "a row, up to a day) before it is polled again.",
    )
    feeds: list[FeedSource] = Field(
        default_factory=list,
        description="RSS and Atom feeds to poll on every pass of the cycle (managers add "
        "more on the desk).",
    )


# The kinds of offer a campaign makes (each campaign sets the wording and the amount).
CampaignOfferKind = Literal["price_break", "apology_guarantee", "coupon", "plus_extra"]


def _default_offers_by_reason() -> dict[str, CampaignOfferKind]:
    return {
        "price": "price_break",
        "competitor": "price_break",
        "incident": "apology_guarantee",
        "delivery": "apology_guarantee",
        "quality": "apology_guarantee",
        "wrong item": "apology_guarantee",
        "unhappy": "apology_guarantee",
        "negative public post": "apology_guarantee",
        "stopped buying": "plus_extra",
    }


class Campaigns(_Section):
    """Win-back campaigns: the offer for each reason, the holdout, the window (desk)."""

    offers_by_reason: dict[str, CampaignOfferKind] = Field(
        default_factory=_default_offers_by_reason,
        description="A member whose scan reasons contain a key (any case) gets the offer "
        "of that kind, the first key that matches winning: price_break, apology_guarantee, "
        "coupon or plus_extra.",
    )
    default_offer: CampaignOfferKind = Field(
        "coupon",
        description="The offer of a member no key matches (or whose kind the campaign "
        "does not make); a campaign without it falls back to its first offer.",
    )
    holdout_share: float = Field(
        0.1,
        gt=0,
        lt=1,
        description="The share of each tier-and-segment stratum held out at random "
        "(they get nothing, so the lift is measured); a manager may set another per campaign.",
    )
    window_days: int = Field(
        60,
        gt=0,
        le=730,
        description="Days after launch over which returns and revenue count, and during "
        "which the holdout is kept out of every other campaign.",
    )
    free_item_cost: float = Field(
        10.0,
        ge=0,
        description="What one free item costs the business (the cost of a plus_extra "
        "offer redeemed).",
    )
    base_rate: float = Field(
        0.1,
        gt=0,
        lt=1,
        description="The win-back rate expected without a campaign: the base of the "
        "smallest detectable lift the desk shows before launch.",
    )


class Incentives(_Section):
    """Rep incentives: what each rep earns for the customers they win back (desk)."""

    unit: str = Field(
        "points",
        min_length=1,
        max_length=20,
        description="What earnings are counted in, as the pages show it: points, or a "
        "currency such as USD.",
    )
    per_win: float = Field(
        10.0,
        ge=0,
        description="Earned for each customer won back: a case the rep owned, closed in the "
        "period and counted won back (docs/desk.md, one customer counted once).",
    )
    per_revenue: float = Field(
        0.0,
        ge=0,
        description="Earned per unit of revenue won back: the customer's counted orders "
        "from the day their case opened to revenue_days after its close.",
    )
    revenue_days: int = Field(
        90,
        gt=0,
        le=730,
        description="Days after a case's close over which the customer's orders count as "
        "revenue won back (and over which the holdout's baseline is read).",
    )
    above_baseline: bool = Field(
        False,
        description="Pay only above what would have come back anyway: the wins and revenue "
        "the rep's closed cases would bring at the baseline of launched campaigns' holdouts "
        "(their win-back rate and revenue per member over revenue_days from launch; the "
        "rep tier's holdout members when there are any) are taken off first.",
    )
    period_days: int = Field(
        90,
        gt=0,
        le=3660,
        description="The earnings pages and the leaderboard count cases closed in the last "
        "this many days (each may ask for another period).",
    )


class Policy(_Section):
    """The whole policy file."""

    lapse: Lapse = Field(default_factory=Lapse)  # type: ignore[arg-type]
    worth: Worth = Field(default_factory=Worth)  # type: ignore[arg-type]
    decision: Decision = Field(default_factory=Decision)  # type: ignore[arg-type]
    odds: Odds = Field(default_factory=Odds)  # type: ignore[arg-type]
    costs: Costs = Field(default_factory=Costs)  # type: ignore[arg-type]
    tiers: Tiers = Field(default_factory=Tiers)  # type: ignore[arg-type]
    models: Models = Field(default_factory=Models)  # type: ignore[arg-type]
    red_carpet: RedCarpet = Field(default_factory=RedCarpet)  # type: ignore[arg-type]
    assignment: Assignment = Field(default_factory=Assignment)  # type: ignore[arg-type]
    contact: ContactRules = Field(default_factory=ContactRules)  # type: ignore[arg-type]
    complaints: Complaints = Field(default_factory=Complaints)  # type: ignore[arg-type]
    campaigns: Campaigns = Field(default_factory=Campaigns)  # type: ignore[arg-type]
    incentives: Incentives = Field(default_factory=Incentives)  # type: ignore[arg-type]
    contracts: Contracts = Field(default_factory=Contracts)  # type: ignore[arg-type]


def load_policy(path: Path | None) -> Policy:
    """The policy in ``path`` over the defaults; ``None`` gives the defaults."""
    if path is None:
        return Policy()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PolicyError(f"{path}: policy file not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{path}: not a valid TOML file ({exc})") from None
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(f"{path}: " + "; ".join(_problems(exc))) from None


def _problems(exc: ValidationError) -> list[str]:
    """Each error as ``[section] key: what is wrong`` (``key[0]`` for a list's item)."""
    problems = []
    for error in exc.errors():
        section, *rest = error["loc"]
        key = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in rest).lstrip(".")
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            known = ", ".join(Policy.model_fields) if not rest else ""
            message = (
                f"not a policy section (misspelt?); the sections are {known}"
                if known
                else "not a policy key (misspelt?); see docs/policy.md"
            )
        problems.append(f"[{section}] {key}: {message}" if key else f"[{section}]: {message}")
    return problems


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _toml_string(key)


def _toml_string(value: str) -> str:
    # A JSON string is a TOML basic string once DEL, which TOML refuses raw, is escaped.
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_value(value: Any) -> str:
    """One value as TOML (inline: a policy file keeps every key on one line)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, int | float):
        return repr(value)  # Python's int and float literals are TOML's (inf and nan too)
    if isinstance(value, BaseModel):
        return _toml_value(value.model_dump())
    if isinstance(value, dict):
        items = (f"{_toml_key(str(k))} = {_toml_value(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")  # pragma: no cover - a new field's type


def _sections() -> list[tuple[str, type[_Section]]]:
    out = []
    for name, field in Policy.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, _Section):
            out.append((name, field.annotation))
    return out


def to_toml(policy: Policy) -> str:
    """``policy`` as a complete policy file, every key with its meaning; it loads back equal."""
    lines = ["# winback policy: every key of every section. See docs/policy.md.", ""]
    for name, section in _sections():
        lines.append(f"[{name}]  # {section.__doc__}")
        values = getattr(policy, name)
        for key, field in section.model_fields.items():
            lines.append(f"# {field.description}")
            lines.append(f"{key} = {_toml_value(getattr(values, key))}")
        lines.append("")
    return "\n".join(lines)


def default_toml() -> str:
    """A complete policy file holding every default, each key with its meaning."""
    return to_toml(Policy())


def render_markdown() -> str:
    """docs/policy.md."""
    lines = [
        "# The policy file",
        "",
        "Every rule the scan and the desk apply lives in one TOML file: the workspace's",
        "`policy.toml` (or `WINBACK_POLICY`; see [operations.md](operations.md)), or",
        "`winback scan --policy FILE` for one scan. Keys left out keep their defaults;",
        "`winback policy --defaults > policy.toml` writes a complete file to start from, and",
        "`winback policy --check FILE` checks every section of a file and prints it in full.",
        "A bad value or a misspelt key is refused when the file is read, naming the section",
        "and the key: the scan and `winback sync` stop, and the desk answers every request",
        "that applies a rule (closing a case, a guided call, the red carpet) with that",
        "message until the file is fixed. This page is generated from",
        "`src/winback/policy.py` (`winback policy --markdown`); a test fails when they differ.",
        "",
    ]
    for name, section in _sections():
        defaults = section()
        lines += [
            f"## [{name}]",
            "",
            str(section.__doc__),
            "",
            "| key | default | meaning |",
            "|---|---|---|",
        ]
        for key, field in section.model_fields.items():
            lines.append(
                f"| `{key}` | `{_toml_value(getattr(defaults, key))}` | {field.description} |"
            )
        lines.append("")
    return "\n".join(lines)
