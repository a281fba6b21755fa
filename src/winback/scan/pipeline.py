"""The scan, end to end: ledger snapshot → features → statuses → worth → a scan run on disk."""

from __future__ import annotations

import functools
import tempfile
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from winback.errors import EngineError, NothingToScanError, NotInScanError
from winback.ledger.store import Ledger, Manifest, bound_memory
from winback.policy import Policy
from winback.scan import contact
from winback.scan.cutoff_sql import CutoffQueries
from winback.scan.drivers import (
    HORIZON_DAYS,
    clear_exposures_at,
    find_drivers,
    people_by_cutoff,
    risk_driver_features,
    with_drivers,
)
from winback.scan.features import (
    customer_days,
    customer_features,
    last_orders,
    line_days,
    purchase_summary,
)
from winback.scan.follow_suit import (
    STAYED_AWAY_DAYS,
    UNREAD_AT_PAST_CUTOFFS,
    backtest_and_score,
    gone_window,
)
from winback.scan.freed import give_back_freed_memory
from winback.scan.keys import joined_on_ids
from winback.scan.lapse import classify
from winback.scan.modelling import holdout_start, predict, with_model
from winback.scan.runs import RUN_SCHEMA, RunInfo, ScanRun, collector_paused, write_run
from winback.scan.sample import SampledLedger, customer_sample
from winback.scan.short_of_memory import retry_on_one_thread
from winback.scan.subscriptions import (
    fit_retention,
    judge_contracts,
    subscriber_value,
    subscription_features,
)
from winback.scan.sweet_spot import sweet_spots
from winback.scan.worth import decide, reasons_in_pieces
from winback.settings import SCAN_MEMORY, SPARK_DRIVER_MEMORY

#: Customers whose run rows are built and written at a time.
RUN_PIECE = 500_000

Step = Callable[[str], None]
"""Called with the name of each step as it starts."""


def default_as_of(ledger_con: Any) -> date:
    """The scan's "today" when none is given: the newest order in the ledger.

    For a live business that is today or yesterday; for historical data (CDNOW ends in
    June 1998) it is the end of the data, which is what a scan of it must use.
    """
    newest = ledger_con.table("orders").order_date.max().execute()
    if newest is None or pd.isna(newest):
        raise NothingToScanError(
            "the ledger holds no orders yet: import some with `winback import`"
        )
    return pd.Timestamp(newest).date()


def feature_frame(expr: Any, sort_by: str | None = None) -> pd.DataFrame:
    """An Ibis table of per-customer features as pandas, straight from Arrow; with
    ``sort_by``, its rows in that column's order (stable, missing last: as pandas'
    ``sort_values(kind="stable")``, then a fresh index).

    Ibis's own ``to_pandas`` turns every column holding a null (most joined-on features)
    into Python objects, whole-number sums into ``Decimal`` objects, and only then into
    pandas: at 1M customers that took longer than DuckDB's query. Here Arrow converts
    each column at once: numbers with nulls become floats with NaN (the same numbers),
    dates become ``datetime64[s]`` as Ibis gives them.
    """
    table: pa.Table = expr.to_pyarrow()
    if sort_by is not None:
        # Sorted here, column by column, each unsorted column let go once taken: sorted in
        # pandas (``sort_values``), the frame was copied whole while the unsorted one was
        # still held, some 2.5 GB more at 5.5M customers.
        order = pc.sort_indices(table, [(sort_by, "ascending")])  # missing last
        schema, columns = table.schema, list(table.columns)
        del table
        for i in range(len(columns)):
            columns[i] = columns[i].take(order)
        table = pa.Table.from_arrays(columns, schema=schema)
        del columns
    dates = [field.name for field in table.schema if pa.types.is_date(field.type)]
    frame = _pandas(table, date_as_object=False)
    for name in dates:
        frame[name] = frame[name].astype("datetime64[s]")
    return frame


