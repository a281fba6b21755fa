"""``winback cycle``: one pass of the periodic cycle, for cron or a systemd timer."""

from __future__ import annotations

import typer

from winback import cycle
from winback.cli.output import err, out, safe
from winback.settings import load_settings


def cycle_command() -> None:
    """Run one pass of the cycle now: import the inbox, scan, sync, red carpet, timeline.
    Exits 1 when the pass failed (its record says why), 0 otherwise."""
    settings = load_settings()
    with err.status("cycle") as status:
        report = cycle.run_pass(
            settings, trigger="command", say=lambda text: status.update(f"cycle: {safe(text)}")
        )
    if report is None:
        out.print("another pass of the cycle is running; nothing done", highlight=False)
        return
    shown = ", ".join(
        f"{key} {value:,}" if isinstance(value, int) else f"{key} {safe(value)}"
        for key, value in report.counts.items()
    )
    out.print(f"pass {report.pass_id} {report.outcome}: {shown}", highlight=False)
    if report.error:
        err.print(f"error: {safe(report.error, lines=True)}", highlight=False)
        raise typer.Exit(1)
