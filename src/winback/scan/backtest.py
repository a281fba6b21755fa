"""The backtest harness: the scan's scores graded by what customers really did next.

At past cutoffs (one horizon apart, going back from the scan's date, the newest being
``as_of - horizon`` so that its horizon has fully passed) the scan computes the features
it computes today. Among the customers **active in the year before a cutoff** (a counted
order in the 365 days up to it), the label is what happened after it, read from the
ledger, never from the scan's own statuses or rules:

- ``1`` (lapsed): no counted order within the horizon after the cutoff;
- for a subscriber (a running contract at the cutoff): every contract cancelled or not
  renewed within the horizon, whatever the orders.

Every score is graded on the newest cutoff (out of time: a model learns only from older
cutoffs) by its AUC, precision and recall at its operating point, Brier score and a
reliability table (deciles of the score: mean predicted against observed), beside chance
(AUC 0.5, the base rate). Everything here is pure: frames in, numbers out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss, roc_auc_score

ACTIVE_DAYS = 365  # "active in the year before the cutoff"
DECILES = 10


def cutoffs(as_of: date, horizon_days: int, count: int) -> list[date]:
    """The backtest's cutoffs, newest first: ``as_of - k x horizon`` for k = 1..count."""
    return [as_of - timedelta(days=horizon_days * k) for k in range(1, count + 1)]


def active_in_year(frame: pd.DataFrame) -> np.ndarray:
    """Customers with a counted order in the year up to the frame's date."""
    days = pd.to_numeric(frame["days_since_last_order"], errors="coerce")
    return (days < ACTIVE_DAYS).fillna(False).to_numpy(dtype=bool)


def lapse_labels(at_cutoff: pd.DataFrame, after: pd.DataFrame, cutoff: date) -> np.ndarray:
    """What each customer of ``at_cutoff`` did within the horizon: 1 lapsed, 0 stayed.

    ``after`` is the feature frame at ``cutoff + horizon`` (the same ledger, later date).
    A customer counts as having stayed when their last counted order there falls after
    the cutoff; a subscriber with a running contract at the cutoff stays when a contract
    still runs at the end of the horizon.
    """
    return lapsed_since(at_cutoff, after)(cutoff)


def lapsed_since(at_cutoff: pd.DataFrame, after: pd.DataFrame) -> Callable[[date], np.ndarray]:
    """:func:`lapse_labels` of ``at_cutoff`` against ``after``, for any day from which an
    order counts (the cutoff, or later: "no order in the window's last months"): each
    customer's last order in ``after`` looked up once (by id: a hash of every id, per
    call it was 1.3 of the backtest's CPU s at 300,000 customers)."""
    later = after.set_index("customer_id")
    ids = at_cutoff["customer_id"].to_numpy()
    last = pd.to_datetime(later["last_order_date"]).reindex(ids)
    subscriber: np.ndarray | None = None
    if "active_contracts" in at_cutoff and "active_contracts" in later:
        had = pd.to_numeric(at_cutoff["active_contracts"], errors="coerce").fillna(0).to_numpy()
        still = pd.to_numeric(later["active_contracts"], errors="coerce").reindex(ids)
        still_runs = (still.fillna(0) > 0).to_numpy()
        subscriber = had > 0

    def since(day: date) -> np.ndarray:
        ordered = (last > pd.Timestamp(day)).fillna(False).to_numpy(dtype=bool)
        lapsed = ~ordered
        if subscriber is not None:
            lapsed = np.where(subscriber, ~still_runs, lapsed)
        return lapsed.astype(np.int64)

    return since


def reliability(y: np.ndarray, p: np.ndarray, bins: int = DECILES) -> list[dict[str, float]]:
    """Deciles of the predicted probability: how many, mean predicted, observed rate."""
    order = np.argsort(p, kind="stable")
    table = []
    for part in np.array_split(order, bins):
        if len(part):
            table.append(
                {
                    "customers": len(part),
                    "predicted": round(float(np.mean(p[part])), 4),
                    "observed": round(float(np.mean(y[part])), 4),
                }
            )
    return table


