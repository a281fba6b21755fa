"""The policy's [contact] rules in winback sync, do-not-contact on the desk, and sync
repairing who owns open cases (issue 13)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tests.desk.conftest import POLICY, make_run, win_back
from tests.desk.race import in_parallel, wins
from tests.desk.test_close_races import _logged
from winback import clock
from winback.desk import calls, cases, contact_rules, do_not_contact
from winback.desk.models import (
    AuditEntry,
    Campaign,
    CampaignMember,
    Case,
    RedCarpet,
    User,
    utcnow,
)
from winback.desk.sync import sync_cases
from winback.errors import Conflict, PolicyError
from winback.policy import ContactRules, Policy, load_policy

ROWS = [
    {"customer_id": "c1", "rank": 1, "tier": "rep"},
    {"customer_id": "c2", "rank": 2, "tier": "rep"},
]


def _open_ids(db: Session) -> list[str]:
    query = select(Case.customer_id).where(Case.state != "closed").order_by(Case.customer_id)
    return list(db.scalars(query))


def _closed_case(db: Session, customer_id: str, outcome: str, days_ago: int) -> Case:
    """A closed case of ``customer_id``, closed ``days_ago`` days ago."""
    at = utcnow() - timedelta(days=days_ago)
    case = Case(
        customer_id=customer_id,
        state="closed",
        outcome=outcome,
        contacted=True,
        priority=1,
        run_id="earlier",
        customer_status="lapsed",
        opened_at=at - timedelta(days=5),
        updated_at=at,
        closed_at=at,
    )
    db.add(case)
    db.commit()
    return case


@pytest.fixture(params=["in lists", "whole"])
def lookups(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The contact rules looked up both ways: in IN (...) lists of the customers asked
    about, and (as for a sync of more than contact_rules._WHOLE customers) each rule's
    rows read whole and narrowed in Python."""
    if request.param == "whole":
        monkeypatch.setattr(contact_rules, "_WHOLE", 0)
    return str(request.param)


@pytest.mark.parametrize(
    ("outcome", "held_days", "free_days", "rule"),
    [
        ("won_back", 179, 181, "won_back"),
        ("returned", 100, 200, "won_back"),  # a return after contact counts as won back
        ("declined", 89, 91, "declined"),
        ("unreachable", 29, 31, "unreachable"),
    ],
)
@pytest.mark.usefixtures("lookups")
def test_a_recent_outcome_holds_the_customer_back_until_its_window_passes(
    db: Session,
    people: dict[str, User],
    tmp_path: Path,
    outcome: str,
    held_days: int,
    free_days: int,
    rule: str,
) -> None:
    _closed_case(db, "c1", outcome, held_days)
    _closed_case(db, "c2", outcome, free_days)

    result = sync_cases(db, None, make_run(tmp_path, ROWS), policy=POLICY)

    assert _open_ids(db) == ["c2"]
    assert result.opened == 1
    assert result.held_back[rule] == 1
    assert sum(result.held_back.values()) == 1
    assert result.counts()[f"held_{rule}"] == 1


@pytest.mark.usefixtures("lookups")
def test_a_return_nobody_prompted_holds_nobody_back(
    db: Session, people: dict[str, User], tmp_path: Path
) -> None:
    case = _closed_case(db, "c1", "returned", 3)
    case.contacted = False
    db.commit()
    sync_cases(db, None, make_run(tmp_path, ROWS), policy=POLICY)
    assert _open_ids(db) == ["c1", "c2"]


@pytest.mark.usefixtures("lookups")
def test_the_policys_windows_decide(db: Session, people: dict[str, User], tmp_path: Path) -> None:
    _closed_case(db, "c1", "declined", 10)
    _closed_case(db, "c2", "unreachable", 10)
    lenient = Policy(contact=ContactRules(declined_days=5, unreachable_days=60))
    result = sync_cases(db, None, make_run(tmp_path, ROWS), policy=lenient)
    assert _open_ids(db) == ["c1"]
    assert result.held_back["unreachable"] == 1


@pytest.mark.usefixtures("lookups")
def test_a_red_carpet_in_progress_holds_the_customer_back(
    db: Session, people: dict[str, User], tmp_path: Path
) -> None:
    db.add(RedCarpet(customer_id="c1", total=10, remaining=4))
    db.add(RedCarpet(customer_id="c2", total=10, remaining=0, ended_at=utcnow()))
    db.commit()
    # Even with the won-back window at zero: the red carpet alone holds c1.
    policy = Policy(contact=ContactRules(won_back_days=0))
    result = sync_cases(db, None, make_run(tmp_path, ROWS), policy=policy)
    assert _open_ids(db) == ["c2"]
    assert result.held_back["red_carpet"] == 1


