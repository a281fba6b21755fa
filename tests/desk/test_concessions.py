"""Concessions within authority, through the service: every way around a limit is tried
(on SQLite and PostgreSQL), and the happy paths.

Starting limits (models.STARTING_LIMITS): rep 10% / 50 / 1, manager 25% / 500 / 5,
executive 50% / 5000 / 20, admin nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.desk.conftest import PASSWORD, POLICY, make_run, win_back
from winback.desk import cases, users
from winback.desk import concessions as cx
from winback.desk.models import AuditEntry, Case, Concession, User
from winback.desk.sync import sync_cases
from winback.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from winback.policy import Policy


@pytest.fixture
def open_cases(db: Session, people: dict[str, User], tmp_path: Path) -> dict[str, Case]:
    """c1 is the rep's case, c2 rep2's, c3 the executive's."""
    run = make_run(
        tmp_path / "runs",
        [{"customer_id": f"c{i}", "rank": i} for i in (1, 2, 3)],
    )
    sync_cases(db, None, run, policy=POLICY)
    found = {c.customer_id: c for c in db.scalars(select(Case))}
    found["c1"].owner_id = people["rep"].id
    found["c2"].owner_id = people["rep2"].id
    found["c3"].owner_id = people["executive"].id
    db.commit()
    return found


@pytest.fixture
def boss(db: Session, people: dict[str, User]) -> User:
    """A second manager whose discount limit (40%) is above the first's (25%)."""
    made = users.create_user(
        db, None, username="boss", name="Boss", role="manager", password=PASSWORD
    )
    made.limit_discount_pct = 40.0
    db.commit()
    return made


def _ask(db: Session, who: User, case: Case, amount: float, kind: str = "discount_pct") -> int:
    return cx.request_concession(db, who, case.id, kind=kind, amount=amount).id


def _get(db: Session, concession_id: int) -> Concession:
    found = db.get(Concession, concession_id)
    assert found is not None
    db.refresh(found)
    return found


def _count(db: Session, model: type) -> int:
    return db.scalar(select(func.count()).select_from(model)) or 0


# --- asking -----------------------------------------------------------------------------


def test_within_limit_is_granted_on_the_spot_and_audited(
    db: Session, people: dict[str, User], open_cases: dict[str, Case]
) -> None:
    rep = people["rep"]
    c = cx.request_concession(
        db, rep, open_cases["c1"].id, kind="credit", amount=50, note="late deliveries"
    )
    assert (c.state, c.route, c.asked, c.granted, c.decided_by) == (
        "granted",
        "self",
        50,
        50,
        rep.id,
    )
    assert c.decided_at is not None
    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "concession.request")).one()
    assert (entry.actor_name, entry.entity, entry.entity_id) == ("rep", "concession", str(c.id))
    assert entry.after is not None
    assert (entry.after["state"], entry.after["granted"]) == ("granted", 50)


def test_above_the_limit_waits_for_a_manager_and_grants_nothing(
    db: Session, people: dict[str, User], open_cases: dict[str, Case]
) -> None:
    c = cx.request_concession(
        db, people["rep"], open_cases["c1"].id, kind="discount_pct", amount=20
    )
    assert (c.state, c.route, c.granted, c.decided_by) == ("pending", "manager", None, None)
    assert cx.already_granted(db, open_cases["c1"].id, "discount_pct") == 0


def test_above_every_managers_limit_goes_to_an_executive(
    db: Session, people: dict[str, User], open_cases: dict[str, Case]
) -> None:
    c = cx.request_concession(db, people["rep"], open_cases["c1"].id, kind="credit", amount=501)
    assert (c.state, c.route) == ("pending", "executive")


def test_splitting_a_request_does_not_get_around_the_limit(
    db: Session, people: dict[str, User], open_cases: dict[str, Case]
) -> None:
    rep, case = people["rep"], open_cases["c1"]
    first = cx.request_concession(db, rep, case.id, kind="discount_pct", amount=6)
    second = cx.request_concession(db, rep, case.id, kind="discount_pct", amount=6)
    assert first.state == "granted"
    assert (second.state, second.granted) == ("pending", None)
    # Up to the limit exactly is within it (20.1 + 29.9 = 50 despite binary floats).
    assert cx.request_concession(db, rep, case.id, kind="credit", amount=20.1).state == "granted"
    assert cx.request_concession(db, rep, case.id, kind="credit", amount=29.9).state == "granted"
    assert cx.request_concession(db, rep, case.id, kind="credit", amount=0.01).state == "pending"


