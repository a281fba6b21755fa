"""The red carpet: started by a win-back, counted down by the API and by imports, ended
with appreciation touches, and watched more tightly than the scan watches everyone."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tests.conftest import run_winback
from tests.desk.conftest import POLICY, make_run, win_back
from winback.desk import cases, notices, red_carpet, tasks
from winback.desk.models import AuditEntry, Case, Experience, RedCarpet, Task, User
from winback.desk.sync import sync_cases
from winback.errors import Conflict, InvalidInput
from winback.ledger.importer import import_file
from winback.ledger.store import Ledger
from winback.policy import Policy, load_policy
from winback.policy import RedCarpet as Rules

# The win-back in the ledger tests happened on this day (set on the row by hand).
WON_ON = datetime(2024, 6, 1, 9, 30)


@pytest.fixture
def policy(tmp_path: Path) -> Policy:
    """A policy file as an operator writes one: three experiences, thanks at 7 and 30 days."""
    path = tmp_path / "policy.toml"
    path.write_text(
        "[red_carpet]\nexperiences = 3\nappreciation_days = [30, 7]\n"
        'order_gesture = "hand-packed, with a note"\n'
        'interaction_gesture = "a senior rep answers"\n',
        encoding="utf-8",
    )
    return load_policy(path)


@pytest.fixture
def rules(policy: Policy) -> Rules:
    return policy.red_carpet


def _cases(db: Session, tmp_path: Path, owner: User | None) -> dict[str, Case]:
    rows = [
        {"customer_id": "c1", "name": "Acme Ltd", "rank": 1},
        {"customer_id": "c2", "name": "Bolt & Co", "rank": 2},
    ]
    sync_cases(db, None, make_run(tmp_path / "runs", rows), policy=POLICY)
    made = {c.customer_id: c for c in db.scalars(select(Case))}
    for case in made.values():
        case.owner_id = owner.id if owner else None
    db.commit()
    return made


@pytest.fixture
def won(db: Session, people: dict[str, User], tmp_path: Path, policy: Policy) -> RedCarpet:
    """c1's case, owned by the rep, closed by the rep as won back."""
    made = _cases(db, tmp_path, people["rep"])
    win_back(db, people["rep"], made["c1"].id, policy=policy)
    carpet = red_carpet.active_for(db, "c1")
    assert carpet is not None
    return carpet


def _record(db: Session, actor: User, ref: str, rules: Rules, **kw: Any) -> tuple[Any, bool]:
    values: dict[str, Any] = {"kind": "ticket", "occurred_at": None, "gesture": "called back"}
    values.update(kw)
    return red_carpet.record_experience(db, actor, "c1", ref=ref, rules=rules, **values)


def _audit_actions(db: Session, carpet: RedCarpet) -> list[str]:
    query = select(AuditEntry.action).where(
        AuditEntry.entity == "red_carpet", AuditEntry.entity_id == str(carpet.id)
    )
    return list(db.scalars(query.order_by(AuditEntry.id)))


# --- starting ---------------------------------------------------------------------------


def test_won_back_close_starts_the_red_carpet_with_n_from_the_policy_file(
    db: Session, people: dict[str, User], won: RedCarpet
) -> None:
    case = db.scalars(select(Case).where(Case.customer_id == "c1")).one()
    assert (won.total, won.remaining) == (3, 3)
    assert (won.owner_id, won.case_id, won.customer_name) == (people["rep"].id, case.id, "Acme Ltd")
    assert won.ended_at is None
    assert won.slipped_at is None
    assert _audit_actions(db, won) == ["red_carpet.start"]


def test_other_outcomes_start_nothing_and_defaults_give_ten(
    db: Session, people: dict[str, User], tmp_path: Path
) -> None:
    made = _cases(db, tmp_path, people["rep"])
    cases.close_case(db, people["rep"], made["c2"].id, "declined", policy=Policy())
    assert red_carpet.active_for(db, "c2") is None
    win_back(db, people["rep"], made["c1"].id, policy=Policy())  # the default policy: 10
    carpet = red_carpet.active_for(db, "c1")
    assert carpet is not None
    assert carpet.total == 10


def test_the_closer_owns_it_when_the_case_had_no_owner(
    db: Session, people: dict[str, User], tmp_path: Path, policy: Policy
) -> None:
    made = _cases(db, tmp_path, None)
    win_back(db, people["manager"], made["c1"].id, policy=policy)
    carpet = red_carpet.active_for(db, "c1")
    assert carpet is not None
    assert carpet.owner_id == people["manager"].id