def grade(
    y: np.ndarray, score: np.ndarray, threshold: float, *, probability: bool
) -> dict[str, Any]:
    """One score's figures against the labels: AUC, precision and recall of flagging
    ``score >= threshold``, and (for a probability) Brier score and reliability.

    Rows where the score is unknown (NaN) are left out and counted.
    """
    known = ~np.isnan(score)
    y, score = y[known], score[known]
    out: dict[str, Any] = {"graded": len(y), "unscored": int((~known).sum())}
    out["threshold"] = threshold
    if len(y) == 0 or y.min() == y.max():
        return out | {"auc": None, "precision": None, "recall": None}
    flag = score >= threshold
    hits = int(np.sum(flag & (y == 1)))
    out["auc"] = round(float(roc_auc_score(y, score)), 4)
    out["flagged"] = int(flag.sum())
    out["precision"] = round(hits / int(flag.sum()), 4) if flag.any() else None
    out["recall"] = round(hits / int(y.sum()), 4)
    if probability:
        out["brier"] = round(float(brier_score_loss(y, score)), 4)
        out["reliability"] = reliability(y, score)
    return out


def auc(y: np.ndarray, score: np.ndarray) -> float | None:
    """AUC of ``score`` against ``y`` over the rows scored (None when one class is missing)."""
    known = ~np.isnan(score)
    y, score = y[known], score[known]
    if len(y) == 0 or y.min() == y.max():
        return None
    return round(float(roc_auc_score(y, score)), 4)


def chance(y: np.ndarray) -> dict[str, Any]:
    """What knowing nothing scores: AUC 0.5, precision the base rate, and the Brier score
    of predicting the base rate for everyone."""
    base = float(np.mean(y)) if len(y) else float("nan")
    return {
        "auc": 0.5,
        "base_rate": round(base, 4),
        "precision": round(base, 4),
        "brier": round(base * (1 - base), 4),
    }


@dataclass(frozen=True)
class Backtest:
    """The harness's figures for one scan: what was graded, on what, and how it scored."""

    horizon_days: int
    cutoffs: tuple[str, ...] = ()  # oldest first; the last is the one graded
    graded_on: str | None = None
    learned_window_days: int | None = None  # the model ranks by no order within this many
    train_rows: int = 0
    test_rows: int = 0
    base_rate: float | None = None
    scores: dict[str, dict[str, Any]] = field(default_factory=dict)
    problem: str | None = None  # why nothing could be graded, in words
    slipping_threshold: float | None = None  # lapse risk from which a customer is slipping
    inactive_rate: float | None = None  # the risk given to customers not active in the year
    seasonal_shift: float | None = None  # log-odds added to the calibration (the season's)
    driver_weight: float | None = None  # log-odds per log of the risk drivers' lapse ratio
    # The ranking graded on a longer stay away, at an older cutoff (follow_suit.py).
    stayed_away: dict[str, Any] = field(default_factory=dict)
    # A big ledger's past cutoffs read a sample of its customers (scan/sample.py): how many
    # of how many (None: all of them).
    sampled_customers: int | None = None
    of_customers: int | None = None

    def classifier(self) -> dict[str, Any]:
        """The lapse-risk model's headline figures (run.json's ``classifier``)."""
        own = self.scores.get("lapse_risk", {})
        return {
            "auc": own.get("auc"),
            "top_decile_lift": own.get("top_decile_lift"),
            "base_rate": self.base_rate,
            "train_rows": self.train_rows,
            "test_rows": self.test_rows,
            "cutoffs": list(self.cutoffs),
            "graded_on": self.graded_on,
            "slipping_threshold": self.slipping_threshold,
            "labels": "real outcomes (the backtest harness)",
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "horizon_days": self.horizon_days,
            "label": (
                "no counted order within the horizon after the cutoff (a subscriber: every "
                "contract ended), among customers active in the year before it"
            ),
            "cutoffs": list(self.cutoffs),
            "graded_on": self.graded_on,
            "learned_window_days": self.learned_window_days,
            "train_rows": self.train_rows,
            "test_rows": self.test_rows,
            "base_rate": self.base_rate,
            "scores": self.scores,
            "problem": self.problem,
            "slipping_threshold": self.slipping_threshold,
            "inactive_rate": self.inactive_rate,
            "seasonal_shift": self.seasonal_shift,
            "driver_weight": self.driver_weight,
            "stayed_away": self.stayed_away,
            "sampled_customers": self.sampled_customers,
            "of_customers": self.of_customers,
        }
