"""The outbox's queue: one row per idempotency key (a double launch, or two at once, queues
nothing twice), do-not-contact customers left out, bad messages refused by name."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tests.desk.race import in_parallel
from winback.desk import do_not_contact
from winback.desk.models import OutboxMessage, User
from winback.desk.outbox import EnqueueReport, OutgoingMessage, enqueue, message_states
from winback.errors import InvalidInput


def offer(customer: str, campaign: int = 1, **changes: object) -> OutgoingMessage:
    fields: dict[str, object] = {
        "key": f"campaign:{campaign}:{customer}:offer:1",
        "customer_id": customer,
        "to_address": f"{customer.lower()}@example.com",
        "subject": "We miss you",
        "text": f"Hello {customer}",
        "campaign_id": campaign,
        "headers": {"X-Campaign": str(campaign)},
    }
    fields.update(changes)
    return OutgoingMessage(**fields)  # type: ignore[arg-type]


def test_a_second_launch_queues_nothing_twice_and_blocked_customers_are_left_out(
    db: Session,
) -> None:
    do_not_contact.block(db, None, "C3", source="unsubscribe")
    first = enqueue(db, [offer("C1"), offer("C2"), offer("C3"), offer("C1")])
    assert first == EnqueueReport(queued=2, duplicates=1, blocked=1)
    again = enqueue(db, [offer("C1"), offer("C2"), offer("C4")])
    assert again == EnqueueReport(queued=1, duplicates=2, blocked=0)
    rows = db.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    assert [r.customer_id for r in rows] == ["C1", "C2", "C4"]
    assert all(r.state == "queued" and r.headers == {"X-Campaign": "1"} for r in rows)
    assert len({r.message_id for r in rows}) == 3
    states = message_states(db, 1)
    assert states["queued"] == 3
    assert states["sent"] == 0
    assert message_states(db, 2)["queued"] == 0


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"to_address": "not an address"}, "to_address"),
        ({"to_address": "a@b.com\r\nBcc: x@y.com"}, "to_address"),
        ({"subject": "Hi\r\nBcc: x@y.com"}, "subject"),
        ({"key": ""}, "key"),
        ({"customer_id": " "}, "customer_id"),
        ({"text": ""}, "text"),
        ({"headers": {"Subject": "x"}}, "sets this one itself"),
        ({"headers": {"X-Bad": "a\nb"}}, "header X-Bad"),
    ],
)
def test_a_bad_message_is_refused_by_name_and_nothing_is_queued(
    db: Session, change: dict[str, object], named: str
) -> None:
    with pytest.raises(InvalidInput, match=named) as error:
        enqueue(db, [offer("C1"), offer("C2", **change)])
    assert "message 2" in str(error.value)
    assert db.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_parallel_launches_queue_each_key_once(
    desk_engine: Engine, db: Session, people: dict[str, User]
) -> None:
    batch = [offer(f"C{i}") for i in range(300)]

    def launch(session: Session, _user: User, _i: int) -> EnqueueReport:
        return enqueue(session, batch)

    reports = in_parallel(desk_engine, people["manager"].id, launch, threads=6)
    assert all(isinstance(r, EnqueueReport) for r in reports)
    assert sum(r.queued for r in reports if isinstance(r, EnqueueReport)) == 300
    assert sum(r.duplicates for r in reports if isinstance(r, EnqueueReport)) == 5 * 300
    assert db.scalar(select(func.count()).select_from(OutboxMessage)) == 300
