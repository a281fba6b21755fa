"""The lapse risk: each customer's calibrated probability of lapsing within the horizon.

Trained on the backtest harness's labels (``backtest.py``), never on the scan's own rules:
at past cutoffs, the customers active in the year before each cutoff, labelled by whether
they placed no counted order within the horizon (``follow_suit_window_days``, 90 days)
after it (a subscriber: whether every contract ended). The newest cutoff, ``as_of -
horizon``, is held out: the model (scikit-learn's HistGradientBoostingClassifier) learns
from ``TRAIN_CUTOFFS`` older cutoffs a month apart whose horizons all end by the held-out
one (stacked, so more rows to learn from, and nothing learned from the graded period; the
older ones are not read once the newer fill the fit's sample, ``ENOUGH_TRAIN_ROWS``), is
graded there beside 1 - P(alive), days since the last purchase and chance, and is
calibrated there (Platt scaling: a logistic fit of the outcome on the model's log-odds).
The same model and calibration then score today's customers active in the past year; a
customer not active in the year gets the lapse rate seen among such customers at the
held-out cutoff.

The inputs are behaviour read against the customer's own rhythm (days since the last
purchase over the typical interval, the open gap over the longest and the latest gaps),
frequency and spend trends, the customer-base model's P(alive) and expected purchases at
each cutoff (refitted there), incidents and whether they were put right, contacts and their
tone, marketing engagement and its trend, unsubscribes, late payments, returns and
negative public posts (``FEATURES``); opens per mailing in the last quarter against the
customer's own rate before, and the tone of their everyday contacts lately against before.
A met risk driver's lapse ratio (``drivers.py``, found at each cutoff from what was known
then) adds to the model's log-odds with a weight learned on the training rows against "had
stopped by the end of the window" (no counted order in its last ``QUIET_DAYS``):
``driver_weight``. The slipping threshold is chosen on the held-out
cutoff: the lowest risk at which the customers flagged really lapsed at the policy's
``slipping_precision``, flagging no larger a share than the one of whom that precision
stayed away ``STAYED_AWAY_DAYS`` on the ranking's longer grade (``stayed_away_grade``: the
same procedure run that long back, graded on who placed no order in the days after).

A big ledger gives millions of backtest rows; each fit then learns from a stratified random
sample of at most ``MAX_FIT_ROWS`` of them (fixed seed, the lapse rate kept), which ranks
as well at a fraction of the time. The held-out cutoff is always graded on all of its rows
(a ledger above ``sample.BACKTEST_CUSTOMERS`` customers reads every past cutoff for a fixed
sample of its customers, ``sample.py``: all of the sample's rows).
The fits and scoring run on one thread: on a machine shared with other work, OpenMP's
threads mostly wait on each other (a fit took three times as long on two).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import gamma as gamma_dist
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from winback.policy import Policy
from winback.scan import backtest
from winback.scan.backtest import Backtest
from winback.scan.drivers import with_drivers
from winback.scan.lapse import typical_interval
from winback.scan.modelling import signals

MODEL_COLUMNS = ("p_alive", "expected_purchases")

#: The open gap read against the customer's own gaps (``own_rhythm_inputs``).
RHYTHM_INPUTS = (
    "open_gap_quantile",
    "open_gap_z",
    "open_gap_surprise",
    "gap_trend",
    "recent_spend_ratio",
)

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
    "gap_over_longest",
    "gap_over_last",
    "purchases_half_year",
    "purchases_half_year_before",
    "frequency_trend",
    "spend_trend",
    "engaged_half_year",
    "engaged_half_year_before",
    "unsubscribed",
    "unrepaired_incidents",
    "negative_posts",
    "driver_lapse_ratio",
    "open_rate_quarter",
    "open_rate_before",
    "open_trend",
    "sentiment_quarter",
    "sentiment_drop",
    *RHYTHM_INPUTS,
)
#: Columns of a feature frame that nothing in the backtest reads at a past cutoff (the
#: name, the latest incident's and contact's details, what only today's worth step and
#: reasons read): the scan's past feature queries leave them out, which took 27 % off
#: DuckDB's time a cutoff (300,000 retail customers, 75,000 sampled: 1.07 -> 0.77 CPU s).
UNREAD_AT_PAST_CUTOFFS = (
    "orders",
    "name",
    "last_incident_type",
    "last_incident_on",
    "lapse_incidents",
    "lapse_incident_type",
    "rude_noted",
    "interactions_judged",
    "contacts",
    "last_contact_at",
    "returned_value",
    "public_complaints",
    "last_public_complaint_at",
)
TRAIN_CUTOFFS = 4  # stacked to learn from, a month apart, all older than the held-out one
STEP_DAYS = 30  # between the training cutoffs
GONE_WINDOWS_DAYS = (330, 270, 180)  # the stays away the model learns to rank by, longest first
QUIET_DAYS = 180  # the drivers' weight's "stopped": no order in the window's last this many
MIN_HISTORY_DAYS = 60  # a training cutoff needs this much of the ledger's orders before it
MIN_EACH_CLASS = 20  # fewer lapsers (or stayers) than this: too little to learn or test on
# More backtest rows than this: fit on a stratified sample of them. Retail, 300,000
# customers, the past cutoffs on 75,000 of them (each cutoff ~51,000 rows), seeds 0 and 1:
# 100,000 rows drawn from the same four cutoffs' 204,077 graded as 200,000 did (held-out
# AUC 0.850-0.853 against 0.850-0.851, top-decile lift 2.79 both, stayed-away AUC 0.926
# both) at 60 % of each fit's CPU; and from the two newest cutoffs alone (below): held-out
# AUC 0.855, lift 2.80, stayed-away AUC 0.925.
MAX_FIT_ROWS = 100_000
# Once the training cutoffs read (at least two) hold enough rows to fill the fit's sample,
# the older ones are not read: each costs a feature pass over the ledger, a model refit and
# the drivers there, only for the sample to be drawn from more rows (retail, 100k
# customers: held-out AUC 0.857 from the two newest cutoffs, 0.851 from four).
ENOUGH_TRAIN_ROWS = MAX_FIT_ROWS
MIN_TRAIN_CUTOFFS = 2


def _learnable(y: np.ndarray) -> bool:
    return int(y.sum()) >= MIN_EACH_CLASS and int(len(y) - y.sum()) >= MIN_EACH_CLASS


def model_matrix(
    features: pd.DataFrame,
    as_of: date,
    policy: Policy,
    dtype: Any = np.float64,
    interval: pd.Series | None = None,
) -> pd.DataFrame:
    """The classifier's inputs, derived from a feature frame (NaN where unknown), as
    ``dtype`` (the backtest's rows: float32, half the memory). ``interval``: the rows'
    typical interval when computed over more rows than ``features`` (``score_today``).

    Each input is computed in float64 and written once into one block of ``dtype``: the
    frame built column by column, then cast (and cast again to float32), held up to three
    copies of it at once.
    """

    def number(name: str) -> pd.Series:
        return pd.to_numeric(_column(features, name), errors="coerce")

    m: dict[str, Any] = {name: number(name) for name in FEATURES if name in features}
    if interval is None:
        interval = typical_interval(features, policy)
    m["cycle_ratio"] = features["days_since_last_order"] / interval
    due, late = number("invoices_due"), number("invoices_late")
    m["late_share"] = late / due.where(due > 0)
    engaged = pd.to_datetime(_column(features, "last_engaged_at"))
    m["days_since_engaged"] = (pd.Timestamp(as_of) - engaged).dt.days
    days = pd.to_numeric(features["days_since_last_order"], errors="coerce")
    longest, last = number("longest_gap_days"), number("last_gap_days")
    m["gap_over_longest"] = days / longest.where(longest > 0)
    m["gap_over_last"] = days / last.where(last > 0)
    recent, before = number("purchases_half_year"), number("purchases_half_year_before")
    m["frequency_trend"] = (recent - before) / (recent + before).where(recent + before > 0)
    now = pd.to_numeric(features["revenue_recent"], errors="coerce")
    then = pd.to_numeric(features["revenue_prior"], errors="coerce")
    m["spend_trend"] = (now - then) / (now + then).where(now + then > 0)
    # Opens per mailing in the last quarter against the customer's own rate the year before.
    sent_q, sent_b = number("sent_quarter"), number("sent_before_quarter")
    opened_q, opened_b = number("opened_quarter"), number("opened_before_quarter")
    m["open_rate_quarter"] = opened_q / sent_q.where(sent_q > 0)
    m["open_rate_before"] = opened_b / sent_b.where(sent_b > 0)
    m["open_trend"] = m["open_rate_quarter"] - m["open_rate_before"]
    tone_q, tone_b = number("sentiment_quarter"), number("sentiment_before_quarter")
    m["sentiment_quarter"] = tone_q
    m["sentiment_drop"] = tone_b - tone_q
    rhythm = own_rhythm_inputs(features)
    m.update({name: rhythm[name] for name in RHYTHM_INPUTS})
    # Column-major, as pandas holds a frame's block: the frame below wraps it, no copy.
    out = np.full((len(features), len(FEATURES)), np.nan, dtype=dtype, order="F")
    for j, name in enumerate(FEATURES):
        if name in m:
            out[:, j] = pd.to_numeric(m.pop(name), errors="coerce").to_numpy(
                dtype=np.float64, na_value=np.nan
            )
    return pd.DataFrame(out, index=features.index, columns=list(FEATURES), copy=False)


def own_rhythm_inputs(features: pd.DataFrame) -> pd.DataFrame:
    """The gap open now and the latest spend against the customer's own history (NaN
    with fewer than two completed gaps):

    - ``open_gap_quantile``: the share of their gaps shorter than the open one (near 1:
      longer than nearly every wait before);
    - ``open_gap_z``: how many standard deviations of their gaps it lies beyond their mean;
    - ``open_gap_surprise``: minus the log of the chance that a gap of theirs lasts this
      long, for gamma-distributed gaps with their gaps' mean and spread;
    - ``gap_trend``: the latest gaps' mean over the mean of all (above 1: lengthening);
    - ``recent_spend_ratio``: the latest purchase days' mean spend over their mean day's
      (below 1: spending less).
    """
    gaps = pd.to_numeric(features["purchases"], errors="coerce") - 1
    enough = gaps >= 2
    days = pd.to_numeric(features["days_since_last_order"], errors="coerce")
    mean = pd.to_numeric(_column(features, "gap_mean_days"), errors="coerce")
    # A floor on the spread: a customer with near-equal gaps is not infinitely overdue.
    sd = pd.to_numeric(_column(features, "gap_sd_days"), errors="coerce").clip(lower=7.0)
    longer = pd.to_numeric(_column(features, "gaps_at_least_open"), errors="coerce")
    recent = pd.to_numeric(_column(features, "recent_gap_mean_days"), errors="coerce")
    spend = pd.to_numeric(_column(features, "day_revenue_mean"), errors="coerce")
    spend = spend.where(spend > 0)
    out = pd.DataFrame(index=features.index)
    out["open_gap_quantile"] = (1 - longer / gaps).where(enough)
    out["open_gap_z"] = ((days - mean) / sd).where(enough)
    shape = ((mean / sd) ** 2).clip(lower=0.3, upper=50.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        surprise = -gamma_dist.logsf(days, shape, scale=mean / shape)
    out["open_gap_surprise"] = pd.Series(surprise, index=features.index).where(enough & (mean > 0))
    out["gap_trend"] = (recent / mean.where(mean > 0)).where(enough)
    latest = pd.to_numeric(_column(features, "recent_day_revenue"), errors="coerce")
    out["recent_spend_ratio"] = (latest / spend).where(enough)
    return out


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
        return classifier(seed).fit(x, y)


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
    drivers_at: Callable[[date], pd.DataFrame] | None = None,
    labels_at: Callable[[date], pd.DataFrame] | None = None,
) -> tuple[np.ndarray, Backtest]:
    """Each of ``today``'s customers' lapse risk, and the harness's grades of every score
    the scan uses (with the slipping threshold chosen on the held-out cutoff).

    ``features_at(cutoff)`` returns the feature frame at a past cutoff; ``today`` holds the
    customer-base model's columns (``MODEL_COLUMNS``) when it could be fitted. Without
    enough history every risk is NaN and the Backtest says why.

    ``drivers_at(cutoff)``, when given, returns the clear risk drivers each customer had met
    by that cutoff, found from what was known then (``drivers.drivers_met_at``); they are
    joined onto the frames the model learns from and is graded on (``today`` carries its
    own), so exposure to a driver becomes one of the model's inputs.

    ``labels_at(date)``, when given, returns a frame holding only what a label reads
    (``customer_id``, ``last_order_date``, ``days_since_last_order`` and, for subscribers,
    ``active_contracts``) for the dates read only for labels (the horizons' ends, the
    seasons a year back): cheaper than a whole feature frame.
    """
    labels = labels_at or features_at
    horizon = policy.lapse.follow_suit_window_days
    held_out = as_of - timedelta(days=horizon)
    window, train_cutoffs = gone_window(today, held_out, horizon)
    # Each day's frame is read once; only what a label needs is kept of it.
    slim: dict[date, pd.DataFrame] = {as_of: _label_columns(today)}
    held_out_extra: dict[date, dict[str, Any]] = {}

    def after(ends: date) -> pd.DataFrame:
        if ends not in slim:
            slim[ends] = _label_columns(labels(ends))
        return slim[ends]

    def prepare(cutoff: date, days: int, keep: bool = False) -> Rows | None:
        """The model's inputs at ``cutoff`` for the customers active in the year before it,
        labelled by no counted order in the ``days`` after it (None before the first order);
        ``keep``: also what the other scores are graded by."""
        frame = features_at(cutoff)
        if frame.empty:  # before the ledger's first order
            return None
        slim.setdefault(cutoff, _label_columns(frame))
        ends = cutoff + timedelta(days=days)
        frame = _with_models(frame, cutoff, policy)
        if drivers_at is not None:
            frame = with_drivers(frame, drivers_at(cutoff))
        active = backtest.active_in_year(frame)
        # Every customer's outcome, looked up once, then taken for the active and the rest.
        lapsed = backtest.lapsed_since(frame, after(ends))
        every = lapsed(cutoff)
        label = every[active]
        # "Had stopped by the window's end": no counted order in its last QUIET_DAYS. A
        # customer who has decided keeps buying for a while, less and less, so "no order at
        # all in the window" misses those slipping away; the drivers' weight learns on it.
        quiet_from = max(cutoff, ends - timedelta(days=QUIET_DAYS))
        stopped = lapsed(quiet_from)[active]
        rows = frame.loc[active]
        if keep:
            gone = every[~active]
            held_out_extra[cutoff] = {
                # Only what the other scores are graded by: a whole frame is big at 1M.
                "frame": rows[["p_alive", "days_since_last_order"]],
                "inactive_rate": float(np.mean(gone)) if len(gone) else 1.0,
            }
        x = model_matrix(rows, cutoff, policy, np.float32)
        return x, label, stopped

    labelled: dict[date, Rows] = {}
    train_rows = 0
    for cutoff in [held_out, *train_cutoffs]:
        read = [c for c in labelled if c != held_out]
        if len(read) >= MIN_TRAIN_CUTOFFS and train_rows >= ENOUGH_TRAIN_ROWS:
            break  # enough to sample from: the older cutoffs would add only cost
        rows = prepare(cutoff, horizon if cutoff == held_out else window, cutoff == held_out)
        if rows is None:
            break
        if len(rows[1]):
            labelled[cutoff] = rows
            train_rows += 0 if cutoff == held_out else len(rows[1])
    score = np.full(len(today), np.nan)
    result = Backtest(horizon, tuple(str(c) for c in sorted(labelled)))
    train = [labelled[c] for c in train_cutoffs if c in labelled]
    if held_out not in labelled or not train:
        return score, replace(
            result, problem="too little history: no cutoff to learn from before the graded one"
        )

    ranker = _fit_ranker(train, seed)
    x_test, y_test, _ = labelled[held_out]
    result = replace(
        result,
        graded_on=str(held_out),
        learned_window_days=window,
        train_rows=ranker.rows,
        test_rows=len(y_test),
        base_rate=round(float(np.mean(y_test)), 4),
    )
    if ranker.model is None or not _learnable(y_test):
        return score, replace(
            result, problem=f"fewer than {MIN_EACH_CLASS} lapsers or stayers to learn or grade"
        )
    raw = ranker.rank(x_test)
    shift = seasonal_shift(labels, slim, as_of, horizon)
    calibrate = platt(raw, y_test, shift)
    risk_test = cross_calibrated(raw, y_test)
    threshold = slipping_threshold(
        y_test, calibrate(raw), required_precision(policy.lapse.slipping_precision, y_test)
    )
    stayed = stayed_away_grade(
        prepare,
        horizon,
        window,
        gone_window(today, as_of - timedelta(days=STAYED_AWAY_DAYS), horizon),
        labelled,
        held_out_extra,
        as_of,
        seed,
        policy.lapse.slipping_precision,
    )
    if stayed.get("slipping_share") is not None:
        # Slipping also meets the policy's precision on who stayed away: the share of the
        # customers the procedure flags there, taken as the same share of the held-out ones.
        at = float(np.quantile(calibrate(raw), 1 - stayed["slipping_share"]))
        threshold = max(threshold, at)
    graded = held_out_extra[held_out]["frame"]
    not_alive = 1.0 - pd.to_numeric(graded["p_alive"], errors="coerce").to_numpy(np.float64)
    scores = {
        "lapse_risk": backtest.grade(y_test, risk_test, threshold, probability=True)
        | {"top_decile_lift": round(top_decile_lift(y_test, risk_test), 4)},
        "not_alive": backtest.grade(y_test, not_alive, 0.5, probability=True),
        "days_since_last_order": backtest.grade(
            y_test,
            pd.to_numeric(graded["days_since_last_order"]).to_numpy(dtype=np.float64),
            float(horizon),
            probability=False,
        ),
        "chance": backtest.chance(y_test),
    }
    result = replace(
        result,
        scores=scores,
        slipping_threshold=round(threshold, 4),
        seasonal_shift=round(shift, 4),
        inactive_rate=round(held_out_extra[held_out]["inactive_rate"], 4),
        driver_weight=round(ranker.weight, 4),
        stayed_away=stayed,
    )
    now = backtest.active_in_year(today)
    score[~now] = held_out_extra[held_out]["inactive_rate"]
    if now.any():
        score[now] = score_today(today, now, as_of, policy, lambda x: calibrate(ranker.rank(x)))
    return score, result


#: Today's customers are scored this many at a time. All at once, their whole feature
#: frame was copied and their inputs built in float64 (a column each, then one block, then
#: the ranker's columns again): at 5.5M customers about 8 GB for the step's few seconds.
SCORE_CHUNK = 250_000


def score_today(
    today: pd.DataFrame,
    now: np.ndarray,
    as_of: date,
    policy: Policy,
    scored: Callable[[pd.DataFrame], np.ndarray],
) -> np.ndarray:
    """``scored`` of the inputs of ``today``'s rows marked ``now``, ``SCORE_CHUNK`` rows at
    a time: the same numbers as all at once (every input but the typical interval is the
    row's own; that one, which reads each segment's median, is computed once over them)."""
    rows = np.flatnonzero(now)
    # The three columns it reads, then the rows: the rows first copied the whole frame
    # (some 3 GB more for a moment at 5.5M customers, the lapse-risk step's peak).
    interval = typical_interval(
        today[["own_interval_days", "purchases", "segment"]].iloc[rows], policy
    )
    out = np.empty(len(rows))
    for start in range(0, len(rows), SCORE_CHUNK):
        part = slice(start, start + SCORE_CHUNK)
        chunk = today.iloc[rows[part]]
        out[part] = scored(model_matrix(chunk, as_of, policy, interval=interval.iloc[part]))
    return out


Rows = tuple[pd.DataFrame, np.ndarray, np.ndarray]  # inputs, label, "had stopped"


@dataclass(frozen=True)
class Ranker:
    """The trees, the inputs they learned from and the risk drivers' weight on top."""

    model: HistGradientBoostingClassifier | None
    known: list[str]
    weight: float
    rows: int

    def rank(self, x: pd.DataFrame) -> np.ndarray:
        assert self.model is not None
        raw = _proba(self.model, x[self.known])
        return with_driver_weight(raw, _log_ratio(x), self.weight)


