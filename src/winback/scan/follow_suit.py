"""Who will follow suit: a classifier of which active customers lapse next.

Trained by backtesting on the ledger's own history. At past cutoffs ``as_of - k x window``
the scan computes the same features it computes today; a customer who was active or
slipping at a cutoff is labelled 1 when the lapse rules call them lapsed or lost one
window later. The model (scikit-learn's HistGradientBoostingClassifier) is evaluated out
of time: trained on the older cutoffs, scored on the newest one, and its AUC and top-decile
lift reported with every scan. It is then refitted on every cutoff and scores today's
active and slipping customers.

A big ledger gives millions of backtest rows; each fit then learns from a stratified random
sample of at most ``MAX_FIT_ROWS`` of them (fixed seed, the lapse rate kept), which ranks
as well at a fraction of the time. The newest cutoff's AUC and lift are always measured on
all of its rows. The fits and scoring run on one thread: on a machine shared with other
work, OpenMP's threads mostly wait on each other (a fit took three times as long on two).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

from winback.policy import Policy
from winback.scan.lapse import classify, typical_interval

FEATURES = (
    "purchases",
    "days_since_last_order",
    "cycle_ratio",
    "revenue",
    "revenue_last_year",
    "revenue_recent",
    "revenue_prior",
    "revenue_year_ago",
    "recent_incidents",
    "worst_recent_severity",
    "contacts_last_year",
    "rude_interactions",
    "mean_sentiment",
    "unresolved",
    "late_share",
    "returns",
    "sent_recently",
    "days_since_engaged",
    "p_alive",
    "expected_purchases",
)
CUTOFFS = 4  # three to train on, the newest to test on
MIN_EACH_CLASS = 20  # fewer lapsers (or stayers) than this: too little to learn or test on
MAX_FIT_ROWS = 200_000  # more backtest rows than this: fit on a stratified sample of them


def _learnable(y: np.ndarray) -> bool:
    return int(y.sum()) >= MIN_EACH_CLASS and int(len(y) - y.sum()) >= MIN_EACH_CLASS


@dataclass(frozen=True)
class Backtest:
    """How well the classifier ranked who lapsed, out of time."""

    auc: float | None
    top_decile_lift: float | None
    base_rate: float | None
    train_rows: int
    test_rows: int
    cutoffs: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        return {
            "auc": self.auc,
            "top_decile_lift": self.top_decile_lift,
            "base_rate": self.base_rate,
            "train_rows": self.train_rows,
            "test_rows": self.test_rows,
            "cutoffs": list(self.cutoffs),
        }


def model_matrix(features: pd.DataFrame, as_of: date, policy: Policy) -> pd.DataFrame:
    """The classifier's inputs, derived from a feature frame (NaN where unknown)."""
    m = pd.DataFrame(index=features.index)
    for name in FEATURES:
        if name in features:
            m[name] = pd.to_numeric(features[name], errors="coerce")
    m["cycle_ratio"] = features["days_since_last_order"] / typical_interval(features, policy)
    due = pd.to_numeric(_column(features, "invoices_due"), errors="coerce")
    late = pd.to_numeric(_column(features, "invoices_late"), errors="coerce")
    m["late_share"] = late / due.where(due > 0)
    engaged = pd.to_datetime(_column(features, "last_engaged_at"))
    m["days_since_engaged"] = (pd.Timestamp(as_of) - engaged).dt.days
    return m.reindex(columns=list(FEATURES)).astype("float64")


def _column(features: pd.DataFrame, name: str) -> pd.Series:
    if name in features:
        return features[name]
    return pd.Series(np.nan, index=features.index)


