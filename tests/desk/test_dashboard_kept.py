"""The dashboard as the app keeps it between requests: the headline's open cases
(:class:`winback.desk.dashboard.OpenCases`) and the reasons report's tally, patched where
the audit log says the desk changed, give after every kind of change, and under writers
in parallel threads, exactly what a read from scratch gives (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from tests.desk.conftest import POLICY
from tests.desk.race import in_parallel
from tests.desk.test_report import CaseSpec, add_call, add_case, build_cases
from tests.desk.test_worked_cache import case_entry
from winback.desk import audit, cases, concessions
from winback.desk.dashboard import OpenCases, headline
from winback.desk.models import AuditEntry, Case, User
from winback.insights.reasons import ReasonsReport, WorkedCache, build_report

TODAY = date(2024, 4, 25)


def same_headline(db: Session, user: User, kept: OpenCases) -> tuple[int, float]:
    """The kept open cases, checked against a read of every open case."""
    got = headline(db, user, TODAY, kept=kept)
    fresh = headline(db, user, TODAY)
    assert (got.open_cases, round(got.revenue_at_risk, 6)) == (
        fresh.open_cases,
        round(fresh.revenue_at_risk, 6),
    )
    return got.open_cases, got.revenue_at_risk


def test_the_kept_open_cases_follow_every_change(db: Session, people: dict[str, User]) -> None:
    made = build_cases(db, people)
    db.commit()
    manager = people["manager"]
    kept = OpenCases()
    assert same_headline(db, manager, kept) == (3, 12_800.0)  # cF, cG, cH

    cases.close_case(db, manager, made["cG"].id, "declined", policy=POLICY)
    assert same_headline(db, manager, kept) == (2, 7_800.0)

    # A value refreshed (as winback sync does: the change and its case entry together).
    db.execute(update(Case).where(Case.id == made["cH"].id).values(value_before=7_500.0))
    audit.record(db, None, "case.refresh", "case", made["cH"].id, None, {})
    db.commit()
    assert same_headline(db, manager, kept) == (2, 8_300.0)

    # A case opened (here by hand, with its entry).
    opened = add_case(db, people, CaseSpec("cN", "open", None, "rep", "rep", 50.0))
    audit.record(db, None, "case.open", "case", opened.id, None, {})
    db.commit()
    assert same_headline(db, manager, kept) == (3, 8_350.0)

    # An entry of a kind that names no case: every open case is read again.
    db.execute(update(Case).where(Case.id == opened.id).values(value_before=60.0))
    audit.record(db, None, "mystery.change", "mystery", "x", None, {})
    db.commit()
    assert same_headline(db, manager, kept) == (3, 8_360.0)

    # Entries that change no case's state or value leave the kept values as they are.
    concessions.request_concession(db, people["rep"], made["cF"].id, kind="credit",
                                   amount=100.0)  # fmt: skip
    assert same_headline(db, manager, kept) == (3, 8_360.0)


def test_an_entry_committed_late_below_the_newest_seen_is_not_missed(
    db: Session, people: dict[str, User]
) -> None:
    made = build_cases(db, people)
    db.commit()
    kept = OpenCases()
    manager = people["manager"]
    same_headline(db, manager, kept)
    top = db.scalar(select(func.max(AuditEntry.id))) or 0
    db.add(case_entry(top + 10, made["cF"].id))
    db.commit()
    same_headline(db, manager, kept)
    # The earlier transaction (closing cG) commits after the later one was seen.
    db.execute(update(Case).where(Case.id == made["cG"].id).values(state="closed"))
    db.add(case_entry(top + 5, made["cG"].id))
    db.commit()
    assert same_headline(db, manager, kept) == (2, 7_800.0)


def test_closes_in_parallel_threads_are_all_counted(
    desk_engine: Engine, db: Session, people: dict[str, User]
) -> None:
    specs = [CaseSpec(f"p{i}", "open", None, "rep", "rep", 100.0 + i) for i in range(12)]
    ids = [add_case(db, people, s).id for s in specs]
    db.commit()
    manager = people["manager"]
    kept = OpenCases()
    assert same_headline(db, manager, kept) == (12, sum(100.0 + i for i in range(12)))

    def work(session: Session, user: User, i: int) -> int:
        # Half the threads close a case each, the other half read the figures meanwhile.
        if i % 2:
            cases.close_case(session, user, ids[i], "declined", policy=POLICY)
            return 0
        return kept.figures(session)[0]

    in_parallel(desk_engine, manager.id, work)
    db.expire_all()
    left = [100.0 + i for i in range(12) if i % 2 == 0]
    assert same_headline(db, manager, kept) == (6, sum(left))


def plain(report: ReasonsReport) -> dict[str, Any]:
    """The report as plain data, amounts rounded to the cent's ten-thousandth (a patched
    tally adds in another order than a fresh one), without its build time."""

    def rounded(value: Any) -> Any:
        if isinstance(value, float):
            return round(value, 6)
        if isinstance(value, dict):
            return {k: rounded(v) for k, v in value.items()}
        if isinstance(value, list):
            return [rounded(v) for v in value]
        return value

    data = dataclasses.asdict(report)
    del data["generated_at"]
    data["voices"] = [{k: v for k, v in voice.items() if k != "at"} for voice in data["voices"]]
    return {k: rounded(v) for k, v in data.items()}


def test_a_report_patched_after_changes_equals_one_built_afresh(
    db: Session, people: dict[str, User]
) -> None:
    made = build_cases(db, people)
    db.commit()
    manager = people["manager"]
    cache = WorkedCache()

    def check(since: date | None = None) -> ReasonsReport:
        patched = build_report(db, manager, None, since=since, cache=cache)
        assert plain(patched) == plain(build_report(db, manager, None, since=since))
        return patched

    first = check()
    april = check(date(2024, 4, 1))
    # A case closed, one reassigned, a new diagnosis on an open case, a credit granted.
    cases.close_case(db, manager, made["cG"].id, "declined", policy=POLICY)
    cases.reassign(db, manager, made["cF"].id, people["rep2"].id)
    add_call(db, made["cH"], people["rep"], at=datetime(2024, 6, 2), reasons=["late"],
             verification="yes", offer="coupon", words="always late")  # fmt: skip
    audit.record(db, None, "case.note", "case", made["cH"].id, None, {})
    db.commit()
    asked = concessions.request_concession(db, people["rep2"], made["cF"].id, kind="credit",
                                           amount=500.0)  # fmt: skip
    concessions.decide(db, people["executive"], asked.id, decision="approve")  # cF: executive tier
    after = check()
    assert after.total.cases == first.total.cases + 2  # cG closed, cH diagnosed
    assert after.total.credit_granted == first.total.credit_granted + 500.0
    assert check(date(2024, 4, 1)).total.cases == april.total.cases + 2
    # A case's worked row gone (its call taken back to before the diagnosis, by hand).
    db.execute(update(Case).where(Case.id == made["cG"].id).values(state="open"))
    audit.record(db, None, "case.reopen", "case", made["cG"].id, None, {})
    db.commit()
    assert check().total.cases == after.total.cases - 1
