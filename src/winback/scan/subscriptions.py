"""Subscriptions in the scan: cancellations as lapses, and sBG for what a subscriber is worth.

For a business that sells contracts that renew, a cancellation is an explicit lapse, and
the value of a subscriber is the price of a period times the expected number of further
(discounted) renewals. The scan fits the shifted-beta-geometric model (Fader & Hardie
2007) on every contract in the ledger, each observed for its own time: churned in period
t, or still active after t completed periods.
"""

from __future__ import annotations

import warnings
from datetime import date, timedelta
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from winback.errors import DegenerateFitWarning, ModelError
from winback.models import ShiftedBetaGeometricModel
from winback.policy import Contracts, Policy

DAYS_PER_MONTH = 30.44
_DEFAULT_RULES = Contracts()  # type: ignore[call-arg]


def contract_rows(subscriptions: ir.Table, as_of: date) -> ir.Table:
    """One row per contract started by ``as_of``: months observed, whether it ended."""
    cut = ibis.date(as_of)
    s = subscriptions.filter(subscriptions.started_on <= cut)
    ended = s.ended_on.notnull() & (s.ended_on <= cut)
    until = ibis.ifelse(ended, s.ended_on, cut)
    return s.select(
        "customer_id",
        "cancel_reason",
        "ended_on",
        ended=ended,
        days=until.delta(s.started_on, unit="day"),
        period_months=s.period_months.fill_null(1),
        price=s.price.cast("float64"),
    )


def subscription_features(con: Any, as_of: date) -> pd.DataFrame:
    """Per customer: active contracts, their price per month, and the latest cancellation."""
    rows = contract_rows(con.table("subscriptions"), as_of)
    per = rows.group_by("customer_id").aggregate(
        contracts=rows.count(),
        active_contracts=ibis.ifelse(rows.ended, 0, 1).sum(),
        monthly_price=ibis.ifelse(rows.ended, 0.0, rows.price / rows.period_months).sum(),
        subscribed_days=ibis.ifelse(rows.ended, 0, rows.days).max(),
        last_cancelled_on=ibis.ifelse(rows.ended, rows.ended_on, ibis.null()).max(),
        last_cancel_reason=ibis.ifelse(rows.ended, rows.cancel_reason, ibis.null()).argmax(
            ibis.ifelse(rows.ended, rows.ended_on, ibis.null())
        ),
    )
    frame: pd.DataFrame = per.to_pandas()
    return frame


def fit_retention(
    con: Any, as_of: date, policy: Policy
) -> tuple[ShiftedBetaGeometricModel | None, dict[str, Any]]:
    """The sBG on every contract (monthly periods), or None with the reason."""
    contracts = contract_rows(con.table("subscriptions"), as_of).to_pandas()
    report: dict[str, Any] = {"contracts": len(contracts)}
    if contracts.empty or not contracts["ended"].any():
        report["problem"] = "no contract has ended yet: churn cannot be estimated"
        return None, report
    # Retention is modelled month by month for every contract, yearly ones included, so
    # that one model (and one monthly discount rate) serves the whole base.
    months = contracts["days"].to_numpy(dtype=np.float64) / DAYS_PER_MONTH
    ended = contracts["ended"].to_numpy(dtype=bool)
    periods = np.where(ended, np.maximum(1.0, np.ceil(months - 1e-9)), np.floor(months))
    model = None
    # The likelihood is nearly flat when churn is much the same for everyone (a ridge
    # along which alpha and beta run off together); a small penalty then keeps them
    # finite, and the run says it was used.
    for penalizer in dict.fromkeys((policy.models.penalizer, 0.01)):
        candidate = ShiftedBetaGeometricModel(penalizer=penalizer)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", DegenerateFitWarning)
                candidate.fit_contracts(periods, ended)
        except ModelError as exc:
            report["problem"] = f"sBG fit failed with penalizer {penalizer}: {exc}"
            continue
        ridge = [str(w.message) for w in caught if issubclass(w.category, DegenerateFitWarning)]
        if ridge:
            report["problem"] = f"sBG with penalizer {penalizer}: " + "; ".join(ridge)
            continue
        model = candidate
        report["penalizer"] = penalizer
        report.pop("problem", None)
        break
    if model is None:
        return None, report
    report["params"] = {str(k): float(v) for k, v in model.params_.items()}
    return model, report


