"""Do-not-contact: set by anyone on the desk, lifted only by a manager, history kept, and
a burst of parallel blocks for one customer leaves one row."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from tests.desk.race import in_parallel
from winback.desk import do_not_contact
from winback.desk.models import AuditEntry, ContactBlock, User
from winback.errors import InvalidInput, PermissionDenied


def test_a_rep_blocks_a_customer_and_only_a_manager_lifts_it(
    db: Session, people: dict[str, User]
) -> None:
    do_not_contact.block(db, people["rep"], "C1", note="asked on the phone")
    assert do_not_contact.is_blocked(db, "C1")
    assert do_not_contact.blocked_among(db, ["C1", "C2", "C1"]) == {"C1"}
    with pytest.raises(PermissionDenied):
        do_not_contact.lift(db, people["rep"], "C1")
    do_not_contact.lift(db, people["manager"], "C1", note="customer asked to hear from us")
    assert not do_not_contact.is_blocked(db, "C1")
    assert do_not_contact.blocked_among(db, ["C1"]) == set()
    row = db.get(ContactBlock, "C1")
    assert row is not None
    assert row.lifted_by == people["manager"].id
    actions = db.scalars(
        select(AuditEntry.action).where(AuditEntry.entity_id == "C1").order_by(AuditEntry.id)
    ).all()
    assert actions == ["do_not_contact", "contact_allowed"]
    assert do_not_contact.lift(db, people["manager"], "C1") is None


def test_an_unsubscribe_blocks_with_no_user_and_blocking_again_changes_nothing(
    db: Session, people: dict[str, User]
) -> None:
    first = do_not_contact.block(db, None, "C9", source="unsubscribe")
    again = do_not_contact.block(db, people["rep"], "C9", note="second time")
    assert again.source == first.source == "unsubscribe"
    assert db.scalars(select(AuditEntry.actor_name).where(AuditEntry.entity_id == "C9")).all() == [
        "unsubscribe"
    ]


@pytest.mark.parametrize("bad", ["", "   ", "x" * 101])
def test_a_bad_customer_id_or_source_is_refused_by_name(
    db: Session, people: dict[str, User], bad: str
) -> None:
    with pytest.raises(InvalidInput, match="customer id"):
        do_not_contact.block(db, people["rep"], bad)
    with pytest.raises(InvalidInput, match="source"):
        do_not_contact.block(db, people["rep"], "C1", source="rumour")


def test_parallel_blocks_of_one_customer_leave_one_row(
    desk_engine: Engine, db: Session, people: dict[str, User]
) -> None:
    ids = [people["rep"].id, people["rep2"].id, people["manager"].id]
    results = in_parallel(desk_engine, ids, lambda s, u, i: do_not_contact.block(s, u, "C5"))
    assert all(isinstance(r, ContactBlock) for r in results)
    assert db.scalars(select(ContactBlock.customer_id)).all() == ["C5"]
    assert len(db.scalars(select(AuditEntry).where(AuditEntry.entity_id == "C5")).all()) == 1
