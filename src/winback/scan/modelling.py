"""The customer-base models inside a scan: P(alive), expected purchases, predicted value.

From each customer's purchase history (in weeks, as in the papers): x repeat purchases,
recency t_x (first to last purchase) and age T (first purchase to the scan's date), the
scan fits a repeat-purchase model and a Gamma-Gamma spend model on the repeat buyers, then
predicts for every customer. Which repeat-purchase model: the policy's, or with ``auto``
(the default) the one among BG/NBD, MBG/NBD and Pareto/NBD that best predicted the last
``holdout_days`` of the ledger from the history before them (mean absolute error of each
customer's repeat purchases), refitted on all the history; every candidate's error and the
reason for the choice go into the run. BG/BB (discrete purchase opportunities) is used only
when the policy names it. A fit that fails or runs off along a flat ridge is reported in
the run, and the scan goes on without the model signals rather than rank customers on
nonsense.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from winback.errors import DegenerateFitWarning, ModelError
from winback.models import (
    BetaGeoBetaBinomModel,
    BetaGeoModel,
    GammaGammaModel,
    ModifiedBetaGeoModel,
    ParetoNBDModel,
)
from winback.models.value import period_ends
from winback.policy import Policy

REPEAT_MODELS = {
    "pareto_nbd": ParetoNBDModel,
    "bg_nbd": BetaGeoModel,
    "mbg_nbd": ModifiedBetaGeoModel,
}
# The candidates of ``auto``, in the order a tie is broken (the simplest first).
CANDIDATES = ("mbg_nbd", "bg_nbd", "pareto_nbd")
# ``auto`` without a holdout to judge by (too little history, or no calibration frame).
FALLBACK_MODEL = "mbg_nbd"
# The candidates are fitted and graded on the holdout of a random sample of this many
# customers (all of them when there are fewer; fixed seed): the choice is a comparison of
# three four-parameter fits, which a sample this big settles as the whole base does, at a
# twentieth of the cost at a million customers.
CHOICE_CUSTOMERS = 50_000
WEEKS_PER_MONTH = 52.1775 / 12


@dataclass
class ModelReport:
    """What the scan's model fits came to, for run.json."""

    repeat_model: str
    fitted: bool = False
    customers: int = 0
    params: dict[str, float] = field(default_factory=dict)
    log_likelihood: float | None = None
    spend_params: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    # With ``auto``: each candidate's holdout error (or why it has none), and the reason.
    choice: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def with_model(policy: Policy, name: str) -> Policy:
    """``policy`` with its repeat-purchase model set to ``name`` (so that refits at past
    cutoffs use the model the scan chose)."""
    models = policy.models.model_copy(update={"repeat_model": name})
    return policy.model_copy(update={"models": models})


def holdout_start(as_of: date, policy: Policy) -> date | None:
    """The calibration cutoff for ``auto`` (None when the policy names its model)."""
    if policy.models.repeat_model != "auto":
        return None
    return as_of - timedelta(days=policy.models.holdout_days)


