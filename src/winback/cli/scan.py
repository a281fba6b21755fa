"""The scan's commands: ``scan``, ``customer`` and ``policy``."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import typer
from rich.table import Table as RichTable

from winback import cycle
from winback.cli.desk import print_sync
from winback.cli.output import err, out, print_export, print_run, safe
from winback.errors import NoScanRunError, UsageError
from winback.policy import Policy
from winback.settings import load_settings


def scan_command(
    policy: Path | None = typer.Option(
        None,
        help="Policy file (default: WINBACK_POLICY, else the workspace's policy.toml, else "
        "the built-in defaults).",
    ),
    as_of: str | None = typer.Option(
        None, "--as-of", help="The scan's today, YYYY-MM-DD (default: the newest order)."
    ),
    top: int = typer.Option(20, help="How many of the ranked list to print."),
    engine: str = typer.Option("duckdb", help="duckdb (embedded) or spark (winback[spark])."),
    sync: bool = typer.Option(True, help="Sync the desk's cases with the new run."),
) -> None:
    """Scan the ledger: every customer's status, worth and reasons; the ranked win-back list."""
    settings = load_settings()
    try:
        cutoff = date.fromisoformat(as_of) if as_of else None
    except ValueError:
        raise UsageError(f"--as-of {as_of!r} is not a date (expected YYYY-MM-DD)") from None
    rules = cycle.policy_in_force(settings, policy)
    with err.status("scanning") as status:
        done = cycle.scan(
            settings,
            rules,
            as_of=cutoff,
            engine=engine,
            step=lambda name: status.update(f"scanning: {name}"),
            sync_desk=sync,
        )
    print_export(done.exported)
    print_run(done.run, top)
    if done.synced is not None:
        print_sync(done.synced)


def customer_command(customer_id: str = typer.Argument(..., help="The customer's id.")) -> None:
    """Explain one customer from the latest scan: scores, status, decision and every reason."""
    from winback.scan.pipeline import explain
    from winback.scan.runs import latest_run

    settings = load_settings()
    run = latest_run(settings.runs_dir)
    if run is None:
        raise NoScanRunError("no scan has been run yet: run `winback scan` first")
    record = explain(run, customer_id)
    out.print(
        f"[bold]{safe(record['customer_id'])}[/] {safe(record['name'] or '')} "
        f"(segment {safe(record['segment'])}) in scan {safe(run.info.run_id)} "
        f"as of {run.info.as_of}",
        highlight=False,
    )
    out.print(f"status: [bold]{safe(record['status'])}[/]", highlight=False)
    for reason in record["reasons"] or ["no lapse signal"]:
        out.print(f"  - {safe(reason)}", highlight=False)
    if record["decision"]:
        out.print(
            f"decision: [bold]{safe(record['decision'])}[/], tier {safe(record['tier'])}, "
            f"rank {record['rank'] or '-'}",
            highlight=False,
        )
        for reason in record["decision_reasons"]:
            out.print(f"  - {safe(reason)}", highlight=False)
    facts = RichTable(show_header=False, box=None)
    for key in (
        "first_order_date",
        "last_order_date",
        "orders",
        "revenue",
        "revenue_last_year",
        "margin_past_years",
        "typical_interval_days",
        "days_since_last_order",
        "p_alive",
        "expected_purchases",
        "predicted_value",
        "follow_suit_probability",
        "winback_odds",
        "expected_value",
        "expected_cost",
        "recent_incidents",
        "rude",
        "heavy_contact",
        "late_payer",
        "return_abuser",
    ):
        value = record[key]
        shown = f"{value:,.2f}" if isinstance(value, float) else str(value)
        if value is None and key in ("rude", "heavy_contact", "late_payer", "return_abuser"):
            shown = "unknown"  # the data cannot tell
        facts.add_row(key, safe(shown))
    out.print(facts)


POLICY_HELP = (
    "The lapse policy: thresholds for statuses, worth, decisions, odds and tiers, and the "
    "desk's rules; the file's sections are "
    + ", ".join(f"[{name}]" for name in Policy.model_fields)
    + " (docs/policy.md)."
)


def policy_command(
    defaults: bool = typer.Option(False, help="Print a complete policy file with every default."),
    markdown: bool = typer.Option(False, help="Print docs/policy.md."),
    check: Path | None = typer.Option(
        None,
        help="Check every section of a policy file; print it in full, as a complete file "
        "(the keys it leaves out with their defaults).",
    ),
) -> None:
    """The policy file: the scan's thresholds and the desk's rules (assignment, red carpet)."""
    from winback.policy import default_toml, load_policy, render_markdown, to_toml

    if markdown:
        print(render_markdown(), end="")
    elif check is not None:
        policy = load_policy(check)
        err.print(f"{safe(check)}: a valid policy", highlight=False)
        print(to_toml(policy), end="")
    else:
        print(default_toml(), end="")