def _pandas(table: pa.Table, **options: Any) -> pd.DataFrame:
    """``table`` as pandas, its Arrow columns freed one by one as they are converted (the
    caller must not use ``table`` again): at 1M customers a feature table and its frame
    are each about half a gigabyte, and were both held whole until the end."""
    frame: pd.DataFrame = table.to_pandas(self_destruct=True, split_blocks=True, **options)
    return frame


# The folders holding what _kept wrote, by the name of the table reading it.
_KEPT: dict[str, tempfile.TemporaryDirectory[str]] = {}
# The names of the tables _kept wrote during the scan running in this thread.
_HELD: ContextVar[list[str] | None] = ContextVar("winback_kept_tables", default=None)
P = ParamSpec("P")
R = TypeVar("R")


def _frees_what_it_kept(scan: Callable[P, R]) -> Callable[P, R]:
    """``scan``, which removes every folder :func:`_kept` wrote during it that
    :func:`_release` did not: a scan that fails part-way leaves none behind."""

    @functools.wraps(scan)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        held: list[str] = []
        token = _HELD.set(held)
        try:
            return scan(*args, **kwargs)
        finally:
            _HELD.reset(token)
            for name in held:
                folder = _KEPT.pop(name, None)
                if folder is not None:
                    folder.cleanup()
            # The scan's frames are gone: what they held, back to the system before the
            # desk's sync and the rest of the cycle build their own.
            give_back_freed_memory()

    return run


def _kept(con: Any, expr: Any) -> Any:
    """``expr`` computed once and kept by the engine, for a scan that reads it many times.

    On DuckDB a Parquet file in a temporary folder, read back as a view: at 1M customers
    the table by customer and day held in memory took 1.7 GB, where the file takes a
    fraction on disk and each read decompresses only the columns it needs. (Ibis's
    ``cache()`` drops its table when collected with a statement this DuckDB rejects.)
    Elsewhere Ibis's cache (Spark's persisted DataFrame).
    """
    if con.name != "duckdb":
        return expr.cache()
    folder = tempfile.TemporaryDirectory(prefix="winback-kept-")
    path = Path(folder.name) / "kept.parquet"
    con.to_parquet(expr, path)
    table = con.read_parquet(path)
    _KEPT[table.get_name()] = folder
    held = _HELD.get()
    if held is not None:
        held.append(table.get_name())
    return table


def _release(con: Any, kept: Any) -> None:
    """Free what :func:`_kept` holds."""
    if con.name != "duckdb":
        kept.release()
        return
    name = kept.get_name()
    con.con.execute(f"DROP VIEW IF EXISTS {name}")
    folder = _KEPT.pop(name, None)
    if folder is not None:
        folder.cleanup()


@_frees_what_it_kept
def run_scan(
    ledger: Ledger,
    runs_dir: Path,
    policy: Policy,
    *,
    as_of: date | None = None,
    step: Step | None = None,
    engine: str = "duckdb",
    spark_master: str | None = None,
    spark_driver_memory: str = SPARK_DRIVER_MEMORY,
    memory: str = SCAN_MEMORY,
) -> ScanRun:
    """Scan the ledger as it is now and write the run; returns it.

    ``engine`` is ``duckdb`` (embedded, the default) or ``spark`` (a local PySpark session
    over the same Parquet segments; needs ``winback[spark]``), on ``spark_master`` when
    given (``WINBACK_SPARK_MASTER``), else two local cores, with a driver of
    ``spark_driver_memory`` (``WINBACK_SPARK_DRIVER_MEMORY``). ``memory`` is what DuckDB's
    queries may hold before they spill to a temporary folder (``WINBACK_SCAN_MEMORY``).
    """
    manifest = ledger.manifest()
    if engine == "spark":
        from winback.scan.spark import local_session, spark_backend

        session = local_session(master=spark_master, driver_memory=spark_driver_memory)
        con = spark_backend(ledger, session, manifest)
        return _scan(con, manifest, runs_dir, policy, as_of, step, engine)
    if engine != "duckdb":
        raise EngineError(f"unknown engine {engine!r}; use duckdb or spark")
    with tempfile.TemporaryDirectory(prefix="winback-scan-") as scratch:
        con = ledger.ibis(manifest)
        bound_memory(con.con, memory, scratch)
        retry_on_one_thread(con)
        try:
            return _scan(con, manifest, runs_dir, policy, as_of, step, engine)
        except duckdb.OutOfMemoryException as exc:
            # Some of DuckDB's aggregates (a median per customer) cannot spill to disk (the
            # sweet spot's median basket, at 100M orders, now ranks instead when it runs
            # out), and its queries need some memory however they spill. Said as what to
            # do, not as DuckDB's traceback.
            raise EngineError(
                f"the scan needed more memory than WINBACK_SCAN_MEMORY allows ({memory}): "
                "set WINBACK_SCAN_MEMORY higher (e.g. 4GB or 8GB, within the machine's "
                f"memory) and scan again. DuckDB said: {str(exc).splitlines()[0]}"
            ) from None
        finally:
            con.disconnect()