def summaries(features: pd.DataFrame, as_of: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, t_x, T) in weeks from a feature frame."""
    first = pd.to_datetime(features["first_order_date"])
    last = pd.to_datetime(features["last_order_date"])
    x = (features["purchases"].to_numpy(dtype=np.float64) - 1.0).clip(min=0.0)
    t_x = ((last - first).dt.days.to_numpy(dtype=np.float64)) / 7.0
    big_t = ((pd.Timestamp(as_of) - first).dt.days.to_numpy(dtype=np.float64)) / 7.0
    return x, t_x, np.maximum(big_t, t_x)


def predict(
    features: pd.DataFrame,
    as_of: Any,
    policy: Policy,
    calibration: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, ModelReport]:
    """``p_alive``, ``expected_purchases``, ``predicted_value``, and when the next purchase
    is due (``due_days`` after the first, ``overdue_ratio`` in expected gaps since the
    last) per customer (NaN when the models could not be fitted), and the report.

    With ``repeat_model = "auto"``, ``calibration`` is the feature frame as of
    :func:`holdout_start` (same columns); without it the choice falls back to MBG/NBD.
    """
    name: str = policy.models.repeat_model
    report = ModelReport(repeat_model=name)
    out = pd.DataFrame(
        np.nan,
        index=features.index,
        columns=["p_alive", "expected_purchases", "predicted_value", "overdue_ratio", "due_days"],
    )
    x, t_x, big_t = summaries(features, as_of)
    report.customers = len(x)
    if len(x) < policy.models.min_customers or np.count_nonzero(x) < 10:
        report.problems.append(
            f"{len(x)} customers, {np.count_nonzero(x)} with repeat purchases: too few to fit "
            f"(the policy asks for {policy.models.min_customers})"
        )
        return out, report
    if name == "auto":
        name = _choose(features, as_of, policy, calibration, report)
        report.repeat_model = name
    if name == "bg_bb":
        return _predict_bgbb(features, as_of, policy, out, report)
    model = _fit_repeat(name, x, t_x, big_t, policy, report)
    if model is None:
        return out, report
    report.fitted = True
    report.params = {str(k): float(v) for k, v in model.params_.items()}
    report.log_likelihood = float(model.log_likelihood_)
    window = policy.lapse.expected_purchases_days / 7.0
    # One call for P(alive), the window's expected purchases and every month of the value
    # horizon, on the distinct (x, t_x, T) rows.
    ends = period_ends(policy.worth.horizon_months * WEEKS_PER_MONTH, WEEKS_PER_MONTH)
    predictions = model.predict_horizons(np.append(ends, window), x, t_x, big_t)
    out["p_alive"] = predictions.p_alive
    out["expected_purchases"] = predictions.expected(len(ends))
    purchases = predictions.discounted_value(_monthly_rate(policy), slice(0, len(ends)))
    out["predicted_value"] = _value(features, x, purchases, policy, report)
    due = model.next_purchase(x, t_x, big_t, probability_alive=predictions.p_alive)
    out["overdue_ratio"] = due["overdue_ratio"].to_numpy()
    out["due_days"] = due["due"].to_numpy() * 7.0  # days after the first purchase
    return out, report


def signals(features: pd.DataFrame, as_of: Any, policy: Policy) -> pd.DataFrame:
    """Only ``p_alive`` and ``expected_purchases`` (in the lapse window) per customer, from
    the policy's repeat-purchase model fitted on ``features`` (NaN where it cannot be):
    what the lapse risk reads of the models at a past cutoff, without the value horizon,
    the spend model and the due dates :func:`predict` adds. The same numbers as
    :func:`predict`'s for a named model; ``auto`` and BG/BB go through :func:`predict`.
    """
    columns = ["p_alive", "expected_purchases"]
    name: str = policy.models.repeat_model
    if name not in REPEAT_MODELS:
        predicted, _report = predict(features, as_of, policy)
        return predicted[columns]
    out = pd.DataFrame(np.nan, index=features.index, columns=columns)
    x, t_x, big_t = summaries(features, as_of)
    if len(x) < policy.models.min_customers or np.count_nonzero(x) < 10:
        return out
    model = _fit_repeat(name, x, t_x, big_t, policy, ModelReport(repeat_model=name))
    if model is None:
        return out
    window = policy.lapse.expected_purchases_days / 7.0
    predictions = model.predict_horizons([window], x, t_x, big_t)
    out["p_alive"] = predictions.p_alive
    out["expected_purchases"] = predictions.expected(0)
    return out


def _fit_repeat(
    name: str,
    x: np.ndarray,
    t_x: np.ndarray,
    big_t: np.ndarray,
    policy: Policy,
    report: ModelReport,
    what: str = "",
    stop_on_runaway: bool = False,
) -> Any:
    """The fitted model, or None with the problem in the report (a failed or ridge fit;
    with ``stop_on_runaway``, a fit heading for a ridge is stopped there)."""
    model = REPEAT_MODELS[name](penalizer=policy.models.penalizer, stop_on_runaway=stop_on_runaway)
    return model if _fitted(model, (x, t_x, big_t), f"{name}{what}", report) else None


def _fitted(model: Any, columns: tuple[np.ndarray, ...], label: str, report: ModelReport) -> bool:
    """Fit ``model`` on ``columns``; False with the problem in the report if it failed or
    ran off along a ridge."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DegenerateFitWarning)
            model.fit(*columns)
    except ModelError as exc:
        report.problems.append(f"{label} fit failed: {exc}")
        return False
    degenerate = [str(w.message) for w in caught if issubclass(w.category, DegenerateFitWarning)]
    report.problems.extend(f"{label}: {m}" for m in degenerate)
    return not degenerate