def subscriber_value(
    features: pd.DataFrame, model: ShiftedBetaGeometricModel, policy: Policy
) -> np.ndarray:
    """Discounted margin a subscriber's active contracts are expected to bring (NaN for
    customers with no active contract)."""
    monthly = pd.to_numeric(features["monthly_price"], errors="coerce").to_numpy(dtype=float)
    active = pd.to_numeric(features["active_contracts"], errors="coerce").fillna(0).to_numpy()
    days = pd.to_numeric(features["subscribed_days"], errors="coerce").fillna(0)
    tenure_months = days.to_numpy(dtype=float) / DAYS_PER_MONTH
    monthly_rate = (1 + policy.worth.yearly_discount_rate) ** (1 / 12) - 1
    derl = model.discounted_expected_residual_lifetime(np.floor(tenure_months), monthly_rate)
    rate = policy.worth.default_margin_rate
    return np.where(active > 0, monthly * derl * rate, np.nan)


# --- the contract's standing at the scan date --------------------------------------------

# The windows (late payments, downgrades) are the policy's [contracts] keys.


def _add_months(start: pd.Series, months: np.ndarray) -> pd.Series:
    """``start`` plus whole calendar months, the day clipped to the month's length."""
    day = start.dt.day.to_numpy()
    month = start.to_numpy().astype("datetime64[M]") + months.astype("timedelta64[M]")
    last_day = (
        (month + np.timedelta64(1, "M")).astype("datetime64[D]") - month.astype("datetime64[D]")
    ).astype(np.int64)
    days = np.minimum(day, last_day) - 1
    return pd.Series(
        month.astype("datetime64[D]") + days.astype("timedelta64[D]"), index=start.index
    )


def _term_ends(started: pd.Series, period: np.ndarray, as_of: date) -> pd.Series:
    """The end of each running contract's current term: the first renewal after ``as_of``."""
    cut = pd.Timestamp(as_of)
    months = (cut.year - started.dt.year) * 12 + (cut.month - started.dt.month)
    months = months - (started.dt.day > cut.day).astype(np.int64)
    periods = np.maximum(months.to_numpy(), 0) // period + 1
    return _add_months(started, periods * period)


def _payments(con: Any, as_of: date, late_window_days: int) -> pd.DataFrame:
    """Per customer: invoices past due and unpaid at ``as_of``, and late payments (paid after
    the due date, or overdue and unpaid) due within ``late_window_days`` before it."""
    cut = ibis.date(as_of)
    start = ibis.date(as_of - timedelta(days=late_window_days))
    inv = con.table("invoices")
    inv = inv.filter((inv.issued_on <= cut) & (inv.due_on < cut))
    unpaid = inv.paid_on.isnull() | (inv.paid_on > cut)
    late = (unpaid | (inv.paid_on > inv.due_on)) & (inv.due_on >= start)
    per = inv.group_by("customer_id").aggregate(
        unpaid_invoices=ibis.ifelse(unpaid, 1, 0).sum(),
        late_payments=ibis.ifelse(late, 1, 0).sum(),
        first_late_due=ibis.ifelse(late, inv.due_on, ibis.null()).min(),
    )
    frame: pd.DataFrame = per.filter(per.late_payments + per.unpaid_invoices > 0).to_pandas()
    return frame


