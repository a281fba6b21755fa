"""What every command prints with: the two consoles, the progress bar, and the lines that
several commands share (import results, a scan run, outcomes sent to the ledger)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table as RichTable

from winback.desk.outcomes import ExportResult
from winback.ledger.importer import ImportResult
from winback.ledger.importer import Progress as ProgressFn
from winback.scan.runs import ScanRun

# Logs and pipes get a wide page; a terminal keeps its own width.
out = Console(width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True)


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


def print_results(results: list[ImportResult]) -> None:
    """One line per imported file, then its ignored columns and first rejects."""
    for r in results:
        rejected = f"[red]{r.rejected:,} rejected[/]" if r.rejected else "0 rejected"
        out.print(
            f"[bold]{r.table}[/] ← {escape(r.file.name)}: read {r.read:,} · stored {r.stored:,} · "
            f"updated {r.updated:,} · duplicate {r.duplicates:,} · {rejected} "
            f"({r.seconds:.1f} s)",
            highlight=False,
        )
        if r.ignored_columns:
            out.print(
                "  columns not in the contract, not imported: "
                + escape(", ".join(repr(c) for c in r.ignored_columns)),
                highlight=False,
            )
        if r.rejected:
            for reject in r.rejects:
                line = f"  {r.file.name} {reject.place}: {reject.reason}"
                out.print(escape(line), highlight=False)
            if r.rejected > len(r.rejects):
                out.print(f"  … and {r.rejected - len(r.rejects):,} more", highlight=False)
            out.print(
                escape(f"  every rejected record, with its reason: {r.rejects_file}"),
                highlight=False,
            )


def print_run(run: ScanRun, top: int) -> None:
    """A scan run's counts, its classifier's backtest, and the top of the ranked list."""
    counts = run.info.counts
    out.print(
        f"scan {run.info.run_id} as of {run.info.as_of}: "
        + ", ".join(f"{counts.get(s, 0):,} {s}" for s in ("active", "slipping", "lapsed", "lost"))
        + f"; {counts.get('listed', 0):,} on the win-back list ({run.info.seconds:.1f} s)",
        highlight=False,
    )
    clf = run.info.classifier
    if clf.get("auc") is not None:
        out.print(
            f"follow-suit classifier, backtest on {clf['test_rows']:,} customers at "
            f"{clf['cutoffs'][-1]}: AUC {clf['auc']:.3f}, top-decile lift "
            f"{clf['top_decile_lift']:.2f} (base lapse rate {clf['base_rate']:.1%})",
            highlight=False,
        )
    else:
        out.print("follow-suit classifier: not enough history to backtest", highlight=False)
    table = run.customers()
    listed = table.filter(table["rank"].is_valid()).sort_by("rank").slice(0, top).to_pylist()
    ranked = RichTable(title="win-back list", title_justify="left", show_lines=True)
    for name in ("rank", "customer", "status", "tier", "expected value", "odds", "why"):
        ranked.add_column(name, overflow="fold")
    for row in listed:
        ranked.add_row(
            str(row["rank"]),
            row["customer_id"] + (f"\n{row['name']}" if row["name"] else ""),
            row["status"],
            row["tier"],
            f"{row['expected_value']:,.2f}",
            f"{row['winback_odds']:.0%}",
            "\n".join(row["reasons"][:2] + row["decision_reasons"][:1]),
        )
    out.print(ranked)
    out.print(
        f"the full list: {run.path / 'winback_list.csv'}; every customer: "
        f"{run.path / 'customers.parquet'}",
        highlight=False,
    )


def print_export(result: ExportResult | None) -> None:
    """One line on the outcomes sent to the ledger (nothing when there were none)."""
    if result is None or (result.exported == 0 and result.pending == 0):
        return
    line = f"outcomes: {result.exported:,} written to the ledger's winback_outcomes"
    if result.pending:
        line += f", {result.pending:,} still pending ({result.problem})"
    out.print(line, highlight=False)