def _held_out(db: Session, manager: User, customer: str, ends_on: date, held: bool) -> None:
    campaign = Campaign(name=f"c-{customer}-{ends_on}", state="launched", run_id="r",
                        run_as_of=ends_on - timedelta(days=90), holdout_share=0.1,
                        window_days=60, created_by=manager.id, ends_on=ends_on)  # fmt: skip
    db.add(campaign)
    db.flush()
    db.add(CampaignMember(campaign_id=campaign.id, customer_id=customer, tier="rep",
                          holdout=held))  # fmt: skip
    db.commit()


@pytest.mark.usefixtures("lookups")
def test_a_running_campaigns_holdout_gets_no_case_until_its_window_ends(
    db: Session, people: dict[str, User], tmp_path: Path
) -> None:
    today = clock.today()
    _held_out(db, people["manager"], "c1", today, held=True)  # its last day
    _held_out(db, people["manager"], "c2", today, held=False)  # treated: a case is fine
    _held_out(db, people["manager"], "c2", today - timedelta(days=1), held=True)  # over
    result = sync_cases(db, None, make_run(tmp_path, ROWS), policy=POLICY)
    assert _open_ids(db) == ["c2"]
    assert result.held_back["campaign_holdout"] == 1
    assert result.counts()["held_campaign_holdout"] == 1
    # The day after the window: the customer gets their case.
    db.query(Campaign).update({Campaign.ends_on: today - timedelta(days=1)})
    db.commit()
    again = sync_cases(db, None, make_run(tmp_path / "later", ROWS), policy=POLICY)
    assert _open_ids(db) == ["c1", "c2"]
    assert again.held_back["campaign_holdout"] == 0


@pytest.mark.usefixtures("lookups")
def test_do_not_contact_holds_the_customer_back_until_a_manager_lifts_it(
    db: Session, people: dict[str, User], tmp_path: Path
) -> None:
    do_not_contact.block(db, people["rep"], "c1", note="asked us to stop calling")
    result = sync_cases(db, None, make_run(tmp_path, ROWS), policy=POLICY)
    assert _open_ids(db) == ["c2"]
    assert result.held_back["do_not_contact"] == 1
    audit = db.scalars(select(AuditEntry).where(AuditEntry.action == "sync.held_back")).one()
    assert audit.after == {"held_back": {"do_not_contact": 1}}

    do_not_contact.lift(db, people["manager"], "c1")
    again = sync_cases(db, None, make_run(tmp_path, ROWS), policy=POLICY)
    assert _open_ids(db) == ["c1", "c2"]
    assert again.held_back["do_not_contact"] == 0


@pytest.mark.usefixtures("lookups")
def test_a_rescan_does_not_requeue_a_declined_or_won_back_customer(
    db: Session, people: dict[str, User], tmp_path: Path
) -> None:
    """Issue 13 as reported: close one case declined, win one back, scan again."""
    sync_cases(db, None, make_run(tmp_path, ROWS), policy=POLICY)
    c1, c2 = (db.scalars(select(Case).where(Case.customer_id == c)).one() for c in ("c1", "c2"))
    cases.close_case(db, people["manager"], c1.id, "declined", policy=POLICY)
    win_back(db, people["manager"], c2.id)

    result = sync_cases(db, None, make_run(tmp_path, ROWS), policy=POLICY)

    assert _open_ids(db) == []
    assert result.opened == 0
    assert result.held_back["declined"] == 1
    assert result.held_back["red_carpet"] == 1
    last = contact_rules.last_closed(db, ["c1", "c2", "c3"])
    assert {k: v.outcome for k, v in last.items()} == {"c1": "declined", "c2": "won_back"}


