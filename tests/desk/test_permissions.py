"""The permission matrix: every role against every action, allowed and refused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.desk.conftest import PASSWORD, POLICY, make_run
from winback.desk import (
    audit,
    campaigns,
    cases,
    complaints,
    concessions,
    do_not_contact,
    inbound,
    passes,
    red_carpet,
    tasks,
    taxonomy,
    users,
)
from winback.desk.campaign_audience import AudienceFilter, OfferSpec
from winback.desk.campaign_mail import Reach
from winback.desk.models import AuditEntry, Campaign, CampaignMember, Case, RedCarpet, User
from winback.desk.permissions import ALLOWED, Action, markdown_table
from winback.desk.sync import sync_cases
from winback.errors import PermissionDenied
from winback.insights.reasons import build_report
from winback.policy import Policy
from winback.policy import RedCarpet as RedCarpetRules
from winback.scan.runs import ScanRun

ROLES = ("admin", "manager", "executive", "rep")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> ScanRun:
    return make_run(
        tmp_path_factory.mktemp("runs"),
        [
            {"customer_id": "c1", "rank": 1},
            {"customer_id": "c2", "rank": 2},
            {"customer_id": "c3", "rank": None},  # off the list: no case until one calls in
        ],
    )


Do = Callable[[Session, User, dict[str, Case], ScanRun], object]


def _decide_a_fresh_request(db: Session, u: User, cs: dict[str, Case]) -> object:
    """rep2 asks above their limit on their own case (uncommitted, so a refusal rolls it
    back too); ``u`` approves it."""
    rep2 = db.get(User, cs["theirs"].owner_id)
    assert rep2 is not None
    asked = concessions.request_concession(
        db, rep2, cs["theirs"].id, kind="discount_pct", amount=20, commit=False
    )
    return concessions.decide(db, u, asked.id, decision="approve")


def _record_experience(db: Session, actor: User) -> object:
    """c2 on the red carpet (put there directly), then one experience recorded."""
    db.add(RedCarpet(customer_id="c2", total=3, remaining=3))
    db.commit()
    return red_carpet.record_experience(
        db,
        actor,
        "c2",
        kind="visit",
        ref="v1",
        occurred_at=None,
        gesture="coffee with the manager",
        rules=RedCarpetRules(),
    )


def _build_campaign(db: Session, actor: User, run: ScanRun) -> object:
    """A campaign over the run's rep tier whose offer gives nothing to count (so any
    concession limit, an admin's zero too, covers it)."""
    return campaigns.build_campaign(
        db,
        actor,
        run,
        name="spring",
        audience=AudienceFilter(tiers=("rep",)),
        offers=[OfferSpec("coupon", "a surprise with your next order")],
        policy=POLICY,
    )


def _launch_campaign(db: Session, actor: User, run: ScanRun) -> object:
    """A draft campaign put in directly (no audit row: a refusal must leave the log as it
    was), then ``actor`` launches it."""
    made = Campaign(
        name="spring",
        run_id=run.info.run_id,
        run_as_of=run.as_of,
        holdout_share=0.1,
        window_days=30,
        created_by=db.scalar(select(User.id).where(User.role == "manager")),
    )
    db.add(made)
    db.flush()
    db.add(CampaignMember(campaign_id=made.id, customer_id="c1", tier="rep", segment="a"))
    db.commit()
    return campaigns.launch(db, actor, made.id, Reach({}, lambda c: f"http://127.0.0.1/u/{c}"))


