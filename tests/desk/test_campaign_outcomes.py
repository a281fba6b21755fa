"""A finished campaign's members reach the ledger's winback_outcomes, once, so the scan's
odds learn from campaigns too (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
from sqlalchemy.orm import Session

from tests.desk.conftest import POLICY
from tests.desk.test_campaigns import _build, _ledger, _reach, run  # noqa: F401 (fixture)
from tests.desk.test_outcomes import _ledger_outcomes
from winback.desk import campaigns
from winback.desk.campaign_audience import members_of
from winback.desk.campaign_outcomes import export_campaign_outcomes, finished
from winback.desk.models import Case, User
from winback.desk.outcomes import export_outcomes
from winback.scan.call_lift import return_rates
from winback.scan.runs import ScanRun


def test_a_finished_campaigns_members_become_outcomes_once(
    db: Session,
    people: dict[str, User],
    run: ScanRun,  # noqa: F811
    tmp_path: Path,
) -> None:
    made = _build(db, people["manager"], run)
    campaigns.launch(db, people["manager"], made.id, _reach(run, missing={"c004"}))
    assert finished(db) == []  # the window runs
    made.ends_on = date(2024, 9, 1)  # window: 2024-07-03 to 2024-09-01, over
    db.commit()
    members = members_of(db, made.id)
    by_email = [m for m in members if not m.holdout and m.channel == "email"]
    by_call = [m for m in members if not m.holdout and m.channel == "call"]
    held = [m for m in members if m.holdout]
    unreached = [m for m in members if not m.holdout and m.channel not in ("email", "call")]
    orders = [
        ("o1", by_email[0].customer_id, "2024-07-10", 90.0, ""),
        ("o2", held[0].customer_id, "2024-08-01", 40.0, ""),
        ("o3", by_email[1].customer_id, "2024-09-02", 50.0, ""),  # after the window
    ]
    ledger = _ledger(tmp_path, orders)

    done = export_campaign_outcomes(db, ledger, tmp_path / "rejects")
    assert (done.campaigns, done.problem) == (1, None)
    rows = {r["customer_id"]: r for r in _ledger_outcomes(ledger)}
    assert len(rows) == len(by_email) + len(by_call) + len(held)
    assert all(m.customer_id not in rows for m in unreached)
    assert {m.customer_id for m in unreached} <= {"c004"}  # c004 has no address
    first = rows[by_email[0].customer_id]
    assert (first["outcome"], first["tier"], first["contacted"]) == ("won_back", "campaign", True)
    assert first["outcome_id"] == f"desk-campaign-{made.id}-{by_email[0].customer_id}"
    assert first["recorded_on"] == date(2024, 9, 1)
    assert rows[by_email[1].customer_id]["outcome"] == "declined"
    assert rows[by_call[0].customer_id]["tier"] == "rep"
    back = rows[held[0].customer_id]
    assert (back["outcome"], back["tier"], back["contacted"]) == (
        "returned_unprompted",
        "holdout",
        False,
    )
    assert rows[held[1].customer_id]["outcome"] == "not_pursued"

    # Once: the campaign is marked, and a second export sends nothing.
    assert finished(db) == []
    again = export_campaign_outcomes(db, ledger, tmp_path / "rejects")
    assert (again.campaigns, again.exported) == (0, 0)
    assert len(_ledger_outcomes(ledger)) == len(rows)

    # The scan's odds read them: the holdout is the uncontacted baseline.
    table = pd.DataFrame(_ledger_outcomes(ledger))
    peers = pd.DataFrame({"segment": ["retail", "trade"], "customer_id": ["x", "y"]})
    rates = return_rates(peers, table, POLICY)
    assert rates.uncontacted_outcomes.sum() == sum(
        1 for m in held if m.segment in ("retail", "trade")
    )


def test_a_held_out_customers_case_reaches_the_baseline_once(
    db: Session,
    people: dict[str, User],
    run: ScanRun,  # noqa: F811
    tmp_path: Path,
) -> None:
    customers = [f"c{n:03d}" for n in range(12)]
    for customer in customers:
        db.add(Case(customer_id=customer, priority=1, run_id="r", customer_status="lapsed",
                    owner_id=people["rep"].id, segment="retail"))  # fmt: skip
    db.commit()
    made = _build(db, people["manager"], run, holdout_share=0.5)
    campaigns.launch(db, people["manager"], made.id, _reach(run))
    made.ends_on = date(2024, 9, 1)
    db.commit()
    held = [m.customer_id for m in members_of(db, made.id) if m.holdout]
    held_with_case = [c for c in held if c in customers]
    assert held_with_case  # their cases closed at launch (not pursued)
    ledger = _ledger(tmp_path, [("o1", held_with_case[0], "2024-08-01", 40.0, "")])

    # Both exports run, the cases' and the campaign's, in either order.
    assert export_outcomes(db, ledger, tmp_path / "rejects").problem is None
    assert export_campaign_outcomes(db, ledger, tmp_path / "rejects").problem is None
    assert export_outcomes(db, ledger, tmp_path / "rejects").problem is None

    # Each held-out customer is one uncontacted outcome: the campaign's holdout row, read
    # over the window (the first came back on their own), not also their case.
    table = pd.DataFrame(_ledger_outcomes(ledger))
    peers = pd.DataFrame({"segment": "none", "customer_id": held_with_case})
    rates = return_rates(peers, table, POLICY)
    assert rates.uncontacted_outcomes.tolist() == [1.0] * len(held_with_case)
    assert rates.call_outcomes.sum() == 0
    mine = table[table["customer_id"] == held_with_case[0]]
    assert mine[["outcome", "tier"]].values.tolist() == [["returned_unprompted", "holdout"]]
