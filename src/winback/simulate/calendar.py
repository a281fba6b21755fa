"""The observation window as whole days, and its months.

The simulator counts time in days from the first day of the window (day 0), so every
array of dates is a plain integer array until it is written out.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

DAYS_PER_MONTH = 365.25 / 12


@dataclass(frozen=True)
class Window:
    """``months`` calendar months ending on ``end`` (inclusive)."""

    start: np.datetime64
    days: int
    #: Day offset of the first day of each month, plus the day after the window.
    month_starts: np.ndarray
    #: Calendar month (0 = January) of each month of the window.
    month_of_year: np.ndarray

    @classmethod
    def ending(cls, end: dt.date, months: int) -> Window:
        last_month = np.datetime64(end, "M")
        first_month = last_month - (months - 1)
        start = first_month.astype("datetime64[D]")
        stop = np.datetime64(end, "D") + 1
        bounds = np.arange(first_month, last_month + 2).astype("datetime64[D]")
        bounds[-1] = stop
        month_starts = (bounds - start).astype(np.int64)
        month_of_year = (np.arange(first_month, last_month + 1).astype(np.int64)) % 12
        return cls(start, int((stop - start).astype(np.int64)), month_starts, month_of_year)

    @property
    def months(self) -> int:
        return len(self.month_of_year)

    def dates(self, days: np.ndarray) -> np.ndarray:
        """Day offsets as ``datetime64[D]``."""
        return self.start + np.asarray(days, dtype=np.int64).astype("timedelta64[D]")