def _scan(
    con: Any,
    manifest: Manifest,
    runs_dir: Path,
    policy: Policy,
    as_of: date | None,
    step: Step | None,
    engine: str,
) -> ScanRun:
    started = time.perf_counter()
    told = step or (lambda _name: None)

    def say(name: str) -> None:
        give_back_freed_memory()
        told(name)

    as_of = as_of or default_as_of(con)

    say("features")
    # One pass over the orders, by customer and day, for every date the scan reads: today,
    # the models' holdout start and the backtest's cutoffs are filtered aggregates over it.
    days = _kept(con, customer_days(con.table("orders")))
    features = feature_frame(customer_features(con, as_of, policy, days), sort_by="customer_id")
    if features.empty:
        raise NothingToScanError(f"no customer has an order on or before {as_of}")

    retention: dict[str, Any] = {}
    if manifest.segments("subscriptions"):
        say("subscriptions")
        features = features.merge(subscription_features(con, as_of), on="customer_id", how="left")

    say("models")
    cutoff = holdout_start(as_of, policy)
    # The holdout start's frame is read only for (x, t_x, T) and the purchases since.
    calibration = None if cutoff is None else feature_frame(purchase_summary(days, cutoff))
    predicted, model_report = predict(features, as_of, policy, calibration)
    # Each step's own frames go once used or joined on, not at the end of the scan (they
    # were held through the classifier's step, the scan's peak).
    del calibration
    sbg = None
    if "active_contracts" in features:
        sbg, retention = fit_retention(con, as_of, policy)
        if sbg is not None:
            # A subscriber's value comes from the contract model, not from purchases.
            value = subscriber_value(features, sbg, policy)
            predicted["predicted_value"] = np.where(
                np.isnan(value), predicted["predicted_value"], value
            )
    features = features.join(predicted)
    model_columns = list(predicted)
    del predicted

    say("drivers")
    # The order lines by customer, line and day, read once for the sweet spot and every
    # cutoff's product-line exposures (today's, and the backtest's below).
    lines = _kept(con, line_days(con))
    # Who bought before each cutoff the drivers are found at (today's and the backtest's,
    # a year before each cutoff it reads), and whether they lapsed, in one pass.
    people = _kept(con, people_by_cutoff(con, _drivers_cutoffs(features, as_of, policy), days))
    drivers = find_drivers(con, as_of, days=days, lines=lines, people=people)
    met = clear_exposures_at(con, as_of, drivers, lines)
    features = with_drivers(features, risk_driver_features(met, drivers))
    del met
    spots = sweet_spots(con, as_of, lines, days)
    features = joined_on_ids(features, spots)
    del spots
    doubts = contact.doubtful_contacts(con, as_of)
    features["doubtful_contact"] = features["customer_id"].astype(str).map(doubts)
    del doubts

    say("lapse risk")

    subscribers = "active_contracts" in features

    # Above BACKTEST_CUSTOMERS, the past cutoffs read a sample of today's customers (the
    # classifier fits on a sample anyway); today's customers are all scored.
    past = _PastReads.for_scan(con, features["customer_id"], days, lines, people)

    # Each past cutoff's feature query is the first one's with its dates moved: compiled once;
    # without the columns the backtest never reads there.
    past_features = CutoffQueries(
        past.con,
        lambda cutoff: customer_features(past.con, cutoff, policy, past.days).drop(
            *UNREAD_AT_PAST_CUTOFFS
        ),
    )

    def features_at(cutoff: date) -> pd.DataFrame:
        # Straight from Arrow: Ibis's own conversion to pandas goes through Python objects
        # for every column with a null, and the backtest reads these frames only for
        # numbers and dates. The engine returns rows in any order, and the classifier's
        # fits (their validation split, the sample of a big backtest) depend on it: sorted.
        table = past_features.arrow(cutoff)
        return with_subscriptions(_pandas(table.sort_by("customer_id")), cutoff)

    def labels_at(cutoff: date) -> pd.DataFrame:
        # A date only read for its labels needs no more than the last order by then.
        table = last_orders(past.days, cutoff).to_pyarrow().sort_by("customer_id")
        return with_subscriptions(_pandas(table), cutoff)

    def with_subscriptions(frame: pd.DataFrame, cutoff: date) -> pd.DataFrame:
        if subscribers:
            # A subscriber's label is whether a contract still runs a horizon later.
            extra = subscription_features(past.con, cutoff)
            frame = frame.merge(extra, on="customer_id", how="left")
        return frame

    # Refits at past cutoffs use the repeat-purchase model chosen above.
    chosen = with_model(policy, model_report.repeat_model)
    # The risk drivers at each past cutoff, found from what was known then (no leakage):
    # the model learns how much exposure to them adds ("who else will follow suit").
    risk, backtest = backtest_and_score(
        features_at,
        features,
        as_of,
        chosen,
        drivers_at=past.drivers_at,
        labels_at=labels_at,
    )
    backtest = replace(
        backtest, sampled_customers=past.sampled_customers, of_customers=past.of_customers
    )
    features["lapse_risk"] = risk
    # What only the classifier read goes now, not with the run (at 5.5M customers 21
    # columns, about 0.9 GB held through the statuses, the worth and the writing).
    features = features.drop(columns=[c for c in READ_ONLY_UP_TO_LAPSE_RISK if c in features])
    past.release()
    _release(con, days)
    _release(con, lines)
    _release(con, people)

    # The statuses, worth and run build millions of small lists and strings and no
    # cycles: the collector walking the heap each time they pile up cost 1.4 of the 5.4
    # CPU s of classify, reasons, decide and the run table (a replay of a 300k scan's).
    with collector_paused():
        say("statuses")
        lapse = classify(
            features if model_report.fitted else features.drop(columns=model_columns),
            as_of,
            policy,
            risk_threshold=backtest.slipping_threshold,
            base_rate=backtest.base_rate,
        )
        contracts: dict[str, Any] = {}
        if subscribers:
            # A running, paid contract outranks the gaps between orders (scan/subscriptions.py):
            # the covered subscribers' status and lapse risk come from their contract.
            say("contracts")
            horizon = policy.lapse.follow_suit_window_days
            features, lapse, contracts = judge_contracts(
                con, features, lapse, as_of, sbg, horizon, rules=policy.contracts
            )
        features["follow_suit_probability"] = features["lapse_risk"]  # the desk's name for it

        # A clear risk driver the customer met, and a doubtful contact detail, are reasons too,
        # whatever the status.
        lapse["reasons"] = _with_more_reasons(
            lapse["reasons"], features["risk_driver"], features["doubtful_contact"]
        )

        say("worth")
        outcomes = (
            con.table("winback_outcomes")
            .select("customer_id", "segment", "outcome", "reason", "contacted", "tier")
            .to_pandas()
        )
        worth = decide(features, lapse["status"], policy, outcomes)

        say("writing")
        counts = {
            s: int((lapse["status"] == s).sum()) for s in ("active", "slipping", "lapsed", "lost")
        }
        counts["listed"] = int(worth["rank"].notna().sum())
        info = RunInfo(
            run_id=RunInfo.new_id(),
            as_of=as_of.isoformat(),
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            ledger_batch=manifest.batches,
            policy=policy.model_dump(),
            models={"engine": engine}
            | model_report.as_dict()
            | {"retention": retention, "contracts": contracts},
            counts=counts,
            classifier=backtest.classifier(),
            backtest=backtest.as_dict(),
            drivers=[d.as_dict() for d in drivers],
            seconds=round(time.perf_counter() - started, 3),
        )
        # The run's rows built and written RUN_PIECE customers at a time (the whole table
        # held its own copy of every frame); the frames go with the last piece, before the
        # ranked list is read back.
        pieces = _run_pieces(features, lapse, worth)
        del features, lapse, worth, risk
        return write_run(runs_dir, info, pieces)


