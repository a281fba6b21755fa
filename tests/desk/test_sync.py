"""winback sync: scan runs become cases, refreshed and closed by later runs."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tests.desk.conftest import PASSWORD, POLICY, make_run
from winback.desk import cases
from winback.desk.models import AuditEntry, Case, User
from winback.desk.scan_fields import CASE_FIELDS, RUN_COLUMNS, UNRANKED, case_fields
from winback.desk.sync import _OPEN_COLUMNS, sync_cases
from winback.ledger.importer import import_file
from winback.ledger.store import Ledger
from winback.policy import Assignment, Policy


def _cases(db: Session) -> list[Case]:
    return list(db.scalars(select(Case).order_by(Case.customer_id, Case.id)))


def test_ranked_rep_and_executive_tiers_become_one_case_each(
    db: Session, people: dict[str, User], tmp_path: Path
) -> None:
    run = make_run(
        tmp_path,
        [
            {"customer_id": "a", "rank": 2, "tier": "rep"},
            {"customer_id": "b", "rank": 1, "tier": "executive"},
            {"customer_id": "c", "rank": 3, "tier": "campaign"},
            {"customer_id": "d", "rank": None, "tier": "none", "status": "active"},
        ],
    )
    result = sync_cases(db, None, run, policy=POLICY)

    made = _cases(db)
    assert [c.customer_id for c in made] == ["a", "b"]
    assert result.opened == 2
    assert [c.priority for c in made] == [2, 1]
    assert made[1].owner_id == people["executive"].id
    assert made[0].owner_id in (people["rep"].id, people["rep2"].id)
    assert made[0].reasons == ["no order for 200 days, twice the usual 90"]


@pytest.mark.parametrize(
    ("tiers", "opened"), [(["executive"], ["b"]), (["campaign", "rep"], ["a", "c"])]
)
def test_the_policys_case_tiers_decide_which_tiers_become_cases(
    db: Session, people: dict[str, User], tmp_path: Path, tiers: list[str], opened: list[str]
) -> None:
    run = make_run(
        tmp_path,
        [
            {"customer_id": "a", "rank": 2, "tier": "rep"},
            {"customer_id": "b", "rank": 1, "tier": "executive"},
            {"customer_id": "c", "rank": 3, "tier": "campaign"},
        ],
    )
    policy = Policy(assignment=Assignment.model_validate({"case_tiers": tiers}))
    sync_cases(db, None, run, policy=policy)

    assert [c.customer_id for c in _cases(db)] == opened


def test_a_later_scan_refreshes_the_open_case_and_never_duplicates_it(
    db: Session, people: dict[str, User], tmp_path: Path
) -> None:
    sync_cases(db, None, make_run(tmp_path, [{"customer_id": "a", "rank": 5}]), policy=POLICY)
    again = make_run(
        tmp_path, [{"customer_id": "a", "rank": 1, "reasons": ["p(alive) fell to 0.05"]}]
    )
    result = sync_cases(db, None, again, policy=POLICY)
    sync_cases(db, None, again, policy=POLICY)

    made = _cases(db)
    assert len(made) == 1
    assert (result.opened, result.refreshed) == (0, 1)
    assert made[0].rank == 1
    assert made[0].reasons_text == "p(alive) fell to 0.05"
    refresh = db.scalars(select(AuditEntry).where(AuditEntry.action == "case.refresh")).one()
    assert refresh.before == {
        "rank": 5,
        "priority": 5,
        "reasons": ["no order for 200 days, twice the usual 90"],
    }
    assert refresh.actor_name == "winback sync"


def test_customer_off_the_list_keeps_the_case_at_the_bottom_of_the_queue(
    db: Session, people: dict[str, User], tmp_path: Path
) -> None:
    sync_cases(db, None, make_run(tmp_path, [{"customer_id": "a", "rank": 1}]), policy=POLICY)
    sync_cases(
        db,
        None,
        make_run(tmp_path, [{"customer_id": "a", "rank": None, "tier": "none"}]),
        policy=POLICY,
    )
    (case,) = _cases(db)
    assert case.state == "open"
    assert case.priority == UNRANKED


def test_a_new_order_closes_the_case_as_returned_recording_whether_anyone_called(
    db: Session, people: dict[str, User], tmp_path: Path
) -> None:
    sync_cases(
        db,
        None,
        make_run(tmp_path, [{"customer_id": "a", "rank": 1}, {"customer_id": "b", "rank": 2}]),
        policy=POLICY,
    )
    a, b = _cases(db)
    owner = db.get(User, a.owner_id)
    assert owner is not None
    cases.log_activity(db, owner, a.id, kind="contact", channel="call", text="apologised")

    bought = {"last_order_date": date(2024, 7, 20), "status": "active", "rank": None}
    result = sync_cases(
        db,
        None,
        make_run(tmp_path, [{"customer_id": "a", **bought}, {"customer_id": "b", **bought}]),
        policy=POLICY,
    )

    a, b = _cases(db)
    assert result.returned == 2
    assert (a.state, a.outcome, a.contacted) == ("closed", "returned", True)
    assert (b.state, b.outcome, b.contacted) == ("closed", "returned", False)
    closing = db.scalars(
        select(AuditEntry).where(AuditEntry.action == "case.returned").order_by(AuditEntry.id)
    ).all()
    assert [e.after["contacted"] for e in closing if e.after] == [True, False]


def test_a_customer_who_lapses_again_gets_a_new_case(
    db: Session, people: dict[str, User], tmp_path: Path
) -> None:
    sync_cases(db, None, make_run(tmp_path, [{"customer_id": "a", "rank": 1}]), policy=POLICY)
    sync_cases(
        db,
        None,
        make_run(
            tmp_path,
            [
                {
                    "customer_id": "a",
                    "rank": None,
                    "status": "active",
                    "last_order_date": date(2024, 8, 1),
                }
            ],
        ),
        policy=POLICY,
    )
    sync_cases(
        db,
        None,
        make_run(
            tmp_path,
            [{"customer_id": "a", "rank": 3, "last_order_date": date(2024, 8, 1)}],
            as_of="2025-03-01",
        ),
        policy=POLICY,
    )
    made = _cases(db)
    assert [(c.state, c.outcome) for c in made] == [("closed", "returned"), ("open", None)]


def test_the_rep_who_dealt_with_the_customer_gets_the_case(
    db: Session, people: dict[str, User], tmp_path: Path
) -> None:
    ledger = Ledger(tmp_path / "ledger")
    interactions = tmp_path / "interactions.csv"
    interactions.write_text(
        "interaction_id,customer_id,occurred_at,channel,staff_id\n"
        "i1,a,2024-06-01,call,s-rep2\n"
        "i2,a,2023-01-01,call,s-rep\n"
        "i3,b,2022-01-01,call,s-rep2\n"
        "i4,b,2022-02-01,call,s-rep\n"
        "i5,b,2022-03-01,call,s-rep2\n",
        encoding="utf-8",
    )
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "order_id,customer_id,order_date,amount,staff_id\no1,b,2022-04-01,10,s-rep2\n",
        encoding="utf-8",
    )
    for table, path in (("interactions", interactions), ("orders", orders)):
        import_file(ledger, table, path, rejects_dir=tmp_path / "rejects")

    run = make_run(
        tmp_path,
        [
            {"customer_id": "a", "rank": 1},
            {"customer_id": "b", "rank": 2},
            {"customer_id": "c", "rank": 3},
        ],
    )
    sync_cases(db, None, run, ledger=ledger, policy=Policy(assignment=Assignment(recent_days=90)))

    a, b, c = _cases(db)
    assert a.owner_id == people["rep2"].id  # most recent contact, within 90 days
    assert b.owner_id == people["rep2"].id  # nothing recent: most contacts (2 calls + 1 order)
    assert c.owner_id == people["rep"].id  # nobody dealt with c: the least-busy rep
    reasons = [
        e.after["assigned_because"]
        for e in db.scalars(
            select(AuditEntry).where(AuditEntry.action == "case.open").order_by(AuditEntry.id)
        )
        if e.after
    ]
    assert reasons == [
        "dealt with the customer last, on 2024-06-01",
        "dealt with the customer most (3 times)",
        "least-busy rep",
    ]


def test_sync_writes_one_audit_row_per_case_opened(
    db: Session, people: dict[str, User], tmp_path: Path
) -> None:
    rows = [{"customer_id": f"c{i}", "rank": i + 1} for i in range(30)]
    sync_cases(db, None, make_run(tmp_path, rows), policy=POLICY)
    opened = db.scalar(
        select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "case.open")
    )
    assert opened == 30
    loads = sorted(db.execute(select(Case.owner_id, func.count()).group_by(Case.owner_id)).all())
    assert [n for _, n in loads] == [15, 15]  # spread evenly over the two reps


def test_the_database_refuses_a_second_open_case_for_a_customer(
    db: Session, people: dict[str, User], tmp_path: Path
) -> None:
    sync_cases(db, None, make_run(tmp_path, [{"customer_id": "a", "rank": 1}]), policy=POLICY)
    (case,) = _cases(db)
    twin = Case(
        customer_id="a", state="open", priority=1, run_id=case.run_id, customer_status="lost"
    )
    db.add(twin)
    with pytest.raises(IntegrityError):
        db.commit()
    db.rollback()
    twin_closed = Case(
        customer_id="a", state="closed", priority=1, run_id=case.run_id, customer_status="lost"
    )
    db.add(twin_closed)
    db.commit()  # closed cases are history: as many as there were


def test_case_fields_come_in_the_order_sync_reads_an_open_case_in() -> None:
    """Sync tells an unchanged case by setting the scan row's fields beside the open case's
    row (id, customer id, then CASE_FIELDS): fields out of that order could pair two
    swapped values and call a changed case unchanged."""
    row = dict.fromkeys(RUN_COLUMNS)
    assert tuple(case_fields(row)) == CASE_FIELDS
    assert [c.key for c in _OPEN_COLUMNS] == ["id", "customer_id", *CASE_FIELDS]


def test_a_case_whose_two_fields_trade_values_is_refreshed(
    db: Session, people: dict[str, User], tmp_path: Path
) -> None:
    row = {"customer_id": "c1", "rank": 1, "tier": "rep"}
    sync_cases(
        db, None, make_run(tmp_path, [{**row, "p_alive": 0.2, "winback_odds": 0.4}]), policy=POLICY
    )
    later = make_run(tmp_path, [{**row, "p_alive": 0.4, "winback_odds": 0.2}])

    done = sync_cases(db, None, later, policy=POLICY)

    assert (done.refreshed, done.unchanged) == (1, 0)
    (case,) = _cases(db)
    assert (case.p_alive, case.winback_odds) == (0.4, 0.2)


def _sync_story(session: Session, runs: Path) -> tuple[list[tuple[Any, ...]], list[Any]]:
    """Two syncs: nine customers listed in shuffled rank order, two not; then three
    re-ranked, two returned (a later order), two unchanged, two new. The desk after it:
    every case and every audit row, without their clocks."""
    first = [
        {"customer_id": f"c{i}", "rank": rank, "tier": "executive" if i % 4 == 0 else "rep"}
        for i, rank in enumerate([5, 2, 9, 1, 7, 3, 8, 4, 6])
    ]
    first += [{"customer_id": "x1", "rank": None, "tier": "none", "status": "active"}]
    first += [{"customer_id": "x2", "rank": 10, "tier": "campaign"}]
    sync_cases(session, None, make_run(runs, first), policy=POLICY)
    second = [dict(row) for row in first[:9]]
    for row in second[:3]:
        row["rank"] += 20
    for row in second[3:5]:
        row["last_order_date"] = date(2024, 6, 30)
    second += [{"customer_id": "n1", "rank": 12}, {"customer_id": "n2", "rank": 11}]
    result = sync_cases(session, None, make_run(runs, second, as_of="2024-08-01"), policy=POLICY)
    assert (result.opened, result.refreshed) == (2, 3)
    cases_now = [
        (c.id, c.customer_id, c.state, c.owner_id, c.priority, c.rank, c.tier, c.reasons)
        for c in session.scalars(select(Case).order_by(Case.id))
    ]
    audited = [
        (a.action, a.entity, a.entity_id, a.before, a.after)
        for a in session.scalars(select(AuditEntry).order_by(AuditEntry.id))
    ]
    return cases_now, audited


def test_sync_in_pieces_leaves_the_desk_as_in_one(
    sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # At 100M orders a first sync opens some 1.2M cases: their run rows are turned into
    # Python objects, inserted and audited a piece at a time. Pieces of 1 and 2 here.
    from winback.desk import sync
    from winback.desk import users as desk_users
    from winback.desk.db import make_engine, open_session

    desks = []
    for piece in (50_000, 2, 1):
        monkeypatch.setattr(sync, "PIECE", piece)
        path = tmp_path / f"desk-{piece}.sqlite3"
        path.write_bytes(sqlite_template.read_bytes())
        engine = make_engine(f"sqlite:///{path}")
        with open_session(engine) as session:
            for k, role in enumerate(("executive", "rep", "rep")):
                desk_users.create_user(
                    session, None, username=f"u{k}", name=role, role=role, password=PASSWORD
                )
            desks.append(_sync_story(session, tmp_path / f"runs-{piece}"))
        engine.dispose()
    whole, *pieces = desks
    assert len(whole[0]) == 11
    assert sum(c[2] == "closed" for c in whole[0]) == 2
    assert [c[1] for c in whole[0][:9]] == ["c3", "c1", "c5", "c7", "c0", "c8", "c4", "c6", "c2"]
    for desk in pieces:
        assert desk == whole


def test_no_case_tiers_opens_nothing_and_still_refreshes_the_open_cases(
    db: Session, people: dict[str, User], tmp_path: Path
) -> None:
    # An empty [assignment] case_tiers is allowed: no tier becomes a case. The run's rows
    # are filtered by a typed empty list (untyped, Arrow refused it and every sync failed).
    sync_cases(db, None, make_run(tmp_path, [{"customer_id": "a", "rank": 5}]), policy=POLICY)
    none = Policy(assignment=Assignment.model_validate({"case_tiers": []}))
    again = make_run(tmp_path, [{"customer_id": "a", "rank": 2}, {"customer_id": "b", "rank": 1}])
    result = sync_cases(db, None, again, policy=none)
    assert (result.opened, result.refreshed) == (0, 1)
    assert [(c.customer_id, c.rank) for c in _cases(db)] == [("a", 2)]


def test_a_sync_in_pieces_audits_at_one_moment(
    db: Session, people: dict[str, User], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from winback.desk import sync

    monkeypatch.setattr(sync, "PIECE", 1)
    run = make_run(tmp_path, [{"customer_id": c, "rank": r} for r, c in enumerate("abc", 1)])
    sync_cases(db, None, run, policy=POLICY)
    opened = db.scalars(select(AuditEntry).where(AuditEntry.action == "case.open")).all()
    assert len(opened) == 3
    assert len({entry.at for entry in opened}) == 1
