"""``winback campaign``: build, launch and measure win-back campaigns from the command
line (thin; the work is in winback.desk.campaigns and winback.desk.campaign_results)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from winback import cycle
from winback.cli.output import out, safe
from winback.desk import campaign_results, campaigns, incentives
from winback.desk.campaign_audience import AudienceFilter, default_offers
from winback.desk.campaign_mail import reach_of
from winback.desk.models import User
from winback.errors import NoDeskError, NoScanRunError, UsageError
from winback.insights.lift import LiftEstimate
from winback.ledger.store import Ledger
from winback.scan.runs import latest_run
from winback.settings import Settings, load_settings

campaign_app = typer.Typer(
    help="Win-back campaigns: build one from the latest scan, launch it, read its lift.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

_AS_HELP = "The desk user who does it (their username): a manager or an admin."


def _settings() -> Settings:
    settings = load_settings()
    if not settings.has_desk:
        raise NoDeskError(
            f"no desk in {settings.home}: set WINBACK_DESK_URL, or run winback sync after a "
            "scan (or winback demo) to make one"
        )
    return settings


def _user(db: Session, username: str) -> User:
    user = db.scalar(select(User).where(User.username == username.strip().lower()))
    if user is None:
        raise UsageError(f"--as {username!r}: no desk user of that name (see winback user add)")
    return user


def _ledger(settings: Settings) -> Ledger | None:
    ledger = Ledger(settings.ledger_dir)
    return ledger if ledger.manifest_path.exists() else None


@campaign_app.command("list")
def list_command() -> None:
    """Every campaign, newest first: state, audience, holdout and window."""
    settings = _settings()
    with cycle.desk_session(settings) as db:
        found = campaigns.list_campaigns(db, None)
        if not found:
            out.print("no campaign yet", highlight=False)
        for c in found:
            counts = c.counts or {}
            out.print(
                f"{c.id:>4}  {safe(c.name)}  {c.state}  "
                f"{counts.get('treated', '-')} treated, {counts.get('holdout', '-')} held out"
                f"{f'  window ends {c.ends_on}' if c.ends_on else ''}",
                highlight=False,
            )


@campaign_app.command("build")
def build_command(
    name: str = typer.Argument(..., help="The campaign's name."),
    as_user: str = typer.Option(..., "--as", help=_AS_HELP),
    tier: list[str] = typer.Option(["campaign"], help="A scan tier to take (repeatable)."),
    segment: list[str] = typer.Option([], help="A segment to take (repeatable; default all)."),
    status: list[str] = typer.Option([], help="A status to take (repeatable; default all)."),
    reason: str = typer.Option("", help="Only customers with a reason containing this."),
    holdout: float | None = typer.Option(
        None, help="The share held out, 0.01 to 0.5 (default: the policy's)."
    ),
    window_days: int | None = typer.Option(
        None, help="Days over which the lift is measured (default: the policy's)."
    ),
    policy: Path | None = typer.Option(
        None, help="Policy file (default: WINBACK_POLICY, else the workspace's policy.toml)."
    ),
) -> None:
    """Build a draft campaign from the latest scan run with the standard offers (a price
    break, an apology with a guarantee, a coupon); the desk's page changes them."""
    settings = _settings()
    run = latest_run(settings.runs_dir)
    if run is None:
        raise NoScanRunError("no scan run yet: run winback scan first")
    rules = cycle.policy_in_force(settings, policy)
    with cycle.desk_session(settings) as db:
        made = campaigns.build_campaign(
            db,
            _user(db, as_user),
            run,
            name=name,
            audience=AudienceFilter(tuple(tier), tuple(segment), tuple(status), reason),
            offers=default_offers(),
            policy=rules,
            holdout_share=holdout,
            window_days=window_days,
        )
        shown = campaigns.preview(db, None, made, rules)
    mde = shown.minimum_detectable_lift
    out.print(
        f"campaign {made.id} built: {shown.audience:,} member(s), expected value "
        f"{shown.expected_value:,.2f}, {shown.treated:,} to treat and {shown.holdout:,} to "
        "hold out; smallest detectable lift "
        + (f"{mde * 100:.1f} points" if mde is not None else "none (too few members)"),
        highlight=False,
    )


@campaign_app.command("launch")
def launch_command(
    campaign_id: int = typer.Argument(..., help="The campaign's number."),
    as_user: str = typer.Option(..., "--as", help=_AS_HELP),
) -> None:
    """Launch a draft campaign once: draw the holdout, issue codes, queue the e-mails,
    put the rep tier's calls on their queues."""
    settings = _settings()
    with cycle.desk_session(settings) as db:
        user = _user(db, as_user)
        made = campaigns.get_campaign(db, user, campaign_id)
        reach = reach_of(db, made, _ledger(settings), settings)
        report = campaigns.launch(db, user, campaign_id, reach)
    out.print(
        f"campaign {campaign_id} launched: {report.treated:,} treated ({report.queued:,} "
        f"e-mail(s) queued, {report.calls:,} call task(s), {report.no_address:,} without an "
        f"address), {report.holdout:,} held out ({report.cases_held:,} open case(s) "
        "closed: no contact until the window ends)",
        highlight=False,
    )