def contract_standing(
    con: Any,
    as_of: date,
    model: ShiftedBetaGeometricModel | None,
    horizon_days: int,
    *,
    rules: Contracts = _DEFAULT_RULES,
) -> pd.DataFrame:
    """Per subscriber with a contract running at ``as_of``: where the contract stands.

    Columns: ``customer_id``, ``term_ends_on`` (the nearest end of a running term: the
    renewal ahead), ``days_to_renewal``, ``unpaid_invoices`` (past due, unpaid),
    ``late_payments`` and ``first_late_due`` (within ``rules.late_window_days``),
    ``downgraded`` (a running contract started within ``rules.downgrade_window_days`` at a
    lower monthly price than the customer's contract before it), ``tenure_months`` and
    ``p_leave``: the sBG's probability that the subscriber does not stay ``horizon_days``
    longer, given the months they have stayed (NaN without a fitted model).
    """
    subs = con.table("subscriptions")
    started = subs.filter(subs.started_on <= ibis.date(as_of))
    contracts = started.select(
        "customer_id", "started_on", "ended_on", "period_months", "price"
    ).to_pandas()
    if contracts.empty:
        return pd.DataFrame(columns=list(STANDING_COLUMNS))
    contracts["started_on"] = pd.to_datetime(contracts["started_on"])
    contracts["ended_on"] = pd.to_datetime(contracts["ended_on"])
    contracts["period_months"] = (
        pd.to_numeric(contracts["period_months"], errors="coerce").fillna(1).astype(np.int64)
    )
    contracts["monthly"] = pd.to_numeric(contracts["price"], errors="coerce").astype(
        "float64"
    ) / contracts["period_months"].clip(lower=1)
    cut_ts = pd.Timestamp(as_of)
    running = contracts["ended_on"].isna() | (contracts["ended_on"] > cut_ts)
    live = contracts[running].copy()
    if live.empty:
        return pd.DataFrame(columns=list(STANDING_COLUMNS))
    live["term_ends_on"] = _term_ends(
        live["started_on"], live["period_months"].to_numpy(), as_of
    ).to_numpy()
    live["tenure_days"] = (cut_ts - live["started_on"]).dt.days

    # A downgrade: the running contract is priced below the customer's previous one.
    before = contracts[~running].sort_values("ended_on")
    previous = before.groupby("customer_id", sort=False)["monthly"].last()
    live["previous_monthly"] = live["customer_id"].map(previous)
    recent = (cut_ts - live["started_on"]).dt.days <= rules.downgrade_window_days
    live["downgraded"] = recent & (live["monthly"] < live["previous_monthly"] - 0.005)

    per = live.groupby("customer_id", sort=False).agg(
        term_ends_on=("term_ends_on", "min"),
        tenure_days=("tenure_days", "max"),
        monthly_price=("monthly", "sum"),
        previous_monthly=("previous_monthly", "max"),
        downgraded=("downgraded", "any"),
    )
    per = per.reset_index()
    per["days_to_renewal"] = (pd.to_datetime(per["term_ends_on"]) - cut_ts).dt.days
    per["tenure_months"] = per["tenure_days"] / DAYS_PER_MONTH
    pay = _payments(con, as_of, rules.late_window_days)
    per = per.merge(pay, on="customer_id", how="left")
    per["unpaid_invoices"] = per["unpaid_invoices"].fillna(0).astype(np.int64)
    per["late_payments"] = per["late_payments"].fillna(0).astype(np.int64)
    per["first_late_due"] = pd.to_datetime(per["first_late_due"])
    per["p_leave"] = np.nan
    if model is not None:
        t = per["tenure_months"].to_numpy(dtype=float)
        ahead = horizon_days / DAYS_PER_MONTH
        stay = model.survival(t + ahead) / np.maximum(model.survival(t), 1e-300)
        per["p_leave"] = np.clip(1.0 - stay, 0.0, 1.0)
    out: pd.DataFrame = per[list(STANDING_COLUMNS)]
    return out


