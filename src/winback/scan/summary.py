"""The per-customer summary of ``winback.models.data`` as an Ibis expression, so a database
(DuckDB, PostgreSQL, ...) computes it where the transactions live.

Same conventions as the pandas version: purchases on one day are one purchase with their
values added; frequency counts repeat purchase days; recency and T count days (or weeks)
from the first purchase; monetary value is the mean of the repeat purchase days. A test
checks both give identical summaries on CDNOW.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

import ibis
import ibis.expr.types as ir

from winback.errors import ModelError

TimeUnit = Literal["days", "weeks"]
DAYS_PER_UNIT = {"days": 1.0, "weeks": 7.0}


def _as_date(value: str | date | datetime) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return datetime.fromisoformat(value).date()


def _purchase_days(
    table: ir.Table, customer_col: str, date_col: str, value_col: str | None
) -> ir.Table:
    """One row per customer and purchase day, with the day's total value."""
    missing = [c for c in (customer_col, date_col, value_col) if c and c not in table.columns]
    if missing:
        raise ModelError(f"transactions have no column(s) {missing}")
    value: Any = table[value_col].cast("float64") if value_col else ibis.literal(0.0)
    rows = table.select(customer=table[customer_col], day=table[date_col].cast("date"), value=value)
    return rows.group_by(["customer", "day"]).aggregate(value=rows.value.sum())


def _per_day(unit: str) -> float:
    if unit not in DAYS_PER_UNIT:
        raise ModelError(f"unit must be 'days' or 'weeks', not {unit!r}")
    return DAYS_PER_UNIT[unit]


def summarise_transactions(
    table: ir.Table,
    customer_col: str,
    date_col: str,
    observation_end: str | date | datetime,
    value_col: str | None = None,
    unit: TimeUnit = "weeks",
) -> ir.Table:
    """Ibis expression for the per-customer summary; see ``winback.models.data``.

    Returns a table with ``customer``, ``frequency``, ``recency``, ``T`` and, with
    ``value_col``, ``monetary_value``.
    """
    per_day = _per_day(unit)
    end = ibis.literal(_as_date(observation_end))
    days = _purchase_days(table, customer_col, date_col, value_col)
    days = days.filter(days.day <= end)
    per_customer = days.group_by("customer").aggregate(
        first_day=days.day.min(),
        last_day=days.day.max(),
        purchase_days=days.day.count(),
        total=days.value.sum(),
    )
    first = days.select(customer_f="customer", day_f="day", first_value="value")
    joined = per_customer.join(
        first,
        (per_customer.customer == first.customer_f) & (per_customer.first_day == first.day_f),
    )
    frequency = (joined.purchase_days - 1).cast("float64")
    columns: dict[str, Any] = {
        "customer": joined.customer,
        "frequency": frequency,
        "recency": joined.last_day.delta(joined.first_day, unit="day").cast("float64") / per_day,
        "T": end.delta(joined.first_day, unit="day").cast("float64") / per_day,
    }
    if value_col:
        columns["monetary_value"] = ibis.cases(
            (frequency > 0, (joined.total - joined.first_value) / frequency), else_=0.0
        )
    return joined.select(**columns).order_by("customer")


def calibration_holdout_summary(
    table: ir.Table,
    customer_col: str,
    date_col: str,
    calibration_end: str | date | datetime,
    observation_end: str | date | datetime,
    value_col: str | None = None,
    unit: TimeUnit = "weeks",
) -> ir.Table:
    """Ibis expression for the calibration summary plus holdout counts; see
    ``winback.models.data.calibration_holdout_summary`` for the columns."""
    per_day = _per_day(unit)
    cal_end = _as_date(calibration_end)
    obs_end = _as_date(observation_end)
    if obs_end <= cal_end:
        raise ModelError("observation_end must be after calibration_end")
    cal = summarise_transactions(table, customer_col, date_col, cal_end, value_col, unit)
    cal = cal.rename({f"{c}_cal": c for c in cal.columns if c != "customer"})
    days = _purchase_days(table, customer_col, date_col, value_col)
    hold = days.filter((days.day > ibis.literal(cal_end)) & (days.day <= ibis.literal(obs_end)))
    counts = hold.group_by("customer").aggregate(
        frequency_holdout=hold.day.count().cast("float64"), mean_value=hold.value.mean()
    )
    counts = counts.rename(customer_h="customer")
    joined = cal.left_join(counts, cal.customer == counts.customer_h)
    columns: dict[str, Any] = {c: joined[c] for c in cal.columns}
    columns["frequency_holdout"] = joined.frequency_holdout.fill_null(0.0)
    if value_col:
        columns["monetary_value_holdout"] = joined.mean_value.fill_null(0.0)
    columns["duration_holdout"] = ibis.literal((obs_end - cal_end).days / per_day)
    return joined.select(**columns).order_by("customer")