def test_the_policy_file_names_a_bad_contact_key(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text("[contact]\ndeclined_days = -3\n", encoding="utf-8")
    with pytest.raises(PolicyError, match=r"\[contact\] declined_days: .*greater than or equal"):
        load_policy(path)
    path.write_text("[contact]\ndeclined_day = 3\n", encoding="utf-8")
    with pytest.raises(PolicyError, match=r"\[contact\] declined_day: not a policy key"):
        load_policy(path)


# --- do-not-contact on the desk ------------------------------------------------------------


def test_do_not_contact_refuses_a_call_and_a_logged_contact_but_not_a_note(
    db: Session, people: dict[str, User], tmp_path: Path
) -> None:
    sync_cases(db, None, make_run(tmp_path, ROWS[:1]), policy=POLICY)
    case = db.scalars(select(Case)).one()
    do_not_contact.block(db, people["rep"], "c1")
    manager = people["manager"]

    with pytest.raises(Conflict, match=r"customer c1 is do-not-contact .*a call is refused"):
        calls.start_call(db, manager, case.id)
    with pytest.raises(Conflict, match="logging a contact is refused"):
        cases.log_activity(db, manager, case.id, kind="contact", channel="call", text="hi")
    logged = _logged("declined", manager)
    with pytest.raises(Conflict, match="logging a call is refused"):
        calls.log_call(db, manager, case.id, logged, policy=POLICY)
    cases.log_activity(db, manager, case.id, kind="note", channel=None, text="asked to stop")
    db.refresh(case)
    assert not case.contacted

    do_not_contact.lift(db, manager, "c1")
    assert calls.start_call(db, manager, case.id).case_id == case.id


# --- sync repairs who owns open cases ----------------------------------------------------


def test_a_sync_after_users_exist_assigns_the_cases_an_earlier_sync_left(
    db: Session, tmp_path: Path
) -> None:
    from winback.desk import users

    first = sync_cases(db, None, make_run(tmp_path, ROWS), policy=POLICY)
    assert first.unassigned == 2
    rep = users.create_user(
        db, None, username="rep", name="Rep", role="rep", password="correct horse battery"
    )

    second = sync_cases(db, None, make_run(tmp_path, ROWS), policy=POLICY)

    assert second.assigned == 2
    assert {c.owner_id for c in db.scalars(select(Case))} == {rep.id}
    audits = list(db.scalars(select(AuditEntry).where(AuditEntry.action == "case.reassign")))
    assert len(audits) == 2
    assert all(a.actor_name == "winback sync" and a.before == {"owner_id": None} for a in audits)
    third = sync_cases(db, None, make_run(tmp_path, ROWS), policy=POLICY)
    assert (third.assigned, third.reassigned) == (0, 0)


@pytest.mark.parametrize("change", ["deactivated", "made admin"])
def test_the_cases_of_a_user_who_no_longer_holds_work_are_redistributed(
    db: Session, people: dict[str, User], tmp_path: Path, change: str
) -> None:
    sync_cases(db, None, make_run(tmp_path, ROWS), policy=POLICY)
    leaver, stayer = people["rep"], people["rep2"]
    for case in db.scalars(select(Case)):
        case.owner_id = leaver.id
    if change == "deactivated":
        leaver.active = False
    else:
        leaver.role = "admin"
    db.commit()

    result = sync_cases(db, None, make_run(tmp_path, ROWS), policy=POLICY)

    assert result.reassigned == 2
    assert {c.owner_id for c in db.scalars(select(Case))} == {stayer.id}
    moved = db.scalars(select(AuditEntry).where(AuditEntry.action == "case.reassign")).all()
    assert {a.before["owner_id"] for a in moved if a.before} == {leaver.id}


def test_without_anyone_holding_work_sync_leaves_cases_unassigned(
    db: Session, people: dict[str, User], tmp_path: Path
) -> None:
    for role in ("manager", "executive", "rep", "rep2"):
        people[role].active = False
    db.commit()
    result = sync_cases(db, None, make_run(tmp_path, ROWS), policy=POLICY)
    assert result.unassigned == 2
    assert (result.assigned, result.reassigned) == (0, 0)


def test_parallel_syncs_open_each_case_once_and_repair_each_owner_once(
    desk_engine: Engine, db: Session, people: dict[str, User], tmp_path: Path
) -> None:
    rows = [{"customer_id": f"c{i}", "rank": i, "tier": "rep"} for i in range(1, 9)]
    sync_cases(db, None, make_run(tmp_path, rows[:4]), policy=POLICY)
    people["rep"].active = False
    for case in db.scalars(select(Case)):
        case.owner_id = people["rep"].id
    db.commit()
    run = make_run(tmp_path, rows)

    results = in_parallel(
        desk_engine,
        people["manager"].id,
        lambda s, u, i: sync_cases(s, u, run, policy=POLICY),
        threads=6,
    )

    done = wins(results)
    assert len(done) == 6, results
    assert sum(r.opened for r in done) == 4
    assert sum(r.reassigned for r in done) == 4
    db.expire_all()
    assert _open_ids(db) == sorted(r["customer_id"] for r in rows)
    assert db.scalar(select(func.count()).where(Case.owner_id == people["rep"].id)) == 0
    moves = select(func.count()).where(AuditEntry.action == "case.reassign")
    assert db.scalar(moves) == 4
