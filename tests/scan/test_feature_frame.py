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


def _ibis_frame(expr: object) -> pd.DataFrame:
    """The conversion the scan used before: Ibis's own."""
    return expr.to_pandas()  # type: ignore[attr-defined,no-any-return]


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
