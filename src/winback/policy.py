"""The lapse policy: every threshold the scan uses, in one TOML file a business can edit.

``winback scan --policy my-policy.toml`` reads it; keys left out keep their defaults, and
``winback policy --defaults`` prints a complete file to start from. docs/policy.md is
generated from this module (``winback policy --markdown``), so the documentation of each
key cannot drift from the code. A bad value stops the scan with the section, the key and
what is expected.
"""

from __future__ import annotations

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
        description="The follow-suit classifier predicts lapsing within this many days; its "
        "backtest cutoffs are this far apart.",
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
    rude_interactions: int = Field(
        2,
        gt=0,
        description="Rude to staff: at least this many interactions where staff recorded "
        "the customer as rude or abusive.",
    )
    heavy_contact_multiple: float = Field(
        3.0,
        gt=1,
        description="Contacts far more than peers: contacts per year above this many times "
        "the segment's median.",
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
    return_abuse_share: float = Field(
        0.3,
        gt=0,
        le=1,
        description="Abuses returns: returned value at least this share of what was bought, "
        "with at least three returns.",
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
    rep_min_value: float = Field(
        300.0,
        ge=0,
        description="Below this value at stake a customer gets a campaign, not a rep's call.",
    )


class Models(_Section):
    """The customer-base models the scan fits."""

    repeat_model: Literal["pareto_nbd", "bg_nbd", "mbg_nbd"] = Field(
        "mbg_nbd",
        description="Model of repeat purchases for P(alive) and expected purchases: "
        "mbg_nbd, bg_nbd or pareto_nbd. BG/NBD counts a customer with no repeat purchase "
        "as certainly alive; MBG/NBD and Pareto/NBD do not. MBG/NBD is the default: "
        "closed-form and fast at millions of customers.",
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
    assignment: dict[str, Any] = Field(
        default_factory=dict,
        description="Case assignment rules, read by the desk (see docs/desk.md).",
    )


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
        problems = []
        for error in exc.errors():
            loc = [str(p) for p in error["loc"]]
            where = f"[{loc[0]}] {'.'.join(loc[1:])}" if len(loc) > 1 else f"[{loc[0]}]"
            message = error["msg"]
            if error["type"] == "extra_forbidden":
                message = "not a policy key (misspelt?); see docs/policy.md"
            problems.append(f"{where}: {message}")
        raise PolicyError(f"{path}: " + "; ".join(problems)) from None


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


def _sections() -> list[tuple[str, type[_Section]]]:
    out = []
    for name, field in Policy.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, _Section):
            out.append((name, field.annotation))
    return out


def default_toml() -> str:
    """A complete policy file holding every default, each key with its meaning."""
    lines = ["# winback lapse policy: every key with its default. See docs/policy.md.", ""]
    for name, section in _sections():
        lines.append(f"[{name}]  # {section.__doc__}")
        defaults = section()
        for key, field in section.model_fields.items():
            lines.append(f"# {field.description}")
            lines.append(f"{key} = {_toml_value(getattr(defaults, key))}")
        lines.append("")
    return "\n".join(lines)


def render_markdown() -> str:
    """docs/policy.md."""
    lines = [
        "# The lapse policy",
        "",
        "Every threshold the scan uses lives in one TOML file: `winback scan --policy FILE`.",
        "Keys left out keep their defaults; `winback policy --defaults > policy.toml` writes a",
        "complete file to start from. This page is generated from `src/winback/policy.py`",
        "(`winback policy --markdown`); a test fails when they differ.",
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
    lines += [
        "## [assignment]",
        "",
        "Case assignment rules, read by the desk (see docs/desk.md).",
        "",
    ]
    return "\n".join(lines)
