"""What drives customers away, as the insights room shows it: the risk drivers the latest
scan found (``scan/drivers.py``: each product line, staff member, channel and incident
type against customers like them who did not meet it), strongest first.

The scan computes them once and keeps them in its run.json; the dashboard, ``winback
report`` and the API read them from there.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, timedelta

from winback.scan.drivers import EXPOSURE_DAYS, HORIZON_DAYS, QUIET_DAYS, Driver
from winback.scan.features import EXPOSURE_FACTORS
from winback.scan.runs import ScanRun

#: Rows shown per kind of driver (the clear ones always show).
SHOWN = 8
_KEYS = {f.name for f in fields(Driver)}


@dataclass(frozen=True)
class DriversView:
    """The drivers of one scan run."""

    as_of: date  # the scan's date
    cutoff: date  # the past date the customers were taken at; their year after it is known
    drivers: list[Driver]  # strongest first (the interval's lower end)

    @property
    def clear(self) -> list[Driver]:
        """Those whose whole interval lies above 1."""
        return [d for d in self.drivers if d.clear]

    @property
    def method(self) -> str:
        return (
            f"Customers who bought in the {EXPOSURE_DAYS} days before {self.cutoff:%d %b %Y}, "
            "split by what they met in those days; lapsed = no order in the last "
            f"{QUIET_DAYS} days of the year after. Each is compared with customers like them "
            "(same segment, tenure and buying band) who did not meet it. Intervals are 95 % "
            "(delta method on the log ratio, both groups' sampling error counted); revenue "
            "lost is a year's revenue of those who left, less what the baseline rate loses."
        )

    def by_factor(self) -> list[tuple[str, list[Driver]]]:
        """Each kind of driver (product lines first) with its rows, clear ones kept."""
        out = []
        for factor in EXPOSURE_FACTORS:
            rows = [d for d in self.drivers if d.factor == factor]
            shown = [d for i, d in enumerate(rows) if i < SHOWN or d.clear]
            if shown:
                out.append((factor, shown))
        return out


def drivers_view(run: ScanRun | None) -> DriversView | None:
    """The drivers of ``run``, or None before a scan (or from a scan that had none)."""
    if run is None or not run.info.drivers:
        return None
    drivers = [Driver(**{k: v for k, v in d.items() if k in _KEYS}) for d in run.info.drivers]
    return DriversView(run.as_of, run.as_of - timedelta(days=HORIZON_DAYS), drivers)
