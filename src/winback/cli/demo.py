"""``winback demo``: a simulated business, scanned, synced, worked, re-scanned, a campaign
launched, public complaints taken in, and the desk served."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.table import Table as RichTable

from winback.cli.desk import print_sync
from winback.cli.output import err, out, print_results, print_run, safe
from winback.settings import load_settings

if TYPE_CHECKING:
    from winback.demo import Demo


def demo_command(
    customers: int = typer.Option(3000, help="How many customers the simulated business has."),
    serve: bool = typer.Option(True, help="Serve the desk when the demo is built."),
    port: int = typer.Option(8000, help="Port for the desk."),
    force: bool = typer.Option(
        False,
        "--force",
        help="Replace what the workspace holds (ledger, scan runs, SQLite desk, policy.toml) "
        "with the demo's. Without it a workspace that holds anything is refused.",
    ),
) -> None:
    """The demo: simulate a small business, import, scan, add desk users, sync, work the
    first cases, scan again, launch a campaign, take in public complaints, serve."""
    from winback.demo import build_demo

    settings = load_settings()
    if not settings.public_url:
        # The campaign's unsubscribe links point at the desk the demo serves.
        settings = load_settings(public_url=f"http://127.0.0.1:{port}")
    out.print(f"winback demo: workspace {safe(settings.home.resolve())}", highlight=False)
    with err.status("building the demo") as status:
        demo = build_demo(
            settings, customers, say=lambda text: status.update(safe(text)), force=force
        )
    if demo.policy_path is not None:
        out.print(
            f"policy: {safe(demo.policy_path)} (the defaults, with an executive tier sized "
            "to a small business)",
            highlight=False,
        )
    print_results(demo.imports)
    if demo.run is not None:
        print_run(demo.run, 10)
    if demo.sync is not None:
        print_sync(demo.sync)
    if demo.worked is not None:
        out.print(
            f"desk: {demo.worked.calls} case(s) worked by their reps, {demo.worked.won_back} "
            "won back (see the dashboard: Reasons × revenue)",
            highlight=False,
        )
    if demo.rescan is not None:
        out.print(
            f"second scan {safe(demo.rescan.run.info.run_id)}, after the worked cases "
            "(their outcomes are in the ledger it reads):",
            highlight=False,
        )
        if demo.rescan.synced is not None:
            print_sync(demo.rescan.synced)
        odds = ", ".join(
            f"{safe(segment)} {demo.odds_before.get(segment, 0.0):.1%} → {after:.1%}"
            for segment, after in demo.odds_after.items()
        )
        out.print(f"win-back odds by segment, learned from the outcomes: {odds}", highlight=False)
    _print_executives(demo)
    _print_campaign(demo)
    c = demo.complaints
    out.print(
        f"public posts: {c.get('posts_stored', 0):,} taken in, {c.get('posts_matched', 0):,} "
        f"matched to a customer ({c.get('posts_triage', 0):,} left for triage), "
        f"{c.get('posts_complaints', 0):,} complaint(s): {c.get('posts_cases_opened', 0):,} "
        f"urgent case(s) opened, {c.get('posts_cases_made_urgent', 0):,} open case(s) made "
        "urgent (desk: Complaints)",
        highlight=False,
    )
    users = RichTable(title="desk users (passwords shown once)", title_justify="left")
    for name in ("username", "role", "password", "staff id"):
        users.add_column(name)
    for user in demo.users:
        users.add_row(
            safe(user.username), safe(user.role), safe(user.password), safe(user.staff_id or "")
        )
    out.print(users)
    if serve:
        import uvicorn

        from winback.web.app import create_app

        out.print(f"serving the desk on http://127.0.0.1:{port}/ (Ctrl-C to stop)", highlight=False)
        uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="warning")


def _print_executives(demo: Demo) -> None:
    if not demo.executives:
        out.print("executive tier: no case (no customer is worth an executive's call)")
        return
    out.print(
        f"executive tier: {len(demo.executives)} open case(s), each for an executive "
        "(log in as one to see it):",
        highlight=False,
    )
    for e in demo.executives:
        out.print(
            f"  case {e.case_id}: {safe(e.customer_id)} {safe(e.customer_name)}, worth "
            f"{e.expected_value:,.2f} after costs, for {safe(e.owner)}",
            highlight=False,
        )


def _print_campaign(demo: Demo) -> None:
    report = demo.campaign
    if report is None:
        out.print("campaign: none launched (no customer in the campaign tier)", highlight=False)
        return
    queued = demo.outbox.get("queued", 0)
    out.print(
        f"campaign {report.campaign_id} 'Demo win-back' launched: {report.treated:,} treated "
        f"({report.queued:,} e-mail(s) queued, {report.calls:,} call task(s)), "
        f"{report.holdout:,} held out to measure the lift; {queued:,} e-mail(s) wait in the "
        "outbox (sent by winback outbox send once WINBACK_SMTP_HOST is set)",
        highlight=False,
    )