def test_a_second_pending_request_of_a_kind_waits_for_the_first(
    db: Session, people: dict[str, User], open_cases: dict[str, Case]
) -> None:
    rep, case = people["rep"], open_cases["c1"]
    _ask(db, rep, case, 20)
    with pytest.raises(Conflict, match="still waiting for an answer"):
        _ask(db, rep, case, 1)
    db.rollback()
    # Another kind is another matter.
    assert _ask(db, rep, case, 1, kind="free_items")


def test_limit_counts_the_case_total_not_each_request(
    db: Session, people: dict[str, User], open_cases: dict[str, Case]
) -> None:
    rep, case = people["rep"], open_cases["c1"]
    assert cx.request_concession(db, rep, case.id, kind="free_items", amount=1).state == "granted"
    assert cx.request_concession(db, rep, case.id, kind="free_items", amount=1).state == "pending"
    # Another case has its own total.
    rep2 = people["rep2"]
    assert cx.request_concession(
        db, rep2, open_cases["c2"].id, kind="free_items", amount=1
    ).state == ("granted")


@pytest.mark.parametrize(
    ("kind", "amount", "says"),
    [
        ("discount_pct", float("nan"), "finite"),
        ("credit", float("inf"), "finite"),
        ("credit", float("-inf"), "finite"),
        ("credit", -5.0, "more than 0"),
        ("credit", 0.0, "more than 0"),
        ("discount_pct", 0.0, "more than 0"),
        ("discount_pct", 100.5, "at most 100"),
        ("free_items", 1.5, "whole number"),
        ("free_items", 0, "more than 0"),
        ("credit", True, "give a number"),
        ("credit", "5", "give a number"),
    ],
)
def test_bad_amounts_are_refused_naming_the_field(
    db: Session,
    people: dict[str, User],
    open_cases: dict[str, Case],
    kind: str,
    amount: float,
    says: str,
) -> None:
    with pytest.raises(InvalidInput, match=f"^amount .*{says}"):
        cx.request_concession(db, people["rep"], open_cases["c1"].id, kind=kind, amount=amount)
    db.rollback()
    assert _count(db, Concession) == 0


def test_an_unknown_kind_is_refused(
    db: Session, people: dict[str, User], open_cases: dict[str, Case]
) -> None:
    with pytest.raises(InvalidInput, match="kind 'cash'"):
        cx.request_concession(db, people["rep"], open_cases["c1"].id, kind="cash", amount=5)


def test_a_full_discount_is_a_valid_request(
    db: Session, people: dict[str, User], open_cases: dict[str, Case]
) -> None:
    c = cx.request_concession(
        db, people["rep"], open_cases["c1"].id, kind="discount_pct", amount=100
    )
    assert (c.state, c.route) == ("pending", "executive")


def test_nobody_asks_on_another_reps_case(
    db: Session, people: dict[str, User], open_cases: dict[str, Case]
) -> None:
    with pytest.raises(PermissionDenied, match="not yours"):
        _ask(db, people["rep"], open_cases["c2"], 5)
    # An executive works only their own cases too; a manager any case.
    with pytest.raises(PermissionDenied, match="not yours"):
        _ask(db, people["executive"], open_cases["c1"], 5)
    db.rollback()
    assert (
        cx.request_concession(
            db, people["manager"], open_cases["c2"].id, kind="discount_pct", amount=5
        ).state
        == "granted"
    )
    assert _ask(db, people["executive"], open_cases["c3"], 5)


def test_an_admin_holds_no_authority(
    db: Session, people: dict[str, User], open_cases: dict[str, Case]
) -> None:
    with pytest.raises(PermissionDenied):
        _ask(db, people["admin"], open_cases["c1"], 1)


