"""The desk's lists: sorted, paged and totalled in SQL, with a CSV copy; bulk reassign."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from tests.desk.conftest import POLICY, make_run, win_back
from tests.desk.race import in_parallel
from winback.desk import cases, lists, tasks
from winback.desk.listing import ListQuery, read_query
from winback.desk.models import AuditEntry, Case, User
from winback.desk.sync import sync_cases
from winback.errors import Conflict, InvalidInput, PermissionDenied

WORTHS = {"c1": 500.0, "c2": 900.0, "c3": None, "c4": 100.0, "c5": 700.0}


@pytest.fixture
def five(db: Session, people: dict[str, User], tmp_path: Path) -> dict[str, Case]:
    """Five cases for the rep: worth 500, 900, unknown, 100, 700; c4's name would run as a
    formula in a spreadsheet."""
    rows = [
        {
            "customer_id": cid,
            "name": '=HYPERLINK("http://x")' if cid == "c4" else f"Customer {cid}",
            "rank": i + 1,
            "expected_value": worth,
            "status": "lost" if cid in ("c2", "c5") else "lapsed",
            "reasons": [f"{cid} first reason", f"{cid} second reason"],
        }
        for i, (cid, worth) in enumerate(WORTHS.items())
    ]
    sync_cases(db, None, make_run(tmp_path / "runs", rows), policy=POLICY)
    found = {c.customer_id: c for c in db.scalars(select(Case))}
    for c in found.values():
        c.owner_id = people["rep"].id
    db.commit()
    return found


def _ids(page: lists.ListPage[lists.CaseRow]) -> list[str]:
    return [r.case.customer_id for r in page.rows]


def test_worth_sorts_both_ways_with_unknown_worth_last_and_totals_count_everything(
    db: Session, people: dict[str, User], five: dict[str, Case]
) -> None:
    rep = people["rep"]
    down = lists.queue(db, rep, ListQuery("worth", True))
    assert _ids(down) == ["c2", "c5", "c1", "c4", "c3"]
    up = lists.queue(db, rep, ListQuery("worth", False))
    assert _ids(up) == ["c4", "c1", "c5", "c2", "c3"]
    assert (down.total, down.value_sum) == (5, 2200.0)
    second = lists.queue(db, rep, ListQuery("worth", True, page=2, size=2))
    assert _ids(second) == ["c1", "c4"]
    assert (second.total, second.pages, second.has_next) == (5, 3, True)


def test_ties_keep_one_order_so_pages_neither_repeat_nor_skip_a_row(
    db: Session, people: dict[str, User], five: dict[str, Case]
) -> None:
    seen = []
    for page in (1, 2, 3):
        seen += _ids(lists.queue(db, people["rep"], ListQuery("status", False, page, 2)))
    assert sorted(seen) == sorted(WORTHS)
    # lapsed before lost; in each status, by case id.
    by_id = sorted(five.values(), key=lambda c: c.id)
    lapsed = [c.customer_id for c in by_id if c.customer_status == "lapsed"]
    assert seen[:3] == lapsed


def test_filters_owner_sort_and_the_next_task_due(
    db: Session, people: dict[str, User], five: dict[str, Case]
) -> None:
    manager = people["manager"]
    cases.reassign(db, manager, five["c1"].id, people["rep2"].id)
    tasks.add_task(
        db,
        manager,
        kind="commitment",
        title="call back",
        customer_id="c5",
        owner_id=people["rep"].id,
        due_on=tasks.today(),
        case_id=five["c5"].id,
    )
    db.commit()
    found = lists.all_cases(db, manager, cases.CaseFilter(status="lost"), ListQuery("due", False))
    assert _ids(found) == ["c5", "c2"]  # a case with no open task comes last
    assert found.rows[0].next_due == tasks.today()
    by_owner = lists.all_cases(db, manager, cases.CaseFilter(), ListQuery("owner", True))
    assert by_owner.rows[0].owner_name == "Rep Two"


def test_a_sort_or_size_the_list_does_not_offer_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidInput) as bad_sort:
        read_query({"sort": "expected_value; drop table cases"}, lists.CASE_SORTING)
    assert bad_sort.value.field == "sort"
    assert "worth" in str(bad_sort.value)
    with pytest.raises(InvalidInput) as bad_size:
        read_query({"size": "5000"}, lists.CASE_SORTING)
    assert bad_size.value.field == "size"
    with pytest.raises(InvalidInput):
        read_query({"dir": "sideways"}, lists.CASE_SORTING)
    assert read_query({"sort": "worth"}, lists.CASE_SORTING).desc  # biggest first


def test_csv_is_the_whole_sorted_list_and_no_cell_runs_as_a_formula(
    db: Session, people: dict[str, User], five: dict[str, Case]
) -> None:
    text = lists.queue_csv(db, people["rep"], ListQuery("worth", True, page=2, size=1))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["customer_id"] for r in rows] == ["c2", "c5", "c1", "c4", "c3"]
    c4 = rows[3]
    assert c4["customer_name"] == '\'=HYPERLINK("http://x")'
    assert (c4["worth"], c4["top_reason"]) == ("100.00", "c4 first reason")
    assert c4["reasons"] == "c4 first reason; c4 second reason"


def test_bulk_reassign_moves_every_case_audits_each_and_a_second_send_moves_nothing(
    db: Session, people: dict[str, User], five: dict[str, Case]
) -> None:
    manager, rep2 = people["manager"], people["rep2"]
    ids = [five["c1"].id, five["c2"].id]
    moved = cases.reassign_many(db, manager, ids, rep2.id)
    assert sorted(c.id for c in moved) == sorted(ids)
    assert {db.get(Case, i).owner_id for i in ids} == {rep2.id}  # type: ignore[union-attr]
    entries = db.scalars(select(AuditEntry).where(AuditEntry.action == "case.reassign")).all()
    assert sorted(e.entity_id for e in entries) == sorted(str(i) for i in ids)
    assert cases.reassign_many(db, manager, ids, rep2.id) == []
    again = db.scalars(select(AuditEntry).where(AuditEntry.action == "case.reassign")).all()
    assert len(again) == 2


def test_bulk_reassign_is_refused_wholesale_when_one_case_is_closed(
    db: Session, people: dict[str, User], five: dict[str, Case]
) -> None:
    manager, rep2 = people["manager"], people["rep2"]
    win_back(db, people["rep"], five["c3"].id)
    with pytest.raises(Conflict, match=f"case {five['c3'].id} is closed; nothing was reassigned"):
        cases.reassign_many(db, manager, [five["c1"].id, five["c3"].id], rep2.id)
    db.rollback()
    assert db.get(Case, five["c1"].id).owner_id == people["rep"].id  # type: ignore[union-attr]
    with pytest.raises(InvalidInput, match="no case 999999"):
        cases.reassign_many(db, manager, [five["c1"].id, 999999], rep2.id)
    db.rollback()
    with pytest.raises(InvalidInput, match="cannot take cases"):
        cases.reassign_many(db, manager, [five["c1"].id], people["admin"].id)
    db.rollback()
    with pytest.raises(PermissionDenied):
        cases.reassign_many(db, people["rep"], [five["c1"].id], rep2.id)


def test_parallel_bulk_reassigns_move_each_case_once_and_end_with_one_owner(
    desk_engine: Engine, db: Session, people: dict[str, User], five: dict[str, Case]
) -> None:
    """Twelve managers' clicks at once, half giving the cases to rep2 and half to the
    manager: one at a time, so every case ends with the last one's owner and each move
    is audited exactly once."""
    ids = sorted(c.id for c in five.values())
    targets = (people["rep2"].id, people["manager"].id)

    def move(session: Session, who: User, i: int) -> int:
        return len(cases.reassign_many(session, who, ids, targets[i % 2]))

    results = in_parallel(desk_engine, people["manager"].id, move)
    assert all(isinstance(r, int) for r in results)
    db.expire_all()
    owners = {db.get(Case, i).owner_id for i in ids}  # type: ignore[union-attr]
    assert len(owners) == 1
    moves = db.scalars(select(AuditEntry).where(AuditEntry.action == "case.reassign")).all()
    assert len(moves) == sum(r for r in results if isinstance(r, int))
    assert len(moves) % len(ids) == 0  # whole batches only, never part of one