#: Feature columns no step after the lapse risk reads (the statuses, contracts, worth and
#: the run): tests/scan/test_columns_let_go.py checks that those steps' modules never name them
#: and that a scan keeping them writes the same run.
READ_ONLY_UP_TO_LAPSE_RISK = (
    "first_day_revenue",
    "last_gap_days",
    "worst_recent_severity",
    "last_incident_on",
    "unresolved",
    "returned_value",
    "gap_mean_days",
    "gap_sd_days",
    "gaps_at_least_open",
    "recent_gap_mean_days",
    "day_revenue_mean",
    "recent_day_revenue",
    "sent_quarter",
    "opened_quarter",
    "sent_before_quarter",
    "opened_before_quarter",
    "sentiment_quarter",
    "sentiment_before_quarter",
    "public_complaints",
    "last_public_complaint_at",
    "drivers_met",
)


def _drivers_cutoffs(features: pd.DataFrame, as_of: date, policy: Policy) -> list[date]:
    """The cutoffs ``find_drivers`` may read in a scan: a year (``HORIZON_DAYS``) before
    today and before each past cutoff ``backtest_and_score`` may read, chosen as it chooses
    them: the held-out one and its training cutoffs, the stayed-away grade's and its own
    (those it reads depend on the rows found; a cutoff missed here is read on its own)."""
    horizon = policy.lapse.follow_suit_window_days
    held_out = as_of - timedelta(days=horizon)
    stayed_away = as_of - timedelta(days=STAYED_AWAY_DAYS)
    _window, train = gone_window(features, held_out, horizon)
    _window, stayed_train = gone_window(features, stayed_away, horizon)
    past = {held_out, *train, stayed_away, *stayed_train}
    return [c - timedelta(days=HORIZON_DAYS) for c in (as_of, *sorted(past))]


