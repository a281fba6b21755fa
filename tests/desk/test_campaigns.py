"""Campaigns: building from a scan run, offers by reason, the one-shot launch with its
holdout, codes, e-mails and call tasks, and the measured lift. SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tests.desk.conftest import POLICY, make_run
from tests.desk.race import in_parallel, wins
from winback.desk import campaign_results, campaigns, do_not_contact, tasks
from winback.desk.campaign_audience import (
    AudienceFilter,
    OfferSpec,
    default_offers,
    members_of,
    offer_kind_for,
)
from winback.desk.campaign_mail import Reach
from winback.desk.models import (
    AuditEntry,
    Campaign,
    CampaignMember,
    CampaignOffer,
    Case,
    OutboxMessage,
    Task,
    User,
)
from winback.errors import Conflict, InvalidInput, PermissionDenied
from winback.insights import lift
from winback.ledger.importer import import_file
from winback.ledger.store import Ledger
from winback.scan.runs import ScanRun

PRICE = "price rise of 12 % on their usual line"
INCIDENT = "2 incident(s) in the last 90 days not put right"
QUIET = "opened no e-mail in 6 months after opening 5 before"


def _rows(n: int, tier: str = "campaign", start: int = 0) -> list[dict[str, Any]]:
    reasons = [[PRICE], [INCIDENT], [QUIET]]
    return [
        {
            "customer_id": f"c{start + i:03d}",
            "name": f"Customer {start + i}",
            "tier": tier,
            "segment": "retail" if i % 2 else "trade",
            "reasons": reasons[i % 3],
            "expected_value": 100.0,
            "lapse_risk": 0.5,
        }
        for i in range(n)
    ]


@pytest.fixture
def run(tmp_path: Path) -> ScanRun:
    return make_run(tmp_path / "runs", _rows(40) + _rows(4, tier="rep", start=100))


def _reach(run: ScanRun, missing: set[str] = frozenset()) -> Reach:  # type: ignore[assignment]
    ids = [r["customer_id"] for r in run.customers(["customer_id"]).to_pylist()]
    return Reach(
        emails={c: f"{c}@example.com" for c in ids if c not in missing},
        unsubscribe_url=lambda c: f"http://127.0.0.1/unsubscribe/{c}",
        business_name="Shop",
    )


def _build(db: Session, user: User, run: ScanRun, **given: Any) -> Campaign:
    options: dict[str, Any] = {
        "name": "autumn",
        "audience": AudienceFilter(tiers=("campaign", "rep")),
        "offers": default_offers(),
        "policy": POLICY,
        "holdout_share": 0.25,
    }
    options.update(given)
    return campaigns.build_campaign(db, user, run, **options)


def test_each_member_gets_the_offer_that_fits_their_reasons(
    db: Session, people: dict[str, User], run: ScanRun
) -> None:
    made = _build(db, people["manager"], run, audience=AudienceFilter())
    offers = {o.id: o.kind for o in db.scalars(select(CampaignOffer))}
    members = members_of(db, made.id)
    assert len(members) == 40  # the campaign tier only, by default
    kinds = {m.customer_id: offers[m.offer_id] for m in members if m.offer_id}
    assert kinds["c000"] == "price_break"  # PRICE
    assert kinds["c001"] == "apology_guarantee"  # INCIDENT
    assert kinds["c002"] == "coupon"  # nothing matches: the default offer
    assert offer_kind_for(["Late DELIVERY twice"], POLICY.campaigns) == "apology_guarantee"


def test_filters_narrow_the_audience_and_a_bad_one_names_the_field(
    db: Session, people: dict[str, User], run: ScanRun
) -> None:
    made = _build(db, people["manager"], run, audience=AudienceFilter(segments=("retail",)))
    assert {m.segment for m in members_of(db, made.id)} == {"retail"}
    assert len(members_of(db, made.id)) == 20  # the campaign tier (the default) only
    with pytest.raises(InvalidInput, match="tiers gold"):
        _build(db, people["manager"], run, audience=AudienceFilter(tiers=("gold",)))
    with pytest.raises(InvalidInput, match=r"min_value 5\.0 is above max_value 1\.0"):
        _build(db, people["manager"], run, audience=AudienceFilter(min_value=5.0, max_value=1.0))
    with pytest.raises(InvalidInput, match="no customer of scan run"):
        _build(db, people["manager"], run, name="none", audience=AudienceFilter(reason="no such"))


def test_an_offer_above_the_builders_limit_is_refused(
    db: Session, people: dict[str, User], run: ScanRun
) -> None:
    big = [OfferSpec("price_break", "30 % off", "discount_pct", 30.0)]  # a manager holds 25
    with pytest.raises(
        InvalidInput, match=r"offer 1 \(price_break\): 30 percent discount is above"
    ):
        _build(db, people["manager"], run, offers=big)
    assert db.scalar(select(func.count()).select_from(Campaign)) == 0
    with pytest.raises(PermissionDenied):
        _build(db, people["rep"], run)


def test_do_not_contact_customers_are_left_out(
    db: Session, people: dict[str, User], run: ScanRun
) -> None:
    do_not_contact.block(db, people["rep"], "c000")
    made = _build(db, people["manager"], run)
    ids = {m.customer_id for m in members_of(db, made.id)}
    assert "c000" not in ids
    assert len(ids) == 43
    assert made.counts["do_not_contact"] == 1


def test_launch_holds_out_a_stratified_share_and_reaches_only_the_treated(
    db: Session, people: dict[str, User], run: ScanRun
) -> None:
    made = _build(db, people["manager"], run)
    shown = campaigns.preview(db, people["manager"], made, POLICY)
    # Strata: campaign|trade 20, campaign|retail 20, rep|trade 2, rep|retail 2; 25 % of
    # each, halves up: 5 + 5 + 1 + 1.
    assert (shown.audience, shown.holdout, shown.treated) == (44, 12, 32)
    assert shown.minimum_detectable_lift == pytest.approx(
        lift.minimum_detectable_lift(32, 12, POLICY.campaigns.base_rate)
    )
    report = campaigns.launch(db, people["manager"], made.id, _reach(run, missing={"c003"}))
    assert (report.treated, report.holdout) == (32, 12)
    members = members_of(db, made.id)
    held = [m for m in members if m.holdout]
    treated = [m for m in members if not m.holdout]
    assert all(m.code is None for m in held)
    codes = [m.code for m in treated]
    assert len(set(codes)) == 32
    assert all(re.fullmatch(r"WB(-[A-Z2-7]{4}){4}", c or "") for c in codes)
    # The draw is the recorded seed's: drawn again, the same members are held out.
    again = lift.draw_holdout(campaigns.strata_of(members), 0.25, made.seed or 0)
    assert [bool(x) for x in again] == [m.holdout for m in members]
    calls = [m for m in treated if m.tier == "rep"]
    emails = [m for m in treated if m.channel == "email"]
    assert report.calls == len(calls) == 2
    assert all(m.task_id for m in calls)
    assert (
        db.scalar(select(func.count()).select_from(Task).where(Task.kind == "campaign_call")) == 2
    )
    no_address = 1 if any(m.customer_id == "c003" for m in treated) else 0
    assert report.no_address == no_address
    queued = list(db.scalars(select(OutboxMessage)))
    assert report.queued == len(queued) == len(emails) == 32 - 2 - no_address
    assert {q.customer_id for q in queued} == {m.customer_id for m in emails}
    assert not {q.customer_id for q in queued} & {m.customer_id for m in held}
    first = next(q for q in queued if q.customer_id == emails[0].customer_id)
    assert emails[0].code in first.text
    assert "unsubscribe" in first.headers["List-Unsubscribe"]


def test_a_rep_tier_call_goes_to_the_owner_of_the_open_case(
    db: Session, people: dict[str, User], run: ScanRun
) -> None:
    for customer in ("c100", "c101", "c102", "c103"):
        db.add(Case(customer_id=customer, priority=1, run_id="r", customer_status="lapsed",
                    owner_id=people["rep2"].id))  # fmt: skip
    db.commit()
    made = _build(db, people["manager"], run)
    campaigns.launch(db, people["manager"], made.id, _reach(run))
    owners = set(db.scalars(select(Task.owner_id).where(Task.kind == "campaign_call")))
    assert owners == {people["rep2"].id}


def test_the_holdouts_open_cases_close_at_launch_and_the_treateds_stay_open(
    db: Session, people: dict[str, User], run: ScanRun
) -> None:
    rep = people["rep2"]
    for n, customer in enumerate(["c000", "c001", "c002", "c003", "c100", "c101", "c102"]):
        case = Case(customer_id=customer, priority=1, run_id="r", customer_status="lapsed",
                    owner_id=rep.id, state="working" if n % 2 else "open")  # fmt: skip
        db.add(case)
        db.flush()
        tasks.add_task(db, None, kind="follow_up", title="call back", customer_id=customer,
                       owner_id=rep.id, due_on=date(2030, 1, 1), case_id=case.id)  # fmt: skip
    db.commit()
    made = _build(db, people["manager"], run, holdout_share=0.5)
    report = campaigns.launch(db, people["manager"], made.id, _reach(run))
    held = {m.customer_id for m in members_of(db, made.id) if m.holdout}
    db.expire_all()
    cases = {c.customer_id: c for c in db.scalars(select(Case))}
    with_case_held = held & cases.keys()
    assert with_case_held
    assert cases.keys() - held
    assert report.cases_held == len(with_case_held) == made.counts["cases_held"]
    for customer, case in cases.items():
        if customer in held:
            assert (case.state, case.outcome, case.owner_id) == ("closed", "not_pursued", None)
            assert case.closed_at is not None
            assert not case.contacted
        else:
            assert case.state in ("open", "working")
            assert case.owner_id == rep.id
    open_tasks = db.scalars(select(Task.customer_id).where(Task.done_at.is_(None))).all()
    assert not held & set(open_tasks)
    assert {"c000", "c001", "c002", "c003", "c100", "c101", "c102"} - held <= set(open_tasks)
    audited = db.scalars(select(AuditEntry).where(AuditEntry.action == "case.held_out")).all()
    assert {int(a.entity_id) for a in audited} == {cases[c].id for c in with_case_held}
    assert all(a.after and a.after["campaign"] == made.id for a in audited)
    assert all(a.before and a.before["owner_id"] == rep.id for a in audited)


def test_a_second_launch_is_refused_and_queues_nothing_more(
    db: Session, people: dict[str, User], run: ScanRun
) -> None:
    made = _build(db, people["manager"], run)
    campaigns.launch(db, people["manager"], made.id, _reach(run))
    before = db.scalar(select(func.count()).select_from(OutboxMessage))
    with pytest.raises(Conflict, match="launched already"):
        campaigns.launch(db, people["admin"], made.id, _reach(run))
    assert db.scalar(select(func.count()).select_from(OutboxMessage)) == before


def test_a_double_click_launches_once(
    desk_engine: Engine, db: Session, people: dict[str, User], run: ScanRun
) -> None:
    made = _build(db, people["manager"], run)
    reach = _reach(run)
    results = in_parallel(
        desk_engine,
        [people["manager"].id, people["admin"].id],
        lambda s, u, i: campaigns.launch(s, u, made.id, reach),
    )
    won = wins(results)
    assert len(won) == 1
    assert all(isinstance(r, Conflict) for r in results if r not in won)
    db.expire_all()
    coded = db.scalar(
        select(func.count()).select_from(CampaignMember).where(CampaignMember.code.is_not(None))
    )
    assert coded == won[0].treated
    assert db.scalar(select(func.count()).select_from(OutboxMessage)) == won[0].emails
    assert db.scalar(select(func.count()).select_from(Task)) == won[0].calls


def test_the_holdout_is_kept_out_of_the_next_campaign_for_the_window(
    db: Session, people: dict[str, User], run: ScanRun
) -> None:
    first = _build(db, people["manager"], run)
    campaigns.launch(db, people["manager"], first.id, _reach(run))
    held = {m.customer_id for m in members_of(db, first.id) if m.holdout}
    second = _build(db, people["manager"], run, name="winter")
    assert not held & {m.customer_id for m in members_of(db, second.id)}
    assert second.counts["held_out_elsewhere"] == len(held)
    first.ends_on = date(2000, 1, 1)  # the window over: they may be reached again
    db.commit()
    third = _build(db, people["manager"], run, name="spring")
    assert held <= {m.customer_id for m in members_of(db, third.id)}


def test_the_audience_csv_lists_each_member_with_group_offer_and_code(
    db: Session, people: dict[str, User], run: ScanRun
) -> None:
    made = _build(db, people["manager"], run)
    campaigns.launch(db, people["manager"], made.id, _reach(run))
    text = campaigns.audience_csv(db, people["manager"], made.id)
    lines = text.splitlines()
    assert lines[0] == ",".join(campaigns.AUDIENCE_COLUMNS)
    assert len(lines) == 45
    assert sum(",holdout," in line for line in lines) == 12
    with pytest.raises(PermissionDenied):
        campaigns.audience_csv(db, people["rep"], made.id)


# --- the measured lift ----------------------------------------------------------------------


def _ledger(root: Path, orders: list[tuple[str, str, str, float, str]]) -> Ledger:
    ledger = Ledger(root / "ledger")
    path = root / "orders.csv"
    lines = ["order_id,customer_id,order_date,amount,discount_code"]
    lines += [f"{o},{c},{d},{a},{code}" for o, c, d, a, code in orders]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = import_file(ledger, "orders", path, rejects_dir=root / "rejects")
    assert result.rejected == 0, result.rejects
    return ledger


def test_lift_counts_returns_in_the_window_and_each_code_once(
    db: Session, people: dict[str, User], run: ScanRun, tmp_path: Path
) -> None:
    made = _build(db, people["manager"], run)
    campaigns.launch(db, people["manager"], made.id, _reach(run))
    made.ends_on = date(2024, 9, 1)  # window: 2024-07-03 to 2024-09-01
    db.commit()
    members = members_of(db, made.id)
    treated = [m for m in members if not m.holdout and m.channel == "email"]
    held = [m for m in members if m.holdout]
    kinds = {o.id: o.kind for o in db.scalars(select(CampaignOffer))}
    price = next(m for m in treated if kinds[m.offer_id or 0] == "price_break")
    other = next(m for m in treated if m.customer_id != price.customer_id)
    orders = [
        # The price-break member comes back with their code (10 % off: 90 paid, 10 given).
        ("o1", price.customer_id, "2024-07-10", 90.0, (price.code or "").lower()),
        ("o2", price.customer_id, "2024-07-20", 50.0, price.code or ""),  # used again
        ("o3", held[0].customer_id, "2024-08-01", 40.0, price.code or ""),  # someone else's
        ("o4", other.customer_id, "2024-06-01", 500.0, ""),  # before the window
        ("o5", other.customer_id, "2024-09-02", 500.0, ""),  # after it
    ]
    ledger = _ledger(tmp_path, orders)
    found = campaign_results.measure(db, people["manager"], made.id, ledger, POLICY)
    assert (found.since, found.until) == (date(2024, 7, 3), date(2024, 9, 1))
    overall = found.overall
    assert (overall.treated_n, overall.holdout_n) == (32, 12)
    assert overall.rate is not None
    assert overall.revenue is not None
    assert overall.rate.treated_rate == pytest.approx(1 / 32)
    assert overall.rate.holdout_rate == pytest.approx(1 / 12)
    assert overall.revenue.treated_rate == pytest.approx(140 / 32)
    assert overall.redeemed == 1
    assert overall.cost == pytest.approx(10.0)
    assert overall.incremental_revenue == pytest.approx((140 / 32 - 40 / 12) * 32)
    assert overall.net_revenue == pytest.approx((140 / 32 - 40 / 12) * 32 - 10)
    problems = sorted((p.order_id, p.problem) for p in found.problems)
    assert problems[0] == ("o2", "used again (counted once)")
    assert problems[1][0] == "o3"
    assert "given to " + price.customer_id in problems[1][1]
    by_offer = {g.label: g for g in found.by_offer}
    assert by_offer["price_break"].redeemed == 1
    assert sum(g.treated_n for g in found.by_offer) == 32


def test_a_draft_has_nothing_to_measure(db: Session, people: dict[str, User], run: ScanRun) -> None:
    made = _build(db, people["manager"], run)
    with pytest.raises(Conflict, match="not launched"):
        campaign_results.measure(db, people["manager"], made.id, None, POLICY)
    with pytest.raises(PermissionDenied):
        campaign_results.measure(db, people["rep"], made.id, None, POLICY)


def test_codes_are_read_however_they_are_typed() -> None:
    code = campaigns.new_code()
    assert campaigns.normal_code(code.lower().replace("-", " ")) == code
    assert campaigns.normal_code(code.replace("-", "")) == code


def test_a_double_click_on_build_makes_one_draft(
    desk_engine: Engine, db: Session, people: dict[str, User], run: ScanRun
) -> None:
    results = in_parallel(desk_engine, people["manager"].id, lambda s, u, i: _build(s, u, run).id)
    assert len(set(wins(results))) == 1
    assert db.scalar(select(func.count()).select_from(Campaign)) == 1
    with pytest.raises(Conflict, match="named 'autumn' already"):
        _build(db, people["manager"], run, audience=AudienceFilter(segments=("retail",)))


# --- queuing again after a failed queue ----------------------------------------------------


def test_e_mails_queue_again_after_queuing_failed_and_never_twice(
    desk_engine: Engine,
    db: Session,
    people: dict[str, User],
    run: ScanRun,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made = _build(db, people["manager"], run)
    with pytest.raises(Conflict, match="not launched yet"):
        campaigns.requeue(db, people["manager"], made.id, _reach(run))

    def broken(*args: Any) -> Any:
        raise RuntimeError("the database went away while queuing")

    with monkeypatch.context() as patch:
        patch.setattr(campaigns, "queue_emails", broken)
        with pytest.raises(RuntimeError):
            campaigns.launch(db, people["manager"], made.id, _reach(run))
    db.rollback()
    # The launch committed before queuing: launched, codes issued, nothing queued.
    db.refresh(made)
    assert made.state == "launched"
    assert db.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    emailed = {m.customer_id for m in members_of(db, made.id) if m.channel == "email"}
    assert emailed
    with pytest.raises(PermissionDenied):
        campaigns.requeue(db, people["rep"], made.id, _reach(run))

    done = campaigns.requeue(db, people["manager"], made.id, _reach(run))
    assert (done.queued, done.duplicates) == (len(emailed), 0)
    queued = list(db.scalars(select(OutboxMessage)))
    assert sorted(q.customer_id for q in queued) == sorted(emailed)
    # Again, and many at once: everything is queued already.
    results = in_parallel(
        desk_engine,
        people["manager"].id,
        lambda s, u, i: campaigns.requeue(s, u, made.id, _reach(run)),
        threads=4,
    )
    assert [r.queued for r in wins(results)] == [0, 0, 0, 0]
    assert db.scalar(select(func.count()).select_from(OutboxMessage)) == len(emailed)
