"""The ledger's commands: ``import``, ``import-folder``, ``ledger`` and ``contract``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table as RichTable

from winback import cycle
from winback.cli.output import err, out, print_results, progress_bar, safe
from winback.desk import red_carpet
from winback.errors import ImportFolderError, UsageError, WinbackError
from winback.ledger import reads
from winback.ledger.importer import ImportResult
from winback.ledger.inbox import table_files
from winback.ledger.store import Ledger
from winback.settings import Settings, load_settings


def import_command(
    table: str = typer.Argument(..., help="Contract table: orders, customers, interactions, …"),
    file: Path = typer.Argument(..., help="CSV/TSV (optionally .gz), Parquet or JSON Lines."),
    mapping: Path | None = typer.Option(
        None,
        help="TOML file mapping headers to columns: [columns], [formats] and [defaults] "
        "(docs/import.md).",
    ),
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
                raise UsageError(
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
    _after_import(settings, results)
    if fail_on_rejects and any(r.rejected for r in results):
        raise typer.Exit(1)


def import_folder_command(
    folder: Path = typer.Argument(..., help="A folder with one file per contract table."),
    fail_on_rejects: bool = typer.Option(
        False, help="Exit with status 1 when any record is rejected."
    ),
) -> None:
    """Import every file in a folder named after a contract table (orders.csv,
    orders-2026-11.csv.gz, staff.parquet), in the contract's order."""
    from winback.ledger.importer import import_file

    settings = load_settings()
    ledger = Ledger(settings.ledger_dir)
    found = table_files(folder)
    if not found:
        raise ImportFolderError(
            f"{folder}: no file named after a contract table (customers.csv, orders.parquet …)"
        )
    results = []
    for table_name, path in found:
        with progress_bar(f"{table_name} ← {path.name}") as update:
            results.append(
                import_file(
                    ledger,
                    table_name,
                    path,
                    rejects_dir=settings.rejects_dir,
                    progress=update,
                    memory=settings.import_memory,
                )
            )
    _after_import(settings, results)
    if fail_on_rejects and any(r.rejected for r in results):
        raise typer.Exit(1)


def _after_import(settings: Settings, results: list[ImportResult]) -> None:
    """Print what was imported, then run the cycle's after-import step."""
    print_results(results)
    try:
        counted = cycle.after_import(settings, cycle.policy_in_force(settings))
    except WinbackError as exc:
        # The import itself succeeded; say why the count-down did not happen, and go on.
        err.print(f"red carpet: not counted ({safe(exc)})", highlight=False)
        return
    if counted is not None:
        out.print(red_carpet.summary(counted), highlight=False)


def ledger_command() -> None:
    """What the ledger holds: rows per table and the latest imports."""
    print_ledger(load_settings())


def print_ledger(settings: Settings) -> None:
    held = reads.summary(Ledger(settings.ledger_dir))
    summary = RichTable(title=f"ledger at {settings.ledger_dir}", title_justify="left")
    summary.add_column("table")
    summary.add_column("rows", justify="right")
    summary.add_column("segments", justify="right")
    for name, (rows, segments) in held.tables.items():
        summary.add_row(name, f"{rows:,}", str(segments))
    if not held.tables:
        summary.add_row("(empty)", "0", "0")
    out.print(summary)
    o = held.orders
    if o is not None:
        left_out = ""
        if o.not_counted:
            left_out = f" ({o.not_counted:,} cancelled or refunded, not counted)"
        if o.orders:
            out.print(
                f"orders from {o.first} to {o.last}: {o.orders:,} counted orders by "
                f"{o.customers:,} customers, revenue {o.revenue:,.2f}{left_out}; "
                f"{o.repeaters:,} customers ({o.repeaters / o.customers:.1%}) bought on more "
                "than one day",
                highlight=False,
            )
        else:
            out.print(f"no counted orders{left_out}", highlight=False)


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