def test_a_second_win_back_while_active_restarts_the_count(
    db: Session, people: dict[str, User], won: RedCarpet, rules: Rules, tmp_path: Path
) -> None:
    _record(db, people["rep"], "t1", rules)
    _record(db, people["rep"], "t2", rules)
    assert won.remaining == 1
    # c1 calls in and a rep opens a case by hand (sync holds a customer on the red carpet
    # back from new cases): won back again by the second rep.
    again = Case(
        customer_id="c1",
        state="open",
        priority=1,
        run_id="by-hand",
        customer_status="lapsed",
        owner_id=people["rep2"].id,
    )
    db.add(again)
    db.commit()
    win_back(db, people["rep2"], again.id, policy=Policy(red_carpet=rules))
    carpets = list(db.scalars(select(RedCarpet).where(RedCarpet.customer_id == "c1")))
    assert len(carpets) == 1
    assert (carpets[0].remaining, carpets[0].case_id) == (3, again.id)
    assert carpets[0].owner_id == people["rep2"].id
    restart = db.scalars(select(AuditEntry).where(AuditEntry.action == "red_carpet.restart")).one()
    assert (restart.before or {})["remaining"] == 1
    assert (restart.after or {})["remaining"] == 3


# --- experiences from other systems -----------------------------------------------------


def test_rep_records_experiences_that_count_down_and_a_repeat_counts_nothing(
    db: Session, people: dict[str, User], won: RedCarpet, rules: Rules
) -> None:
    first, counted = _record(db, people["rep"], "ticket-41", rules, gesture="free delivery")
    assert counted
    assert (first.source, first.kind, first.gesture) == ("api", "ticket", "free delivery")
    assert first.recorded_by == people["rep"].id
    assert won.remaining == 2
    again, counted = _record(db, people["rep"], "ticket-41", rules, gesture="other words")
    assert not counted
    assert again.id == first.id
    db.expire_all()
    assert db.get(RedCarpet, won.id).remaining == 2  # type: ignore[union-attr]
    assert db.scalar(select(func.count()).select_from(Experience)) == 1
    assert _audit_actions(db, won) == ["red_carpet.start", "red_carpet.experience"]


def test_the_last_experience_ends_the_period_and_schedules_appreciation(
    db: Session, people: dict[str, User], won: RedCarpet, rules: Rules
) -> None:
    for ref in ("a", "b", "c"):
        _record(db, people["executive"], ref, rules)
    db.expire_all()
    carpet = db.get(RedCarpet, won.id)
    assert carpet is not None
    assert (carpet.remaining, carpet.ended_at is not None) == (0, True)
    thanks = [t for t in tasks.my_tasks(db, people["rep"]) if t.kind == "appreciation"]
    today = tasks.today()
    assert [t.due_on for t in thanks] == [today + timedelta(days=7), today + timedelta(days=30)]
    assert all(t.customer_id == "c1" and t.case_id == won.case_id for t in thanks)
    assert "Acme Ltd" in thanks[0].title
    # The other system retries the last one: still a repeat, not an error.
    assert _record(db, people["rep"], "c", rules)[1] is False
    with pytest.raises(Conflict, match="'c1' is not on the red carpet"):
        _record(db, people["rep"], "d", rules)
    assert red_carpet.flags_for(db, ["c1"]) == {}
    assert _audit_actions(db, won)[-1] == "red_carpet.end"


def test_not_on_the_red_carpet_is_a_conflict_naming_the_customer(
    db: Session, people: dict[str, User], won: RedCarpet, rules: Rules
) -> None:
    with pytest.raises(Conflict, match="'c2' is not on the red carpet"):
        red_carpet.record_experience(
            db, people["rep"], "c2", kind="order", ref="o1", occurred_at=None, gesture="x",
            rules=rules,
        )  # fmt: skip


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"gesture": "  "}, "what gesture"),
        ({"kind": ""}, "what kind"),
        ({"occurred_at": datetime(2020, 1, 1)}, "before the red carpet started"),
    ],
)
def test_an_experience_needs_a_gesture_a_kind_and_a_date_in_the_period(
    db: Session,
    people: dict[str, User],
    won: RedCarpet,
    rules: Rules,
    change: dict[str, Any],
    message: str,
) -> None:
    with pytest.raises(InvalidInput, match=message):
        _record(db, people["rep"], "t1", rules, **change)
    db.rollback()
    assert db.get(RedCarpet, won.id).remaining == 3  # type: ignore[union-attr]


# --- imports ------------------------------------------------------------------------------