@dataclass(frozen=True)
class _PastReads:
    """What the backtest's past cutoffs read: the backend and the kept tables by customer
    and day and by line, all of them or only a sample's (``scan/sample.py``)."""

    con: Any
    days: Any
    lines: Any
    sampled_customers: int | None  # None: every customer
    of_customers: int | None
    whole: tuple[Any, Any, Any, Any]  # the backend and kept tables over every customer

    @classmethod
    def for_scan(
        cls, con: Any, customer_ids: pd.Series, days: Any, lines: Any, people: Any = None
    ) -> _PastReads:
        """All of ``con``'s customers, or a sample of them above ``BACKTEST_CUSTOMERS``
        (its table by customer and day kept once more, for the sample; its lines are the
        whole table's semi-joined with it: each cutoff reads only 90 days of them, and
        keeping them cost a pass over every line, 1.35 CPU s at 300,000 customers, for no
        saving at the cutoffs). ``people``: ``drivers.people_by_cutoff`` kept, over every
        customer."""
        chosen = customer_sample(customer_ids)
        if chosen is None:
            return cls(con, days, lines, None, None, (con, days, lines, people))
        sampled = SampledLedger(con, chosen, keep=lambda expr: _kept(con, expr))
        return cls(
            sampled,
            _kept(con, sampled.only_sampled(days)),
            sampled.only_sampled(lines),
            len(chosen),
            int(customer_ids.nunique()),
            (con, days, lines, people),
        )

    def drivers_at(self, cutoff: date) -> pd.DataFrame:
        """The clear risk drivers each past customer met by ``cutoff``, as
        ``drivers.drivers_met_at`` gives them: found among every customer, met by the
        sample's. On a quarter of the customers a quarter as many met each driver: at
        300,000 retail customers the sample's intervals left 20 of the 44 clear drivers
        across 1, for a saving of 1.5 CPU s a cutoff."""
        con, days, lines, people = self.whole
        found = find_drivers(con, cutoff, days=days, lines=lines, people=people)
        met = clear_exposures_at(self.con, cutoff, found, self.lines)
        return risk_driver_features(met, found)

    def release(self) -> None:
        """Free the sample's kept tables (the whole ones are the scan's to free)."""
        if isinstance(self.con, SampledLedger):
            whole = self.whole[0]
            for kept in [self.days, *self.con.kept.values()]:
                _release(whole, kept)
            self.con.close()


