"""Subscriptions in the scan: cancellations as lapses, sBG for a subscriber's value."""

from __future__ import annotations

import numpy as np
import pytest

from winback.ledger.contract import TABLES
from winback.ledger.importer import import_file
from winback.ledger.store import Ledger
from winback.policy import Policy
from winback.scan.pipeline import run_scan
from winback.scan.subscriptions import DAYS_PER_MONTH, subscription_features
from winback.simulate.run import simulate


@pytest.fixture(scope="module")
def subscription_run(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("subs")
    simulate("subscription", 800, 30, 4, tmp / "sim", "parquet")
    ledger = Ledger(tmp / "ledger")
    for name in TABLES:
        for path in (tmp / "sim").glob(f"{name}.*"):
            import_file(ledger, name, path, rejects_dir=tmp / "rejects")
    return ledger, run_scan(ledger, tmp / "runs", Policy())


def test_cancelled_subscribers_are_lapsed_with_the_date(subscription_run) -> None:  # type: ignore[no-untyped-def]
    ledger, run = subscription_run
    rows = run.customers().to_pandas().set_index("customer_id")
    subs = subscription_features(ledger.ibis(), run.as_of).set_index("customer_id")
    cancelled = subs[(subs.active_contracts == 0) & subs.last_cancelled_on.notna()].index
    cancelled = cancelled.intersection(rows.index)
    assert len(cancelled) > 20
    assert rows.loc[cancelled, "status"].isin(["lapsed", "lost"]).all()
    # Every one of them is told the cancellation and its date, however many drivers fired.
    for some in cancelled:
        day = subs.loc[some, "last_cancelled_on"]
        assert any(
            r.startswith(f"cancelled the subscription on {day:%Y-%m-%d}")
            for r in rows.loc[some, "reasons"]
        ), (some, list(rows.loc[some, "reasons"]))


def test_subscriber_value_is_price_times_discounted_remaining_lifetime(subscription_run) -> None:  # type: ignore[no-untyped-def]
    ledger, run = subscription_run
    retention = run.info.models["retention"]
    assert "params" in retention, retention
    rows = run.customers().to_pandas().set_index("customer_id")
    subs = subscription_features(ledger.ibis(), run.as_of).set_index("customer_id")
    active = subs[subs.active_contracts > 0].index.intersection(rows.index)
    one = active[0]
    months = np.floor(subs.loc[one, "subscribed_days"] / DAYS_PER_MONTH)
    monthly_rate = 1.10 ** (1 / 12) - 1
    alpha, beta = retention["params"]["alpha"], retention["params"]["beta"]
    # DERL = (b+n)/(a+b+n) * 2F1(1, b+n+1; a+b+n+1; 1/(1+d)), Fader & Hardie (2010)
    from scipy.special import hyp2f1

    derl = (
        (beta + months)
        / (alpha + beta + months)
        * hyp2f1(1, beta + months + 1, alpha + beta + months + 1, 1 / (1 + monthly_rate))
    )
    expected = subs.loc[one, "monthly_price"] * derl * 0.3
    assert rows.loc[one, "predicted_value"] == pytest.approx(expected, rel=1e-6)
