"""The scan's feature frames read straight from Arrow hold what Ibis's own pandas held.

Issue 16: Ibis's ``to_pandas`` goes through Python objects for every column with a null
(``Decimal`` for whole-number sums); ``pipeline.feature_frame`` converts from Arrow. The
scan's outputs must not change: the frames are compared value by value, and a whole scan
through each conversion must write the same run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from winback.ledger.contract import TABLES
from winback.ledger.importer import import_file
from winback.ledger.store import Ledger
from winback.policy import Policy
from winback.scan import pipeline
from winback.scan.features import customer_features
from winback.scan.pipeline import default_as_of, feature_frame, run_scan
from winback.simulate.run import simulate


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Ledger:
    tmp = tmp_path_factory.mktemp("frames")
    simulate("retail", 600, 36, 3, tmp / "sim", "parquet")
    stored = Ledger(tmp / "ledger")
    for name in TABLES:
        for path in sorted((tmp / "sim").glob(f"{name}.*")):
            import_file(stored, name, path, rejects_dir=tmp / "rejects")
    return stored


def _ibis_frame(expr: object, sort_by: str | None = None) -> pd.DataFrame:
    """The conversion the scan used before: Ibis's own (and pandas' sort)."""
    frame: pd.DataFrame = expr.to_pandas()  # type: ignore[attr-defined]
    if sort_by is not None:
        frame = frame.sort_values(sort_by, kind="stable").reset_index(drop=True)
    return frame


def _same_column(old: pd.Series, new: pd.Series) -> None:
    if pd.api.types.is_datetime64_any_dtype(old):
        assert new.dtype == old.dtype, (old.name, new.dtype, old.dtype)
        assert old.equals(new), old.name
    elif old.dtype == object and old.dropna().map(type).astype(str).str.contains("Decimal").any():
        # Whole-number sums: Decimal objects before, floats now; the same numbers.
        assert pd.api.types.is_float_dtype(new), (old.name, new.dtype)
        np.testing.assert_array_equal(old.astype("float64").to_numpy(), new.to_numpy())
    elif pd.api.types.is_numeric_dtype(old) and not pd.api.types.is_bool_dtype(old):
        np.testing.assert_allclose(
            old.astype("float64").to_numpy(), new.astype("float64").to_numpy(), rtol=0, atol=0
        )
    else:
        assert (
            old.astype(object).where(old.notna(), None).tolist()
            == new.astype(object).where(new.notna(), None).tolist()
        ), old.name


def test_feature_frame_holds_the_values_ibis_gave(ledger: Ledger) -> None:
    con = ledger.ibis()
    as_of = default_as_of(con)
    old = _ibis_frame(customer_features(con, as_of, Policy())).sort_values("customer_id")
    new = feature_frame(customer_features(con, as_of, Policy())).sort_values("customer_id")
    assert list(new.columns) == list(old.columns)
    assert len(new) == len(old) > 500
    # The frames held Python objects before: some column must have needed it, or this
    # test compares nothing the change touched.
    objects = [pd.api.types.is_object_dtype(f[c]) for f in (old, new) for c in f.columns]
    assert sum(objects[: len(old.columns)]) > sum(objects[len(old.columns) :])
    for name in old.columns:
        _same_column(old[name].reset_index(drop=True), new[name].reset_index(drop=True))


def test_a_scan_writes_the_same_run_through_either_conversion(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    new = run_scan(ledger, tmp_path / "new", Policy()).customers().to_pandas()
    monkeypatch.setattr(pipeline, "feature_frame", _ibis_frame)
    old = run_scan(ledger, tmp_path / "old", Policy()).customers().to_pandas()
    assert len(new) == len(old) > 500
    for name in old.columns:
        a, b = old[name], new[name]
        if pd.api.types.is_float_dtype(a):
            np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), rtol=1e-9, err_msg=name)
        else:
            assert a.astype(str).tolist() == b.astype(str).tolist(), name


def test_a_frame_sorted_in_arrow_is_the_frame_sorted_in_pandas(ledger: Ledger) -> None:
    # The scan's features are sorted by customer while still in Arrow (column by column):
    # the frame must be the one pandas' stable sort gave, fresh index included, with the
    # rows shuffled and a customer id missing.
    con = ledger.ibis()
    table = customer_features(con, default_as_of(con), Policy()).to_pyarrow()
    shuffled = table.take(np.random.default_rng(0).permutation(table.num_rows))
    ids = shuffled["customer_id"].to_pylist()
    ids[3] = None
    shuffled = shuffled.set_column(
        shuffled.schema.get_field_index("customer_id"), "customer_id", pa.array(ids)
    )

    class Expr:
        def to_pyarrow(self) -> pa.Table:
            # A copy each time: the conversion frees the table it is given as it goes.
            return shuffled.take(np.arange(shuffled.num_rows))

    before = feature_frame(Expr()).sort_values("customer_id", kind="stable")
    after = feature_frame(Expr(), sort_by="customer_id")

    pd.testing.assert_frame_equal(after, before.reset_index(drop=True))
    assert after["customer_id"].isna().iloc[-1]
    assert after["customer_id"].iloc[:-1].tolist() == sorted(ids[:3] + ids[4:])


def test_a_run_written_in_pieces_is_the_run_written_whole(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The run's rows are built and written RUN_PIECE customers at a time (500,000: one
    # piece here); in pieces of 97 the run's files hold the same rows, the ranked list too.
    import pyarrow.csv as pacsv

    whole = run_scan(ledger, tmp_path / "whole", Policy())
    monkeypatch.setattr(pipeline, "RUN_PIECE", 97)
    pieces = run_scan(ledger, tmp_path / "pieces", Policy())
    assert pq.ParquetFile(pieces.path / "customers.parquet").metadata.num_row_groups > 5
    for name in ("customers.parquet", "winback_list.parquet"):
        a = pq.read_table(whole.path / name)
        b = pq.read_table(pieces.path / name)
        assert a.num_rows > 100
        assert a.equals(b), name
    a = pacsv.read_csv(whole.path / "winback_list.csv")
    assert a.equals(pacsv.read_csv(pieces.path / "winback_list.csv"))