def _choose(
    features: pd.DataFrame,
    as_of: Any,
    policy: Policy,
    calibration: pd.DataFrame | None,
    report: ModelReport,
) -> str:
    """The candidate with the smallest holdout error; the errors and reason in the report."""
    started = time.perf_counter()
    days = policy.models.holdout_days
    choice: dict[str, Any] = {"holdout_days": days, "metric": "mean absolute error"}
    report.choice = choice
    cutoff = pd.Timestamp(as_of) - pd.Timedelta(days=days)
    if calibration is None or len(calibration) < policy.models.min_customers:
        choice["chosen"] = FALLBACK_MODEL
        choice["reason"] = (
            f"fewer than {policy.models.min_customers} customers had bought {days} days "
            f"before the scan: no holdout to compare on, {FALLBACK_MODEL} used"
        )
        return FALLBACK_MODEL
    compared = len(calibration)
    if compared > CHOICE_CUSTOMERS:
        # The same customers every scan of the same ledger, in whatever order the engine
        # returned them.
        ordered = calibration.sort_values("customer_id", kind="stable")
        rows = np.sort(np.random.default_rng(0).choice(compared, CHOICE_CUSTOMERS, replace=False))
        calibration = ordered.iloc[rows]
        choice["sampled_from"] = compared
    x_cal, t_x_cal, t_cal = summaries(calibration, cutoff)
    # What each of them really bought in the holdout: counted purchases since the cutoff.
    now = features.set_index("customer_id")["purchases"]
    before = calibration.set_index("customer_id")["purchases"]
    actual = (now.reindex(before.index).to_numpy(dtype=np.float64) - before.to_numpy()).clip(0)
    weeks = days / 7.0
    candidates: dict[str, dict[str, Any]] = {}
    for name in CANDIDATES:
        problems = ModelReport(repeat_model=name)
        # A candidate heading for a ridge is stopped there: it would be left out anyway.
        model = _fit_repeat(
            name, x_cal, t_x_cal, t_cal, policy, problems, " (holdout)", stop_on_runaway=True
        )
        if model is None:
            candidates[name] = {"mae": None, "problem": "; ".join(problems.problems)}
            continue
        predicted = model.predict_horizons([weeks], x_cal, t_x_cal, t_cal).expected(0)
        candidates[name] = {
            "mae": float(np.mean(np.abs(predicted - actual))),
            "predicted_total": float(predicted.sum()),
        }
    choice["candidates"] = candidates
    choice["customers"] = len(actual)
    choice["actual_total"] = float(actual.sum())
    scored = {n: c["mae"] for n, c in candidates.items() if c["mae"] is not None}
    if not scored:
        choice["chosen"] = FALLBACK_MODEL
        choice["reason"] = f"no candidate could be fitted on the holdout: {FALLBACK_MODEL} used"
        return FALLBACK_MODEL
    best = min(scored, key=lambda n: scored[n])
    others = ", ".join(f"{n} {v:.4f}" for n, v in scored.items() if n != best)
    unfit = [n for n in candidates if n not in scored]
    choice["chosen"] = best
    choice["reason"] = (
        f"{best} predicted each customer's repeat purchases in the last {days} days best: "
        f"mean absolute error {scored[best]:.4f} per customer"
        + (f" against {others}" if others else "")
        + f" ({len(actual)} customers"
        + (f", a random sample of the {compared}" if compared > len(actual) else "")
        + f", {actual.sum():.0f} repeat purchases really made)"
        + (f"; {', '.join(unfit)} not compared (no usable fit on the holdout)" if unfit else "")
    )
    choice["seconds"] = round(time.perf_counter() - started, 3)
    return best


