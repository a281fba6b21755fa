"""Helpers for the statistical tests: tables as pandas frames with day numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from winback.simulate.calendar import Window
from winback.simulate.settings import WorldSettings, settings_for
from winback.simulate.world import generate

Sim = tuple[WorldSettings, dict[str, pa.Table]]


def window_of(settings: WorldSettings) -> Window:
    return Window.ending(settings.end, settings.months)


def frame(table: pa.Table) -> pd.DataFrame:
    return table.to_pandas()


def day_of(window: Window, values: pd.Series) -> np.ndarray:
    """Day offsets in the window; ``inf`` for a blank."""
    stamps = pd.to_datetime(values).to_numpy(dtype="datetime64[s]")
    days = (stamps - window.start.astype("datetime64[s]")) / np.timedelta64(1, "D")
    return np.where(np.isnat(stamps), np.inf, days)


def number(ids: pd.Series) -> np.ndarray:
    """The number inside identifiers such as ``C00000042``."""
    return ids.str.slice(1).astype(np.int64).to_numpy()


def binomial_z(observed: float, expected: float, variance: float) -> float:
    return (observed - expected) / np.sqrt(variance)


def big(profile: str, customers: int, **knobs: object) -> Sim:
    """Settings and world of a three-year business."""
    settings = settings_for(profile, customers=customers, months=36, seed=11, **knobs)
    return settings, generate(settings)
