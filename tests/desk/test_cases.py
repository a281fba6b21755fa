"""Queues, the manager's filters, saved filters and the work done on a case."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.desk.conftest import POLICY, make_run, win_back
from winback.desk import cases
from winback.desk.models import Case, User
from winback.desk.sync import sync_cases
from winback.errors import Conflict, InvalidInput
from winback.policy import Policy


@pytest.fixture
def some_cases(db: Session, people: dict[str, User], tmp_path: Path) -> list[Case]:
    rows = [
        {"customer_id": "a", "rank": 3, "expected_value": 100.0, "status": "lapsed"},
        {
            "customer_id": "b",
            "rank": 1,
            "expected_value": 900.0,
            "status": "lost",
            "reasons": ["three late deliveries since March"],
        },
        {"customer_id": "c", "rank": 2, "expected_value": 400.0, "status": "slipping"},
        {"customer_id": "d", "rank": 4, "expected_value": 50.0, "tier": "executive"},
    ]
    sync_cases(db, None, make_run(tmp_path, rows), policy=POLICY)
    made = list(db.scalars(select(Case).order_by(Case.customer_id)))
    for case in made[:3]:
        case.owner_id = people["rep"].id
    made[3].owner_id = None
    db.commit()
    return made


def test_rep_queue_is_in_priority_order_and_holds_only_their_open_cases(
    db: Session, people: dict[str, User], some_cases: list[Case]
) -> None:
    cases.close_case(db, people["rep"], some_cases[2].id, "declined", policy=Policy())
    page = cases.my_queue(db, people["rep"])
    assert [c.customer_id for c in page.cases] == ["b", "a"]
    assert page.cases[0].reasons == ["three late deliveries since March"]
    assert cases.my_queue(db, people["rep2"]).cases == []


def test_queue_pages_do_not_overlap(
    db: Session, people: dict[str, User], some_cases: list[Case]
) -> None:
    first = cases.my_queue(db, people["rep"], page=1, size=2)
    second = cases.my_queue(db, people["rep"], page=2, size=2)
    assert first.has_next
    assert not second.has_next
    assert [c.customer_id for c in first.cases + second.cases] == ["b", "c", "a"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, ["b", "c", "a", "d"]),
        ({"status": "lost"}, ["b"]),
        ({"tier": "executive"}, ["d"]),
        ({"reason": "LATE deliver"}, ["b"]),
        ({"min_value": "400"}, ["b", "c"]),
        ({"owner_id": "0"}, ["d"]),
    ],
)
def test_manager_filters(
    db: Session,
    people: dict[str, User],
    some_cases: list[Case],
    query: dict[str, str],
    expected: list[str],
) -> None:
    f = cases.CaseFilter.from_query(query)
    assert [c.customer_id for c in cases.search_cases(db, people["manager"], f).cases] == expected


def test_reason_filter_treats_percent_signs_literally(
    db: Session, people: dict[str, User], some_cases: list[Case]
) -> None:
    f = cases.CaseFilter.from_query({"reason": "%"})
    assert cases.search_cases(db, people["manager"], f).cases == []


def test_saved_filter_round_trips_and_names_are_unique_per_user(
    db: Session, people: dict[str, User], some_cases: list[Case]
) -> None:
    f = cases.CaseFilter.from_query({"status": "lost", "min_value": "500"})
    saved = cases.save_filter(db, people["manager"], "big and lost", f)
    again = cases.CaseFilter.from_query(cases.list_filters(db, people["manager"])[0].query)
    assert again == f
    with pytest.raises(Conflict):
        cases.save_filter(db, people["manager"], "big and lost", f)
    cases.delete_filter(db, people["manager"], saved.id)
    assert cases.list_filters(db, people["manager"]) == []


def test_logging_a_contact_marks_the_case_contacted_and_working(
    db: Session, people: dict[str, User], some_cases: list[Case]
) -> None:
    cases.log_activity(
        db, people["rep"], some_cases[0].id, kind="contact", channel="call", text="hi"
    )
    assert (some_cases[0].state, some_cases[0].contacted) == ("working", True)
    with pytest.raises(InvalidInput, match="channel"):
        cases.log_activity(
            db, people["rep"], some_cases[0].id, kind="contact", channel="pigeon", text=""
        )


def test_a_closed_case_cannot_be_closed_again_or_reassigned(
    db: Session, people: dict[str, User], some_cases: list[Case]
) -> None:
    win_back(db, people["rep"], some_cases[0].id, policy=Policy())
    with pytest.raises(Conflict):
        cases.close_case(db, people["manager"], some_cases[0].id, "declined", policy=Policy())
    with pytest.raises(Conflict):
        cases.reassign(db, people["manager"], some_cases[0].id, people["rep2"].id)


def test_only_sync_records_returned(
    db: Session, people: dict[str, User], some_cases: list[Case]
) -> None:
    with pytest.raises(InvalidInput, match="outcome"):
        cases.close_case(db, people["rep"], some_cases[0].id, "returned", policy=Policy())


def test_cases_cannot_go_to_an_admin(
    db: Session, people: dict[str, User], some_cases: list[Case]
) -> None:
    with pytest.raises(InvalidInput, match="cannot take cases"):
        cases.reassign(db, people["manager"], some_cases[0].id, people["admin"].id)
