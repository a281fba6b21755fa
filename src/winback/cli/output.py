"""What every command prints with: the two consoles, ``safe`` for every value that comes
from data, the progress bar, and the lines that several commands share (import results, a
scan run, outcomes sent to the ledger)."""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Iterator
from typing import Any

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

# C0 and C1 control characters (ESC starts a terminal sequence, \r rewrites the line, \x07
# rings the bell, \x9b is a one-byte CSI) and the bidirectional overrides that reorder
# what a line shows.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_CONTROL_BUT_NEWLINE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def safe(value: object, *, lines: bool = False) -> str:
    """``value`` (a name, a file, a reason: anything that comes from data or from the user)
    ready to print with Rich: each control character shown as its escape (``\\x1b``) and
    Rich markup escaped, so it shows as written and never styles, links or moves the
    terminal. ``lines``: keep newlines (a message of several lines)."""
    pattern = _CONTROL_BUT_NEWLINE if lines else _CONTROL
    text = pattern.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(value))
    return escape(text)


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
                tasks[phase] = bar.add_task(f"{safe(label)}: {safe(phase)}", total=1.0)
            bar.update(tasks[phase], completed=fraction)  # type: ignore[arg-type]

        yield update


def print_results(results: list[ImportResult]) -> None:
    """One line per imported file, then its ignored columns and first rejects."""
    for r in results:
        rejected = f"[red]{r.rejected:,} rejected[/]" if r.rejected else "0 rejected"
        out.print(
            f"[bold]{r.table}[/] ← {safe(r.file.name)}: read {r.read:,} · stored {r.stored:,} · "
            f"updated {r.updated:,} · duplicate {r.duplicates:,} · {rejected} "
            f"({r.seconds:.1f} s)",
            highlight=False,
        )
        if r.ignored_columns:
            out.print(
                "  columns not in the contract, not imported: "
                + ", ".join(safe(repr(c)) for c in r.ignored_columns),
                highlight=False,
            )
        if r.rejected:
            for reject in r.rejects:
                out.print(
                    f"  {safe(r.file.name)} {safe(reject.place)}: {safe(reject.reason)}",
                    highlight=False,
                )
            if r.rejected > len(r.rejects):
                out.print(f"  … and {r.rejected - len(r.rejects):,} more", highlight=False)
            out.print(
                f"  every rejected record, with its reason: {safe(r.rejects_file)}",
                highlight=False,
            )


_SCORE_NAMES = {
    "lapse_risk": "lapse risk",
    "not_alive": "1 - P(alive)",
    "days_since_last_order": "days since last purchase",
}


def backtest_lines(bt: dict[str, Any]) -> list[str]:
    """The backtest harness's figures, one line per score, beside chance."""
    if not bt:
        return ["backtest: none in this run (scanned before the harness existed; rescan)"]
    if bt.get("problem"):
        return [f"backtest: not graded ({bt['problem']})"]
    scores = bt["scores"]
    sampled = (
        f" (of a sample of {bt['sampled_customers']:,} of the {bt['of_customers']:,})"
        if bt.get("sampled_customers")
        else ""
    )
    lines = [
        f"backtest against real outcomes at {bt['graded_on']} (lapsed = no counted order "
        f"in the next {bt['horizon_days']} days; {bt['test_rows']:,} customers active in "
        f"the year before{sampled}; trained on {bt['train_rows']:,} rows of earlier "
        "cutoffs):"
    ]
    for key, name in _SCORE_NAMES.items():
        g = scores.get(key, {})
        if g.get("auc") is None:
            lines.append(f"  {name:26s} not graded")
            continue
        at = f"p >= {g['threshold']:g}" if "brier" in g else f">= {g['threshold']:g} days"
        precision = "-" if g.get("precision") is None else f"{g['precision']:.2f}"
        brier = f", Brier {g['brier']:.3f}" if "brier" in g else ""
        lines.append(
            f"  {name:26s} AUC {g['auc']:.3f}, precision {precision} recall "
            f"{g['recall']:.2f} at {at}{brier}"
        )
    c = scores["chance"]
    lines.append(
        f"  {'chance':26s} AUC 0.500, precision {c['precision']:.2f} (the base lapse rate), "
        f"Brier {c['brier']:.3f}"
    )
    return lines + stayed_away_lines(bt.get("stayed_away") or {})