def _fit_ranker(train: list[Rows], seed: int) -> Ranker:
    """The trees fitted on the stacked training cutoffs (no model when either class has
    fewer than ``MIN_EACH_CLASS`` rows), with the drivers' weight learned on the same rows."""
    x_train = pd.concat([x for x, _, _ in train])
    # Columns this ledger has no data for (no marketing, say), or only one value of, carry
    # nothing to learn.
    known = [c for c in learnable_columns(x_train) if c != DRIVER_COLUMN]
    y_train = np.concatenate([y for _, y, _ in train])
    if not _learnable(y_train):
        return Ranker(None, known, 0.0, len(y_train))
    model = _fit(x_train[known], y_train, seed)
    stopped = np.concatenate([s for _, _, s in train])
    weight = driver_weight(_proba(model, x_train[known]), _log_ratio(x_train), stopped)
    return Ranker(model, known, weight, len(y_train))


STAYED_AWAY_DAYS = 180  # the ranking is also graded on "no counted order in this many days"


def stayed_away_grade(
    prepare: Callable[..., Rows | None],
    horizon: int,
    learned: int,
    plan: tuple[int, list[date]],
    labelled: dict[date, Rows],
    extra: dict[date, dict[str, Any]],
    as_of: date,
    seed: int,
    precision: float,
) -> dict[str, Any]:
    """The ranking graded on who stayed away ``STAYED_AWAY_DAYS`` after a cutoff that long
    before the scan: the same procedure (inputs, window, trees, drivers' weight) trained on
    cutoffs whose windows end by it, graded on its customers, beside recency, 1 - P(alive)
    and chance.

    The horizon's label ("no order in 90 days") also counts the slow buyers who skip one
    quarter; the trees learn to rank who stays away much longer, which is nearer to who has
    stopped buying, so graded on the horizon alone the ranking reads lower than it is.
    The scan's own model learns from newer cutoffs (its windows end by the horizon's cutoff),
    so this figure is a little stale, never flattered: nothing after its cutoff is learned.

    ``slipping_share``: the largest share of that cutoff's customers, taken from the top of
    the ranking, of whom at least the policy's ``precision`` (and half way from the base
    rate to certainty) stayed away; the slipping threshold flags no larger a share.
    """
    days = STAYED_AWAY_DAYS
    window, cutoffs = plan
    graded_on = as_of - timedelta(days=days)
    out: dict[str, Any] = {"window_days": days, "graded_on": str(graded_on)}
    if days <= horizon:
        return out | {"problem": "the horizon is already as long"}
    if window != learned or window < days:
        return out | {"problem": f"too little history to grade a {days}-day stay away"}
    train: list[Rows] = []
    used: list[str] = []
    for cutoff in cutoffs:
        if len(train) >= MIN_TRAIN_CUTOFFS and sum(len(y) for _, y, _ in train) >= (
            ENOUGH_TRAIN_ROWS
        ):
            break  # as in the scan's own backtest: older cutoffs would add only cost
        rows = labelled.get(cutoff) or prepare(cutoff, window)
        if rows is not None and len(rows[1]):
            train.append(rows)
            used.append(str(cutoff))
    graded = prepare(graded_on, days, keep=True)
    if len(train) < 2 or graded is None:
        return out | {"problem": "too little history before the graded cutoff"}
    ranker = _fit_ranker(train, seed)
    x, y, _ = graded
    if ranker.model is None or not _learnable(y):
        return out | {"problem": f"fewer than {MIN_EACH_CLASS} who stayed away or came back"}
    frame = extra.pop(graded_on)["frame"]
    not_alive = 1.0 - pd.to_numeric(frame["p_alive"], errors="coerce").to_numpy(np.float64)
    recency = pd.to_numeric(frame["days_since_last_order"]).to_numpy(dtype=np.float64)
    rank = ranker.rank(x)
    _order, cut = deepest_cut(y, rank, required_precision(precision, y))
    return out | {
        "slipping_share": None if cut is None else round((cut + 1) / len(y), 4),
        "learned_window_days": window,
        "cutoffs": sorted(used),
        "train_rows": ranker.rows,
        "test_rows": len(y),
        "base_rate": round(float(np.mean(y)), 4),
        "auc": {
            "lapse_risk": backtest.auc(y, rank),
            "not_alive": backtest.auc(y, not_alive),
            "days_since_last_order": backtest.auc(y, recency),
            "chance": 0.5,
        },
    }


