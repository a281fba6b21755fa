"""The run's table, built column by column in Arrow, holds what the conversion through
Python objects it replaced held: nulls for NaN/None/NA/NaT, days for moments, empty lists."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from winback.scan.pipeline import _run_table, run_column
from winback.scan.runs import RUN_SCHEMA


def _frames() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Three customers with the scan's own dtypes, and a gap in every kind of column."""
    stamps = pd.Series(["2023-01-05", None, "1969-12-31"], dtype="datetime64[s]")
    features = pd.DataFrame(
        {
            "customer_id": pd.Series(["c1", "c2", "c3"], dtype="str"),
            "name": pd.Series(["Ada", None, "Cy"], dtype="str"),
            "segment": pd.Series(["retail", "retail", None], dtype="str"),
            "first_order_date": stamps,
            "last_order_date": pd.Series(["2024-06-20", None, "2024-01-01"], dtype="datetime64[s]"),
            "purchases": [12, 1, 3],
            "revenue": [1200.0, np.nan, 30.5],
            "revenue_last_year": [100.0, 0.0, np.nan],
            "margin_past_years": [np.nan, np.nan, 3.25],
            "days_since_last_order": [10, 400, 181],
            "p_alive": [0.9, np.nan, 0.1],
            "expected_purchases": [1.5, 0.0, np.nan],
            "due_days": [30.4, np.nan, 59.6],
            "predicted_value": [np.nan, 10.0, 2.0],
            "follow_suit_probability": [0.1, 0.5, np.nan],
            "lapse_risk": [0.1, 0.5, np.nan],
            "recent_incidents": [np.nan, 2.0, 0.0],
            "driver_lapse_ratio": [1.0, 2.5, np.nan],
            "risk_driver": pd.Series([None, "met driver X", None], dtype="str"),
            "risk_driver_line": pd.Series([None, "Toys", None], dtype="str"),
            "sweet_spot": pd.Series(["buys Toys", None, "orders every 30 days"], dtype="str"),
            "top_lines": [["Toys", "Home"], np.nan, []],
            "usual_basket": [20.0, np.nan, 5.0],
            "stopped_line": [None, "Garden", None],
            "doubtful_contact": [np.nan, "bounced", None],
        }
    )
    lapse = pd.DataFrame(
        {
            "status": pd.Series(["active", "lost", "slipping"], dtype="str"),
            "typical_interval_days": [30.0, np.nan, 60.0],
            "reasons": [[], ["no order in 400 days"], ["a", "b"]],
        }
    )
    worth = pd.DataFrame(
        {
            "rude": pd.array([True, None, False], dtype="boolean"),
            "heavy_contact": pd.array([False, False, None], dtype="boolean"),
            "late_payer": [False, True, False],
            "return_abuser": pd.array([None, None, None], dtype="boolean"),
            "decision": pd.Series([None, "pursue", "let_go"], dtype="str"),
            "winback_odds": [np.nan, 0.2, 0.1],
            "p_return_anyway": [np.nan, 0.05, 0.02],
            "p_return_contacted": [np.nan, 0.3, 0.1],
            "expected_value": [np.nan, 12.5, -1.0],
            "expected_cost": [np.nan, 5.0, 5.0],
            "tier": pd.Series(["none", "rep", "campaign"], dtype="str"),
            "rank": pd.array([None, 1, 2], dtype="Int64"),
            "decision_reasons": [[], ["worth a call"], []],
        }
    )
    return features, lapse, worth


def _through_python_objects(
    features: pd.DataFrame, lapse: pd.DataFrame, worth: pd.DataFrame
) -> pa.Table:
    """The conversion ``_run_table`` made before (dates as ``date`` objects, strings as
    ``str`` objects, lists through a Python function), kept here to compare against."""
    first = pd.to_datetime(features["first_order_date"])
    due = first + pd.to_timedelta(features["due_days"].astype("float64").round(), unit="D")
    data: dict[str, Any] = {
        "customer_id": features["customer_id"].astype(str),
        "first_order_date": first.dt.date,
        "last_order_date": pd.to_datetime(features["last_order_date"]).dt.date,
        "orders": features["purchases"],
        "next_purchase_due": due.dt.date,
        "recent_incidents": features["recent_incidents"].fillna(0),
        "top_lines": features["top_lines"].map(lambda v: v if isinstance(v, list) else []),
        "typical_interval_days": lapse["typical_interval_days"],
    }
    for name in features:
        data.setdefault(name, features[name])
    for frame in (lapse, worth):
        for name in frame:
            data.setdefault(name, frame[name])
    arrays = {}
    for field in RUN_SCHEMA:
        values = data.get(field.name)
        if values is None:
            arrays[field.name] = pa.nulls(len(features), field.type)
            continue
        series = pd.Series(values).reset_index(drop=True)
        if pa.types.is_floating(field.type) or pa.types.is_integer(field.type):
            numbers = pd.to_numeric(series, errors="coerce")
            arrays[field.name] = pa.array(numbers, type=field.type, from_pandas=True)
        elif pa.types.is_list(field.type):
            arrays[field.name] = pa.array(series, type=field.type)
        else:
            arrays[field.name] = pa.array(
                series.astype(object).where(series.notna(), None), type=field.type
            )
    return pa.table(arrays, schema=RUN_SCHEMA)


def test_run_table_holds_what_the_conversion_through_python_objects_held() -> None:
    frames = _frames()
    built = _run_table(*frames)
    expected = _through_python_objects(*frames)
    assert built.schema == RUN_SCHEMA
    for name in RUN_SCHEMA.names:
        assert built[name].to_pylist() == expected[name].to_pylist(), name
    assert built.equals(expected)


def test_run_table_turns_gaps_into_nulls_days_and_empty_lists() -> None:
    rows = _run_table(*_frames()).to_pylist()
    assert [r["first_order_date"] for r in rows] == [date(2023, 1, 5), None, date(1969, 12, 31)]
    # 2023-01-05 + 30 days; none without a first order or a due; 1969-12-31 + 60 days.
    assert [r["next_purchase_due"] for r in rows] == [date(2023, 2, 4), None, date(1970, 3, 1)]
    assert [r["top_lines"] for r in rows] == [["Toys", "Home"], [], []]
    assert [r["name"] for r in rows] == ["Ada", None, "Cy"]
    assert [r["doubtful_contact"] for r in rows] == [None, "bounced", None]
    assert [r["rude"] for r in rows] == [True, None, False]
    assert [r["rank"] for r in rows] == [None, 1, 2]
    assert [r["recent_incidents"] for r in rows] == [0, 2, 0]
    assert [r["revenue"] for r in rows] == [1200.0, None, 30.5]


def test_a_moment_in_the_day_is_that_day() -> None:
    moments = pd.Series(["2024-03-01 23:59:59", "1969-12-31 12:00:00", None], dtype="datetime64[s]")
    days = run_column(moments, pa.date32(), 3).to_pylist()
    assert days == [date(2024, 3, 1), date(1969, 12, 31), None]