def test_no_concession_on_a_closed_case(
    db: Session, people: dict[str, User], open_cases: dict[str, Case]
) -> None:
    cases.close_case(db, people["rep"], open_cases["c1"].id, "declined", policy=Policy())
    with pytest.raises(Conflict, match="closed"):
        _ask(db, people["rep"], open_cases["c1"], 5)


def test_a_call_of_another_case_is_refused(
    db: Session, people: dict[str, User], open_cases: dict[str, Case]
) -> None:
    with pytest.raises(InvalidInput, match="call_id 999"):
        cx.request_concession(
            db, people["rep"], open_cases["c1"].id, kind="credit", amount=5, call_id=999
        )


def test_unknown_case_is_not_found(db: Session, people: dict[str, User]) -> None:
    with pytest.raises(NotFound):
        cx.request_concession(db, people["rep"], 4242, kind="credit", amount=5)


# --- deciding ---------------------------------------------------------------------------


def test_manager_counters_and_asked_versus_granted_is_recorded(
    db: Session, people: dict[str, User], open_cases: dict[str, Case]
) -> None:
    case = open_cases["c1"]
    asked = _ask(db, people["rep"], case, 20)
    c = cx.decide(db, people["manager"], asked, decision="counter", amount=15, note="15 is fair")
    assert (c.state, c.asked, c.granted, c.decided_by, c.decision_note) == (
        "countered",
        20,
        15,
        people["manager"].id,
        "15 is fair",
    )
    assert cx.already_granted(db, case.id, "discount_pct") == 15
    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "concession.counter")).one()
    assert entry.before is not None
    assert entry.after is not None
    assert (entry.before["state"], entry.before["granted"]) == ("pending", None)
    assert (entry.after["state"], entry.after["granted"]) == ("countered", 15)


def test_executive_approves_what_no_manager_may(
    db: Session, people: dict[str, User], open_cases: dict[str, Case]
) -> None:
    asked = _ask(db, people["rep"], open_cases["c1"], 30)
    with pytest.raises(PermissionDenied, match="an executive decides it"):
        cx.decide(db, people["manager"], asked, decision="approve")
    db.rollback()
    with pytest.raises(PermissionDenied, match="an executive decides it"):
        cx.decide(db, people["manager"], asked, decision="refuse")
    db.rollback()
    c = cx.decide(db, people["executive"], asked, decision="approve")
    assert (c.state, c.granted, c.decided_by) == ("granted", 30, people["executive"].id)


def test_refusal_grants_nothing_and_frees_the_kind(
    db: Session, people: dict[str, User], open_cases: dict[str, Case]
) -> None:
    case = open_cases["c1"]
    asked = _ask(db, people["rep"], case, 20)
    c = cx.decide(db, people["manager"], asked, decision="refuse", note="not this time")
    assert (c.state, c.granted, c.decision_note) == ("refused", None, "not this time")
    assert cx.already_granted(db, case.id, "discount_pct") == 0
    assert cx.request_concession(
        db, people["rep"], case.id, kind="discount_pct", amount=10
    ).state == ("granted")


@pytest.mark.parametrize("role", ["rep", "rep2", "admin"])
def test_reps_and_admins_decide_nothing(
    db: Session, people: dict[str, User], open_cases: dict[str, Case], role: str
) -> None:
    asked = _ask(db, people["rep"], open_cases["c1"], 20)
    for decision in ("approve", "refuse"):
        with pytest.raises(PermissionDenied):
            cx.decide(db, people[role], asked, decision=decision)
        db.rollback()
    assert _get(db, asked).state == "pending"


def test_nobody_decides_their_own_request(
    db: Session, people: dict[str, User], open_cases: dict[str, Case], boss: User
) -> None:
    admin, manager = people["admin"], people["manager"]
    cx.set_limits(db, admin, manager.id, discount_pct=5, credit=500, free_items=5)
    own = _ask(db, manager, open_cases["c1"], 10)
    assert _get(db, own).route == "manager"
    with pytest.raises(PermissionDenied, match="own request"):
        cx.decide(db, manager, own, decision="approve")
    db.rollback()
    mine = _ask(db, people["executive"], open_cases["c3"], 60)
    with pytest.raises(PermissionDenied, match="own request"):
        cx.decide(db, people["executive"], mine, decision="counter", amount=40)
    db.rollback()
    assert cx.decide(db, boss, own, decision="approve").state == "granted"


