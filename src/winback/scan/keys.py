"""Customer ids to row numbers, in Arrow's hash tables rather than pandas' string index."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def _strings(values: Any) -> pa.Array:
    """``values`` (a column or an index) as an Arrow string array; pandas' Arrow-backed
    strings cross without a Python object per value."""
    series = values.to_series() if isinstance(values, pd.Index) else pd.Series(values)
    return pa.array(series.astype(str), type=pa.string())


def positions(ids: Any, values: Any) -> npt.NDArray[np.int64]:
    """Where each of ``values`` stands in ``ids`` (distinct), -1 where it is not there: what
    ``pd.Index(ids).get_indexer(values)`` gives, three times faster at a million ids."""
    found = pc.index_in(_strings(values), value_set=_strings(ids))
    return np.asarray(found.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)


def joined_on_ids(
    frame: pd.DataFrame, other: pd.DataFrame, on: str = "customer_id"
) -> pd.DataFrame:
    """``frame`` with ``other``'s columns (``other`` indexed by distinct ids) added, row by
    row as ``frame[on]`` names them: what ``frame.merge(other, left_on=on,
    right_index=True, how="left")`` gives (missing rows NaN, whole numbers then floats),
    without copying ``frame``. A merge copied every column of the scan's frame: at 5.5M
    customers 3-4 GB more for a moment, for a few columns added."""
    at = positions(other.index, frame[on])
    out = frame.copy(deep=False)  # copy-on-write: the columns are shared, not copied
    if len(at) == len(other) and np.array_equal(at, np.arange(len(at))):
        # Row for row already (the scan's frames are all in customer id order): ``other``'s
        # columns as they are. Arrow's take on a column held in pieces joins the pieces
        # first: at 5.5M customers the sweet spot's sentences, about 1 GB, twice more.
        for name in other.columns:
            out[name] = other[name].array
        return out
    for name in other.columns:
        out[name] = pd.api.extensions.take(other[name].array, at, allow_fill=True)
    return out
