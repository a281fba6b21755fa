"""CDNOW fixtures for the model tests: the 2,357-customer sample of Fader, Hardie & Lee
(2005), summarised with winback's own data preparation (39-week calibration, in weeks)."""

from __future__ import annotations

from pathlib import Path

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