DRIVER_COLUMN = "driver_lapse_ratio"


def _log_ratio(x: pd.DataFrame) -> np.ndarray:
    """The log of the strongest clear risk driver's lapse ratio each customer met (0: none,
    or no drivers known)."""
    if DRIVER_COLUMN not in x:
        return np.zeros(len(x))
    ratio = pd.to_numeric(x[DRIVER_COLUMN], errors="coerce").fillna(1.0).clip(lower=1.0)
    out: np.ndarray = np.log(ratio.to_numpy(np.float64))
    return out


def driver_weight(raw: np.ndarray, log_ratio: np.ndarray, y: np.ndarray) -> float:
    """How much a met risk driver adds to the model's log-odds, learned on the training
    rows: the coefficient of the log lapse ratio in a logistic fit of ``y`` (had stopped by
    the window's end) on the model's log-odds and it (0 when no one met a driver, and never
    below 0: a driver the data does not bear out adds nothing).

    The trees seldom split on a driver few customers met; the drivers' ratios were measured
    against customers like them (``drivers.py``), so one weight over their log is enough.
    """
    met = log_ratio > 0
    if met.sum() < MIN_EACH_CLASS or not _learnable(y):
        return 0.0
    x = np.column_stack([_logit(raw).ravel(), log_ratio])
    fit = LogisticRegression(C=1e6).fit(x, y)
    return float(max(fit.coef_[0][1], 0.0))