def requeue_command(
    campaign_id: int = typer.Argument(..., help="The campaign's number."),
    as_user: str = typer.Option(..., "--as", help=_AS_HELP),
) -> None:
    """Queue a launched campaign's e-mails again, if queuing failed after the launch
    committed. Never twice: a message queued already is counted and left alone."""
    settings = _settings()
    with cycle.desk_session(settings) as db:
        user = _user(db, as_user)
        made = campaigns.get_campaign(db, user, campaign_id)
        reach = reach_of(db, made, _ledger(settings), settings)
        report = campaigns.requeue(db, user, campaign_id, reach)
    out.print(
        f"campaign {campaign_id}: {report.queued:,} e-mail(s) queued, {report.duplicates:,} "
        f"queued already, {report.blocked:,} now do-not-contact",
        highlight=False,
    )


def _estimate(e: LiftEstimate | None, money: bool) -> str:
    if e is None:
        return "-"
    if money:
        return (
            f"{e.treated_rate:,.2f} vs {e.holdout_rate:,.2f} ({e.difference:+,.2f}; "
            f"{e.low:+,.2f} to {e.high:+,.2f})"
        )
    return (
        f"{e.treated_rate:.1%} vs {e.holdout_rate:.1%} ({e.difference * 100:+.1f} points; "
        f"{e.low * 100:+.1f} to {e.high * 100:+.1f})"
    )


def report_command(
    campaign_id: int = typer.Argument(..., help="The campaign's number."),
) -> None:
    """A launched campaign's lift: win-back rate and revenue per member, treated against
    holdout, overall and by offer, with the cost of offers redeemed."""
    settings = _settings()
    with cycle.desk_session(settings) as db:
        found = campaign_results.measure(
            db, None, campaign_id, _ledger(settings), settings.read_policy()
        )
    out.print(
        f"campaign {campaign_id}, {found.since} to {found.until}"
        f"{'' if found.window_over else ' (window still open)'}",
        highlight=False,
    )
    for g in [found.overall, *found.by_offer]:
        net = f"{g.net_revenue:+,.2f}" if g.net_revenue is not None else "-"
        out.print(
            f"{safe(g.label)}: {g.treated_n:,} treated / {g.holdout_n:,} held out; "
            f"win-back {_estimate(g.rate, False)}; revenue per member "
            f"{_estimate(g.revenue, True)}; {g.redeemed:,} redeemed costing {g.cost:,.2f}; "
            f"net incremental revenue {net}",
            highlight=False,
        )
    for p in found.problems:
        out.print(f"code {p.code} on order {safe(p.order_id)}: {safe(p.problem)}", highlight=False)


campaign_app.command("report")(report_command)
campaign_app.command("requeue")(requeue_command)


def _day(value: str | None, option: str) -> date | None:
    if value is None or not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise UsageError(f"{option} {value!r}: give a date as YYYY-MM-DD") from None


def leaderboard_command(
    since: str | None = typer.Option(
        None, "--since", help="First day of closes counted (default: period_days ago)."
    ),
    until: str | None = typer.Option(
        None, "--until", help="Last day of closes counted (default: today)."
    ),
) -> None:
    """The rep incentives leaderboard: each person's cases closed, customers and revenue
    won back and earnings under the policy's [incentives] plan, highest first."""
    settings = _settings()
    plan = settings.read_policy().incentives
    period = incentives.period_of(plan, _day(since, "--since"), _day(until, "--until"))
    ledger = _ledger(settings)
    with cycle.desk_session(settings) as db:
        rows = incentives.leaderboard(db, None, ledger, plan, period)
        base = incentives.baseline(db, ledger, plan) if plan.above_baseline else None
    out.print(f"cases closed {period.since} to {period.until}; earnings in {safe(plan.unit)}")
    if base is not None:
        out.print(
            f"baseline from {base.members:,} holdout member(s): {base.rate:.1%} came back, "
            f"{base.revenue_per_member:,.2f} revenue per member",
            highlight=False,
        )
    for rank, e in enumerate(rows, 1):
        out.print(
            f"{rank}. {safe(e.name)} ({e.role}): {e.closed:,} closed, {e.won_back:,} won back, "
            f"{e.revenue:,.2f} revenue won back; earned {e.earnings:,.2f}",
            highlight=False,
        )