STANDING_COLUMNS = (
    "customer_id",
    "term_ends_on",
    "days_to_renewal",
    "tenure_months",
    "monthly_price",
    "previous_monthly",
    "downgraded",
    "unpaid_invoices",
    "late_payments",
    "first_late_due",
    "p_leave",
)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _contract_reasons(row: Any, horizon_days: int, source: str) -> list[str]:
    """Why a running contract is at risk, in words a rep reads to the customer's file."""
    said = []
    if row.unpaid_invoices > 0:
        said.append(f"{_plural(int(row.unpaid_invoices), 'unpaid invoice')} past due")
    if row.late_payments > 0:
        since = pd.Timestamp(row.first_late_due).strftime("%B %Y")
        said.append(f"{_plural(int(row.late_payments), 'late payment')} since {since}")
    if row.downgraded:
        said.append(
            f"downgraded from {row.previous_monthly:,.2f} to {row.monthly_price:,.2f} a month"
        )
    end = pd.Timestamp(row.term_ends_on).strftime("%Y-%m-%d")
    said.append(f"renewal in {int(row.days_to_renewal)} days ({end})")
    if not pd.isna(row.p_leave):
        said.append(f"P(leaving within {horizon_days} days) {row.p_leave:.2f} ({source})")
    return said


def apply_contracts(
    features: pd.DataFrame,
    lapse: pd.DataFrame,
    standing: pd.DataFrame,
    horizon_days: int,
    source: str = "sBG",
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """The statuses and risk of subscribers with a running contract, judged by the contract.

    A contract that runs with no invoice past due and unpaid, and no downgrade, makes its
    customer ``active`` whatever the gaps between orders; one with a payment outstanding or
    downgraded is ``slipping``, with the contract's reasons (late payments and the renewal
    ahead among them). Never lapsed or lost while a contract runs.
    Where ``features`` has ``lapse_risk``, a covered subscriber's becomes the standing's
    ``p_leave`` (P(not staying the horizon), from ``source``). Customers without a running
    contract are left as they are. Returns corrected copies of both frames and counts for the run.
    """
    features, lapse = features.copy(), lapse.copy()
    report: dict[str, Any] = {"covered": 0, "horizon_days": horizon_days}
    if standing.empty:
        return features, lapse, report
    by_id = standing.set_index("customer_id")
    where = (
        features["customer_id"]
        .astype(str)
        .map(pd.Series(np.arange(len(by_id)), index=by_id.index.astype(str)))
    )
    rows = np.flatnonzero(where.notna().to_numpy())
    if not len(rows):
        return features, lapse, report
    picked = by_id.iloc[where.iloc[rows].astype(np.int64).to_numpy()]
    trouble = (picked["unpaid_invoices"].to_numpy() > 0) | picked["downgraded"].to_numpy(dtype=bool)
    before = lapse["status"].iloc[rows].to_numpy()
    status = np.where(trouble, "slipping", "active")
    report |= {
        "covered": len(rows),
        "were_lapsed_or_worse": int(np.isin(before, ("lapsed", "lost")).sum()),
        "were_slipping": int((before == "slipping").sum()),
        "slipping_for_contract": int(trouble.sum()),
    }
    values = lapse["status"].to_numpy(dtype=object).copy()
    values[rows] = status
    lapse["status"] = pd.Series(values, index=lapse.index, dtype=object)
    if "reasons" in lapse:
        reasons = list(lapse["reasons"])
        for i, row, bad in zip(rows, picked.itertuples(), trouble, strict=True):
            reasons[i] = _contract_reasons(row, horizon_days, source) if bad else []
        lapse["reasons"] = pd.Series(reasons, index=lapse.index, dtype=object)
    if "lapse_risk" in features:
        risk = features["lapse_risk"].to_numpy(dtype=float).copy()
        leave = picked["p_leave"].to_numpy(dtype=float)
        risk[rows] = np.where(np.isnan(leave), risk[rows], leave)
        features["lapse_risk"] = risk
    return features, lapse, report


# --- the contract's risk, learned from the ledger's own history --------------------------

# How many past cutoffs it learns from, and how few leavers (or stayers) are too few: the
# policy's [contracts] keys.
RISK_INPUTS = (
    "log_tenure_months",
    "years_to_renewal",
    "owes",
    "late_payments",
    "downgraded",
    "incidents_90d",
    "worst_severity_180d",
    "unresolved_incidents",
)


def _incident_signals(con: Any, as_of: date) -> pd.DataFrame:
    """Per customer: incidents in the 90 days before ``as_of``, the worst severity in the
    180 days before it, and incidents still unresolved at it."""
    cut = ibis.date(as_of)
    inc = con.table("incidents")
    inc = inc.filter(
        (inc.occurred_on <= cut) & (inc.occurred_on > cut.sub(ibis.interval(days=180)))
    )
    recent = inc.occurred_on > cut.sub(ibis.interval(days=90))
    open_ = inc.resolved_on.isnull() | (inc.resolved_on > cut)
    per = inc.group_by("customer_id").aggregate(
        incidents_90d=ibis.ifelse(recent, 1, 0).sum(),
        worst_severity_180d=inc.severity.fill_null(3).max(),
        unresolved_incidents=ibis.ifelse(open_, 1, 0).sum(),
    )
    frame: pd.DataFrame = per.to_pandas()
    return frame


def _risk_inputs(con: Any, as_of: date, horizon_days: int, rules: Contracts) -> pd.DataFrame:
    """The contract-risk model's inputs for every subscriber with a running contract."""
    standing = contract_standing(con, as_of, None, horizon_days, rules=rules)
    if standing.empty:
        return pd.DataFrame(columns=["customer_id", *RISK_INPUTS])
    frame = standing.merge(_incident_signals(con, as_of), on="customer_id", how="left")
    out = pd.DataFrame({"customer_id": frame["customer_id"].astype(str)})
    out["log_tenure_months"] = np.log1p(frame["tenure_months"].astype(float).clip(lower=0))
    out["years_to_renewal"] = frame["days_to_renewal"].astype(float).clip(0, 400) / 365.25
    out["owes"] = (frame["unpaid_invoices"] > 0).astype(float)
    out["late_payments"] = frame["late_payments"].astype(float)
    out["downgraded"] = frame["downgraded"].astype(float)
    for name in ("incidents_90d", "worst_severity_180d", "unresolved_incidents"):
        out[name] = pd.to_numeric(frame[name], errors="coerce").fillna(0).astype(float)
    return out


def contract_risk(
    con: Any,
    as_of: date,
    horizon_days: int,
    sbg_leave: pd.Series,
    *,
    rules: Contracts = _DEFAULT_RULES,
) -> tuple[pd.Series, dict[str, Any]]:
    """Each covered subscriber's probability that no contract of theirs runs ``horizon_days``
    on, learned from the ledger's own history, and how well that did.

    At ``rules.risk_cutoffs`` past cutoffs one horizon apart (the newest ``as_of - horizon``),
    every subscriber with a running contract is labelled by whether one still ran a
    horizon later. A logistic regression on the contract's standing (tenure, the renewal
    ahead, payments past due and late, a downgrade) and recent incidents is trained on the
    older cutoffs and graded on the newest (out of time), beside the sBG's figure for the
    same subscribers; then refitted on every cutoff and applied at ``as_of``. Too few
    leavers or stayers to learn from: the sBG's figure (``sbg_leave``, by customer id)
    stands, and the report says why.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    report: dict[str, Any] = {"model": "sbg"}
    frames, labels = [], []
    for k in range(rules.risk_cutoffs, 0, -1):
        cutoff = as_of - timedelta(days=horizon_days * k)
        at = _risk_inputs(con, cutoff, horizon_days, rules)
        later = contract_standing(
            con, cutoff + timedelta(days=horizon_days), None, horizon_days, rules=rules
        )
        running = set(later["customer_id"].astype(str))
        frames.append(at.assign(_cutoff=k))
        labels.append((~at["customer_id"].isin(running)).to_numpy(dtype=int))
    data = pd.concat(frames, ignore_index=True)
    y = np.concatenate(labels)
    report["rows"], report["left"] = len(y), int(y.sum())
    newest = (data["_cutoff"] == 1).to_numpy()
    if (
        min(y.sum(), len(y) - y.sum()) < rules.risk_min_class
        or min(y[newest].sum(), (~newest).sum()) == 0
    ):
        report["problem"] = (
            f"too few subscribers left or stayed over {rules.risk_cutoffs} cutoffs to learn from "
            f"({int(y.sum())} of {len(y)} left): the sBG's figure stands"
        )
        return sbg_leave, report
    x = data[list(RISK_INPUTS)].to_numpy(dtype=float)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale

    def fitted(rows: np.ndarray) -> LogisticRegression:
        return LogisticRegression(C=1.0, max_iter=1000).fit(z[rows], y[rows])

    graded: dict[str, Any] = {"cutoff": (as_of - timedelta(days=horizon_days)).isoformat()}
    if y[~newest].min() != y[~newest].max() and y[newest].min() != y[newest].max():
        p = fitted(~newest).predict_proba(z[newest])[:, 1]
        tenure = data.loc[newest, "log_tenure_months"].to_numpy()
        graded |= {
            "subscribers": int(newest.sum()),
            "left": int(y[newest].sum()),
            "auc": round(float(roc_auc_score(y[newest], p)), 4),
            # The sBG ranks by tenure alone (longer stayers are likelier to stay).
            "auc_sbg": round(float(roc_auc_score(y[newest], -tenure)), 4),
            "brier": round(float(np.mean((p - y[newest]) ** 2)), 4),
            "brier_base_rate": round(float(y[newest].mean() * (1 - y[newest].mean())), 4),
        }
    model = fitted(np.ones(len(y), dtype=bool))
    now = _risk_inputs(con, as_of, horizon_days, rules)
    zn = (now[list(RISK_INPUTS)].to_numpy(dtype=float) - mean) / scale
    risk = pd.Series(model.predict_proba(zn)[:, 1], index=now["customer_id"].to_numpy())
    if "auc" in graded and graded["auc"] <= graded["auc_sbg"]:
        report |= {
            "graded": graded,
            "problem": "the learned model ranked the newest cutoff no better than the sBG: "
            "the sBG's figure stands",
        }
        return sbg_leave, report
    report |= {
        "model": "logistic",
        "graded": graded,
        "weights": {
            name: round(float(w), 4) for name, w in zip(RISK_INPUTS, model.coef_[0], strict=True)
        },
    }
    return risk, report


def judge_contracts(
    con: Any,
    features: pd.DataFrame,
    lapse: pd.DataFrame,
    as_of: date,
    sbg: ShiftedBetaGeometricModel | None,
    horizon_days: int,
    *,
    rules: Contracts = _DEFAULT_RULES,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """The scan's contract step: the standing of every running contract, its risk (learned
    from the ledger's history when that earns its place, else the sBG's), and the statuses
    and ``lapse_risk`` of covered subscribers set from them (:func:`apply_contracts`)."""
    standing = contract_standing(con, as_of, sbg, horizon_days, rules=rules)
    sbg_leave = pd.Series(
        standing["p_leave"].to_numpy(dtype=float), index=standing["customer_id"].astype(str)
    )
    risk, risk_report = contract_risk(con, as_of, horizon_days, sbg_leave, rules=rules)
    source = "contract history" if risk_report["model"] == "logistic" else "sBG"
    standing["p_leave"] = standing["customer_id"].astype(str).map(risk).to_numpy(dtype=float)
    features, lapse, report = apply_contracts(features, lapse, standing, horizon_days, source)
    return features, lapse, report | {"risk": risk_report}
