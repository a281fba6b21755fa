"""``winback simulate``: write a simulated business with known ground truth."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from winback.cli.output import err, safe
from winback.errors import SettingsError
from winback.simulate.run import simulate

_DEFAULT_OUT = Path("simulated")


def parse_knobs(pairs: list[str]) -> dict[str, Any]:
    """``name=value`` pairs; values are read as JSON when they can be (numbers, lists,
    objects), else kept as text."""
    knobs: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name.strip():
            raise SettingsError(f"--set needs name=value, not {pair!r}")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        knobs[name.strip()] = tuple(value) if isinstance(value, list) else value
    return knobs


def simulate_command(
    out: Annotated[Path, typer.Option("--out", help="Folder to write into.")] = _DEFAULT_OUT,
    profile: Annotated[str, typer.Option(help="retail, b2b or subscription.")] = "retail",
    customers: Annotated[int, typer.Option(help="How many customers.")] = 3000,
    months: Annotated[int, typer.Option(help="Months of history, ending on 2026-06-30.")] = 36,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same files.")] = 0,
    fmt: Annotated[str, typer.Option("--format", help="csv, csv.gz or parquet.")] = "csv",
    knobs: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Override a knob of docs/simulator.md, e.g. --set late_payer_share=0.2 "
            "or --set end=2025-12-31 (repeatable).",
        ),
    ] = None,
) -> None:
    """Write every table of the data contract for a simulated business, and the ground
    truth (what really happened, and who would come back with which offer) under
    OUT/truth/, which nothing in a scan reads."""
    with Progress(
        TextColumn("simulating"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,} customers"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("simulate", total=customers)
        summary = simulate(
            profile,
            customers,
            months,
            seed,
            out,
            fmt,
            progress=lambda done, total: bar.update(task, completed=done),
            **parse_knobs(knobs or []),
        )
    total = sum(summary.rows.values())
    err.print(
        f"wrote {total:,} rows in {summary.seconds:.1f} s to {safe(summary.out)}/ "
        f"({', '.join(f'{k} {v:,}' for k, v in summary.rows.items())}); "
        f"ground truth in {safe(summary.truth)}/"
    )
