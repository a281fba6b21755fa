"""The guided call, tasks and the reason taxonomy through the pages and the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.web.conftest import log_in
from winback.desk import tasks
from winback.desk.models import Call, Case, User, utcnow
from winback.ledger.importer import import_file


def _mine(db: Session, people: dict[str, User], customer_id: str = "c2") -> Case:
    case = db.scalars(select(Case).where(Case.customer_id == customer_id)).one()
    case.owner_id = people["rep"].id
    db.commit()
    return case


def test_a_rep_works_a_call_through_the_pages(
    app: FastAPI,
    client: TestClient,
    db: Session,
    people: dict[str, User],
    scanned: None,
    tmp_path: Path,
) -> None:
    incidents = tmp_path / "incidents.csv"
    incidents.write_text(
        "incident_id,customer_id,occurred_on,type,severity,description\n"
        "n1,c2,2024-03-05,late_delivery,3,order 17 arrived a week late\n",
        encoding="utf-8",
    )
    import_file(app.state.ledger, "incidents", incidents, rejects_dir=tmp_path / "rejects")
    case = _mine(db, people)
    csrf = log_in(client, "rep")
    assert "Start a guided call" in client.get("/customers/c2").text
    started = client.post(f"/cases/{case.id}/calls", data={"csrf_token": csrf})
    assert started.status_code == 303
    call_url = started.headers["location"]
    call_id = int(call_url.rsplit("/", 1)[1])
    page = client.get(call_url).text
    assert "order 17 arrived a week late on 05 March 2024" in page  # the suggestion

    def step(name: str, **answers: str | list[str]) -> None:
        answer = client.post(f"/calls/{call_id}/steps/{name}", data={"csrf_token": csrf, **answers})
        assert answer.status_code == 303, answer.text

    # A step answered is saved at once: leave, come back, and the call resumes there.
    step("apology", apology="Sorry about order 17.")
    assert "Resume the guided call (listening)" in client.get("/customers/c2").text
    step("listening", listening="She moved to a rival.")
    step("diagnosis", reasons=["delivery", "competitor"])
    step("verification", verification="yes", customer_words="never again late")
    step("asks", asks="a fixed delivery day")
    due = (utcnow().date() + timedelta(days=3)).isoformat()
    added = client.post(
        f"/calls/{call_id}/commitments",
        data={"csrf_token": csrf, "text": "book Tuesday slots", "due_on": due},
    )
    assert added.status_code == 303
    assert "book Tuesday slots" in client.get(f"/calls/{call_id}?step=plan").text
    step("plan")
    step("offer", offer_kind="guarantee", offer_text="on time or free")
    step("outcome", outcome="won_back")
    step("follow_up", follow_up_on=(utcnow().date() + timedelta(days=10)).isoformat())

    call = db.get(Call, call_id)
    assert call is not None
    db.refresh(call)
    assert call.finished_at is not None
    assert call.reasons == ["delivery", "competitor"]
    customer = client.get("/customers/c2").text
    assert "Reasons: Delivery, A competitor" in customer
    assert "Outcome: <strong>won back</strong>" in customer
    my_tasks = client.get("/tasks").text
    assert "book Tuesday slots" in my_tasks
    assert "Check with Bolt &amp; Co that the problem is solved" in my_tasks


def test_a_bad_answer_is_refused_with_what_to_fix(
    client: TestClient, db: Session, people: dict[str, User], scanned: None
) -> None:
    case = _mine(db, people)
    csrf = log_in(client, "rep")
    call_url = client.post(f"/cases/{case.id}/calls", data={"csrf_token": csrf}).headers["location"]
    answer = client.post(f"{call_url}/steps/apology", data={"csrf_token": csrf, "apology": " "})
    assert answer.status_code == 422
    assert "say the apology you opened with" in answer.text
    skipped = client.post(f"{call_url}/steps/offer", data={"csrf_token": csrf})
    assert skipped.status_code == 409
    no_csrf = client.post(f"{call_url}/steps/apology", data={"apology": "sorry"})
    assert no_csrf.status_code == 403


def test_a_call_is_logged_after_the_fact_through_the_api(
    client: TestClient,
    db: Session,
    people: dict[str, User],
    scanned: None,
    tokens: dict[str, str],
) -> None:
    case = _mine(db, people)
    auth = {"Authorization": f"Bearer {tokens['rep']}"}
    today = utcnow().date()
    body = {
        "occurred_at": (utcnow() - timedelta(hours=3)).isoformat(),
        "apology": "Sorry about the deliveries.",
        "listening": "Three late boxes.",
        "reasons": ["delivery"],
        "verification": "yes",
        "customer_words": "maybe-Tuesday is no good",
        "asks": "a fixed day",
        "commitments": [
            {"text": "book slots", "owner_id": people["rep"].id, "due_on": today.isoformat()}
        ],
        "offer_kind": "guarantee",
        "outcome": "won_back",
        "follow_up_on": (today + timedelta(days=7)).isoformat(),
    }
    injected = client.post(
        f"/api/cases/{case.id}/calls/logged", json={**body, "finished_at": None}, headers=auth
    )
    assert injected.status_code == 422
    # A time with a zone is taken as it says (here an hour ahead of UTC, two hours ago).
    zoned = (
        (utcnow() - timedelta(hours=2)).replace(tzinfo=UTC).astimezone(timezone(timedelta(hours=1)))
    )
    body["occurred_at"] = zoned.isoformat()
    answer = client.post(f"/api/cases/{case.id}/calls/logged", json=body, headers=auth)
    assert answer.status_code == 201, answer.text
    assert answer.json()["outcome"] == "won_back"
    started = datetime.fromisoformat(answer.json()["started_at"])  # answered in UTC
    assert started.utcoffset() == timedelta(0)
    assert abs(started - (utcnow() - timedelta(hours=2)).replace(tzinfo=UTC)) < timedelta(minutes=5)
    assert client.get(f"/api/cases/{case.id}", headers=auth).json()["outcome"] == "won_back"
    listed = client.get("/api/tasks", headers=auth).json()
    assert sorted(t["kind"] for t in listed) == ["commitment", "follow_up"]
    follow = next(t for t in listed if t["kind"] == "follow_up")
    promise = next(t for t in listed if t["kind"] == "commitment")
    early = client.post(f"/api/tasks/{follow['id']}/done", json={"solved": True}, headers=auth)
    assert early.status_code == 409  # the commitment is still open
    assert "'book slots'" in early.json()["error"]["message"]
    kept = client.post(f"/api/tasks/{promise['id']}/done", json={}, headers=auth)
    assert kept.status_code == 200
    refused = client.post(f"/api/tasks/{follow['id']}/done", json={"solved": False}, headers=auth)
    assert refused.status_code == 422
    assert "next follow-up" in refused.json()["error"]["message"]
    done = client.post(f"/api/tasks/{follow['id']}/done", json={"solved": True}, headers=auth)
    assert done.status_code == 200


def test_a_call_step_by_step_through_the_api(
    client: TestClient,
    db: Session,
    people: dict[str, User],
    scanned: None,
    tokens: dict[str, str],
) -> None:
    case = _mine(db, people)
    auth = {"Authorization": f"Bearer {tokens['rep']}"}
    started = client.post(f"/api/cases/{case.id}/calls", headers=auth)
    assert started.status_code == 201
    call = started.json()
    again = client.post(f"/api/cases/{case.id}/calls", headers=auth)
    assert (again.status_code, again.json()["id"]) == (200, call["id"])
    saved = client.post(
        f"/api/calls/{call['id']}/steps/apology", json={"apology": "sorry"}, headers=auth
    )
    assert saved.json()["step"] == "listening"
    unknown = client.post(f"/api/calls/{call['id']}/steps/gossip", json={}, headers=auth)
    assert unknown.status_code == 422
    other = {"Authorization": f"Bearer {tokens['rep2']}"}
    assert client.get(f"/api/calls/{call['id']}", headers=other).status_code == 403


def test_overdue_tasks_are_highlighted_and_managers_see_them_by_rep(
    client: TestClient, db: Session, people: dict[str, User], scanned: None
) -> None:
    tasks.add_task(
        db,
        None,
        kind="follow_up",
        title="ring Bolt back",
        customer_id="c2",
        owner_id=people["rep"].id,
        due_on=utcnow().date() - timedelta(days=2),
    )
    db.commit()
    log_in(client, "rep")
    page = client.get("/tasks").text
    assert 'class="overdue"' in page
    assert "overdue by 2 days" in page
    assert client.get("/tasks/overdue").status_code == 403
    client.cookies.clear()
    log_in(client, "manager")
    team = client.get("/tasks/overdue").text
    assert "<td>Rep</td><td>1</td>" in team
    assert "ring Bolt back" in team


def test_managers_edit_the_taxonomy_and_reps_may_not(
    client: TestClient, people: dict[str, User], scanned: None
) -> None:
    csrf = log_in(client, "rep")
    assert client.get("/reasons").status_code == 403
    client.cookies.clear()
    csrf = log_in(client, "manager")
    added = client.post("/reasons", data={"csrf_token": csrf, "label": "Slow support"})
    assert added.status_code == 303
    assert "<code>slow_support</code>" in client.get("/reasons").text


def test_the_red_carpet_flag_shows_on_task_call_and_approval_pages(
    client: TestClient, db: Session, people: dict[str, User], scanned: None
) -> None:
    from winback.desk import concessions
    from winback.desk.models import RedCarpet

    case = _mine(db, people)
    db.add(RedCarpet(customer_id="c2", total=3, remaining=2))
    tasks.add_task(
        db,
        None,
        kind="follow_up",
        title="ring Bolt back",
        customer_id="c2",
        owner_id=people["rep"].id,
        due_on=utcnow().date() - timedelta(days=1),
    )
    db.commit()
    concessions.request_concession(db, people["rep"], case.id, kind="credit", amount=400)
    csrf = log_in(client, "rep")
    call_url = client.post(f"/cases/{case.id}/calls", data={"csrf_token": csrf}).headers["location"]
    for path in ("/tasks", call_url):
        assert "red carpet 2/3" in client.get(path).text, path
    client.cookies.clear()
    log_in(client, "manager")
    for path in ("/tasks/overdue", "/approvals"):
        assert "red carpet 2/3" in client.get(path).text, path
