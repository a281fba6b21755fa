"""Subscriptions in the scan: cancellations as lapses, and sBG for what a subscriber is worth.

For a business that sells contracts that renew, a cancellation is an explicit lapse, and
the value of a subscriber is the price of a period times the expected number of further
(discounted) renewals. The scan fits the shifted-beta-geometric model (Fader & Hardie
2007) on every contract in the ledger, each observed for its own time: churned in period
t, or still active after t completed periods.
"""

from __future__ import annotations

import warnings
from datetime import date
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
