"""The sweet spot the scan wrote, on the customer page, the call screen and in the API."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.desk.conftest import POLICY, make_run
from tests.web.conftest import log_in
from winback.desk.models import Case, User
from winback.desk.sync import sync_cases

SPOT = "buys Coffee beans every 3 weeks; usual basket 42.00 (mid price), by web"


def test_the_rep_sees_the_sweet_spot_on_the_page_the_call_and_the_api(
    app: FastAPI,
    client: TestClient,
    db: Session,
    people: dict[str, User],
    tokens: dict[str, str],
) -> None:
    rows = [
        {"customer_id": "c1", "name": "Acme Ltd", "rank": 1, "sweet_spot": SPOT},
        {"customer_id": "c9", "name": "Quiet plc", "status": "active", "decision": None,
         "tier": "none", "sweet_spot": "orders every 2 months; usual basket 10.00"},
    ]  # fmt: skip
    run = make_run(app.state.settings.runs_dir, rows)
    sync_cases(db, None, run, policy=POLICY)
    case = db.scalars(select(Case).where(Case.customer_id == "c1")).one()
    case.owner_id = people["rep"].id
    db.commit()

    csrf = log_in(client, "rep")
    assert SPOT in client.get("/customers/c1").text  # from the run, beside an open case
    assert "orders every 2 months; usual basket 10.00" in client.get("/customers/c9").text
    call_url = client.post(f"/cases/{case.id}/calls", data={"csrf_token": csrf}).headers["location"]
    assert SPOT in client.get(call_url).text

    api = client.get("/api/customers/c1", headers={"Authorization": f"Bearer {tokens['rep']}"})
    assert api.json()["sweet_spot"] == SPOT
