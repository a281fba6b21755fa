"""The Ibis summary (run on DuckDB) equals the pandas summary on CDNOW."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pandas.testing as pdt
import pyarrow as pa
import pytest

from winback.errors import ModelError
from winback.scan import summary as scan

# Tables go in and out as Arrow: ibis 12's pandas conversion reads an option pandas 3
# deprecates, and warnings are errors here.


def arrow(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame, preserve_index=False)


def test_ibis_and_pandas_give_identical_cdnow_summaries(
    cdnow_transactions: pd.DataFrame, cdnow_summary: pd.DataFrame
) -> None:
    tx = cdnow_transactions.assign(date=pd.to_datetime(cdnow_transactions["date"]))
    con = ibis.duckdb.connect()
    table = ibis.memtable(arrow(tx))
    expr = scan.calibration_holdout_summary(
        table, "customer_id", "date", "1997-09-30", "1998-06-30", value_col="value"
    )
    ours = con.to_pyarrow(expr).to_pandas().set_index("customer")
    ours.index.name = "customer_id"
    ours.index = ours.index.astype(cdnow_summary.index.dtype)
    expected = cdnow_summary.astype("float64")
    pdt.assert_frame_equal(ours[expected.columns], expected, check_exact=False, rtol=1e-12)
    assert ours.loc[1, ["frequency_cal", "recency_cal", "T_cal"]].round(2).tolist() == [
        2.0,
        30.43,
        38.86,
    ]


def test_without_values_and_in_days() -> None:
    tx = pd.DataFrame(
        {"c": ["a", "a", "b"], "d": pd.to_datetime(["2020-01-01", "2020-01-04", "2020-01-02"])}
    )
    out = scan.summarise_transactions(ibis.memtable(arrow(tx)), "c", "d", "2020-01-10", unit="days")
    got = out.to_pyarrow().to_pandas()
    assert got.columns.tolist() == ["customer", "frequency", "recency", "T"]
    assert np.array_equal(got[["frequency", "recency", "T"]].to_numpy(), [[1, 3, 9], [0, 0, 8]])


def test_unknown_column_is_refused() -> None:
    tx = ibis.memtable(arrow(pd.DataFrame({"c": [1], "d": pd.to_datetime(["2020-01-01"])})))
    with pytest.raises(ModelError, match="no column"):
        scan.summarise_transactions(tx, "c", "when", "2020-01-02")
