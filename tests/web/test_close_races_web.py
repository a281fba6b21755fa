"""A double-click, for real: the app served by uvicorn on a loopback port, the same case
closed by parallel HTTP requests (SQLite file and PostgreSQL). One answer is 200, the rest
409, and the outcome the ledger receives after the close is the desk's."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import serve
from winback.desk import tasks
from winback.desk.models import Case, RedCarpet
from winback.desk.outcomes import ledger_outcome
from winback.ledger.importer import import_file
from winback.ledger.store import Ledger

CLICKS = 10


def _ledger_outcomes(ledger: Ledger) -> list[tuple[str, str]]:
    con = ledger.connect()
    try:
        rows = con.execute("SELECT outcome_id, outcome FROM winback_outcomes").fetchall()
        return [(str(a), str(b)) for a, b in rows]
    finally:
        con.close()


def test_parallel_close_requests_answer_one_200_and_409s_and_the_ledger_follows_the_winner(
    app: FastAPI, db: Session, tokens: dict[str, str], scanned: None, tmp_path: Path
) -> None:
    orders = tmp_path / "orders.csv"
    orders.write_text("order_id,customer_id,order_date,amount\no1,c1,2024-01-10,250\n")
    ledger = Ledger(app.state.settings.ledger_dir)
    import_file(ledger, "orders", orders, rejects_dir=tmp_path / "rejects")
    case = db.scalars(select(Case).where(Case.customer_id == "c1")).one()
    barrier = threading.Barrier(CLICKS)
    headers = {"Authorization": f"Bearer {tokens['manager']}"}

    with serve(app) as url, httpx.Client(base_url=url, timeout=60) as http:
        contact = {"kind": "contact", "channel": "call", "text": "spoke"}
        http.post(f"/api/cases/{case.id}/activities", json=contact, headers=headers)
        due = tasks.today().isoformat()

        def click(i: int) -> int:
            outcome = ("won_back", "not_pursued")[i % 2]
            body = {"outcome": outcome, "confirm": True, "follow_up_on": due}
            barrier.wait(timeout=30)
            answer = http.post(f"/api/cases/{case.id}/close", json=body, headers=headers)
            return answer.status_code

        with ThreadPoolExecutor(CLICKS) as pool:
            statuses = sorted(pool.map(click, range(CLICKS)))
        # The winner's export runs after its answer: wait for it to reach the ledger.
        deadline = time.monotonic() + 20
        while not _ledger_outcomes(ledger) and time.monotonic() < deadline:
            time.sleep(0.1)

    assert statuses == [200] + [409] * (CLICKS - 1)
    db.expire_all()
    closed = db.get(Case, case.id)
    assert closed is not None
    assert _ledger_outcomes(ledger) == [(f"desk-case-{case.id}", ledger_outcome(closed))]
    carpets = db.scalar(select(func.count()).select_from(RedCarpet)) or 0
    assert carpets == (1 if closed.outcome == "won_back" else 0)