def test_manager_cannot_approve_or_counter_above_their_own_limit(
    db: Session, people: dict[str, User], open_cases: dict[str, Case], boss: User
) -> None:
    manager = people["manager"]
    asked = _ask(db, people["rep"], open_cases["c1"], 30)
    assert _get(db, asked).route == "manager"  # boss covers
    with pytest.raises(PermissionDenied, match="above your limit of 25"):
        cx.decide(db, manager, asked, decision="approve")
    db.rollback()
    with pytest.raises(PermissionDenied, match="above your limit of 25"):
        cx.decide(db, manager, asked, decision="counter", amount=26)
    db.rollback()
    assert cx.decide(db, manager, asked, decision="counter", amount=25).granted == 25


def test_the_deciders_limit_counts_what_the_case_has_already(
    db: Session, people: dict[str, User], open_cases: dict[str, Case], boss: User
) -> None:
    case, manager = open_cases["c1"], people["manager"]
    _ask(db, people["rep"], case, 10)  # granted on the spot
    asked = _ask(db, people["rep"], case, 16)  # 26 in all: above 25, within boss's 40
    assert _get(db, asked).route == "manager"
    with pytest.raises(PermissionDenied, match=r"bring case \d+ to 26"):
        cx.decide(db, manager, asked, decision="approve")
    db.rollback()
    assert cx.decide(db, manager, asked, decision="counter", amount=15).granted == 15


@pytest.mark.parametrize(
    ("amount", "error", "says"),
    [
        (20.0, InvalidInput, "less than the 20 asked"),
        (25.0, InvalidInput, "less than the 20 asked"),
        (0.0, InvalidInput, "more than 0"),
        (-3.0, InvalidInput, "more than 0"),
        (float("nan"), InvalidInput, "finite"),
        (None, InvalidInput, "needs the amount"),
    ],
)
def test_a_counter_is_a_middle_point(
    db: Session,
    people: dict[str, User],
    open_cases: dict[str, Case],
    amount: float | None,
    error: type[Exception],
    says: str,
) -> None:
    asked = _ask(db, people["rep"], open_cases["c1"], 20)
    with pytest.raises(error, match=says):
        cx.decide(db, people["manager"], asked, decision="counter", amount=amount)
    db.rollback()
    assert _get(db, asked).state == "pending"


def test_a_counter_of_free_items_is_whole(
    db: Session, people: dict[str, User], open_cases: dict[str, Case]
) -> None:
    asked = _ask(db, people["rep"], open_cases["c1"], 4, kind="free_items")
    with pytest.raises(InvalidInput, match="whole number"):
        cx.decide(db, people["manager"], asked, decision="counter", amount=2.5)
    db.rollback()
    assert cx.decide(db, people["manager"], asked, decision="counter", amount=2).granted == 2


def test_deciding_twice_is_a_conflict(
    db: Session, people: dict[str, User], open_cases: dict[str, Case]
) -> None:
    asked = _ask(db, people["rep"], open_cases["c1"], 20)
    cx.decide(db, people["manager"], asked, decision="refuse")
    for decision in ("approve", "refuse"):
        with pytest.raises(Conflict, match="decided already"):
            cx.decide(db, people["executive"], asked, decision=decision)
        db.rollback()
    with pytest.raises(Conflict, match="decided already"):
        cx.decide(
            db, people["manager"], _ask(db, people["rep"], open_cases["c1"], 1), decision="approve"
        )


def test_an_unknown_decision_is_refused(
    db: Session, people: dict[str, User], open_cases: dict[str, Case]
) -> None:
    asked = _ask(db, people["rep"], open_cases["c1"], 20)
    with pytest.raises(InvalidInput, match="decision 'yes'"):
        cx.decide(db, people["manager"], asked, decision="yes")
    with pytest.raises(NotFound):
        cx.decide(db, people["manager"], 4242, decision="refuse")