def with_driver_weight(raw: np.ndarray, log_ratio: np.ndarray, weight: float) -> np.ndarray:
    """The model's probability with ``weight`` times the log lapse ratio added to its
    log-odds (unchanged where no driver was met or the weight is 0)."""
    if weight == 0.0:
        return raw
    z = _logit(raw).ravel() + weight * log_ratio
    out: np.ndarray = 1.0 / (1.0 + np.exp(-z))
    return out


MAX_SEASONAL_SHIFT = 1.0  # log-odds: a season moves the lapse rate, it does not make it


def seasonal_shift(
    features_at: Callable[[date], pd.DataFrame],
    slim: dict[date, pd.DataFrame],
    as_of: date,
    horizon: int,
) -> float:
    """How much likelier a lapse is in the horizon after ``as_of`` than in the one after the
    held-out cutoff, as seen a year earlier: the log-odds of the lapse rate after
    ``as_of - 365 days`` minus that after ``held-out - 365 days`` (0 without the history).

    The calibration is fitted on the held-out cutoff's outcomes; a business whose lapse
    rate has seasons (retail's quiet first quarter) would otherwise carry that quarter's
    rate into the next.
    """
    step = timedelta(days=horizon)
    year = timedelta(days=365)
    rates = []
    for cutoff in (as_of - year, as_of - step - year):
        at = slim.get(cutoff)
        if at is None:
            at = features_at(cutoff)
        after = slim.get(cutoff + step)
        if after is None:
            after = features_at(cutoff + step)
        if at.empty or after.empty:
            return 0.0
        y = backtest.lapse_labels(at.loc[backtest.active_in_year(at)], after, cutoff)
        if not _learnable(y):
            return 0.0
        rates.append(float(np.mean(y)))
        slim.setdefault(cutoff, _label_columns(at))
        slim.setdefault(cutoff + step, _label_columns(after))
    now, then = rates
    shift = float(np.log(now / (1 - now)) - np.log(then / (1 - then)))
    return float(np.clip(shift, -MAX_SEASONAL_SHIFT, MAX_SEASONAL_SHIFT))


