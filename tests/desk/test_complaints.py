"""Public posts on the desk: stored once, matched, a complaint made an urgent case, triage,
escalation, the webhook's signature (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import time
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tests.desk.conftest import POLICY, make_run
from winback.desk import cases, complaints
from winback.desk.complaints import IncomingPost, Routing
from winback.desk.db import open_session
from winback.desk.matching import Customer, Directory
from winback.desk.models import Case, CaseActivity, PublicPost, Task, User, WebhookDelivery
from winback.errors import Conflict, NotAuthenticated, PermissionDenied
from winback.policy import Complaints

CUSTOMERS = [
    Customer("c1", "Ada Lovelace", "ada@example.com", "West", "GB"),
    Customer("c2", "Jon Smith", "jon@example.com", "North", "US"),
    Customer("c3", "Ben Hart", None, "East", "US"),
    Customer("c4", "Ben Hart", None, "South", "CA"),
]
ANGRY = "Never again with Acme: my order arrived two weeks late and nobody answered."


def post(author: str, text: str = ANGRY, url: str | None = None, **more: object) -> IncomingPost:
    return IncomingPost(origin="feed", source_name="reviews", author=author, text=text,
                        url=url, **more)  # type: ignore[arg-type]  # fmt: skip


def take(
    db: Session, *posts: IncomingPost, routing: Routing | None = None
) -> complaints.TakeResult:
    routing = routing or Routing(directory=Directory(CUSTOMERS))
    assert routing.directory is not None
    return complaints.take_posts(db, list(posts), routing.directory, POLICY, routing)


def test_a_post_is_stored_once_whatever_arrives_twice(db: Session, people: dict[str, User]) -> None:
    first = take(db, post("ada@example.com", url="https://r.example/1"))
    again = take(db, post("Ada L.", text="edited text", url="https://r.example/1"))
    by_id = take(db, post("x", external_id="77"), post("x", external_id="77"))
    assert (first.stored, again.stored, again.duplicates) == (1, 0, 1)
    assert (by_id.stored, by_id.duplicates) == (1, 1)
    assert db.scalar(select(func.count()).select_from(PublicPost)) == 2
    # The same post fetched again opens nothing more.
    assert db.scalar(select(func.count()).select_from(Case)) == 1


def test_a_complaint_naming_a_customer_by_email_opens_an_urgent_case(
    db: Session, people: dict[str, User]
) -> None:
    done = take(db, post("someone", text=f"{ANGRY} Reach me: Ada@Example.com",
                         url="https://r.example/2"))  # fmt: skip
    assert (done.matched, done.cases_opened, done.complaints) == (1, 1, 1)
    stored = db.scalars(select(PublicPost)).one()
    assert (stored.customer_id, stored.match_method, stored.confidence) == ("c1", "email", 1.0)
    assert stored.kind == "complaint"
    assert stored.sentiment < -0.3
    assert stored.reason == "delivery"
    case = db.get(Case, stored.case_id)
    assert case is not None
    assert case.urgent
    assert case.customer_id == "c1"
    assert case.owner_id in {people["rep"].id, people["rep2"].id}  # the least-busy rep
    assert case.due_at is not None
    assert case.due_at > case.opened_at
    note = db.scalars(select(CaseActivity).where(CaseActivity.case_id == case.id)).one()
    assert ANGRY[:40] in note.text
    assert "https://r.example/2" in note.text


def test_praise_is_kept_on_record_and_opens_nothing(db: Session, people: dict[str, User]) -> None:
    done = take(db, post("ada@example.com", text="Acme won me back, brilliant service, thanks!"))
    assert (done.praise, done.matched, done.cases_opened) == (1, 1, 0)
    stored = db.scalars(select(PublicPost)).one()
    assert stored.kind == "praise"
    assert stored.customer_id == "c1"


def test_the_urgent_case_tops_the_rep_queue(
    db: Session, people: dict[str, User], tmp_path: Path
) -> None:
    rep = people["rep"]
    run = make_run(tmp_path, [
        {"customer_id": "c1", "rank": 1, "name": "Ada Lovelace"},
        {"customer_id": "c2", "rank": 40, "name": "Jon Smith"},
    ])  # fmt: skip
    for cid, rank in (("c1", 1), ("c2", 40)):
        db.add(Case(customer_id=cid, state="open", owner_id=rep.id, priority=rank, run_id="r",
                    customer_status="lapsed"))  # fmt: skip
    db.commit()
    routing = Routing(run=run, directory=Directory(CUSTOMERS))
    done = take(db, post("Jon Smith, North, US", url="https://r.example/3"), routing=routing)
    # The customer's open case is made urgent, never a second case.
    assert (done.cases_opened, done.cases_made_urgent) == (0, 1)
    queue = cases.my_queue(db, rep).cases
    assert [c.customer_id for c in queue] == ["c2", "c1"]
    assert queue[0].urgent
    assert queue[0].post_id is not None
    # A second complaint on the case, urgent already, makes no case urgent that was not.
    again = take(db, post("Jon Smith, North, US", url="https://r.example/3b"), routing=routing)
    assert (again.complaints, again.cases_opened, again.cases_made_urgent) == (1, 0, 0)


def test_a_misspelt_name_lands_in_triage_and_confirmed_opens_the_case(
    db: Session, people: dict[str, User]
) -> None:
    done = take(db, post("Jonn Smyth", url="https://r.example/4"))
    assert (done.triage, done.cases_opened) == (1, 0)
    waiting = complaints.triage(db, people["manager"])
    assert [p.candidates for p in waiting] == [["c2"]]
    with pytest.raises(PermissionDenied):
        complaints.triage(db, people["rep"])
    routing = Routing(directory=Directory(CUSTOMERS))
    confirmed = complaints.confirm_post(db, people["manager"], waiting[0].id, "c2", POLICY, routing)
    assert confirmed.state == "matched"
    assert confirmed.match_method == "confirmed"
    case = db.get(Case, confirmed.case_id)
    assert case is not None
    assert case.urgent
    assert case.customer_id == "c2"
    with pytest.raises(Conflict):
        complaints.not_a_customer(db, people["manager"], waiting[0].id)


def test_never_two_customers_silently(db: Session, people: dict[str, User]) -> None:
    take(db, post("Ben Hart", url="https://r.example/5"))
    stored = db.scalars(select(PublicPost)).one()
    assert stored.state == "triage"
    assert stored.customer_id is None
    assert sorted(stored.candidates) == ["c3", "c4"]
    # The place tells them apart.
    take(db, post("Ben Hart, South, CA", url="https://r.example/6"))
    placed = db.scalars(select(PublicPost).where(PublicPost.url == "https://r.example/6")).one()
    assert (placed.state, placed.customer_id) == ("matched", "c4")
    gone = complaints.not_a_customer(db, people["admin"], stored.id)
    assert gone.state == "not_customer"


def test_business_hours_set_the_due_time() -> None:
    rules = Complaints(due_hours=4, business_hours=[9, 17], business_days=[0, 1, 2, 3, 4])
    friday_late = datetime(2026, 11, 27, 15, 0)  # a Friday, 15:00 UTC
    assert complaints.due_time(friday_late, 4, rules) == datetime(2026, 11, 30, 11, 0)
    saturday = datetime(2026, 11, 28, 10, 0)
    assert complaints.due_time(saturday, 4, rules) == datetime(2026, 11, 30, 13, 0)
    morning = datetime(2026, 11, 26, 7, 30)  # a Thursday, before opening
    assert complaints.due_time(morning, 2.5, rules) == datetime(2026, 11, 26, 11, 30)


def test_an_overdue_urgent_case_escalates_to_a_manager_once(
    db: Session, people: dict[str, User]
) -> None:
    take(db, post("ada@example.com", url="https://r.example/7"))
    case = db.scalars(select(Case)).one()
    assert case.due_at is not None
    assert complaints.escalate_overdue(db, now=case.due_at) == 0  # due, not yet overdue
    later = case.due_at.replace(microsecond=0) + (case.due_at - case.opened_at)
    assert complaints.escalate_overdue(db, now=later) == 1
    assert complaints.escalate_overdue(db, now=later) == 0
    task = db.scalars(select(Task).where(Task.kind == "escalation")).one()
    assert task.owner_id == people["manager"].id
    assert task.case_id == case.id
    assert [c.id for c in complaints.escalated_cases(db, people["manager"])] == [case.id]


def test_a_reply_is_recorded_by_whoever_works_the_case(
    db: Session, people: dict[str, User]
) -> None:
    take(db, post("ada@example.com", url="https://r.example/8"))
    stored = db.scalars(select(PublicPost)).one()
    case = db.get(Case, stored.case_id)
    assert case is not None
    owner = db.get(User, case.owner_id)
    other = people["rep2"] if owner is people["rep"] else people["rep"]
    with pytest.raises(PermissionDenied):
        complaints.record_reply(db, other, stored.id, "Sorry")
    assert owner is not None
    replied = complaints.record_reply(db, owner, stored.id, "We are sorry; we called you.",
                                      "https://r.example/8#reply")  # fmt: skip
    assert replied.reply
    assert replied.replied_by == owner.id


def test_the_webhook_refuses_unsigned_stale_and_replayed_posts(db: Session) -> None:
    source, secret = complaints.add_source(db, None, name="listening", kind="webhook")
    assert secret
    rules = Complaints()
    body = b'{"id": "1", "text": "hello"}'
    stamp = str(int(time.time()))
    good = complaints.sign(secret, stamp, body)
    old = str(int(time.time()) - 3600)
    assert complaints.verify_webhook(db, "listening", stamp, good, body, rules).id == source.id
    db.commit()
    for name, when, signature in (
        ("listening", stamp, ""),  # unsigned
        ("listening", stamp, complaints.sign("wrong", stamp, body)),
        ("nobody", stamp, good),
        ("listening", old, complaints.sign(secret, old, body)),  # stale
        ("listening", stamp, good),  # a replay
    ):  # fmt: skip
        with pytest.raises(NotAuthenticated):
            complaints.verify_webhook(db, name, when, signature, body, rules)
        db.rollback()
    assert db.scalar(select(func.count()).select_from(WebhookDelivery)) == 1


def test_parallel_takers_store_a_post_once_and_open_one_case(
    desk_engine: Engine, people: dict[str, User]
) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def worker() -> None:
        try:
            with open_session(desk_engine) as own:
                barrier.wait()
                take(own, post("ada@example.com", url="https://r.example/race"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with open_session(desk_engine) as db:
        assert db.scalar(select(func.count()).select_from(PublicPost)) == 1
        assert db.scalar(select(func.count()).select_from(Case)) == 1


def test_the_reasons_report_counts_public_complaints_by_reason_with_revenue_at_stake(
    db: Session, people: dict[str, User], tmp_path: Path
) -> None:
    from winback.insights.reasons import build_report
    from winback.ledger.importer import import_file
    from winback.ledger.store import Ledger

    ledger = Ledger(tmp_path / "ledger")
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "order_id,customer_id,order_date,amount\n"
        "o1,c1,2025-01-10,100\no2,c1,2025-06-01,250\no3,c2,2025-03-01,40\n",
        encoding="utf-8",
    )
    import_file(ledger, "orders", orders, rejects_dir=tmp_path / "rejects")
    take(
        db,
        post("ada@example.com", url="https://r.example/a"),  # late: delivery
        post("jon@example.com", text="They charged me twice, refuse to refund.", url="https://r.example/b"),
        post("ada@example.com", text="Still waiting, nobody answered, late again.", url="https://r.example/c"),
        post("ada@example.com", text="Acme won me back, brilliant service, thanks!", url="https://r.example/d"),
    )  # fmt: skip
    report = build_report(db, people["manager"], ledger)
    found = {p.key: p for p in report.public_complaints}
    assert set(found) == {"delivery", "billing"}
    assert (found["delivery"].posts, found["delivery"].customers) == (2, 1)
    assert found["delivery"].revenue_at_stake == pytest.approx(350.0)
    assert found["billing"].revenue_at_stake == pytest.approx(40.0)
    assert [p.key for p in report.public_complaints] == ["delivery", "billing"]


def test_a_later_sync_refreshes_the_urgent_case_and_keeps_it_urgent(
    db: Session, people: dict[str, User], tmp_path: Path
) -> None:
    from winback.desk.sync import sync_cases
    from winback.ledger.importer import import_file
    from winback.ledger.store import Ledger

    ledger = Ledger(tmp_path / "ledger")
    orders = tmp_path / "orders.csv"
    orders.write_text("order_id,customer_id,order_date,amount\no1,c1,2024-01-10,100\n")
    import_file(ledger, "orders", orders, rejects_dir=tmp_path / "rejects")
    routing = Routing(ledger=ledger, directory=Directory(CUSTOMERS))
    take(db, post("ada@example.com", url="https://r.example/s"), routing=routing)
    case = db.scalars(select(Case)).one()
    assert case.customer_status == complaints.COMPLAINT_STATUS
    assert case.last_order_date == date(2024, 1, 10)
    # The scan run knows the same last order: the case is refreshed, not closed.
    run = make_run(tmp_path, [{"customer_id": "c1", "rank": 7, "name": "Ada Lovelace"}])
    done = sync_cases(db, None, run, policy=POLICY)
    assert (done.opened, done.refreshed) == (0, 1)
    db.expire_all()
    again = db.scalars(select(Case)).one()
    assert again.id == case.id
    assert again.urgent
    assert again.due_at is not None
    assert (again.customer_status, again.rank) == ("lapsed", 7)
