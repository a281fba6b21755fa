"""The scan reads the incidents around each customer's last order, however long ago: what
most likely made them leave (the uplift model's best clue to who an offer brings back)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from winback.ledger.importer import import_file
from winback.ledger.store import Ledger
from winback.policy import Policy
from winback.scan.features import customer_features

AS_OF = date(2025, 6, 30)
FILES = {
    # a lapsed long ago (last order 2024-01-10), b recently, c never had an incident, d's
    # only order after the scan date does not count.
    "orders": "order_id,customer_id,order_date,amount\n"
    "o1,a,2023-11-01,100\no2,a,2024-01-10,100\no3,b,2025-05-01,100\no4,c,2025-01-05,100\n"
    "o5,d,2025-01-05,100\no6,d,2025-07-05,100\n",
    "incidents": "incident_id,customer_id,occurred_on,type,severity\n"
    # a: a price rise 20 days before the last order, a competitor's offer 10 days after it,
    # and a late delivery 200 days before it (too early to count).
    "i1,a,2023-12-21,price_rise,2\ni2,a,2024-01-20,competitor_offer,2\n"
    "i3,a,2023-06-24,late_delivery,3\n"
    # b: a wrong item 40 days after the last order (too late), a quality problem on it.
    "i4,b,2025-06-10,wrong_item,2\ni5,b,2025-05-01,quality_problem,3\n"
    # d: an incident after the scan date is not seen.
    "i6,d,2025-07-06,outage,2\n",
}


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    made = Ledger(tmp_path / "ledger")
    for table, text in FILES.items():
        path = tmp_path / f"{table}.csv"
        path.write_text(text, encoding="utf-8")
        done = import_file(made, table, path, rejects_dir=tmp_path / "rejects")
        assert done.rejected == 0
    return made


def test_incidents_near_the_last_order_are_counted_with_the_latest_type(ledger: Ledger) -> None:
    f = customer_features(ledger.ibis(), AS_OF, Policy()).to_pandas().set_index("customer_id")
    counts = f["lapse_incidents"].fillna(0).astype(int).to_dict()
    assert counts == {"a": 2, "b": 1, "c": 0, "d": 0}
    kinds = f["lapse_incident_type"].astype("object").fillna("").to_dict()
    assert kinds == {"a": "competitor_offer", "b": "quality_problem", "c": "", "d": ""}
    # a's incidents are far older than the window the recent-incident columns read.
    assert pd.isna(f.loc["a", "recent_incidents"])