def gone_window(today: pd.DataFrame, held_out: date, horizon: int) -> tuple[int, list[date]]:
    """How long a stay away the model learns to rank by, and its training cutoffs.

    The longest of ``GONE_WINDOWS_DAYS`` (then the horizon) for which at least two training
    cutoffs, a month apart, have ``MIN_HISTORY_DAYS`` of orders before them and their
    window ending by the held-out cutoff (so nothing is learned from the graded period).
    Who stays away for 330 days is nearer to who has decided to leave than who skips one
    quarter (a slow buyer does that too); the calibration on the held-out cutoff then turns
    the ranking into the probability of no order within the horizon.
    """
    first = pd.to_datetime(today["first_order_date"]).min()
    start = (first + pd.Timedelta(days=MIN_HISTORY_DAYS)).date() if pd.notna(first) else held_out
    for window in (*(w for w in GONE_WINDOWS_DAYS if w > horizon), horizon):
        cuts = [held_out - timedelta(days=window + STEP_DAYS * k) for k in range(TRAIN_CUTOFFS)]
        usable = [c for c in cuts if c >= start]
        if len(usable) >= 2 or window == horizon:
            return window, usable or cuts
    raise AssertionError("unreachable: the horizon always returns")


def learnable_columns(x: pd.DataFrame) -> list[str]:
    """The columns of ``x`` with at least two distinct known values.

    A frame of numbers (the model matrix) is read as one array: a column's known values
    differ when their minimum is below their maximum. Counting each column's distinct
    values (pandas' ``nunique``, a hash of every value) took 0.6 CPU s per fit on 204,000
    training rows.
    """
    values = x.to_numpy()
    if not np.issubdtype(values.dtype, np.floating):
        return [c for c in x.columns if x[c].nunique(dropna=True) >= 2]
    known = ~np.isnan(values)
    low = np.where(known, values, np.inf).min(axis=0, initial=np.inf)
    high = np.where(known, values, -np.inf).max(axis=0, initial=-np.inf)
    return [c for c, lo, hi in zip(x.columns, low, high, strict=True) if lo < hi]


