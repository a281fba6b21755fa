"""Who will follow suit: a classifier of which customers lapse within the horizon.

Trained on the backtest harness's labels (``backtest.py``): at past cutoffs one horizon
(``follow_suit_window_days``) apart, the customers active in the year before each cutoff,
labelled by whether they placed a counted order within the horizon after it (a subscriber:
whether a contract still ran), never by the scan's own statuses. The model (scikit-learn's
HistGradientBoostingClassifier) is graded out of time: trained on the older cutoffs, scored
on the newest one (``as_of - horizon``, whose horizon has fully passed), beside 1 - P(alive),
days since the last purchase and chance. It is then refitted on every cutoff and scores
today's customers active in the past year.

A big ledger gives millions of backtest rows; each fit then learns from a stratified random
sample of at most ``MAX_FIT_ROWS`` of them (fixed seed, the lapse rate kept), which ranks
as well at a fraction of the time. The newest cutoff is always graded on all of its rows.
The fits and scoring run on one thread: on a machine shared with other work, OpenMP's
threads mostly wait on each other (a fit took three times as long on two).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits

from winback.policy import Policy
from winback.scan import backtest
from winback.scan.backtest import Backtest
from winback.scan.lapse import typical_interval
from winback.scan.modelling import predict

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
)
CUTOFFS = 4  # three to train on, the newest to test on
MIN_EACH_CLASS = 20  # fewer lapsers (or stayers) than this: too little to learn or test on
MAX_FIT_ROWS = 200_000  # more backtest rows than this: fit on a stratified sample of them


def _learnable(y: np.ndarray) -> bool:
    return int(y.sum()) >= MIN_EACH_CLASS and int(len(y) - y.sum()) >= MIN_EACH_CLASS


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
    """Each of ``today``'s customers' probability of lapsing within the horizon, and the
    harness's grades of every score the scan uses.

    ``features_at(cutoff)`` returns the feature frame at a past cutoff. Customers not
    active in the year before ``as_of`` get NaN (the classifier learns nothing of them).
    """
    horizon = policy.lapse.follow_suit_window_days
    # Walk back one horizon at a time; each frame labels the cutoff before it, so the
    # backtest reads one frame per cutoff and holds two at a time.
    after = today
    labelled: dict[date, tuple[pd.DataFrame, np.ndarray]] = {}
    graded_frame: pd.DataFrame | None = None
    for cutoff in backtest.cutoffs(as_of, horizon, CUTOFFS):
        frame = features_at(cutoff)
        if frame.empty:  # before the ledger's first order
            break
        active = frame.loc[backtest.active_in_year(frame)]
        label = backtest.lapse_labels(active, after, cutoff)
        if len(label):
            labelled[cutoff] = (model_matrix(active, cutoff, policy).astype("float32"), label)
            if graded_frame is None:  # the newest cutoff with customers: the one graded
                graded_frame = frame
        after = frame
    score = np.full(len(today), np.nan)
    result = Backtest(horizon, tuple(str(c) for c in sorted(labelled)))
    if len(labelled) < 2 or graded_frame is None:
        return score, replace(result, problem="too little history: fewer than two cutoffs")

    # Columns this ledger has no data for (no marketing, say) carry nothing to learn.
    known = [c for c in FEATURES if any(x[c].notna().any() for x, _ in labelled.values())]
    labelled = {c: (x[known], y) for c, (x, y) in labelled.items()}
    newest = max(labelled)
    train = [labelled[c] for c in labelled if c != newest]
    x_train = pd.concat([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    x_test, y_test = labelled[newest]
    result = replace(
        result,
        graded_on=str(newest),
        train_rows=len(y_train),
        test_rows=len(y_test),
        base_rate=round(float(np.mean(y_test)), 4),
    )
    if not (_learnable(y_train) and _learnable(y_test)):
        return score, replace(
            result, problem=f"fewer than {MIN_EACH_CLASS} lapsers or stayers to learn or grade"
        )
    p = _proba(_fit(x_train, y_train, seed), x_test)
    graded_rows = backtest.active_in_year(graded_frame)
    graded = graded_frame.loc[graded_rows]
    not_alive = 1.0 - _p_alive(graded_frame, newest, policy)[graded_rows]
    scores = {
        "follow_suit": backtest.grade(y_test, p, 0.5, probability=True)
        | {"top_decile_lift": round(top_decile_lift(y_test, p), 4)},
        "not_alive": backtest.grade(y_test, not_alive, 0.5, probability=True),
        "days_since_last_order": backtest.grade(
            y_test,
            pd.to_numeric(graded["days_since_last_order"]).to_numpy(dtype=np.float64),
            float(horizon),
            probability=False,
        ),
        "chance": backtest.chance(y_test),
    }
    result = replace(result, scores=scores)

    x_all = pd.concat([x for x, _ in labelled.values()])
    y_all = np.concatenate([y for _, y in labelled.values()])
    final = _fit(x_all, y_all, seed)
    now = backtest.active_in_year(today)
    if now.any():
        score[now] = _proba(final, model_matrix(today.loc[now], as_of, policy)[known])
    return score, result


def _p_alive(frame: pd.DataFrame, cutoff: date, policy: Policy) -> np.ndarray:
    """P(alive) at a past cutoff, from the scan's own model fitted on that cutoff's data
    (NaN when it cannot be fitted)."""
    predicted, _report = predict(frame, cutoff, policy)
    return predicted["p_alive"].to_numpy(dtype=np.float64)


def _classifier(seed: int) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(
        max_iter=200, learning_rate=0.1, early_stopping="auto", random_state=seed
    )
