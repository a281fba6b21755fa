"""``winback report``: reasons x revenue as one self-contained HTML file."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import typer

from winback import cycle
from winback.cli.output import err, out, safe
from winback.errors import NoDeskError, UsageError
from winback.ledger.store import Ledger
from winback.scan.runs import latest_run
from winback.settings import load_settings


def report_command(
    out_file: Path = typer.Option(
        Path("reasons-report.html"), "--out", help="Where to write the report (HTML)."
    ),
    since: str | None = typer.Option(
        None, help="Only cases closed (or, if open, diagnosed) on or after YYYY-MM-DD."
    ),
) -> None:
    """Reasons x revenue: the dashboard as one self-contained HTML file, charts included."""
    from winback.insights.reasons import build_report
    from winback.insights.render import money, pct, render_html

    settings = load_settings()
    try:
        start = date.fromisoformat(since) if since else None
    except ValueError:
        raise UsageError(f"--since {since!r} is not a date (expected YYYY-MM-DD)") from None
    if not settings.has_desk:
        raise NoDeskError(
            f"no desk in {settings.home}: set WINBACK_DESK_URL, or run winback sync after a "
            "scan (or winback demo) to make one"
        )
    if out_file.is_dir():
        raise UsageError(
            f"--out {out_file} is a folder: give the file to write, e.g. "
            f"--out {out_file / 'reasons-report.html'}"
        )
    if not out_file.parent.is_dir():
        raise UsageError(f"--out {out_file}: the folder {out_file.parent} does not exist")
    with err.status("reading the desk") as status:
        with cycle.desk_session(settings) as db:
            run = latest_run(settings.runs_dir)
            report = build_report(db, None, Ledger(settings.ledger_dir), since=start, run=run)
        status.update("drawing the charts")
        html = render_html(report)
    out_file.write_text(html, encoding="utf-8")
    t = report.total
    out.print(f"wrote {safe(out_file.resolve())}", highlight=False)
    with_cancellations = (
        f" (with {report.cancellations:,} subscription cancellation(s) in the customer's words)"
        if report.cancellations
        else ""
    )
    out.print(
        f"{t.cases:,} case(s) worked{with_cancellations}: "
        f"revenue lost {money(t.value_lost)}, won back "
        f"{money(t.value_won_back)} ({t.won_back:,} of {t.attempted:,} attempts, "
        f"{pct(t.rate)}), {money(t.revenue_since)} since the win-back",
        highlight=False,
    )
    for driver in report.drivers.clear[:3] if report.drivers else []:
        out.print(safe(driver.sentence), highlight=False)
