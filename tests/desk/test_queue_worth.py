"""The desk's queue follows the scan's worth: what a call changes, not what a customer brings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy.orm import Session

from tests.desk.conftest import POLICY, make_run
from winback.desk import cases
from winback.desk.models import User
from winback.desk.sync import sync_cases
from winback.scan.worth import decide


def _scan_rows(features: pd.DataFrame, status: list[str]) -> list[dict[str, Any]]:
    """The run rows sync reads, as the scan's worth step decides them."""
    d = decide(features, pd.Series(status), POLICY)
    rows = []
    for i, cid in enumerate(features["customer_id"]):
        rank = d["rank"].iloc[i]
        rows.append(
            {
                "customer_id": cid,
                "status": status[i],
                "decision": d.decision.iloc[i],
                "tier": d.tier.iloc[i],
                "rank": None if pd.isna(rank) else int(rank),
                "expected_value": float(d.expected_value.iloc[i]),
                "winback_odds": float(d.winback_odds.iloc[i]),
                "p_alive": float(features["p_alive"].iloc[i]),
                "decision_reasons": list(d.decision_reasons.iloc[i]),
            }
        )
    return rows


def test_the_queue_puts_first_the_accounts_a_call_changes_most(
    db: Session, people: dict[str, User], tmp_path: Path
) -> None:
    # big brings the most but is probably still buying (P(alive) 0.9); gone and fading
    # have left (P(alive) 0.05 and 0.3); small has left but brings little.
    features = pd.DataFrame(
        {
            "customer_id": ["big", "gone", "fading", "small"],
            "segment": ["all"] * 4,
            "first_order_date": [pd.Timestamp("2020-06-01")] * 4,
            "last_order_date": [pd.Timestamp("2024-01-01")] * 4,
            "margin_past_years": [90000.0, 3000.0, 6000.0, 1500.0],
            "revenue": [300000.0, 10000.0, 20000.0, 5000.0],
            "p_alive": [0.9, 0.05, 0.3, 0.05],
        }
    )
    rows = _scan_rows(features, ["slipping", "lapsed", "slipping", "lapsed"])
    sync_cases(db, None, make_run(tmp_path, rows), policy=POLICY)

    queue = cases.search_cases(db, people["manager"], cases.CaseFilter()).cases
    # value = margin / 3 x 2.48685; EV = risk x 0.2 x value - 40 - 0.1 x P(call) x value:
    # fading 0.7 x 0.2 x 4973.7 - 40 - 0.1 x 0.51 x 4973.7 = 402.6; gone 0.95 x 0.2 x
    # 2486.85 - 40 - 0.1 x 0.335 x 2486.85 = 389.2; small 174.6; big negative: no case.
    assert [c.customer_id for c in queue] == ["fading", "gone", "small"]
    assert [c.priority for c in queue] == [1, 2, 3]
    values = [c.expected_value for c in queue]
    assert values == sorted(values, reverse=True)
    assert values[0] == pytest.approx(0.7 * 0.2 * 4973.7 - 40 - 0.1 * 0.51 * 4973.7, rel=1e-4)
    assert queue[0].decision_reasons[0].startswith("would come back anyway: 37%; with a call: 51%")
