"""The dashboard's worked cases re-read only where the audit log says they changed: after
every kind of change, the cache gives what a full read gives (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from tests.desk.conftest import POLICY
from tests.desk.test_report import add_call, build_cases
from winback.desk import audit, cases, concessions
from winback.desk.models import AuditEntry, Case, User
from winback.insights import reasons
from winback.insights.reasons import WorkedCache, _worked_cases


def same(db: Session, cache: WorkedCache, since: date | None = None) -> list[reasons._Worked]:
    """The cache's read, checked against a full read."""
    got = cache.read(db, since)
    assert got == _worked_cases(db, since)
    return got


def case_entry(at: int, case_id: int) -> AuditEntry:
    """An audit entry with the id ``at``, naming a case: as a transaction that drew its id
    earlier may commit it."""
    return AuditEntry(id=at, actor_name="x", action="case.note", entity="case",
                      entity_id=str(case_id), at=datetime(2024, 6, 2))  # fmt: skip


def test_audited_changes_are_read_again_and_only_those(
    db: Session, people: dict[str, User], monkeypatch: pytest.MonkeyPatch
) -> None:
    made = build_cases(db, people)
    cache = WorkedCache()
    first = same(db, cache)
    assert {w.customer_id for w in first} == {"cA", "cB", "cC", "cD", "cE", "cF", "cI"}

    read_only: list[list[int] | None] = []
    full_read = reasons._worked_cases

    def spy(db: Session, since: date | None, only: list[int] | None = None) -> list:  # type: ignore[type-arg]
        read_only.append(None if only is None else list(only))
        return full_read(db, since, only)

    monkeypatch.setattr(reasons, "_worked_cases", spy)
    manager = people["manager"]
    # A case closed (cG: not worked before, now is) and one reassigned (cF's rep changes).
    cases.close_case(db, manager, made["cG"].id, "declined", policy=POLICY)
    cases.reassign(db, manager, made["cF"].id, people["rep2"].id)
    db.commit()
    got = same(db, cache)
    assert read_only[0] is not None
    assert set(read_only[0]) == {made["cG"].id, made["cF"].id}
    assert next(w for w in got if w.customer_id == "cF").owner_id == people["rep2"].id
    assert any(w.customer_id == "cG" and w.outcome == "declined" for w in got)

    # A concession decided: its case is read again (by way of the concession's id).
    asked = concessions.request_concession(db, people["rep2"], made["cF"].id, kind="credit",
                                           amount=900.0)  # fmt: skip
    read_only.clear()
    same(db, cache)
    assert read_only == [[made["cF"].id]]

    # Nothing changed: nothing read.
    read_only.clear()
    same(db, cache)
    assert read_only == []
    assert asked.case_id == made["cF"].id


def test_an_entry_of_another_kind_reads_everything_again(
    db: Session, people: dict[str, User]
) -> None:
    build_cases(db, people)
    cache = WorkedCache()
    same(db, cache)
    # A change written without a case's entry (here: by hand), then an entry that names
    # no case: the cache cannot tell what changed, so it reads all.
    db.execute(update(Case).where(Case.customer_id == "cB").values(tier="executive"))
    audit.record(db, None, "mystery.change", "mystery", "x", None, {})
    db.commit()
    got = same(db, cache)
    assert next(w for w in got if w.customer_id == "cB").tier == "executive"


def test_an_entry_committed_late_below_the_newest_seen_is_not_missed(
    db: Session, people: dict[str, User]
) -> None:
    made = build_cases(db, people)
    cache = WorkedCache()
    same(db, cache)
    # Two transactions drew audit ids; the later one (naming cB) commits first and is
    # seen; then the earlier one (naming cH, with a new call) commits, below the newest seen.
    top = db.scalar(select(func.max(AuditEntry.id))) or 0
    db.add(case_entry(top + 10, made["cB"].id))
    db.commit()
    same(db, cache)
    add_call(db, made["cH"], people["rep"], at=datetime(2024, 6, 2), reasons=["late"],
             verification="yes")  # fmt: skip
    db.add(case_entry(top + 5, made["cH"].id))
    db.commit()
    got = same(db, cache)
    assert any(w.customer_id == "cH" and w.reasons == ["late"] for w in got)


def test_each_since_is_brought_up_to_date(db: Session, people: dict[str, User]) -> None:
    made = build_cases(db, people)
    cache = WorkedCache()
    april = date(2024, 4, 1)
    assert len(same(db, cache, april)) < len(same(db, cache))
    cases.close_case(db, people["manager"], made["cH"].id, "declined", policy=POLICY)
    assert any(w.customer_id == "cH" for w in same(db, cache, april))
    assert any(w.customer_id == "cH" for w in same(db, cache))