def _import(ledger: Ledger, folder: Path, table: str, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{table}-{len(list(folder.iterdir()))}.csv"
    path.write_text(text, encoding="utf-8")
    result = import_file(ledger, table, path, rejects_dir=folder / "rejects")
    assert result.rejected == 0, result.rejects


@pytest.fixture
def won_long_ago(db: Session, won: RedCarpet) -> RedCarpet:
    """The same win-back, as if it happened on WON_ON (the ledger's data are of 2024)."""
    won.started_at = WON_ON
    db.commit()
    return won


def test_imports_count_orders_and_interactions_after_the_win_back_once(
    db: Session, people: dict[str, User], won_long_ago: RedCarpet, rules: Rules, tmp_path: Path
) -> None:
    ledger = Ledger(tmp_path / "ws" / "ledger")
    files = tmp_path / "files"
    _import(
        ledger,
        files,
        "orders",
        "order_id,customer_id,order_date,amount,status\n"
        "o1,c1,2024-05-20,10,completed\n"  # before the win-back
        "o2,c1,2024-06-02,20,completed\n"
        "o3,c1,2024-06-09,30,cancelled\n"  # cancelled: not an experience
        "o9,c2,2024-06-03,40,completed\n",  # c2 is not on the red carpet
    )
    _import(
        ledger,
        files,
        "interactions",
        "interaction_id,customer_id,occurred_at,channel\n"
        "i0,c1,2024-06-01 08:00:00,call\n"  # the morning before the win-back
        "i1,c1,2024-06-05 10:00:00,chat\n",
    )

    first = red_carpet.absorb_ledger(db, ledger, rules)

    assert first == {"counted": 2, "ended": 0, "slipped": 0, "watched": 1}
    recorded = list(db.scalars(select(Experience).order_by(Experience.occurred_at)))
    assert [(e.source, e.kind, e.ref, e.gesture) for e in recorded] == [
        ("import", "order", "order:o2", "hand-packed, with a note"),
        ("import", "interaction", "interaction:i1", "a senior rep answers"),
    ]
    assert recorded[0].occurred_at == datetime(2024, 6, 2)
    assert won_long_ago.remaining == 1

    again = red_carpet.absorb_ledger(db, ledger, rules)
    assert again["counted"] == 0
    assert db.scalar(select(func.count()).select_from(Experience)) == 2

    _import(
        ledger,
        files,
        "orders",
        "order_id,customer_id,order_date,amount\no4,c1,2024-06-20,5\no5,c1,2024-06-25,5\n",
    )
    last = red_carpet.absorb_ledger(db, ledger, rules)
    assert (last["counted"], last["ended"]) == (1, 1)
    db.expire_all()
    carpet = db.get(RedCarpet, won_long_ago.id)
    assert carpet is not None
    assert (carpet.remaining, carpet.ended_at is not None) == (0, True)
    assert "order:o5" not in set(db.scalars(select(Experience.ref)))  # after the end
    kinds = [t.kind for t in tasks.my_tasks(db, people["rep"])]
    assert kinds.count("appreciation") == 2


def test_a_refunded_order_does_not_count_down_the_red_carpet(
    db: Session, won_long_ago: RedCarpet, rules: Rules, tmp_path: Path
) -> None:
    ledger = Ledger(tmp_path / "ws" / "ledger")
    _import(
        ledger,
        tmp_path / "files",
        "orders",
        "order_id,customer_id,order_date,amount,status\n"
        "o1,c1,2024-06-02,20,refunded\n"
        "o2,c1,2024-06-03,20,pending\n"
        "o3,c1,2024-06-04,20,\n",  # a blank status counts, as everywhere
    )

    done = red_carpet.absorb_ledger(db, ledger, rules)

    assert done["counted"] == 2
    assert sorted(db.scalars(select(Experience.ref))) == ["order:o2", "order:o3"]
    assert won_long_ago.remaining == 1


def test_an_incident_during_the_period_alerts_the_owner_once(
    db: Session, people: dict[str, User], won_long_ago: RedCarpet, rules: Rules, tmp_path: Path
) -> None:
    ledger = Ledger(tmp_path / "ws" / "ledger")
    _import(
        ledger,
        tmp_path / "files",
        "incidents",
        "incident_id,customer_id,occurred_on,type\n"
        "n0,c1,2024-05-30,late_delivery\n"  # before the win-back
        "n1,c1,2024-06-07,wrong_item\n",
    )

    result = red_carpet.absorb_ledger(db, ledger, rules)

    assert (result["slipped"], result["counted"]) == (1, 0)
    assert won_long_ago.slipped_at is not None
    alerts = [t for t in tasks.my_tasks(db, people["rep"]) if t.kind == "slip_alert"]
    assert len(alerts) == 1
    assert alerts[0].due_on == tasks.today()
    assert "incident n1 (wrong_item) on 2024-06-07" in alerts[0].title
    # Read again after the alert was dealt with: the same incident alerts nobody twice.
    tasks.complete_task(db, people["rep"], alerts[0].id, result="called, apologised")
    assert red_carpet.absorb_ledger(db, ledger, rules)["slipped"] == 0
    assert db.scalar(select(func.count()).select_from(Task).where(Task.kind == "slip_alert")) == 1
    # With incident_slips off, a new incident is no slip.
    _import(
        ledger,
        tmp_path / "files",
        "incidents",
        "incident_id,customer_id,occurred_on,type\nn2,c1,2024-06-08,wrong_item\n",
    )
    calm = rules.model_copy(update={"incident_slips": False})
    assert red_carpet.absorb_ledger(db, ledger, calm)["slipped"] == 0


def test_absorbing_without_a_ledger_or_red_carpet_does_nothing(
    db: Session, people: dict[str, User], rules: Rules, tmp_path: Path
) -> None:
    assert red_carpet.absorb_ledger(db, None, rules)["counted"] == 0
    assert red_carpet.absorb_ledger(db, Ledger(tmp_path / "none"), rules)["watched"] == 0


# --- the tighter watch ----------------------------------------------------------------


AS_OF = date(2024, 7, 1)  # make_run's default as_of: 30 days after WON_ON


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        # Ordered since the win-back, active, sure to be alive: fine.
        ({"status": "active", "p_alive": 0.95, "last_order_date": date(2024, 6, 20)}, None),
        ({"status": "active", "p_alive": 0.5, "last_order_date": date(2024, 6, 20)}, "P(alive)"),
        ({"status": "slipping", "p_alive": 0.9, "last_order_date": date(2024, 6, 20)}, "slipping"),
        # 11 days since the last order; 1.5 x 6 = 9 days is the tighter limit.
        (
            {
                "status": "active",
                "p_alive": 0.9,
                "last_order_date": date(2024, 6, 20),
                "typical_interval_days": 6.0,
            },
            "no order for 11 days",
        ),
        # No order since the win-back: the scan still sees the old lapse, which says nothing;
        # 30 days since the start is within 1.5 x 20 = 30, beyond 1.5 x 15 = 22.5.
        (
            {
                "status": "lost",
                "p_alive": 0.1,
                "last_order_date": date(2024, 1, 10),
                "typical_interval_days": 20.0,
            },
            None,
        ),
        (
            {
                "status": "lost",
                "p_alive": 0.1,
                "last_order_date": date(2024, 1, 10),
                "typical_interval_days": 15.0,
            },
            "no order for 30 days",
        ),
    ],
)
def test_slip_reason_is_tighter_than_the_scan(row: dict[str, Any], expected: str | None) -> None:
    carpet = RedCarpet(customer_id="c1", started_at=WON_ON, total=3, remaining=3)
    reason = red_carpet.slip_reason(row, carpet, AS_OF, Rules())
    if expected is None:
        assert reason is None
    else:
        assert reason is not None
        assert expected in reason