def test_no_decision_after_the_case_closed(
    db: Session, people: dict[str, User], open_cases: dict[str, Case]
) -> None:
    asked = _ask(db, people["rep"], open_cases["c1"], 20)
    assert [c.id for c in cx.approvals_for(db, people["manager"])] == [asked]
    # Not won back on an offer still waiting for approval ...
    with pytest.raises(InvalidInput, match=f"request {asked} is still waiting"):
        win_back(db, people["rep"], open_cases["c1"].id, policy=Policy())
    cases.close_case(db, people["rep"], open_cases["c1"].id, "declined", policy=Policy())
    # The request went with the case: withdrawn, on record, and no longer decidable.
    withdrawn = _get(db, asked)
    assert (withdrawn.state, withdrawn.granted) == ("withdrawn", None)
    assert "closed (declined) before a decision" in withdrawn.decision_note
    with pytest.raises(Conflict):
        cx.decide(db, people["manager"], asked, decision="approve")
    db.rollback()
    assert cx.approvals_for(db, people["manager"]) == []


def test_a_customer_who_returns_by_themselves_withdraws_the_request(
    db: Session, people: dict[str, User], open_cases: dict[str, Case], tmp_path: Path
) -> None:
    from datetime import date

    asked = _ask(db, people["rep"], open_cases["c1"], 20)
    later = [{"customer_id": "c1", "rank": None, "last_order_date": date(2024, 8, 1)}]
    sync_cases(db, None, make_run(tmp_path / "later", later, as_of="2024-08-02"), policy=POLICY)
    assert _get(db, asked).state == "withdrawn"


def test_a_deactivated_manager_neither_routes_nor_decides(
    db: Session, people: dict[str, User], open_cases: dict[str, Case]
) -> None:
    admin, manager, rep = people["admin"], people["manager"], people["rep"]
    asked = _ask(db, rep, open_cases["c1"], 20)
    assert _get(db, asked).route == "manager"
    users.set_active(db, admin, manager.id, False)
    with pytest.raises(PermissionDenied):
        cx.decide(db, manager, asked, decision="approve")
    db.rollback()
    with pytest.raises(PermissionDenied):
        cx.approvals_for(db, manager)
    with pytest.raises(PermissionDenied):
        cx.set_limits(db, manager, rep.id, discount_pct=1, credit=1, free_items=0)
    db.rollback()
    cx.decide(db, people["executive"], asked, decision="refuse")
    # No active manager's limit covers the next one: it goes to an executive.
    again = _ask(db, rep, open_cases["c1"], 20)
    assert _get(db, again).route == "executive"


def test_approvals_list_what_each_may_decide_oldest_first(
    db: Session, people: dict[str, User], open_cases: dict[str, Case]
) -> None:
    to_manager = _ask(db, people["rep"], open_cases["c1"], 20)
    to_executive = _ask(db, people["rep2"], open_cases["c2"], 30)
    within = _ask(db, people["manager"], open_cases["c2"], 100, kind="credit")
    assert _get(db, within).state == "granted"
    own = _ask(db, people["manager"], open_cases["c1"], 600, kind="credit")
    assert [c.id for c in cx.approvals_for(db, people["manager"])] == [to_manager]
    assert [c.id for c in cx.approvals_for(db, people["executive"])] == [
        to_manager,
        to_executive,
        own,
    ]
    with pytest.raises(PermissionDenied):
        cx.approvals_for(db, people["rep"])


# --- limits -----------------------------------------------------------------------------


def _limits(user: User) -> tuple[float, float, int]:
    return (user.limit_discount_pct, user.limit_credit, user.limit_free_items)


def test_a_manager_sets_a_reps_limits_within_their_own_and_it_is_audited(
    db: Session, people: dict[str, User]
) -> None:
    rep = cx.set_limits(
        db, people["manager"], people["rep"].id, discount_pct=25, credit=0, free_items=5
    )
    assert _limits(rep) == (25, 0, 5)
    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "user.limits")).one()
    assert (entry.actor_name, entry.before, entry.after) == (
        "manager",
        {"discount_pct": 10.0, "credit": 50.0, "free_items": 1},
        {"discount_pct": 25.0, "credit": 0.0, "free_items": 5},
    )
    assert cx.limits_of(rep) == {"discount_pct": 25.0, "credit": 0.0, "free_items": 5}


