"""From a transaction log in memory (pandas) to the per-customer summary the models fit.

Conventions, which follow Fader, Hardie & Lee (2005):

* purchases on the same day are one purchase (their values are added up);
* time is counted from each customer's first purchase, in days or weeks (7 days);
* ``frequency`` is the number of repeat purchases (purchase days after the first);
* ``recency`` (t_x) is the time from the first to the last purchase;
* ``T`` is the time from the first purchase to the end of observation;
* ``monetary_value`` is the mean value of the repeat purchases (0 without any), so the
  first purchase, which is often different in kind, does not count.

The Ibis version for data too large for memory is ``winback.scan.summary``; a test checks
that both give the same summary on CDNOW.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

from winback.errors import ModelError

TimeUnit = Literal["days", "weeks"]
DAYS_PER_UNIT: dict[str, float] = {"days": 1.0, "weeks": 7.0}


def _days_per_unit(unit: str) -> float:
    try:
        return DAYS_PER_UNIT[unit]
    except KeyError:
        raise ModelError(f"unit must be 'days' or 'weeks', not {unit!r}") from None


def _purchase_days(
    transactions: pd.DataFrame, customer_col: str, date_col: str, value_col: str | None
) -> pd.DataFrame:
    """One row per customer and purchase day, with the day's total value."""
    missing = [c for c in (customer_col, date_col, value_col) if c and c not in transactions]
    if missing:
        raise ModelError(f"transactions have no column(s) {missing}")
    days = pd.DataFrame(
        {
            "customer": transactions[customer_col].to_numpy(),
            "day": pd.to_datetime(transactions[date_col]).dt.normalize().to_numpy(),
            "value": (
                transactions[value_col].astype("float64").to_numpy()
                if value_col
                else np.zeros(len(transactions))
            ),
        }
    )
    summed = days.groupby(["customer", "day"], sort=True)["value"].sum()
    return summed.reset_index()


def summarise_transactions(
    transactions: pd.DataFrame,
    customer_col: str,
    date_col: str,
    observation_end: str | pd.Timestamp,
    value_col: str | None = None,
    unit: TimeUnit = "weeks",
) -> pd.DataFrame:
    """Summarise a transaction log into one row per customer.

    Parameters
    ----------
    transactions : pandas.DataFrame
        One row per transaction.
    customer_col, date_col : str
        Columns holding the customer id and the transaction date (or timestamp).
    observation_end : str or pandas.Timestamp
        Last day observed; later transactions are ignored.
    value_col : str, optional
        Column with the transaction value; without it ``monetary_value`` is omitted.
    unit : {"days", "weeks"}
        Time unit of ``recency`` and ``T``.

    Returns
    -------
    pandas.DataFrame
        Indexed by customer id, with ``frequency``, ``recency``, ``T`` and, with
        ``value_col``, ``monetary_value``. Customers whose first purchase is after
        ``observation_end`` are absent.
    """
    per_day = _days_per_unit(unit)
    end = pd.Timestamp(observation_end).normalize()
    days = _purchase_days(transactions, customer_col, date_col, value_col)
    days = days[days["day"] <= end]
    grouped = days.groupby("customer", sort=True)
    first = grouped["day"].min()
    last = grouped["day"].max()
    count = grouped["day"].count()
    frequency = (count - 1).astype("float64")
    out = pd.DataFrame(
        {
            "frequency": frequency,
            "recency": (last - first).dt.days / per_day,
            "T": (end - first).dt.days / per_day,
        }
    )
    if value_col:
        total = grouped["value"].sum()
        first_value = grouped["value"].first()  # days are sorted within each customer
        repeat = (total - first_value).astype("float64")
        out["monetary_value"] = np.where(
            frequency > 0, repeat / frequency.where(frequency > 0, 1), 0.0
        )
    out.index.name = customer_col
    return out


def calibration_holdout_summary(
    transactions: pd.DataFrame,
    customer_col: str,
    date_col: str,
    calibration_end: str | pd.Timestamp,
    observation_end: str | pd.Timestamp,
    value_col: str | None = None,
    unit: TimeUnit = "weeks",
) -> pd.DataFrame:
    """Split a transaction log into a calibration summary and holdout counts.

    Customers are those who bought by ``calibration_end``. Columns are the calibration
    summary (``frequency_cal``, ``recency_cal``, ``T_cal`` and ``monetary_value_cal``) plus
    ``frequency_holdout`` (purchase days in (calibration_end, observation_end]),
    ``monetary_value_holdout`` (mean value of those, 0 without any) and
    ``duration_holdout`` (length of the holdout period in ``unit``).
    """
    per_day = _days_per_unit(unit)
    cal_end = pd.Timestamp(calibration_end).normalize()
    obs_end = pd.Timestamp(observation_end).normalize()
    if obs_end <= cal_end:
        raise ModelError("observation_end must be after calibration_end")
    cal = summarise_transactions(
        transactions, customer_col, date_col, cal_end, value_col=value_col, unit=unit
    )
    cal.columns = [f"{c}_cal" for c in cal.columns]
    days = _purchase_days(transactions, customer_col, date_col, value_col)
    hold = days[(days["day"] > cal_end) & (days["day"] <= obs_end)]
    grouped = hold.groupby("customer")
    counts = grouped["day"].count().reindex(cal.index, fill_value=0).astype("float64")
    cal["frequency_holdout"] = counts
    if value_col:
        means = grouped["value"].mean().reindex(cal.index, fill_value=0.0)
        cal["monetary_value_holdout"] = means.astype("float64")
    cal["duration_holdout"] = (obs_end - cal_end).days / per_day
    return cal


def cumulative_repeat_purchases(
    transactions: pd.DataFrame,
    customer_col: str,
    date_col: str,
    origin: str | pd.Timestamp,
    times: Any,
    unit: TimeUnit = "weeks",
) -> tuple[pd.Series, np.ndarray[Any, np.dtype[np.float64]]]:
    """First purchase times and the base's cumulative repeat purchases over time.

    Returns each customer's first purchase time (in ``unit`` since ``origin``) and, for
    each of ``times``, the number of repeat purchase days before that time, which is what
    ``winback.models.diagnostics.cumulative_tracking`` sets beside the model.
    """
    per_day = _days_per_unit(unit)
    start = pd.Timestamp(origin).normalize()
    days = _purchase_days(transactions, customer_col, date_col, None)
    elapsed = (days["day"] - start).dt.days.to_numpy(dtype=np.float64) / per_day
    is_first = ~days["customer"].duplicated().to_numpy()  # days are sorted per customer
    first = pd.Series(elapsed[is_first], index=days["customer"][is_first].to_numpy())
    repeat_times = np.sort(elapsed[~is_first])
    grid = np.asarray(times, dtype=np.float64)
    cumulative = np.searchsorted(repeat_times, grid, side="left").astype(np.float64)
    return first, cumulative
