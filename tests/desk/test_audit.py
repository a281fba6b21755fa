"""The audit log: every change recorded, editable by no one."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from winback.desk import audit, users
from winback.desk.models import AuditEntry, User


def test_every_change_records_who_what_before_and_after(
    db: Session, people: dict[str, User]
) -> None:
    users.set_active(db, people["admin"], people["rep"].id, False)
    (entry,) = audit.read_log(
        db, people["manager"], entity="user", entity_id=str(people["rep"].id)
    )[:1]
    assert entry.actor_name == "admin"
    assert entry.action == "user.update"
    assert entry.before == {"active": True}
    assert entry.after == {"active": False, "tokens_revoked": 0}  # the rep had no token


def test_creating_a_user_from_the_command_line_is_audited_as_system(
    db: Session, people: dict[str, User]
) -> None:
    created = db.scalars(select(AuditEntry).where(AuditEntry.action == "user.create")).all()
    assert {e.actor_name for e in created} == {"system"}
    assert all("password_hash" not in (e.after or {}) for e in created)


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_log SET actor_name = 'x'", "DELETE FROM audit_log"]
)
def test_the_database_refuses_to_edit_the_audit_log(
    db: Session, people: dict[str, User], statement: str
) -> None:
    with pytest.raises(DBAPIError, match="append-only"):
        db.execute(text(statement))
    db.rollback()
    assert db.scalar(select(AuditEntry.actor_name).limit(1)) == "system"


def test_audit_values_are_stored_as_json_takes_them() -> None:
    when = datetime(2024, 7, 1, 6, 30, 15)
    value = {
        "reasons": ["no order in 90 days", "a complaint"],
        "on": date(2024, 7, 1),
        "n": 3,
        "p": 0.25,
        "flag": None,
        "nested": [(date(2024, 1, 2), when), {"at": when, "ok": True}],
    }
    assert audit._plain(value) == {
        "reasons": ["no order in 90 days", "a complaint"],
        "on": "2024-07-01",
        "n": 3,
        "p": 0.25,
        "flag": None,
        "nested": [
            ["2024-01-02", "2024-07-01T06:30:15"],
            {"at": "2024-07-01T06:30:15", "ok": True},
        ],
    }
