"""The ``winback`` command: a thin layer over the rooms of the package.

This package is the only place Typer and Rich are imported. Each module holds one group
of commands; the work itself is in the rooms and, where it crosses rooms, in
:mod:`winback.cycle`.
"""

from __future__ import annotations

import typer

from winback import __version__
from winback.cli import (
    backup,
    campaigns,
    cycle,
    demo,
    desk,
    ledger,
    outbox,
    report,
    scan,
    serve,
    simulate,
)
from winback.cli.output import err, safe
from winback.errors import WinbackError

app = typer.Typer(
    name="winback",
    help="Find lost customers, decide who is worth winning back, and win them back.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Help is plain text: its brackets ([assignment], winback[spark]) are words, not markup.
    rich_markup_mode=None,
)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit."),
) -> None:
    if version:
        print(__version__)
        raise typer.Exit()


app.command("simulate")(simulate.simulate_command)
app.command("import")(ledger.import_command)
app.command("import-folder")(ledger.import_folder_command)
app.command("ledger")(ledger.ledger_command)
app.command("contract")(ledger.contract_command)
app.command("scan")(scan.scan_command)
app.command("customer")(scan.customer_command)
app.command("policy", help=scan.POLICY_HELP)(scan.policy_command)
app.command("report")(report.report_command)
app.command("demo")(demo.demo_command)
app.add_typer(desk.user_app, name="user")
app.command("sync")(desk.sync_command)
app.add_typer(campaigns.campaign_app, name="campaign")
app.command("leaderboard")(campaigns.leaderboard_command)
app.command("serve")(serve.serve_command)
app.command("cycle")(cycle.cycle_command)
app.add_typer(outbox.outbox_app, name="outbox")
app.command("backup")(backup.backup_command)
app.command("restore")(backup.restore_command)


def main() -> None:
    """Entry point: winback errors print as one readable line and exit 2."""
    try:
        app()
    except WinbackError as exc:
        err.print(f"[bold red]error:[/] {safe(exc, lines=True)}", highlight=False)
        raise SystemExit(2) from None