def _run_pieces(
    features: pd.DataFrame, lapse: pd.DataFrame, worth: pd.DataFrame
) -> Iterator[pa.Table]:
    """The run's rows, :data:`RUN_PIECE` customers at a time (:func:`_run_table`)."""
    for start in range(0, len(features), RUN_PIECE):
        at = slice(start, start + RUN_PIECE)
        yield _run_table(features.iloc[at], lapse.iloc[at], worth.iloc[at])


def _with_more_reasons(
    reasons: pd.Series, drivers: pd.Series, doubts: pd.Series
) -> pd.arrays.ArrowExtensionArray:
    """Each customer's reasons, then their risk driver and the doubt about their contact
    details where they have one (strings; anything else is none), as an Arrow list column
    built :data:`~winback.scan.worth.REASONS_CHUNK` customers at a time: as Python lists
    of strings (5.5M at 100M orders) they were held through the worth step, its peak.
    Only the customers with more to say get a new list; the lists given are left as they
    were."""
    driver_of, doubt_of = drivers.to_numpy(dtype=object), doubts.to_numpy(dtype=object)
    more = drivers.notna().to_numpy() | doubts.notna().to_numpy()

    def reasons_of(rows: range) -> list[list[str]]:
        # Python lists for a piece at a time (the statuses give them as an Arrow column).
        out = reasons.iloc[rows.start : rows.stop].tolist()
        for i in np.flatnonzero(more[rows.start : rows.stop]).tolist():
            driver, doubt = driver_of[rows.start + i], doubt_of[rows.start + i]
            out[i] = [
                *out[i],
                *([driver] if isinstance(driver, str) else []),
                *([contact.reason(doubt)] if isinstance(doubt, str) else []),
            ]
        return out

    return reasons_in_pieces(len(reasons), reasons_of)