DOING: dict[Action, Do] = {
    Action.VIEW_OWN_QUEUE: lambda db, u, cs, run: cases.my_queue(db, u),
    Action.VIEW_CUSTOMER: lambda db, u, cs, run: cases.cases_of_customer(db, u, "c2"),
    Action.WORK_OWN_CASE: lambda db, u, cs, run: cases.log_activity(
        db, u, cs["mine"].id, kind="contact", channel="call", text="left a message"
    ),
    Action.WORK_ANY_CASE: lambda db, u, cs, run: cases.close_case(
        db, u, cs["theirs"].id, "declined", policy=Policy()
    ),
    Action.VIEW_ALL_CASES: lambda db, u, cs, run: cases.search_cases(db, u, cases.CaseFilter()),
    Action.REASSIGN_CASE: lambda db, u, cs, run: cases.reassign(db, u, cs["theirs"].id, None),
    Action.SAVE_FILTER: lambda db, u, cs, run: cases.save_filter(
        db, u, "big ones", cases.CaseFilter(min_value=1000)
    ),
    Action.VIEW_AUDIT: lambda db, u, cs, run: audit.read_log(db, u),
    Action.SYNC_CASES: lambda db, u, cs, run: sync_cases(db, u, run, policy=POLICY),
    Action.LIST_USERS: lambda db, u, cs, run: users.list_users(db, u),
    Action.MANAGE_USERS: lambda db, u, cs, run: users.create_user(
        db, u, username="newbie", name="New", role="rep", password=PASSWORD
    ),
    Action.OWN_API_TOKENS: lambda db, u, cs, run: users.create_api_token(db, u, "laptop"),
    Action.CHANGE_OWN_PASSWORD: lambda db, u, cs, run: users.change_own_password(
        db, u, PASSWORD, "violet kettle drums at noon"
    ),
    Action.CHANGE_OWN_EMAIL: lambda db, u, cs, run: users.set_email(
        db, u, u.id, "me@staff.example"
    ),
    Action.EDIT_REASONS: lambda db, u, cs, run: taxonomy.add_reason(db, u, "Slow support"),
    Action.VIEW_TEAM_WORK: lambda db, u, cs, run: tasks.overdue_by_owner(db, u),
    Action.VIEW_REPORTS: lambda db, u, cs, run: build_report(db, u, None),
    Action.ASK_CONCESSION: lambda db, u, cs, run: concessions.request_concession(
        db, u, cs["mine"].id, kind="discount_pct", amount=5
    ),
    Action.DECIDE_CONCESSION: lambda db, u, cs, run: _decide_a_fresh_request(db, u, cs),
    Action.SET_LIMITS: lambda db, u, cs, run: concessions.set_limits(
        db, u, cs["theirs"].owner_id or 0, discount_pct=5, credit=10, free_items=1
    ),
    Action.VIEW_RED_CARPET: lambda db, u, cs, run: red_carpet.red_carpet_list(db, u),
    Action.RECORD_EXPERIENCE: lambda db, u, cs, run: _record_experience(db, u),
    Action.VIEW_CYCLE: lambda db, u, cs, run: passes.recent_passes(db, u),
    Action.TRIAGE_POSTS: lambda db, u, cs, run: complaints.triage(db, u),
    Action.MANAGE_SOURCES: lambda db, u, cs, run: complaints.add_source(
        db, u, name="reviews", kind="feed", url="http://127.0.0.1:9/feed"
    ),
    Action.BLOCK_CONTACT: lambda db, u, cs, run: do_not_contact.block(db, u, "c1"),
    Action.LIFT_CONTACT_BLOCK: lambda db, u, cs, run: do_not_contact.lift(db, u, "c1"),
    Action.VIEW_CAMPAIGNS: lambda db, u, cs, run: campaigns.list_campaigns(db, u),
    Action.BUILD_CAMPAIGN: lambda db, u, cs, run: _build_campaign(db, u, run),
    Action.LAUNCH_CAMPAIGN: lambda db, u, cs, run: _launch_campaign(db, u, run),
    Action.OPEN_CASE: lambda db, u, cs, run: inbound.open_by_hand(
        db, u, "c3", reason=taxonomy.reason_codes(db)[0].code, run=run, ledger=None
    ),
}


def test_every_action_has_a_check_in_the_matrix() -> None:
    assert set(DOING) == set(Action) == set(ALLOWED)


@pytest.mark.parametrize("action", list(Action), ids=lambda a: a.name.lower())
@pytest.mark.parametrize("role", ROLES)
def test_role_may_do_exactly_what_the_table_says(
    db: Session, people: dict[str, User], run: ScanRun, role: str, action: Action
) -> None:
    sync_cases(db, None, run, policy=POLICY)
    actor = people[role]
    mine, theirs = (db.scalar(select(Case).where(Case.customer_id == c)) for c in ("c1", "c2"))
    assert mine is not None
    assert theirs is not None
    mine.owner_id, theirs.owner_id = actor.id, people["rep2"].id
    db.commit()
    audit_rows = db.scalar(select(func.count()).select_from(AuditEntry))

    if role in ALLOWED[action]:
        DOING[action](db, actor, {"mine": mine, "theirs": theirs}, run)
    else:
        with pytest.raises(PermissionDenied):
            DOING[action](db, actor, {"mine": mine, "theirs": theirs}, run)
        db.rollback()
        # A refused action changes nothing, not even the audit log.
        assert db.scalar(select(func.count()).select_from(AuditEntry)) == audit_rows


def test_rep_cannot_work_another_reps_case(
    db: Session, people: dict[str, User], run: ScanRun
) -> None:
    sync_cases(db, None, run, policy=POLICY)
    theirs = db.scalar(select(Case).where(Case.customer_id == "c2"))
    assert theirs is not None
    theirs.owner_id = people["rep2"].id
    db.commit()
    with pytest.raises(PermissionDenied, match="not yours"):
        cases.log_activity(db, people["rep"], theirs.id, kind="note", channel=None, text="hi")


def test_deactivated_manager_may_do_nothing(db: Session, people: dict[str, User]) -> None:
    users.set_active(db, people["admin"], people["manager"].id, False)
    with pytest.raises(PermissionDenied):
        cases.my_queue(db, people["manager"])


def test_the_docs_show_the_same_permission_table() -> None:
    desk_doc = (ROOT / "docs" / "desk.md").read_text(encoding="utf-8")
    assert markdown_table() in desk_doc, (
        "docs/desk.md's permission table differs from winback.desk.permissions.ALLOWED: "
        "paste in the output of `python -c 'from winback.desk.permissions import "
        "markdown_table; print(markdown_table())'`"
    )
