"""The ``winback`` command: a thin layer over the rooms of the package."""

from __future__ import annotations

import contextlib
import sys
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
from winback.scan.runs import ScanRun
from winback.settings import Settings, load_settings
from winback.simulate.cli import simulate_command

app = typer.Typer(
    name="winback",
    help="Find lost customers, decide who is worth winning back, and win them back.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Logs and pipes get a wide page; a terminal keeps its own width.
out = Console(width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True)
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
app.command("simulate")(simulate_command)


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
    for r in results:
        rejected = f"[red]{r.rejected:,} rejected[/]" if r.rejected else "0 rejected"
        out.print(
            f"[bold]{r.table}[/] ← {r.file.name}: read {r.read:,} · stored {r.stored:,} · "
            f"updated {r.updated:,} · duplicate {r.duplicates:,} · {rejected} "
            f"({r.seconds:.1f} s)",
            highlight=False,
        )
        if r.ignored_columns:
            out.print(
                "  columns not in the contract, not imported: "
                + ", ".join(repr(c) for c in r.ignored_columns),
                highlight=False,
            )
        if r.rejected:
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
    _count_red_carpets(settings)
    if fail_on_rejects and any(r.rejected for r in results):
        raise typer.Exit(1)


@app.command("import-folder")
def import_folder_command(
    folder: Path = typer.Argument(..., help="A folder with one file per contract table."),
    fail_on_rejects: bool = typer.Option(
        False, help="Exit with status 1 when any record is rejected."
    ),
) -> None:
    """Import every file in a folder named after a contract table (orders.csv, staff.parquet)."""
    from winback.ledger.importer import import_file

    settings = load_settings()
    ledger = Ledger(settings.ledger_dir)
    found = _table_files(folder)
    if not found:
        raise WinbackError(
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
    _print_results(results)
    _count_red_carpets(settings)
    if fail_on_rejects and any(r.rejected for r in results):
        raise typer.Exit(1)


def _count_red_carpets(settings: Settings) -> None:
    """After an import: count the red-carpet customers' new orders and interactions down,
    when the workspace has a desk database."""
    from winback.desk.red_carpet import absorb_workspace, summary

    try:
        result = absorb_workspace(settings)
    except WinbackError as exc:
        # The import itself succeeded; say why the count-down did not happen, and go on.
        err.print(f"red carpet: not counted ({exc})", highlight=False)
        return
    if result is not None:
        out.print(summary(result), highlight=False)


def _table_files(folder: Path) -> list[tuple[str, Path]]:
    """Files in ``folder`` named after contract tables, in the contract's order."""
    from winback.ledger.contract import TABLES

    if not folder.is_dir():
        raise WinbackError(f"{folder}: not a folder")
    found: list[tuple[str, Path]] = []
    for name in TABLES:
        matches = sorted(
            p for p in folder.iterdir() if p.is_file() and p.name.split(".", 1)[0] == name
        )
        if len(matches) > 1:
            raise WinbackError(
                f"{folder}: more than one file for {name}: {', '.join(p.name for p in matches)}"
            )
        found.extend((name, p) for p in matches)
    return found


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


@app.command("scan")
def scan_command(
    policy: Path | None = typer.Option(
        None, help="Policy file (default: WINBACK_POLICY, else built-in defaults)."
    ),
    as_of: str | None = typer.Option(
        None, "--as-of", help="The scan's today, YYYY-MM-DD (default: the newest order)."
    ),
    top: int = typer.Option(20, help="How many of the ranked list to print."),
    engine: str = typer.Option("duckdb", help="duckdb (embedded) or spark (winback[spark])."),
    sync: bool = typer.Option(True, help="Sync the desk's cases with the new run."),
) -> None:
    """Scan the ledger: every customer's status, worth and reasons; the ranked win-back list."""
    from datetime import date

    from winback.scan.pipeline import run_scan
    from winback.scan.policy import load_policy

    settings = load_settings()
    try:
        cutoff = date.fromisoformat(as_of) if as_of else None
    except ValueError:
        raise WinbackError(f"--as-of {as_of!r} is not a date (expected YYYY-MM-DD)") from None
    rules = load_policy(policy) if policy else settings.read_policy()
    from winback.desk.cli import export_workspace_outcomes, print_export

    # The desk's outcomes first, so this scan's win-back odds learn from them.
    print_export(export_workspace_outcomes(settings))
    with err.status("scanning") as status:
        run = run_scan(
            Ledger(settings.ledger_dir),
            settings.runs_dir,
            rules,
            as_of=cutoff,
            step=lambda name: status.update(f"scanning: {name}"),
            engine=engine,
        )
    _print_run(run, top)
    if sync:
        from winback.desk.assignment import AssignmentPolicy
        from winback.desk.cli import sync_workspace

        result = sync_workspace(settings, AssignmentPolicy.from_dict(rules.assignment))
        out.print(
            f"desk: {result.opened:,} case(s) opened ({result.unassigned:,} left for a manager "
            f"to assign), {result.refreshed:,} refreshed, {result.returned:,} closed as returned",
            highlight=False,
        )
        print_export(result.outcomes)
        if result.red_carpet and result.red_carpet.get("watched"):
            from winback.desk.red_carpet import summary

            out.print(summary(result.red_carpet), highlight=False)


def _print_run(run: ScanRun, top: int) -> None:
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


@app.command("customer")
def customer_command(customer_id: str = typer.Argument(..., help="The customer's id.")) -> None:
    """Explain one customer from the latest scan: scores, status, decision and every reason."""
    from winback.scan.pipeline import explain
    from winback.scan.runs import latest_run

    settings = load_settings()
    run = latest_run(settings.runs_dir)
    if run is None:
        raise WinbackError("no scan has been run yet: run `winback scan` first")
    record = explain(run, customer_id)
    out.print(
        f"[bold]{record['customer_id']}[/] {record['name'] or ''} "
        f"(segment {record['segment']}) in scan {run.info.run_id} as of {run.info.as_of}",
        highlight=False,
    )
    out.print(f"status: [bold]{record['status']}[/]", highlight=False)
    for reason in record["reasons"] or ["no lapse signal"]:
        out.print(f"  - {reason}", highlight=False)
    if record["decision"]:
        out.print(
            f"decision: [bold]{record['decision']}[/], tier {record['tier']}, "
            f"rank {record['rank'] or '-'}",
            highlight=False,
        )
        for reason in record["decision_reasons"]:
            out.print(f"  - {reason}", highlight=False)
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
        facts.add_row(key, shown)
    out.print(facts)


@app.command("policy")
def policy_command(
    defaults: bool = typer.Option(False, help="Print a complete policy file with every default."),
    markdown: bool = typer.Option(False, help="Print docs/policy.md."),
    check: Path | None = typer.Option(None, help="Check a policy file and print it in full."),
) -> None:
    """The lapse policy: thresholds for statuses, worth, decisions, odds and tiers."""
    from winback.scan.policy import default_toml, load_policy, render_markdown

    if markdown:
        print(render_markdown(), end="")
    elif check is not None:
        policy = load_policy(check)
        out.print(f"{check}: a valid policy", highlight=False)
        out.print_json(policy.model_dump_json())
    else:
        print(default_toml(), end="")


@app.command("report")
def report_command(
    out_file: Path = typer.Option(
        Path("reasons-report.html"), "--out", help="Where to write the report (HTML)."
    ),
    since: str | None = typer.Option(
        None, help="Only cases closed (or, if open, diagnosed) on or after YYYY-MM-DD."
    ),
) -> None:
    """Reasons x revenue: the dashboard as one self-contained HTML file, charts included."""
    from datetime import date

    from winback.desk.db import desk_engine, open_session
    from winback.desk.report import build_report
    from winback.web.report_render import money, pct, render_html

    settings = load_settings()
    try:
        start = date.fromisoformat(since) if since else None
    except ValueError:
        raise WinbackError(f"--since {since!r} is not a date (expected YYYY-MM-DD)") from None
    if not settings.has_desk:
        raise WinbackError(
            f"no desk in {settings.home}: set WINBACK_DESK_URL, or run winback sync after a "
            "scan (or winback demo) to make one"
        )
    if not out_file.parent.is_dir():
        raise WinbackError(f"--out {out_file}: the folder {out_file.parent} does not exist")
    with err.status("reading the desk") as status:
        engine = desk_engine(settings.desk_database_url)
        try:
            with open_session(engine) as db:
                report = build_report(db, None, Ledger(settings.ledger_dir), since=start)
        finally:
            engine.dispose()
        status.update("drawing the charts")
        html = render_html(report)
    out_file.write_text(html, encoding="utf-8")
    t = report.total
    out.print(f"wrote {out_file.resolve()}", highlight=False)
    out.print(
        f"{t.cases:,} case(s) worked: revenue lost {money(t.value_lost)}, won back "
        f"{money(t.value_won_back)} ({t.won_back:,} of {t.attempted:,} attempts, "
        f"{pct(t.rate)}), {money(t.revenue_since)} since the win-back",
        highlight=False,
    )


@app.command("demo")
def demo_command(
    customers: int = typer.Option(3000, help="How many customers the simulated business has."),
    serve: bool = typer.Option(True, help="Serve the desk when the demo is built."),
    port: int = typer.Option(8000, help="Port for the desk."),
) -> None:
    """The demo: simulate a small business, import, scan, add desk users, sync, serve."""
    from winback.demo import build_demo

    settings = load_settings()
    out.print(f"winback demo: workspace {settings.home.resolve()}", highlight=False)
    with err.status("building the demo") as status:
        demo = build_demo(settings, customers, say=lambda text: status.update(text))
    _print_results(demo.imports)
    if demo.run is not None:
        _print_run(demo.run, 10)
    if demo.sync is not None:
        s = demo.sync
        out.print(
            f"desk: {s.opened:,} case(s) opened, {s.unassigned:,} left for a manager to assign",
            highlight=False,
        )
    if demo.worked is not None:
        out.print(
            f"desk: {demo.worked.calls} case(s) worked by their reps, {demo.worked.won_back} "
            "won back (see the dashboard: Reasons × revenue)",
            highlight=False,
        )
    users = RichTable(title="desk users (passwords shown once)", title_justify="left")
    for name in ("username", "role", "password", "staff id"):
        users.add_column(name)
    for user in demo.users:
        users.add_row(user.username, user.role, user.password, user.staff_id or "")
    out.print(users)
    if serve:
        import uvicorn

        from winback.web.app import create_app

        out.print(f"serving the desk on http://127.0.0.1:{port}/ (Ctrl-C to stop)", highlight=False)
        uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="warning")


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