def _run_table(features: pd.DataFrame, lapse: pd.DataFrame, worth: pd.DataFrame) -> pa.Table:
    """The run's rows, each column straight to Arrow (:func:`run_column`)."""
    data: dict[str, Any] = {
        "customer_id": features["customer_id"].astype(str),
        "name": features.get("name"),
        "segment": features["segment"],
        "status": lapse["status"],
        "first_order_date": features["first_order_date"],
        "last_order_date": features["last_order_date"],
        "orders": features["purchases"],
        "revenue": features["revenue"],
        "revenue_last_year": features["revenue_last_year"],
        "margin_past_years": features["margin_past_years"],
        "typical_interval_days": lapse["typical_interval_days"],
        "days_since_last_order": features["days_since_last_order"],
        "p_alive": features.get("p_alive"),
        "expected_purchases": features.get("expected_purchases"),
        "next_purchase_due": _due_dates(features),
        "predicted_value": features.get("predicted_value"),
        "follow_suit_probability": features.get("follow_suit_probability"),
        "lapse_risk": features.get("lapse_risk"),
        "recent_incidents": features["recent_incidents"].fillna(0),
        "driver_lapse_ratio": features["driver_lapse_ratio"],
        "risk_driver": features["risk_driver"],
        "risk_driver_line": features["risk_driver_line"],
        "sweet_spot": features["sweet_spot"],
        "top_lines": features["top_lines"],
        "usual_basket": features["usual_basket"],
        "stopped_line": features["stopped_line"],
        "doubtful_contact": features["doubtful_contact"],
        "rude": worth["rude"],
        "heavy_contact": worth["heavy_contact"],
        "late_payer": worth["late_payer"],
        "return_abuser": worth["return_abuser"],
        "decision": worth["decision"],
        "winback_odds": worth["winback_odds"],
        "p_return_anyway": worth["p_return_anyway"],
        "p_return_contacted": worth["p_return_contacted"],
        "expected_value": worth["expected_value"],
        "expected_cost": worth["expected_cost"],
        "tier": worth["tier"],
        "rank": worth["rank"],
        "reasons": lapse["reasons"],
        "decision_reasons": worth["decision_reasons"],
    }
    arrays = {
        field.name: run_column(data.get(field.name), field.type, len(features))
        for field in RUN_SCHEMA
    }
    return pa.table(arrays, schema=RUN_SCHEMA)


def run_column(values: Any, kind: pa.DataType, rows: int) -> pa.Array | pa.ChunkedArray:
    """One column of a run as Arrow of type ``kind`` (``values`` None: ``rows`` nulls).

    NaN, None, pandas' NA and NaT become nulls; a moment (``datetime64``) its day, as
    ``.dt.date`` gives it; a list column's cells without a list (a customer with no product
    line: NaN after the join) empty lists. No column goes through Python objects: at 1M
    customers the strings turned into Python ``str`` and the dates into ``date`` objects
    took gigabytes on top of the frames, the write's peak.
    """
    if values is None:
        return pa.nulls(rows, kind)
    series = pd.Series(values)
    if pa.types.is_floating(kind) or pa.types.is_integer(kind):
        return pa.array(pd.to_numeric(series, errors="coerce"), type=kind, from_pandas=True)
    if pa.types.is_date(kind):
        days = pd.to_datetime(series).to_numpy().astype("datetime64[D]")
        return pa.array(days, type=kind, from_pandas=True)
    if pa.types.is_list(kind):
        lists = pa.array(series, type=kind, from_pandas=True)
        return lists.fill_null(pa.scalar([], type=kind)) if lists.null_count else lists
    if isinstance(series.dtype, pd.api.extensions.ExtensionDtype):
        # Arrow-backed strings, nullable booleans: their own Arrow data, cast.
        return pa.array(series, from_pandas=True).cast(kind)
    return pa.array(series, type=kind, from_pandas=True)


def _due_dates(features: pd.DataFrame) -> Any:
    """When the model expected each customer's next purchase (a moment; None: no model)."""
    if "due_days" not in features:
        return None
    first = pd.to_datetime(features["first_order_date"])
    return first + pd.to_timedelta(features["due_days"].astype("float64").round(), unit="D")


def explain(run: ScanRun, customer_id: str) -> dict[str, Any]:
    """Everything the run says about one customer, as a plain dict."""
    table = run.customers()
    row = table.filter(pc.equal(table["customer_id"], customer_id))
    if row.num_rows == 0:
        raise NotInScanError(
            f"customer {customer_id!r} is not in scan run {run.info.run_id} "
            f"(as of {run.info.as_of}); is the id right, and had they ordered by then?"
        )
    record: dict[str, Any] = row.to_pylist()[0]
    record["run"] = asdict(run.info) | {"policy": "…"}
    return record
