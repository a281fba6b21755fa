"""The risk drivers the latest scan found, on the dashboard, in its file and in the API
(the numbers themselves are checked in tests/scan/test_drivers.py)."""

from __future__ import annotations

import re

import pandas as pd
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.desk.conftest import scan_rows
from tests.web.conftest import log_in
from winback.desk.models import User
from winback.scan.drivers import compare
from winback.scan.runs import RunInfo, write_run

PANEL = re.compile(r'<section class="panel" id="drivers">.*?</section>', re.DOTALL)


def _scan_with_drivers(app: FastAPI) -> None:
    # 100 customers met product line Shoes (30 lapsed), 100 like them did not (10 lapsed);
    # 100 were served by S7 (20 lapsed, as many as the rest).
    ids = [f"c{i}" for i in range(200)]
    lapsed = [1 if i < 30 or 100 <= i < 110 else 0 for i in range(200)]
    people = pd.DataFrame({"customer_id": ids, "stratum": "all", "lapsed": lapsed})
    people["revenue"] = 100.0
    met = pd.concat(
        [
            pd.DataFrame({"customer_id": ids[:100], "factor": "product line", "level": "Shoes"}),
            pd.DataFrame({"customer_id": ids[50:150], "factor": "staff", "level": "S7"}),
        ]
    )
    drivers = compare(people, met, {"staff:S7": "Sam Seven"}, min_exposed=10)
    info = RunInfo(RunInfo.new_id(), "2024-07-01", "2024-07-01T06:00:00+00:00", 1)
    info.drivers = [d.as_dict() for d in drivers]
    write_run(app.state.settings.runs_dir, info, scan_rows([]))


def test_the_dashboard_names_the_clear_driver_first(
    app: FastAPI,
    client: TestClient,
    db: Session,
    people: dict[str, User],
    tokens: dict[str, str],
) -> None:
    log_in(client, "manager")
    assert 'id="drivers"' not in client.get("/dashboard").text  # no scan yet
    _scan_with_drivers(app)
    html = client.get("/dashboard").text
    panel = PANEL.search(html)
    assert panel, "no drivers panel"
    text = panel.group(0)
    assert "customers who bought Shoes lapse 3.0× as often as customers like them" in text
    assert text.index("Shoes") < text.index("Sam Seven")
    assert '<tr class="rr-clear">' in text
    # 30 lapsed against 10 expected, 100 each: (30 - 10) x 100 beyond the baseline
    assert "<td>2,000</td>" in text

    file = client.get("/dashboard/report.html").text
    assert "customers who bought Shoes lapse 3.0×" in file

    bearer = {"Authorization": f"Bearer {tokens['manager']}"}
    api = client.get("/api/reports/reasons", headers=bearer).json()["drivers"]
    first = api["drivers"][0]
    assert (first["factor"], first["level"], first["lapsed"], first["exposed"]) == (
        "product line",
        "Shoes",
        30,
        100,
    )
    assert first["low"] > 1
    assert api["cutoff"] == "2023-07-02"


def test_a_rep_sees_no_drivers(
    app: FastAPI, client: TestClient, people: dict[str, User], tokens: dict[str, str]
) -> None:
    _scan_with_drivers(app)
    answer = client.get(
        "/api/reports/reasons", headers={"Authorization": f"Bearer {tokens['rep']}"}
    )
    assert answer.status_code == 403
    assert "Shoes" not in answer.text
    log_in(client, "rep")
    assert "Shoes" not in client.get("/dashboard").text