@pytest.mark.parametrize(
    ("actor", "target", "says"),
    [
        ("rep", "rep2", "may not set other users"),
        ("rep", "rep", "may not set other users"),
        ("manager", "manager", "nobody sets their own"),
        ("executive", "executive", "nobody sets their own"),
        ("admin", "admin", "nobody sets their own"),
        ("manager", "executive", "a manager may not set executives' limits"),
        ("manager", "admin", "a manager may not set admins' limits"),
        ("executive", "admin", "an executive may not set admins' limits"),
    ],
)
def test_who_may_not_set_whose_limits(
    db: Session, people: dict[str, User], actor: str, target: str, says: str
) -> None:
    before = _limits(people[target])
    with pytest.raises(PermissionDenied, match=says):
        cx.set_limits(db, people[actor], people[target].id, discount_pct=1, credit=1, free_items=0)
    db.rollback()
    assert _limits(db.get(User, people[target].id)) == before


def test_a_manager_may_not_set_another_managers_limits(
    db: Session, people: dict[str, User], boss: User
) -> None:
    with pytest.raises(PermissionDenied, match="a manager may not set managers' limits"):
        cx.set_limits(db, people["manager"], boss.id, discount_pct=1, credit=1, free_items=1)


@pytest.mark.parametrize(
    ("actor", "target", "values", "says"),
    [
        ("manager", "rep", (26, 50, 1), "discount_pct 26: you cannot give more than you hold"),
        ("manager", "rep", (10, 500.01, 1), "credit 500.01"),
        ("manager", "rep", (10, 50, 6), "free_items 6"),
        ("executive", "manager", (50.5, 50, 1), "discount_pct 50.5"),
    ],
)
def test_nobody_gives_more_than_they_hold(
    db: Session,
    people: dict[str, User],
    actor: str,
    target: str,
    values: tuple[float, float, float],
    says: str,
) -> None:
    pct, credit, items = values
    with pytest.raises(PermissionDenied, match=says):
        cx.set_limits(
            db, people[actor], people[target].id, discount_pct=pct, credit=credit, free_items=items
        )


def test_executives_set_managers_and_admins_set_anyone(
    db: Session, people: dict[str, User]
) -> None:
    manager = cx.set_limits(
        db, people["executive"], people["manager"].id, discount_pct=50, credit=5000, free_items=20
    )
    assert _limits(manager) == (50, 5000, 20)
    executive = cx.set_limits(
        db, people["admin"], people["executive"].id, discount_pct=80, credit=9000, free_items=99
    )
    assert _limits(executive) == (80, 9000, 99)
    # Zero is allowed: nothing on the spot.
    rep = cx.set_limits(
        db, people["admin"], people["rep"].id, discount_pct=0, credit=0, free_items=0
    )
    assert _limits(rep) == (0, 0, 0)


def test_admins_hold_no_authority_even_when_an_admin_says_so(
    db: Session, people: dict[str, User]
) -> None:
    second = users.create_user(
        db, None, username="root2", name="R", role="admin", password=PASSWORD
    )
    with pytest.raises(InvalidInput, match="admins hold no concession authority"):
        cx.set_limits(db, people["admin"], second.id, discount_pct=5, credit=0, free_items=0)


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ((float("nan"), 1, 1), "discount_pct nan: give a finite number"),
        ((1, float("inf"), 1), "credit inf: give a finite number"),
        ((-1, 1, 1), "discount_pct -1: give 0 or more"),
        ((101, 1, 1), "discount_pct 101: a percent discount is at most 100"),
        ((1, -0.5, 1), "credit -0.5"),
        ((1, 1, 1.5), "free_items 1.5: free items are a whole number"),
    ],
)
def test_bad_limits_are_refused_naming_the_field(
    db: Session, people: dict[str, User], values: tuple[float, float, float], says: str
) -> None:
    pct, credit, items = values
    with pytest.raises(InvalidInput, match=says):
        cx.set_limits(
            db, people["admin"], people["rep"].id, discount_pct=pct, credit=credit, free_items=items
        )