def test_a_slipping_scan_row_alerts_the_owner_once(
    db: Session, people: dict[str, User], won_long_ago: RedCarpet, rules: Rules, tmp_path: Path
) -> None:
    slipping = {
        "customer_id": "c1",
        "status": "active",
        "p_alive": 0.5,
        "last_order_date": date(2024, 6, 20),
        "days_since_last_order": 11,
        "typical_interval_days": 30.0,
    }
    fine = {**slipping, "customer_id": "c2"}  # c2 is not on the red carpet
    run = make_run(tmp_path / "watch", [slipping, fine])

    assert red_carpet.check_run(db, run, rules) == 1
    assert red_carpet.check_run(db, run, rules) == 0  # the same run again

    alerts = [t for t in tasks.my_tasks(db, people["rep"]) if t.kind == "slip_alert"]
    assert len(alerts) == 1
    assert "P(alive) 0.50 is below 0.8" in alerts[0].title
    assert won_long_ago.slipped_at is not None
    first_slip = won_long_ago.slipped_at
    # The next run still shows the slip while the alert is open: recorded, no second task.
    later = make_run(tmp_path / "watch2", [slipping], as_of="2024-07-08")
    assert red_carpet.check_run(db, later, rules) == 1
    assert db.scalar(select(func.count()).select_from(Task).where(Task.kind == "slip_alert")) == 1
    # The owner is told on the desk once, too (a notice on their queue).
    told = notices.unread(db, people["rep"])
    assert [n.kind for n in told] == ["red_carpet_slip"]
    assert "slipped: P(alive) 0.50 is below 0.8" in told[0].text
    assert won_long_ago.slipped_at == first_slip
    slips = [a for a in _audit_actions(db, won_long_ago) if a == "red_carpet.slip"]
    assert len(slips) == 2


