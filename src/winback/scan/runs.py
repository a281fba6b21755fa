"""A scan run on disk: what the scan writes and the desk reads.

The scan and the desk meet only here. A run is a folder ``$WINBACK_HOME/runs/<run_id>/``::

    run.json             when, as of which date, over which ledger batch, the policy used,
                         model and classifier figures, the backtest harness's grades of
                         every score, counts by status
    customers.parquet    one row per customer: status, scores, decision, reasons (RUN_SCHEMA)
    winback_list.csv     the ranked list (customers with a rank), for people and spreadsheets
                         (text that would run as a formula starts with ' there)
    winback_list.parquet the same list with every column, for programs

and ``runs/LATEST`` names the newest *finished* run. A run is written into a hidden folder
and renamed into place, then LATEST is replaced atomically, so a reader never sees half
a run.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import secrets
import shutil
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from winback.errors import ScanRunError
from winback.ledger.cells import safe_table
from winback.scan.freed import give_back_freed_memory

STATUSES = ("active", "slipping", "lapsed", "lost")
DECISIONS = ("pursue", "dont_pursue", "let_go")
TIERS = ("executive", "rep", "campaign", "none")

RUN_SCHEMA = pa.schema(
    [
        pa.field("customer_id", pa.string(), nullable=False),
        pa.field("name", pa.string()),
        pa.field("segment", pa.string()),
        pa.field("status", pa.string(), nullable=False),  # one of STATUSES
        pa.field("first_order_date", pa.date32()),
        pa.field("last_order_date", pa.date32()),
        pa.field("orders", pa.int64()),  # purchase days in the customer's history
        pa.field("revenue", pa.float64()),  # all-time revenue
        pa.field("revenue_last_year", pa.float64()),
        pa.field("margin_past_years", pa.float64()),  # profitability over the policy window
        pa.field("typical_interval_days", pa.float64()),  # the customer's own buying cycle
        pa.field("days_since_last_order", pa.int64()),
        pa.field("p_alive", pa.float64()),
        pa.field("expected_purchases", pa.float64()),  # in the policy's next period
        pa.field("next_purchase_due", pa.date32()),  # when the model expected the next one
        pa.field("predicted_value", pa.float64()),  # lifetime value if kept (model-based)
        pa.field("follow_suit_probability", pa.float64()),  # the same as lapse_risk (kept)
        pa.field("lapse_risk", pa.float64()),  # P(no counted order within the horizon)
        pa.field("recent_incidents", pa.int64()),
        pa.field("driver_lapse_ratio", pa.float64()),  # strongest clear risk driver met (1: none)
        pa.field("risk_driver", pa.string()),  # that driver as a reason, or null
        pa.field("risk_driver_line", pa.string()),  # the worst clear product line they bought
        pa.field("sweet_spot", pa.string()),  # scan/sweet_spot.py: a sentence a rep can use
        pa.field("top_lines", pa.list_(pa.string())),  # product lines bought most, up to 2
        pa.field("usual_basket", pa.float64()),  # the median counted order
        pa.field("stopped_line", pa.string()),  # a regular line they stopped buying, or null
        pa.field("doubtful_contact", pa.string()),  # scan/contact.py: bounced, returned, wrong
        pa.field("rude", pa.bool_()),
        pa.field("heavy_contact", pa.bool_()),
        pa.field("late_payer", pa.bool_()),
        pa.field("return_abuser", pa.bool_()),
        pa.field("decision", pa.string()),  # one of DECISIONS, or null for active customers
        pa.field("winback_odds", pa.float64()),  # share of gone peers a call wins back
        pa.field("p_return_anyway", pa.float64()),  # chance of coming back with no call
        pa.field("p_return_contacted", pa.float64()),  # chance of coming back with a call
        # (p_return_contacted - p_return_anyway) x value - expected cost
        pa.field("expected_value", pa.float64()),
        pa.field("expected_cost", pa.float64()),
        pa.field("tier", pa.string()),  # one of TIERS
        pa.field("rank", pa.int64()),  # 1 = first to call; null when not on the list
        pa.field("reasons", pa.list_(pa.string())),  # why the status, with the numbers
        pa.field("decision_reasons", pa.list_(pa.string())),  # why the decision
    ]
)


@dataclass
class RunInfo:
    """run.json: everything about a run except the per-customer rows."""

    run_id: str
    as_of: str  # ISO date: the scan's "today"
    created_at: str
    ledger_batch: int  # the ledger manifest's batch count the scan read
    policy: dict[str, Any] = field(default_factory=dict)
    models: dict[str, Any] = field(default_factory=dict)
    classifier: dict[str, Any] = field(default_factory=dict)  # auc, top_decile_lift, …
    # The backtest harness: every score graded by real outcomes (scan/backtest.py).
    backtest: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)  # by status, and "listed"
    # What drives customers away (scan/drivers.py): Driver.as_dict() of each, strongest first.
    drivers: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    @staticmethod
    def new_id(now: datetime | None = None) -> str:
        now = now or datetime.now(UTC)
        return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


@dataclass(frozen=True)
class ScanRun:
    """A finished run on disk."""

    path: Path
    info: RunInfo

    @property
    def as_of(self) -> date:
        return date.fromisoformat(self.info.as_of)

    def customers(self, columns: list[str] | None = None, where: Any = None) -> pa.Table:
        """The per-customer rows (reads the Parquet file); ``where``, an Arrow expression
        (``pyarrow.compute.field(...)``), keeps only the rows it holds for, filtered as
        they are read: only those are ever held."""
        return pq.read_table(self.path / "customers.parquet", columns=columns, filters=where)


def write_run(runs_dir: Path, info: RunInfo, customers: pa.Table | Iterable[pa.Table]) -> ScanRun:
    """Write a run and make it the latest, atomically. ``customers``: the run's rows, in
    one table or in pieces, written as they come (at 5.5M customers the whole table was
    some 2.5 GB more on top of the frames it was made from)."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    _remove_abandoned(runs_dir)
    hidden = runs_dir / f".{info.run_id}.partial"
    final = runs_dir / info.run_id
    if hidden.exists():
        shutil.rmtree(hidden)
    hidden.mkdir()
    every = hidden / "customers.parquet"
    try:
        with pq.ParquetWriter(every, RUN_SCHEMA, compression="zstd") as writer:
            for piece in [customers] if isinstance(customers, pa.Table) else customers:
                missing = [f.name for f in RUN_SCHEMA if f.name not in piece.column_names]
                if missing:
                    raise ScanRunError(
                        f"scan run {info.run_id} lacks columns: {', '.join(missing)}"
                    )
                writer.write_table(piece.select(RUN_SCHEMA.names).cast(RUN_SCHEMA))
                del piece
                give_back_freed_memory()  # the piece written, before the next is built
    except BaseException:
        shutil.rmtree(hidden, ignore_errors=True)
        raise
    # The ranked rows, read back (only they), in one take (ranks are distinct).
    ranked = pq.read_table(every, filters=pc.field("rank").is_valid())
    listed = ranked.take(pc.sort_indices(ranked["rank"]))
    del ranked
    pq.write_table(listed, hidden / "winback_list.parquet", compression="zstd")
    reasons = pc.binary_join(listed["reasons"], "; ").fill_null("")
    flat = listed.drop_columns(["reasons", "decision_reasons"]).append_column("reasons", reasons)
    for i, column in enumerate(flat.schema):
        if pa.types.is_list(column.type):  # other lists: one cell, "; " between items
            joined = pc.binary_join(flat[column.name], "; ").fill_null("")
            flat = flat.set_column(i, column.name, joined)
    # People open this file in a spreadsheet: no customer's name may run as a formula.
    pacsv.write_csv(safe_table(flat), hidden / "winback_list.csv")
    (hidden / "run.json").write_text(json.dumps(asdict(info), indent=1), encoding="utf-8")
    os.replace(hidden, final)
    latest_tmp = runs_dir / f".LATEST.{info.run_id}"
    latest_tmp.write_text(info.run_id, encoding="utf-8")
    os.replace(latest_tmp, runs_dir / "LATEST")
    return ScanRun(final, info)


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused, then restored as it was.

    For the work on both sides of a run that makes hundreds of thousands of small lists,
    dicts and strings and no cycles (the scan's reasons and run, the desk's sync): each
    full collection would walk them all again."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# A scan writes its files in seconds; a partial run this old was left by a killed scan.
ABANDONED_AFTER_SECONDS = 3600


def _remove_abandoned(runs_dir: Path) -> None:
    """Remove the half-written runs that killed scans left (never a run in progress)."""
    cutoff = time.time() - ABANDONED_AFTER_SECONDS
    for partial in runs_dir.glob(".*.partial"):
        with contextlib.suppress(OSError):  # another scan removed it first
            if partial.stat().st_mtime < cutoff:
                shutil.rmtree(partial)


def read_run(path: Path) -> ScanRun:
    try:
        data = json.loads((path / "run.json").read_text(encoding="utf-8"))
        return ScanRun(path, RunInfo(**data))
    except (OSError, ValueError, TypeError) as exc:
        raise ScanRunError(f"{path}: not a readable scan run ({exc})") from None


def latest_run(runs_dir: Path) -> ScanRun | None:
    """The newest finished run, or None before the first scan."""
    try:
        run_id = (runs_dir / "LATEST").read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return read_run(runs_dir / run_id)
