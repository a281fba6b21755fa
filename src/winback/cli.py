"""The ``winback`` command: a thin layer over the rooms of the package."""

from __future__ import annotations

import typer
from rich.console import Console

from winback import __version__
from winback.errors import WinbackError
from winback.simulate.cli import simulate_command

app = typer.Typer(
    name="winback",
    help="Find lost customers, decide who is worth winning back, and win them back.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)
app.command("simulate")(simulate_command)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit."),
) -> None:
    if version:
        print(__version__)
        raise typer.Exit()


def main() -> None:
    """Entry point: winback errors print as one readable line and exit 2."""
    try:
        app()
    except WinbackError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise SystemExit(2) from None