def top_decile_lift(y: np.ndarray, score: np.ndarray) -> float:
    """Lapse rate among the top tenth by score, over the overall rate."""
    n = max(len(y) // 10, 1)
    top = np.argsort(-score, kind="stable")[:n]
    base = float(np.mean(y))
    return float(np.mean(y[top]) / base) if base > 0 else float("nan")


def fit_sample(y: np.ndarray, cap: int, seed: int) -> np.ndarray | None:
    """Row positions of a stratified random sample of at most ``cap`` rows, in their order;
    ``None`` when there are no more than ``cap`` rows (fit on all of them).

    Each class keeps its share (rounded), so the sample's lapse rate is the whole's; a rare
    class keeps at least ``MIN_EACH_CLASS`` rows, so that there is still something to learn.
    """
    n = len(y)
    if n <= cap:
        return None
    rng = np.random.default_rng(seed)
    chosen = []
    for cls in (0, 1):
        rows = np.flatnonzero(y == cls)
        take = max(round(cap * len(rows) / n), min(len(rows), MIN_EACH_CLASS))
        chosen.append(rng.choice(rows, size=take, replace=False))
    return np.sort(np.concatenate(chosen))


def _fit(x: pd.DataFrame, y: np.ndarray, seed: int) -> HistGradientBoostingClassifier:
    rows = fit_sample(y, MAX_FIT_ROWS, seed)
    if rows is not None:
        x, y = x.iloc[rows], y[rows]
    with threadpool_limits(1):
        return _classifier(seed).fit(x, y)


def _proba(model: HistGradientBoostingClassifier, x: pd.DataFrame) -> np.ndarray:
    with threadpool_limits(1):
        p: np.ndarray = model.predict_proba(x)[:, 1]
    return p


def backtest_and_score(
    features_at: Callable[[date], pd.DataFrame],
    today: pd.DataFrame,
    as_of: date,
    policy: Policy,
    seed: int = 0,
) -> tuple[np.ndarray, Backtest]:
    """Probabilities of lapsing within a window for ``today``'s customers, and the backtest.

    ``features_at(cutoff)`` returns the feature frame at a past cutoff. Customers already
    lapsed or lost get NaN.
    """
    window = policy.lapse.follow_suit_window_days
    today_status = classify(today, as_of, policy, with_reasons=False)["status"]
    # Walk back one window at a time, keeping only what labels the next cutoff: the newer
    # statuses by customer. A past cutoff's frame is dropped once its matrix is built,
    # so memory holds one frame, not five.
    newer = pd.Series(today_status.to_numpy(), index=today["customer_id"].to_numpy())
    labelled: dict[date, tuple[pd.DataFrame, np.ndarray]] = {}
    for k in range(1, CUTOFFS + 1):
        cutoff = as_of - timedelta(days=window * k)
        frame = features_at(cutoff)
        if frame.empty:  # before the ledger's first order
            break
        status = classify(frame, cutoff, policy, with_reasons=False)["status"]
        at_risk = status.isin(["active", "slipping"]).to_numpy()
        ids = frame["customer_id"].to_numpy()[at_risk]
        label = newer.reindex(ids).isin(["lapsed", "lost"]).to_numpy().astype(np.int64)
        if len(label):
            matrix = model_matrix(frame.loc[at_risk], cutoff, policy).astype("float32")
            labelled[cutoff] = (matrix, label)
        newer = pd.Series(status.to_numpy(), index=frame["customer_id"].to_numpy())
        del frame
    score = np.full(len(today), np.nan)
    if len(labelled) < 2:
        return score, Backtest(None, None, None, 0, 0, tuple(str(c) for c in labelled))

    # Columns this ledger has no data for (no marketing, say) carry nothing to learn.
    known = [c for c in FEATURES if any(x[c].notna().any() for x, _ in labelled.values())]
    labelled = {c: (x[known], y) for c, (x, y) in labelled.items()}
    newest = max(labelled)
    train = [labelled[c] for c in labelled if c != newest]
    x_train = pd.concat([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    x_test, y_test = labelled[newest]
    auc = lift = base = None
    if _learnable(y_train) and _learnable(y_test):
        p = _proba(_fit(x_train, y_train, seed), x_test)
        auc = float(roc_auc_score(y_test, p))
        lift = top_decile_lift(y_test, p)
        base = float(np.mean(y_test))

    x_all = pd.concat([x for x, _ in labelled.values()])
    y_all = np.concatenate([y for _, y in labelled.values()])
    if _learnable(y_all):
        final = _fit(x_all, y_all, seed)
        at_risk = today_status.isin(["active", "slipping"]).to_numpy()
        if at_risk.any():
            score[at_risk] = _proba(final, model_matrix(today.loc[at_risk], as_of, policy)[known])
    return score, Backtest(
        auc, lift, base, len(y_train), len(y_test), tuple(str(c) for c in sorted(labelled))
    )


def _classifier(seed: int) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(
        max_iter=200, learning_rate=0.1, early_stopping="auto", random_state=seed
    )
