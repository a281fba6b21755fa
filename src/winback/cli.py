"""The ``winback`` command: a thin layer over the rooms of the package."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table as RichTable

from winback import __version__
from winback.errors import WinbackError
from winback.ledger.importer import ImportResult
from winback.ledger.importer import Progress as ProgressFn
from winback.ledger.store import Ledger
from winback.settings import Settings, load_settings

app = typer.Typer(
    name="winback",
    help="Find lost customers, decide who is worth winning back, and win them back.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit."),
) -> None:
    if version:
        print(__version__)
        raise typer.Exit()


@contextlib.contextmanager
def progress_bar(label: str) -> Iterator[ProgressFn]:
    """A Rich progress bar on stderr, fed by (phase, fraction) calls."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as bar:
        tasks: dict[str, object] = {}

        def update(phase: str, fraction: float) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(f"{label}: {phase}", total=1.0)
            bar.update(tasks[phase], completed=fraction)  # type: ignore[arg-type]

        yield update


def _print_results(results: list[ImportResult]) -> None:
    summary = RichTable(title="import", title_justify="left")
    for name in ("table", "file", "read", "stored", "updated", "duplicate", "rejected", "seconds"):
        summary.add_column(name, justify="left" if name in ("table", "file") else "right")
    for r in results:
        summary.add_row(
            r.table,
            r.file.name,
            f"{r.read:,}",
            f"{r.stored:,}",
            f"{r.updated:,}",
            f"{r.duplicates:,}",
            f"[red]{r.rejected:,}[/]" if r.rejected else "0",
            f"{r.seconds:.1f}",
        )
    out.print(summary)
    for r in results:
        if r.ignored_columns:
            out.print(
                f"{r.table}: columns not in the contract, not imported: "
                + ", ".join(repr(c) for c in r.ignored_columns),
                highlight=False,
            )
        if r.rejected:
            out.print(f"[red]{r.table}: {r.rejected:,} record(s) rejected[/]:", highlight=False)
            for reject in r.rejects:
                out.print(f"  {r.file.name} {reject.place}: {reject.reason}", highlight=False)
            if r.rejected > len(r.rejects):
                out.print(f"  … and {r.rejected - len(r.rejects):,} more", highlight=False)
            out.print(
                f"  every rejected record, with its reason: {r.rejects_file}", highlight=False
            )


@app.command("import")
def import_command(
    table: str = typer.Argument(..., help="Contract table: orders, customers, interactions, …"),
    file: Path = typer.Argument(..., help="CSV/TSV (optionally .gz), Parquet or JSON Lines."),
    mapping: Path | None = typer.Option(None, help="TOML file mapping headers to columns."),
    preset: str | None = typer.Option(None, help="A known layout: cdnow or shopify."),
    file_format: str | None = typer.Option(
        None, "--format", help="csv, tsv, parquet or jsonl (default: from the file name)."
    ),
    encoding: str = typer.Option("utf-8", help="Text encoding of a CSV or JSON Lines file."),
    delimiter: str | None = typer.Option(None, help="CSV field delimiter (default: sniffed)."),
    fail_on_rejects: bool = typer.Option(
        False, help="Exit with status 1 when any record is rejected."
    ),
) -> None:
    """Import a file into the ledger. Every record is stored or written to a rejects file."""
    from winback.ledger.contract import table as contract_table
    from winback.ledger.importer import import_file
    from winback.ledger.presets import import_preset

    settings = load_settings()
    ledger = Ledger(settings.ledger_dir)
    target = contract_table(table)
    with progress_bar(f"{target.name} ← {file.name}") as update:
        if preset:
            results = import_preset(
                ledger,
                preset,
                file,
                rejects_dir=settings.rejects_dir,
                progress=update,
                memory=settings.import_memory,
            )
            if target.name not in {r.table for r in results}:
                raise WinbackError(
                    f"the {preset} preset fills {', '.join(r.table for r in results)}, "
                    f"not {target.name}"
                )
        else:
            results = [
                import_file(
                    ledger,
                    target.name,
                    file,
                    rejects_dir=settings.rejects_dir,
                    fmt=file_format,
                    mapping_path=mapping,
                    encoding=encoding,
                    delimiter=delimiter,
                    progress=update,
                    memory=settings.import_memory,
                )
            ]
    _print_results(results)
    if fail_on_rejects and any(r.rejected for r in results):
        raise typer.Exit(1)