def _label_columns(frame: pd.DataFrame) -> pd.DataFrame:
    keep = [
        c
        for c in ("customer_id", "last_order_date", "days_since_last_order", "active_contracts")
        if c in frame
    ]
    return frame[keep]


def _with_models(frame: pd.DataFrame, cutoff: date, policy: Policy) -> pd.DataFrame:
    """The frame with the customer-base model's outputs at its cutoff (NaN when it cannot
    be fitted there)."""
    if all(c in frame for c in MODEL_COLUMNS):
        return frame
    predicted = signals(frame, cutoff, policy)
    return frame.assign(**{c: predicted[c].to_numpy() for c in MODEL_COLUMNS})


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, 1e-6, 1 - 1e-6)
    out: np.ndarray = np.log(q / (1 - q)).reshape(-1, 1)
    return out


def platt(raw: np.ndarray, y: np.ndarray, shift: float = 0.0) -> Callable[[np.ndarray], np.ndarray]:
    """A calibration of the model's probabilities on held-out outcomes: a logistic fit of
    the outcome on the model's log-odds (Platt scaling), its log-odds then moved by
    ``shift`` (the season's). Keeps the order of the scores."""
    fit = LogisticRegression(C=1e6).fit(_logit(raw), y)

    def calibrate(p: np.ndarray) -> np.ndarray:
        z = fit.decision_function(_logit(p)) + shift
        out: np.ndarray = 1.0 / (1.0 + np.exp(-z))
        return out

    return calibrate