def test_a_run_from_before_the_win_back_says_nothing(
    db: Session, people: dict[str, User], won_long_ago: RedCarpet, rules: Rules, tmp_path: Path
) -> None:
    row = {"customer_id": "c1", "status": "lost", "p_alive": 0.01, "typical_interval_days": 5.0}
    assert red_carpet.check_run(db, make_run(tmp_path / "old", [row], "2024-05-01"), rules) == 0
    assert won_long_ago.slipped_at is None


# --- the list ---------------------------------------------------------------------------


def test_the_list_shows_active_first_then_ended_with_experiences_and_last_gesture(
    db: Session, people: dict[str, User], won: RedCarpet, rules: Rules, tmp_path: Path
) -> None:
    c2 = db.scalars(select(Case).where(Case.customer_id == "c2")).one()
    short = Policy(red_carpet=rules.model_copy(update={"experiences": 1}))
    win_back(db, people["rep"], c2.id, policy=short)
    red_carpet.record_experience(
        db, people["rep"], "c2", kind="visit", ref="v1", occurred_at=None,
        gesture="coffee with the manager", rules=rules,
    )  # fmt: skip
    _record(db, people["rep"], "t1", rules, gesture="first")
    _record(db, people["rep"], "t2", rules, gesture="second")

    rows = red_carpet.red_carpet_list(db, people["rep"])

    summary = [
        (r.carpet.customer_id, r.active, r.experiences, r.last_gesture, r.owner_name) for r in rows
    ]
    assert summary == [
        ("c1", True, 2, "second", "Rep"),
        ("c2", False, 1, "coffee with the manager", "Rep"),
    ]
    assert set(red_carpet.flags_for(db, ["c1", "c2", "nobody"])) == {"c1"}


# --- after an import on the command line ------------------------------------------------


def test_winback_import_counts_red_carpets_down_when_the_desk_exists(
    desk_engine: Engine, db: Session, won_long_ago: RedCarpet, tmp_path: Path
) -> None:
    orders = tmp_path / "orders.csv"
    orders.write_text("order_id,customer_id,order_date,amount\nx1,c1,2024-06-10,9\n")
    env: dict[str, str | None] = {
        "WINBACK_HOME": str(tmp_path / "ws"),
        "WINBACK_DESK_URL": desk_engine.url.render_as_string(hide_password=False),
        "WINBACK_POLICY": str(tmp_path / "policy.toml"),
    }
    done = run_winback("import", "orders", str(orders), env=env)
    assert done.returncode == 0, done.stderr
    assert "red carpet: 1 experience(s) counted, 0 period(s) ended" in done.stdout
    db.expire_all()
    assert db.get(RedCarpet, won_long_ago.id).remaining == 2  # type: ignore[union-attr]


def test_winback_import_without_a_desk_says_nothing_of_the_red_carpet(tmp_path: Path) -> None:
    orders = tmp_path / "orders.csv"
    orders.write_text("order_id,customer_id,order_date,amount\nx1,c1,2024-06-10,9\n")
    env = {"WINBACK_HOME": str(tmp_path / "ws"), "WINBACK_DESK_URL": None}
    done = run_winback("import", "orders", str(orders), env=env)
    assert done.returncode == 0, done.stderr
    assert "red carpet" not in done.stdout
    assert not (tmp_path / "ws" / "desk.sqlite3").exists()


def test_a_broken_policy_does_not_fail_the_import_it_follows(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    home.mkdir()
    (home / "desk.sqlite3").touch()
    (home / "policy.toml").write_text("[red_carpet]\nexperiences = 0\n", encoding="utf-8")
    orders = tmp_path / "orders.csv"
    orders.write_text("order_id,customer_id,order_date,amount\nx1,c1,2024-06-10,9\n")
    env = {"WINBACK_HOME": str(home), "WINBACK_DESK_URL": None}
    done = run_winback("import", "orders", str(orders), env=env)
    assert done.returncode == 0, done.stderr
    assert "orders ← orders.csv: read 1 · stored 1" in done.stdout
    assert "red carpet: not counted" in done.stderr
    assert "experiences" in done.stderr