def stayed_away_lines(sa: dict[str, Any]) -> list[str]:
    """The ranking graded on a longer stay away (nearer to who has stopped buying)."""
    if not sa:
        return []
    days = sa["window_days"]
    if sa.get("problem"):
        return [f"ranking of who stays away {days} days: not graded ({sa['problem']})"]
    lines = [
        f"ranking of who stays away (no counted order in the {days} days after "
        f"{sa['graded_on']}; {sa['test_rows']:,} customers; the same model trained only on "
        "cutoffs before that date):"
    ]
    for key, name in _SCORE_NAMES.items():
        value = sa["auc"].get(key)
        lines.append(f"  {name:26s} " + ("not graded" if value is None else f"AUC {value:.3f}"))
    lines.append(f"  {'chance':26s} AUC 0.500 (base rate {sa['base_rate']:.2f})")
    return lines


def model_line(models: dict[str, Any]) -> str:
    """Which repeat-purchase model the scan used, and why (chosen by holdout or named)."""
    name = models.get("repeat_model", "?")
    choice = models.get("choice") or {}
    if not models.get("fitted"):
        problems = "; ".join(models.get("problems", [])) or "not fitted"
        return f"model: {name} not fitted, the scan ran without model signals ({problems})"
    if "reason" in choice:
        return f"model: {name}, chosen because {choice['reason']}"
    return f"model: {name}, named by the policy"


def print_run(run: ScanRun, top: int) -> None:
    """A scan run's counts, its classifier's backtest, and the top of the ranked list."""
    counts = run.info.counts
    out.print(
        f"scan {safe(run.info.run_id)} as of {run.info.as_of}: "
        + ", ".join(f"{counts.get(s, 0):,} {s}" for s in ("active", "slipping", "lapsed", "lost"))
        + f"; {counts.get('listed', 0):,} on the win-back list ({run.info.seconds:.1f} s)",
        highlight=False,
    )
    if run.info.models:
        out.print(safe(model_line(run.info.models)), highlight=False)
    for line in backtest_lines(run.info.backtest):
        out.print(line, highlight=False)
    table = run.customers()
    listed = table.filter(table["rank"].is_valid()).sort_by("rank").slice(0, top).to_pylist()
    ranked = RichTable(title="win-back list", title_justify="left", show_lines=True)
    for name in ("rank", "customer", "status", "tier", "expected value", "anyway → call", "why"):
        ranked.add_column(name, overflow="fold")
    for row in listed:
        ranked.add_row(
            str(row["rank"]),
            safe(row["customer_id"]) + (f"\n{safe(row['name'])}" if row["name"] else ""),
            safe(row["status"]),
            safe(row["tier"]),
            f"{row['expected_value']:,.2f}",
            _chances(row),
            "\n".join(safe(r) for r in row["reasons"][:2] + row["decision_reasons"][:1]),
        )
    out.print(ranked)
    out.print(
        f"the full list: {safe(run.path / 'winback_list.csv')}; every customer: "
        f"{safe(run.path / 'customers.parquet')}",
        highlight=False,
    )


def _chances(row: dict[str, Any]) -> str:
    """The chance of coming back with no call and with one ("10% → 30%")."""
    anyway, call = row.get("p_return_anyway"), row.get("p_return_contacted")
    if anyway is None or call is None:
        return f"{row['winback_odds']:.0%}"
    return f"{anyway:.0%} → {call:.0%}"


def print_export(result: ExportResult | None) -> None:
    """One line on the outcomes sent to the ledger (nothing when there were none)."""
    if result is None or (result.exported == 0 and result.pending == 0):
        return
    line = f"outcomes: {result.exported:,} written to the ledger's winback_outcomes"
    if result.pending:
        line += f", {result.pending:,} still pending ({safe(result.problem)})"
    out.print(line, highlight=False)
