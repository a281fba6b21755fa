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
from winback.policy import Policy

DAYS_PER_MONTH = 30.44


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

#: Late payments (paid after the due date, or still unpaid past it) within this many days
#: before the scan count toward a subscriber's payment trouble.
LATE_WINDOW_DAYS = 180
#: A running contract started this recently at a lower monthly price than the contract
#: before it is a downgrade.
DOWNGRADE_WINDOW_DAYS = 365


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


def _payments(con: Any, as_of: date) -> pd.DataFrame:
    """Per customer: invoices past due and unpaid at ``as_of``, and late payments (paid after
    the due date, or overdue and unpaid) due within ``LATE_WINDOW_DAYS`` before it."""
    cut = ibis.date(as_of)
    start = ibis.date(as_of - timedelta(days=LATE_WINDOW_DAYS))
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
) -> pd.DataFrame:
    """Per subscriber with a contract running at ``as_of``: where the contract stands.

    Columns: ``customer_id``, ``term_ends_on`` (the nearest end of a running term: the
    renewal ahead), ``days_to_renewal``, ``unpaid_invoices`` (past due, unpaid),
    ``late_payments`` and ``first_late_due`` (within ``LATE_WINDOW_DAYS``), ``downgraded``
    (a running contract started within ``DOWNGRADE_WINDOW_DAYS`` at a lower monthly price
    than the customer's contract before it), ``tenure_months`` and ``p_leave``: the sBG's
    probability that the subscriber does not stay ``horizon_days`` longer, given the months
    they have stayed (NaN without a fitted model).
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
    recent = (cut_ts - live["started_on"]).dt.days <= DOWNGRADE_WINDOW_DAYS
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
    pay = _payments(con, as_of)
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


def _contract_reasons(row: Any, horizon_days: int) -> list[str]:
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
        said.append(f"P(leaving within {horizon_days} days) {row.p_leave:.2f} (sBG)")
    return said


def apply_contracts(
    features: pd.DataFrame, lapse: pd.DataFrame, standing: pd.DataFrame, horizon_days: int
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """The statuses and risk of subscribers with a running contract, judged by the contract.

    A contract that runs with no invoice past due and unpaid, and no downgrade, makes its
    customer ``active`` whatever the gaps between orders; one with a payment outstanding or
    downgraded is ``slipping``, with the contract's reasons (late payments and the renewal
    ahead among them). Never lapsed or lost while a contract runs.
    Where ``features`` has ``lapse_risk``, a covered subscriber's becomes the sBG's
    P(not staying the horizon). Customers without a running contract are left as they
    are. Returns corrected copies of both frames and counts for the run.
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
            reasons[i] = _contract_reasons(row, horizon_days) if bad else []
        lapse["reasons"] = pd.Series(reasons, index=lapse.index, dtype=object)
    if "lapse_risk" in features:
        risk = features["lapse_risk"].to_numpy(dtype=float).copy()
        leave = picked["p_leave"].to_numpy(dtype=float)
        risk[rows] = np.where(np.isnan(leave), risk[rows], leave)
        features["lapse_risk"] = risk
    return features, lapse, report
