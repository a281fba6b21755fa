"""The sweet spot and doubtful contact details the scan wrote, on the customer page, the
call screen (with the offer that fits) and in the API."""

from __future__ import annotations

from datetime import date, timedelta

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
        {"customer_id": "c1", "name": "Acme Ltd", "rank": 1, "sweet_spot": SPOT,
         "top_lines": ["Coffee beans"], "stopped_line": "Filters", "usual_basket": 42.0,
         "doubtful_contact": "e-mail bounced on 02 May 2026"},
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
    call_page = client.get(call_url).text
    assert SPOT in call_page
    doubt = "Contact details may be out of date: e-mail bounced on 02 May 2026."
    assert doubt in call_page
    assert doubt in client.get("/customers/c1").text

    # At the offer step, the suggestion fits what they stopped buying.
    call_id = call_url.rsplit("/", 1)[1]
    for step, answers in (
        ("apology", {"apology": "Sorry."}),
        ("listening", {"listening": "Heard them."}),
        ("diagnosis", {"reasons": ["price"]}),
        ("verification", {"verification": "yes", "customer_words": "too dear"}),
        ("asks", {"asks": "a better price"}),
        ("plan", {}),
    ):
        if step == "plan":
            due = (date.today() + timedelta(days=3)).isoformat()
            promise = {"csrf_token": csrf, "text": "send the price list", "due_on": due}
            assert client.post(f"/calls/{call_id}/commitments", data=promise).status_code == 303
        data = {"csrf_token": csrf, **answers}
        assert client.post(f"/calls/{call_id}/steps/{step}", data=data).status_code == 303
    offer = client.get(f"/calls/{call_id}?step=offer").text
    expected = "A discount on Filters, which they stopped buying (their usual basket is 42.00)."
    assert f"Suggested, to fit what they bought: coupon: {expected}" in offer
    assert f'<textarea name="offer_text" rows="2">{expected}</textarea>' in offer
    assert '<option value="coupon" selected>' in offer

    api = client.get("/api/customers/c1", headers={"Authorization": f"Bearer {tokens['rep']}"})
    assert api.json()["sweet_spot"] == SPOT
    assert api.json()["doubtful_contact"] == "e-mail bounced on 02 May 2026"
