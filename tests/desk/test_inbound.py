"""A case opened by hand for a customer who calls in: owned by the rep, with the reason and
note, audited; refused for a customer with an open case or do-not-contact; a double-click
opens one case."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tests.desk.conftest import POLICY, make_run
from tests.desk.race import in_parallel
from winback.desk import do_not_contact, inbound
from winback.desk.cases import my_queue
from winback.desk.models import AuditEntry, Case, CaseActivity, User
from winback.desk.sync import sync_cases
from winback.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from winback.ledger.importer import import_file
from winback.ledger.store import Ledger
from winback.scan.runs import ScanRun


@pytest.fixture
def run(tmp_path: Path) -> ScanRun:
    # c1 is on the list (sync opens its case); c9 is scanned but off the list.
    return make_run(
        tmp_path / "runs",
        [
            {"customer_id": "c1", "name": "Acme Ltd", "rank": 1},
            {"customer_id": "c9", "name": "Nine Ltd", "rank": None, "status": "active"},
        ],
    )


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    ledger = Ledger(tmp_path / "ledger")
    path = tmp_path / "customers.csv"
    path.write_text("customer_id,name,segment\nL1,Ledger Only,retail\n", encoding="utf-8")
    assert import_file(ledger, "customers", path, rejects_dir=tmp_path / "rejects").stored == 1
    return ledger


def _open(db: Session, actor: User, customer_id: str, run: ScanRun, ledger: Ledger) -> Case:
    return inbound.open_by_hand(
        db, actor, customer_id, reason="price", note="rang about the price", run=run, ledger=ledger
    )


def test_a_rep_opens_a_case_for_a_scanned_customer_and_it_tops_their_queue(
    db: Session, people: dict[str, User], run: ScanRun, ledger: Ledger
) -> None:
    rep = people["rep"]
    case = _open(db, rep, "c9", run, ledger)
    assert (case.owner_id, case.state, case.priority) == (rep.id, "open", 0)
    assert (case.customer_name, case.customer_status) == ("Nine Ltd", "active")
    assert case.reasons[0] == "called in: Price"
    assert my_queue(db, rep).cases[0].id == case.id
    note = db.scalar(select(CaseActivity).where(CaseActivity.case_id == case.id))
    assert note is not None
    assert note.text == "Called in: Price\nrang about the price"
    entry = db.scalar(select(AuditEntry).where(AuditEntry.action == "case.open"))
    assert entry is not None
    assert (entry.actor_id, entry.entity_id) == (rep.id, str(case.id))
    assert entry.after is not None
    assert entry.after["reason"] == "price"


def test_a_customer_only_the_ledger_knows_gets_a_case_marked_inbound(
    db: Session, people: dict[str, User], run: ScanRun, ledger: Ledger
) -> None:
    case = _open(db, people["manager"], "L1", run, ledger)
    assert (case.customer_name, case.segment, case.customer_status) == (
        "Ledger Only",
        "retail",
        inbound.INBOUND_STATUS,
    )


def test_nobody_anywhere_is_not_found(
    db: Session, people: dict[str, User], run: ScanRun, ledger: Ledger
) -> None:
    with pytest.raises(NotFound, match="no customer 'ghost'"):
        _open(db, people["rep"], "ghost", run, ledger)


def test_a_customer_with_an_open_case_is_refused_naming_it(
    db: Session, people: dict[str, User], run: ScanRun, ledger: Ledger
) -> None:
    sync_cases(db, None, run, policy=POLICY)
    standing = db.scalar(select(Case.id).where(Case.customer_id == "c1"))
    with pytest.raises(inbound.OpenCaseExists, match=f"case {standing}") as refused:
        _open(db, people["rep"], "c1", run, ledger)
    assert refused.value.case_id == standing


def test_a_do_not_contact_customer_is_refused(
    db: Session, people: dict[str, User], run: ScanRun, ledger: Ledger
) -> None:
    do_not_contact.block(db, people["rep"], "c9")
    with pytest.raises(Conflict, match="do-not-contact"):
        _open(db, people["rep"], "c9", run, ledger)
    assert db.scalar(select(func.count()).select_from(Case)) == 0


def test_a_reason_outside_the_taxonomy_is_refused_listing_the_choices(
    db: Session, people: dict[str, User], run: ScanRun, ledger: Ledger
) -> None:
    with pytest.raises(InvalidInput, match=r"reason 'bored': choose one of .*price"):
        inbound.open_by_hand(db, people["rep"], "c9", reason="bored", run=run, ledger=ledger)


def test_an_admin_holds_no_cases(
    db: Session, people: dict[str, User], run: ScanRun, ledger: Ledger
) -> None:
    with pytest.raises(PermissionDenied):
        _open(db, people["admin"], "c9", run, ledger)


def test_a_double_click_opens_one_case(
    desk_engine: Engine, db: Session, people: dict[str, User], run: ScanRun, ledger: Ledger
) -> None:
    results = in_parallel(
        desk_engine,
        [people["rep"].id, people["rep2"].id],
        lambda s, user, i: _open(s, user, "c9", run, ledger).id,
        threads=6,
    )
    opened = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if not isinstance(r, int)]
    assert len(opened) == 1, results
    assert all(isinstance(r, inbound.OpenCaseExists) for r in refused), refused
    assert {r.case_id for r in refused if isinstance(r, inbound.OpenCaseExists)} == set(opened)
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Case)) == 1
    assert db.scalar(select(func.count()).select_from(CaseActivity)) == 1
    opens = select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "case.open")
    assert db.scalar(opens) == 1