def cross_calibrated(raw: np.ndarray, y: np.ndarray, folds: int = 2) -> np.ndarray:
    """The held-out rows' calibrated risks, each calibrated by a fit on the other fold, so
    that the Brier score and reliability graded on them are not flattered."""
    fold = np.arange(len(y)) % folds
    out = np.empty(len(y))
    for k in range(folds):
        fit_rows = fold != k
        if _learnable(y[fit_rows]):
            out[fold == k] = platt(raw[fit_rows], y[fit_rows])(raw[fold == k])
        else:
            out[fold == k] = raw[fold == k]
    return out


def required_precision(policy_precision: float, y: np.ndarray) -> float:
    """The precision the slipping flag must reach: the policy's, and at least half way from
    the base rate to certainty, so that slipping always means a risk well above the base
    rate (on CDNOW, where 82% of the active customers place no order in 90 days, a
    precision of 0.65 would flag everyone)."""
    base = float(np.mean(y)) if len(y) else 0.0
    return max(policy_precision, (1.0 + base) / 2.0)


def slipping_threshold(y: np.ndarray, risk: np.ndarray, precision: float) -> float:
    """The lowest risk at which the customers at or above it really lapsed at ``precision``
    or more (the highest risk when no threshold reaches it)."""
    order, cut = deepest_cut(y, risk, precision)
    # The deepest cut that still meets it; ties at that risk all count as flagged.
    return float(risk[order[0 if cut is None else cut]])


def deepest_cut(
    y: np.ndarray, score: np.ndarray, precision: float
) -> tuple[np.ndarray, int | None]:
    """The rows by descending score, and the last position down that order at which the
    rows down to it are positive at ``precision`` or more (None when no cut is)."""
    order = np.argsort(-score, kind="stable")
    shares = np.cumsum(y[order]) / np.arange(1, len(y) + 1)
    meets = np.flatnonzero(shares >= precision)
    return order, (int(meets[-1]) if len(meets) else None)


def classifier(seed: int) -> HistGradientBoostingClassifier:
    # Shallow, slow-learning trees: a few thousand rows of a noisy label overfit deeper ones
    # (retail's AUC for who has decided: 0.736 with 200 unconstrained rounds, 0.751 here).
    return HistGradientBoostingClassifier(
        max_iter=150,
        learning_rate=0.05,
        max_depth=3,
        min_samples_leaf=50,
        l2_regularization=1.0,
        early_stopping=False,
        random_state=seed,
    )
