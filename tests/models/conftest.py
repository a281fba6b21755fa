"""CDNOW fixtures for the model tests: the 2,357-customer sample of Fader, Hardie & Lee
(2005), summarised with winback's own data preparation (39-week calibration, in weeks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from winback.models.data import calibration_holdout_summary

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

CALIBRATION_END = "1997-09-30"
OBSERVATION_END = "1998-06-30"


def read_cdnow_sample() -> pd.DataFrame:
    return pd.read_csv(
        EXAMPLES / "cdnow" / "CDNOW_sample.txt.gz",
        sep=r"\s+",
        header=None,
        names=["master_id", "customer_id", "date", "cds", "value"],
        dtype={"date": str},
    )


@pytest.fixture(scope="session")
def cdnow_transactions() -> pd.DataFrame:
    return read_cdnow_sample()


@pytest.fixture(scope="session")
def cdnow_summary(cdnow_transactions: pd.DataFrame) -> pd.DataFrame:
    return calibration_holdout_summary(
        cdnow_transactions,
        "customer_id",
        "date",
        CALIBRATION_END,
        OBSERVATION_END,
        value_col="value",
        unit="weeks",
    )


def central_differences(model: Any, params: np.ndarray, data: tuple[Any, ...]) -> np.ndarray:
    """The gradient of the summed log-likelihood by central differences, step 1e-6 relative."""
    numeric = np.empty(len(params))
    for i in range(len(params)):
        step = 1e-6 * params[i]
        up, down = params.copy(), params.copy()
        up[i] += step
        down[i] -= step
        numeric[i] = (
            model._log_likelihood_rows(up, data).sum()
            - model._log_likelihood_rows(down, data).sum()
        ) / (2 * step)
    return numeric
