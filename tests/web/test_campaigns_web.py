"""Campaigns through the API and the pages: build, preview, launch once, CSV, results."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.desk.conftest import make_run
from tests.web.conftest import log_in
from winback.desk.models import OutboxMessage, User


def _scan(app: FastAPI) -> None:
    rows: list[dict[str, Any]] = [
        {
            "customer_id": f"c{i:02d}",
            "name": f"Customer {i}",
            "tier": "campaign",
            "segment": "retail",
            "reasons": ["price rise of 8 %"] if i % 2 else ["no order for 200 days"],
        }
        for i in range(20)
    ]
    make_run(app.state.settings.runs_dir, rows)


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_manager_builds_previews_and_launches_once_through_the_api(
    app: FastAPI, client: TestClient, tokens: dict[str, str], db: Session
) -> None:
    _scan(app)
    body = {"name": "spring", "holdout_share": 0.2, "audience": {"tiers": ["campaign"]}}
    made = client.post("/api/campaigns", json=body, headers=_auth(tokens["manager"]))
    assert made.status_code == 201, made.text
    campaign = made.json()
    assert campaign["state"] == "draft"
    assert campaign["preview"]["audience"] == 20
    assert (campaign["preview"]["treated"], campaign["preview"]["holdout"]) == (16, 4)
    assert 0 < campaign["preview"]["minimum_detectable_lift"] < 1
    kinds = {o["kind"]: o["members"] for o in campaign["offers"]}
    assert kinds["price_break"] == 10
    assert kinds["coupon"] == 10
    url = f"/api/campaigns/{campaign['id']}"
    # No ledger: nobody has an e-mail address, so nothing is queued.
    launched = client.post(url + "/launch", headers=_auth(tokens["manager"]))
    assert launched.status_code == 200, launched.text
    assert launched.json()["treated"] == 16
    assert launched.json()["no_address"] == 16
    again = client.post(url + "/launch", headers=_auth(tokens["admin"]))
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"
    assert db.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    # Queuing again: only who may launch; still nobody with an address, so nothing.
    requeued = client.post(url + "/requeue", headers=_auth(tokens["admin"]))
    assert requeued.status_code == 200, requeued.text
    assert (requeued.json()["queued"], requeued.json()["duplicates"]) == (0, 0)
    assert client.post(url + "/requeue", headers=_auth(tokens["executive"])).status_code == 403
    csv = client.get(url + "/audience.csv", headers=_auth(tokens["manager"]))
    assert csv.status_code == 200
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.count(",holdout,") == 4
    results = client.get(url + "/results", headers=_auth(tokens["executive"]))
    assert results.status_code == 200, results.text
    assert results.json()["overall"]["treated_n"] == 16


def test_bad_input_is_refused_naming_the_field(
    app: FastAPI, client: TestClient, tokens: dict[str, str]
) -> None:
    _scan(app)
    headers = _auth(tokens["manager"])
    answer = client.post(
        "/api/campaigns", json={"name": "x", "holdout_share": 0.9}, headers=headers
    )
    assert answer.status_code == 422
    assert "holdout_share" in answer.json()["error"]["message"]
    offers = [{"kind": "price_break", "text": "half off", "concession_kind": "discount_pct",
               "amount": 50}]  # fmt: skip
    answer = client.post("/api/campaigns", json={"name": "x", "offers": offers}, headers=headers)
    assert answer.status_code == 422
    assert "above your limit" in answer.json()["error"]["message"]
    answer = client.post(
        "/api/campaigns", json={"name": "x", "audience": {"tiers": ["gold"]}}, headers=headers
    )
    assert answer.status_code == 422
    assert "tiers gold" in answer.json()["error"]["message"]


def test_reps_may_not_build_see_or_launch_campaigns(
    app: FastAPI, client: TestClient, tokens: dict[str, str], people: dict[str, User]
) -> None:
    _scan(app)
    rep = _auth(tokens["rep"])
    assert client.post("/api/campaigns", json={"name": "x"}, headers=rep).status_code == 403
    assert client.get("/api/campaigns", headers=rep).status_code == 403
    made = client.post("/api/campaigns", json={"name": "x"}, headers=_auth(tokens["manager"]))
    url = f"/api/campaigns/{made.json()['id']}"
    assert client.post(url + "/launch", headers=rep).status_code == 403
    assert client.post(url + "/launch", headers=_auth(tokens["executive"])).status_code == 403
    assert client.get(url + "/audience.csv", headers=rep).status_code == 403


def test_the_pages_build_preview_and_launch(
    app: FastAPI, client: TestClient, people: dict[str, User]
) -> None:
    _scan(app)
    csrf = log_in(client, "manager")
    page = client.get("/campaigns")
    assert page.status_code == 200
    assert "Build a campaign" in page.text
    form = {
        "csrf_token": csrf,
        "name": "by hand",
        "tiers": "campaign",
        "offer_coupon": "on",
        "text_coupon": "5 off",
        "concession_coupon": "credit",
        "amount_coupon": "5",
        "holdout_pct": "10",
        "window_days": "30",
    }
    built = client.post("/campaigns", data=form)
    assert built.status_code == 303, built.text
    shown = client.get(built.headers["location"])
    assert shown.status_code == 200
    assert 'id="audience-size">20<' in shown.text
    assert "Smallest detectable lift" in shown.text
    bad = client.post("/campaigns", data={**form, "holdout_pct": "many"})
    assert bad.status_code == 422
    assert "holdout %" in bad.text
    launched = client.post(built.headers["location"] + "/launch", data={"csrf_token": csrf})
    assert launched.status_code == 303
    assert "Measured lift" in client.get(built.headers["location"]).text