@app.command("ledger")
def ledger_command() -> None:
    """What the ledger holds: rows per table and the latest imports."""
    _print_ledger(load_settings())


def _print_ledger(settings: Settings) -> None:
    ledger = Ledger(settings.ledger_dir)
    manifest = ledger.manifest()
    con = ledger.connect(manifest)
    summary = RichTable(title=f"ledger at {settings.ledger_dir}", title_justify="left")
    summary.add_column("table")
    summary.add_column("rows", justify="right")
    summary.add_column("segments", justify="right")
    for name in manifest.tables:
        rows = con.sql(f'SELECT count(*) FROM "{name}"').fetchall()[0][0]
        summary.add_row(name, f"{rows:,}", str(len(manifest.segments(name))))
    if not manifest.tables:
        summary.add_row("(empty)", "0", "0")
    out.print(summary)
    if manifest.segments("orders"):
        (first, last, n_customers, n_orders, revenue, repeaters) = con.sql(
            "WITH per AS (SELECT customer_id, count(DISTINCT order_date) AS days, "
            "sum(amount) AS spend FROM orders GROUP BY customer_id) "
            "SELECT (SELECT min(order_date) FROM orders), (SELECT max(order_date) FROM orders), "
            "count(*), (SELECT count(*) FROM orders), sum(spend), count(*) FILTER (days > 1) "
            "FROM per"
        ).fetchall()[0]
        out.print(
            f"orders from {first} to {last}: {n_orders:,} orders by {n_customers:,} customers, "
            f"revenue {revenue:,.2f}; {repeaters:,} customers ({repeaters / n_customers:.1%}) "
            "bought on more than one day",
            highlight=False,
        )
    con.close()


@app.command("contract")
def contract_command(
    markdown: bool = typer.Option(False, help="Print docs/data-contract.md."),
) -> None:
    """The data contract: the tables and columns winback reads."""
    from winback.ledger.contract import TABLES
    from winback.ledger.contract_doc import render_markdown

    if markdown:
        print(render_markdown(), end="")
        return
    for t in TABLES.values():
        required = ", ".join(t.required)
        out.print(f"[bold]{t.name}[/] (key {', '.join(t.key)}): required {required}")


@app.command("demo")
def demo_command(
    fresh: bool = typer.Option(True, help="Start from an empty workspace."),
) -> None:
    """The demo: import the CDNOW data into a fresh workspace and show what the ledger holds."""
    from winback.ledger.presets import import_preset

    settings = load_settings()
    if fresh and settings.ledger_dir.exists():
        shutil.rmtree(settings.ledger_dir)
    ledger = Ledger(settings.ledger_dir)
    data = EXAMPLES / "cdnow" / "CDNOW_master.txt.gz"
    if not data.exists():
        raise WinbackError(f"{data}: the demo data is missing from this installation")
    out.print(f"winback demo: workspace {settings.home.resolve()}", highlight=False)
    with progress_bar("CDNOW") as update:
        results = import_preset(
            ledger,
            "cdnow",
            data,
            rejects_dir=settings.rejects_dir,
            progress=update,
            memory=settings.import_memory,
        )
    _print_results(results)
    _print_ledger(settings)


# The desk (issue 6): users, sync and the web app.
from winback.desk.cli import sync_command, user_app  # noqa: E402
from winback.web.cli import serve_command  # noqa: E402

app.add_typer(user_app, name="user")
app.command("sync")(sync_command)
app.command("serve")(serve_command)


def main() -> None:
    """Entry point: winback errors print as one readable line and exit 2."""
    try:
        app()
    except WinbackError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise SystemExit(2) from None
