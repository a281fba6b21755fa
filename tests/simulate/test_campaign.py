"""The simulated business answers a campaign: who returns, the orders they place, the codes
they use, and the true lift a measured one is graded by."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from winback.errors import SettingsError
from winback.ledger.contract import TABLES
from winback.ledger.importer import import_file
from winback.ledger.store import Ledger
from winback.simulate.campaign import answer_campaign, redeemed
from winback.simulate.run import simulate
from winback.simulate.settings import settings_for
from winback.simulate.world import generate
from winback.simulate.writer import TRUTH_DIR, TRUTH_FILE

START = dt.date(2026, 7, 1)


@pytest.fixture(scope="module")
def lapsed() -> pa.Table:
    truth = generate(settings_for("retail", customers=6000, months=24, seed=21))["truth"]
    return truth.filter(truth.column("lapsed"))


def campaign(lapsed: pa.Table, seed: int = 1, size: int = 1000) -> dict[str, object]:
    ids = lapsed.column("customer_id").to_pylist()[:size]
    holdout = np.arange(size) % 10 == 0
    offers = ["coupon" if i % 2 else "guarantee" for i in range(size)]
    codes = [f"WB{i:05d}" for i in range(size)]
    return {
        "truth": lapsed,
        "audience": ids,
        "holdout": holdout,
        "offers": offers,
        "start": START,
        "days": 60,
        "seed": seed,
        "codes": codes,
    }


def test_returners_order_in_the_window_and_only_the_treated_use_their_codes(
    lapsed: pa.Table,
) -> None:
    spec = campaign(lapsed)
    outcome = answer_campaign(**spec)
    orders = outcome.orders.to_pandas()
    audience = np.array(spec["audience"])
    holdout = np.asarray(spec["holdout"])
    assert set(orders["customer_id"]) == set(audience[outcome.came_back])
    assert orders["order_id"].is_unique
    dates = orders["order_date"].to_numpy(dtype="datetime64[D]")
    assert dates.min() >= np.datetime64(START)
    assert dates.max() < np.datetime64(START) + 60
    assert (orders["status"] == "completed").all()
    # A code is used once, by the member it was given to, who was treated and came back.
    used = orders.dropna(subset=["discount_code"])
    assert used["discount_code"].is_unique
    owner = {f"WB{i:05d}": cid for i, cid in enumerate(audience)}
    assert (used["customer_id"] == used["discount_code"].map(owner)).all()
    assert not set(used["customer_id"]) & set(audience[holdout])
    back_treated = outcome.came_back & ~holdout
    # About nine in ten treated returners redeem (redeem_share=0.9): a binomial check.
    share = len(used) / back_treated.sum()
    assert abs(share - 0.9) < 4 * np.sqrt(0.09 / back_treated.sum())
    assert redeemed(outcome).num_rows == len(used)
    # Revenue per member is what their orders add up to.
    per_member = orders.groupby("customer_id")["amount"].sum().astype(float)
    got = dict(zip(audience, outcome.revenue, strict=True))
    assert all(abs(got[c] - v) < 1e-6 for c, v in per_member.items())


def test_the_true_lift_is_the_treated_members_expected_rise(lapsed: pa.Table) -> None:
    spec = campaign(lapsed)
    outcome = answer_campaign(**spec)
    rows = lapsed.slice(0, 1000).to_pandas()
    treated = ~np.asarray(spec["holdout"])
    offer_p = np.where(
        np.arange(1000) % 2 == 1, rows["p_return_coupon"], rows["p_return_guarantee"]
    )
    expected = (offer_p - rows["p_return_baseline"].to_numpy())[treated].mean()
    assert outcome.true_lift == pytest.approx(expected)
    assert outcome.treated.tolist() == treated.tolist()
    assert (outcome.true_uplift[~treated] == 0).all()


def test_returns_and_revenue_follow_the_truth_on_average(lapsed: pa.Table) -> None:
    size = lapsed.num_rows
    rates, rises, truths = [], [], []
    for seed in range(40):
        spec = campaign(lapsed, seed=seed, size=size)
        outcome = answer_campaign(**spec)
        holdout = np.asarray(spec["holdout"])
        rates.append(outcome.came_back[~holdout].mean())
        rises.append(outcome.revenue[~holdout].mean() - outcome.revenue[holdout].mean())
        truths.append(outcome.true_revenue_lift)
    rows = lapsed.to_pandas()
    treated = np.arange(size) % 10 != 0
    offer_p = np.where(
        np.arange(size) % 2 == 1, rows["p_return_coupon"], rows["p_return_guarantee"]
    )
    expected_rate = offer_p[treated].mean()
    se = np.sqrt(expected_rate * (1 - expected_rate) / treated.sum() / 40)
    assert abs(np.mean(rates) - expected_rate) < 4 * se
    # The measured rise in revenue per member averages out to the true one.
    spread = np.std(rises, ddof=1) / np.sqrt(len(rises))
    assert abs(np.mean(rises) - truths[0]) < 4 * spread
    assert truths[0] > 0


def test_a_campaign_answers_the_same_for_a_seed(lapsed: pa.Table) -> None:
    first = answer_campaign(**campaign(lapsed, seed=3))
    again = answer_campaign(**campaign(lapsed, seed=3))
    other = answer_campaign(**campaign(lapsed, seed=4))
    assert first.orders.equals(again.orders)
    assert np.array_equal(first.came_back, again.came_back)
    assert not np.array_equal(first.came_back, other.came_back)


def test_a_campaign_the_business_cannot_answer_is_refused(lapsed: pa.Table) -> None:
    spec = campaign(lapsed, size=10)
    with pytest.raises(SettingsError, match="not customers of this business: C99999999"):
        answer_campaign(**{**spec, "audience": [*spec["audience"][:9], "C99999999"]})
    with pytest.raises(SettingsError, match="one entry per member"):
        answer_campaign(**{**spec, "holdout": np.zeros(3, bool)})
    with pytest.raises(SettingsError, match="unknown offers"):
        answer_campaign(**{**spec, "offers": ["free_pony"] * 10})
    with pytest.raises(SettingsError, match="at least one day"):
        answer_campaign(**{**spec, "days": 0})


def test_campaign_orders_import_into_the_ledger_beside_the_business(tmp_path: Path) -> None:
    out = tmp_path / "sim"
    simulate("retail", 600, 18, 5, out, "csv")
    truth = pq.read_table(out / TRUTH_DIR / TRUTH_FILE)
    gone = truth.filter(truth.column("lapsed"))
    ids = gone.column("customer_id").to_pylist()
    outcome = answer_campaign(
        truth, ids, np.arange(len(ids)) % 10 == 0, ["coupon"] * len(ids), START, 60, seed=2,
        codes=[f"WB{i}" for i in range(len(ids))],
    )  # fmt: skip
    assert outcome.orders.num_rows > 0
    ledger = Ledger(tmp_path / "ledger")
    rejects = tmp_path / "rejects"
    import_file(ledger, "customers", out / "customers.csv", rejects_dir=rejects)
    import_file(ledger, "orders", out / "orders.csv", rejects_dir=rejects)
    result = import_file(
        ledger, "orders", outcome.write_orders(tmp_path / "campaign"), rejects_dir=rejects
    )
    assert result.rejected == 0, result.rejects[:3]
    assert result.stored == result.read == outcome.orders.num_rows
    # The code is stored once the contract knows the column (the campaigns work adds it).
    known = {c.name for c in TABLES["orders"].columns}
    assert set(result.ignored_columns) == {"discount_code"} - known