def test_who_may_read_limits(db: Session, people: dict[str, User]) -> None:
    rep = people["rep"]
    assert cx.get_limits(db, rep, rep.id) is rep
    with pytest.raises(PermissionDenied):
        cx.get_limits(db, rep, people["rep2"].id)
    assert cx.get_limits(db, people["executive"], rep.id) is rep
    assert cx.get_limits(db, people["admin"], rep.id) is rep
    with pytest.raises(NotFound):
        cx.get_limits(db, people["admin"], 4242)
    table = cx.users_for_limits(db, people["manager"])
    assert {u.username for u in table} == {"rep", "rep2", "manager"}


def test_a_lowered_limit_applies_to_the_next_request(
    db: Session, people: dict[str, User], open_cases: dict[str, Case]
) -> None:
    rep, case = people["rep"], open_cases["c1"]
    assert _ask(db, rep, case, 5, kind="credit")
    cx.set_limits(db, people["manager"], rep.id, discount_pct=10, credit=0, free_items=1)
    later = _ask(db, rep, case, 5, kind="credit")
    assert _get(db, later).state == "pending"


def test_the_panel_rows_name_who_asked_and_who_decided(
    db: Session, people: dict[str, User], open_cases: dict[str, Case]
) -> None:
    asked = _ask(db, people["rep"], open_cases["c1"], 20)
    cx.decide(db, people["manager"], asked, decision="counter", amount=12)
    rows = cx.rows_of_cases(db, [open_cases["c1"].id])
    assert [(r.concession.id, r.requested_by, r.decided_by) for r in rows] == [
        (asked, "Rep", "Manager")
    ]
    assert cx.totals_of([r.concession for r in rows]) == {open_cases["c1"].id: {"discount_pct": 12}}
    assert cx.rows_of_cases(db, []) == []


@pytest.mark.parametrize(
    ("kind", "amount"), [("discount_pct", 10.0000004), ("credit", 49.999), ("discount_pct", 0.001)]
)
def test_amounts_finer_than_a_hundredth_are_refused_not_rounded_into_the_limit(
    db: Session, people: dict[str, User], open_cases: dict[str, Case], kind: str, amount: float
) -> None:
    with pytest.raises(InvalidInput, match="at most 2 decimals"):
        _ask(db, people["rep"], open_cases["c1"], amount, kind)
    assert db.scalar(select(func.count()).select_from(Concession)) == 0


def test_limits_finer_than_a_hundredth_are_refused(db: Session, people: dict[str, User]) -> None:
    with pytest.raises(InvalidInput, match=r"discount_pct 9\.999: give at most 2 decimals"):
        cx.set_limits(
            db, people["manager"], people["rep"].id, discount_pct=9.999, credit=50, free_items=1
        )


def test_totals_are_compared_in_exact_hundredths(
    db: Session, people: dict[str, User], open_cases: dict[str, Case]
) -> None:
    """3.33 + 3.33 + 3.34 is exactly the rep's 10 %, though the floats add to 10.000000000000002;
    one hundredth more goes to a manager."""
    rep, case = people["rep"], open_cases["c1"]
    states = [_get(db, _ask(db, rep, case, a)).state for a in (3.33, 3.33, 3.34, 0.01)]
    assert states == ["granted", "granted", "granted", "pending"]
    assert cx.already_granted(db, case.id, "discount_pct") == pytest.approx(10.0)


def test_the_largest_amount_a_float_holds_goes_to_an_executive_without_overflow(
    db: Session, people: dict[str, User], open_cases: dict[str, Case]
) -> None:
    """1e308 credit: compared in exact hundredths (1e310 would overflow a float)."""
    asked = _get(db, _ask(db, people["rep"], open_cases["c1"], 1e308, "credit"))
    assert (asked.state, asked.route) == ("pending", "executive")