def bgbb_summaries(
    features: pd.DataFrame, as_of: Any, days: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, t_x, n) in purchase opportunities of ``days`` each, counted from the first.

    The features keep counts and first and last dates, not which opportunities had a
    purchase: repeat purchases are taken as one per opportunity, capped at the
    opportunity of the last one (exact where customers can buy once per opportunity, the
    case BG/BB is for).
    """
    first = pd.to_datetime(features["first_order_date"])
    last = pd.to_datetime(features["last_order_date"])
    t_x = np.floor((last - first).dt.days.to_numpy(dtype=np.float64) / days)
    n = np.floor((pd.Timestamp(as_of) - first).dt.days.to_numpy(dtype=np.float64) / days)
    n = np.maximum(n, t_x)
    repeats = (features["purchases"].to_numpy(dtype=np.float64) - 1.0).clip(min=0.0)
    x = np.minimum(repeats, t_x)
    t_x = np.where(x > 0, t_x, 0.0)
    return x, t_x, n


def _predict_bgbb(
    features: pd.DataFrame, as_of: Any, policy: Policy, out: pd.DataFrame, report: ModelReport
) -> tuple[pd.DataFrame, ModelReport]:
    """The BG/BB path: P(alive) at the next opportunity, expected purchases and value."""
    days = policy.models.opportunity_days
    x, t_x, n = bgbb_summaries(features, as_of, days)
    model = BetaGeoBetaBinomModel(penalizer=policy.models.penalizer)
    if not _fitted(model, (x, t_x, n), "bg_bb", report):
        return out, report
    report.fitted = True
    report.params = {str(k): float(v) for k, v in model.params_.items()}
    report.log_likelihood = float(model.log_likelihood_)
    report.choice = {"opportunity_days": days}
    alpha, beta = report.params["alpha"], report.params["beta"]
    out["p_alive"] = model.conditional_probability_alive(x, t_x, n)
    window = policy.lapse.expected_purchases_days / days
    out["expected_purchases"] = model.conditional_expected_purchases(window, x, t_x, n)
    # Value: the spend of a purchase (mean so far) on each future opportunity's expected
    # purchases, discounted month by month over the horizon.
    w = policy.worth
    revenue = features["revenue"].to_numpy(dtype=np.float64)
    spend = revenue / features["purchases"].to_numpy(dtype=np.float64).clip(min=1.0)
    margin_rate = np.divide(
        features["margin_past_years"].to_numpy(dtype=np.float64),
        revenue,
        out=np.full(len(x), w.default_margin_rate),
        where=revenue > 0,
    ).clip(0.0, 1.0)
    months_per_opportunity = days / (WEEKS_PER_MONTH * 7.0)
    steps = max(1, int(np.ceil(w.horizon_months / months_per_opportunity - 1e-9)))
    monthly = (1.0 + w.yearly_discount_rate) ** (1.0 / 12.0)
    value = np.zeros(len(x))
    previous = np.zeros(len(x))
    for k in range(1, steps + 1):
        periods = min(k, w.horizon_months / months_per_opportunity)
        cumulative = model.conditional_expected_purchases(periods, x, t_x, n)
        value += (cumulative - previous) / monthly ** (k * months_per_opportunity)
        previous = cumulative
    out["predicted_value"] = value * spend * margin_rate
    # A purchase is expected every 1/E[p] opportunities while active.
    gap_days = days * (alpha + beta + n) / (alpha + x)
    first = pd.to_datetime(features["first_order_date"])
    last = pd.to_datetime(features["last_order_date"])
    since_first = (last - first).dt.days.to_numpy(dtype=np.float64)
    silent = (pd.Timestamp(as_of) - last).dt.days.to_numpy(dtype=np.float64)
    out["overdue_ratio"] = silent / gap_days
    out["due_days"] = since_first + gap_days
    return out, report


def _value(
    features: pd.DataFrame,
    x: np.ndarray,
    purchases: np.ndarray,
    policy: Policy,
    report: ModelReport,
) -> np.ndarray:
    """Margin the customer is expected to bring over the horizon, as things stand, from
    their discounted expected purchases over it."""
    revenue = features["revenue"].to_numpy(dtype=np.float64)
    first_day = features["first_day_revenue"].to_numpy(dtype=np.float64)
    repeat_mean = np.divide(revenue - first_day, x, out=np.zeros_like(x), where=x > 0)
    repeaters = (x > 0) & (repeat_mean > 0)
    spend = np.where(x > 0, repeat_mean, revenue)  # a one-time buyer: the one value we know
    if repeaters.sum() >= 10:
        gamma_gamma = GammaGammaModel(penalizer=policy.models.penalizer)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DegenerateFitWarning)
                gamma_gamma.fit(x[repeaters], repeat_mean[repeaters])
            spend = gamma_gamma.conditional_expected_average_value(
                x, np.where(repeaters, repeat_mean, 0.0)
            )
            report.spend_params = {str(k): float(v) for k, v in gamma_gamma.params_.items()}
        except ModelError as exc:
            report.problems.append(f"gamma-gamma fit failed, mean spend used: {exc}")
    w = policy.worth
    margin_rate = np.divide(
        features["margin_past_years"].to_numpy(dtype=np.float64),
        features["revenue"].to_numpy(dtype=np.float64),
        out=np.full(len(x), w.default_margin_rate),
        where=features["revenue"].to_numpy(dtype=np.float64) > 0,
    ).clip(0.0, 1.0)
    return np.asarray(purchases * spend * margin_rate, dtype=np.float64)


def _monthly_rate(policy: Policy) -> float:
    return float((1.0 + policy.worth.yearly_discount_rate) ** (1.0 / 12.0) - 1.0)
