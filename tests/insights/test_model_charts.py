"""The model diagnostic charts draw exactly the numbers of winback.models.diagnostics
(read back from the Vega-Lite spec)."""

from __future__ import annotations

from typing import Any

import altair as alt
import numpy as np
import pandas as pd
import pytest

from tests.models.conftest import CALIBRATION_END, OBSERVATION_END, read_cdnow_sample
from winback.insights import model_charts
from winback.models import diagnostics
from winback.models.bgnbd import BetaGeoModel
from winback.models.data import calibration_holdout_summary, cumulative_repeat_purchases


@pytest.fixture(scope="module")
def cdnow() -> tuple[pd.DataFrame, pd.DataFrame]:
    transactions = read_cdnow_sample()
    summary = calibration_holdout_summary(
        transactions, "customer_id", "date", CALIBRATION_END, OBSERVATION_END, unit="weeks"
    )
    return transactions, summary


@pytest.fixture(scope="module")
def fitted(cdnow: tuple[pd.DataFrame, pd.DataFrame]) -> BetaGeoModel:
    s = cdnow[1]
    return BetaGeoModel().fit(s["frequency_cal"], s["recency_cal"], s["T_cal"])


def chart_rows(chart: alt.Chart | alt.LayerChart) -> list[dict[str, Any]]:
    spec = chart.to_dict()
    datasets = list(spec["datasets"].values())
    return max(datasets, key=len)  # type: ignore[no-any-return]


def same_rows(chart: alt.Chart | alt.LayerChart, table: pd.DataFrame) -> bool:
    drawn = pd.DataFrame(chart_rows(chart))[list(table.columns)]
    pd.testing.assert_frame_equal(drawn, table.reset_index(drop=True), check_dtype=False)
    return True


def test_holdout_chart_draws_lines_of_the_holdout_table(
    fitted: BetaGeoModel, cdnow: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    s = cdnow[1]
    args = (fitted, s["frequency_cal"], s["recency_cal"], s["T_cal"], s["frequency_holdout"], 39.0)

    chart = model_charts.calibration_vs_holdout(*args)

    assert same_rows(chart, diagnostics.holdout_by_frequency(*args))
    spec = chart.to_dict()
    assert spec["mark"]["type"] == "line"
    assert spec["encoding"]["x"]["sort"] == ["0", "1", "2", "3", "4", "5", "6", "7+"]


def test_histogram_draws_bars_of_the_repeat_purchase_counts(
    fitted: BetaGeoModel, cdnow: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    s = cdnow[1]
    chart = model_charts.repeat_purchase_histogram(fitted, s["frequency_cal"], s["T_cal"])

    table = diagnostics.repeat_purchase_counts(fitted, s["frequency_cal"], s["T_cal"])
    assert same_rows(chart, table)
    assert chart.to_dict()["mark"]["type"] == "bar"


def test_tracking_chart_marks_the_end_of_calibration(
    fitted: BetaGeoModel, cdnow: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    weeks = np.arange(1, 79, dtype=float)
    births, actual = cumulative_repeat_purchases(
        cdnow[0], "customer_id", "date", "1997-01-01", weeks
    )

    plain = model_charts.cumulative_tracking(fitted, births, weeks, actual)
    marked = model_charts.cumulative_tracking(fitted, births, weeks, actual, calibration_end=39)

    assert same_rows(plain, diagnostics.cumulative_tracking(fitted, births, weeks, actual))
    layers = marked.to_dict()["layer"]
    assert [layer["mark"]["type"] for layer in layers] == ["line", "rule"]
    rule_data = next(v for v in marked.to_dict()["datasets"].values() if len(v) == 1)
    assert rule_data == [{"time": 39}]


def test_probability_alive_chart_is_a_heatmap_of_the_grid(fitted: BetaGeoModel) -> None:
    chart = model_charts.probability_alive_matrix(fitted, T=38.86, max_frequency=10)

    grid = diagnostics.probability_alive_grid(fitted, T=38.86, max_frequency=10)
    assert same_rows(chart, grid)
    assert chart.to_dict()["mark"]["type"] == "rect"


def test_nothing_in_models_imports_a_chart_library() -> None:
    import ast
    from pathlib import Path

    models = Path(diagnostics.__file__).parent
    imported = set()
    for path in models.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {(path.name, a.name.split(".")[0]) for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add((path.name, node.module.split(".")[0]))
    assert {(f, m) for f, m in imported if m in ("altair", "vl_convert", "matplotlib")} == set()
