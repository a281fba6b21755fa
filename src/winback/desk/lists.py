"""The desk's lists, sorted, paged, totalled and exported: my queue, all cases, my tasks,
overdue work, the red carpet, approvals and the desk's users. Each names the columns it
may be sorted by (winback.desk.listing); the pages and the CSV read the same query.

A case row comes with its owner's name and the due date of its next open task, selected
with the case (correlated subqueries), so the list sorts on them in SQL and the CSV of
100,000 cases needs no query per row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, aliased, lazyload, selectinload

from winback.desk import cases, concessions, tasks
from winback.desk.listing import (
    CsvColumn,
    ListPage,
    ListQuery,
    Sorting,
    SortKey,
    everything,
    fetch,
    to_csv,
)
from winback.desk.models import Call, Case, Concession, RedCarpet, Task, User, utcnow
from winback.desk.permissions import Action, require
from winback.desk.red_carpet.period import ENDED_SHOWN_DAYS


def _name_of(user_id: Any, label: str) -> Any:
    """A person's name by their id, as a subquery of the list's statement (evaluated for
    the page's rows only)."""
    who = aliased(User)
    return select(who.name).where(who.id == user_id).scalar_subquery().label(label)


OWNER_NAME = _name_of(Case.owner_id, "owner_name")
_next = aliased(Task)
NEXT_DUE = (
    select(func.min(_next.due_on))
    .where(_next.case_id == Case.id, _next.done_at.is_(None))
    .scalar_subquery()
    .label("next_due")
)
CASE_NAME = func.coalesce(Case.customer_name, Case.customer_id)
# For sorting a whole list by owner or next due date: joins (one hash join each), where
# the columns above are subqueries evaluated for the page's rows only.
_sort_owner = aliased(User)
_due = (
    select(Task.case_id, func.min(Task.due_on).label("due"))
    .where(Task.done_at.is_(None), Task.case_id.is_not(None))
    .group_by(Task.case_id)
    .subquery("next_due_of")
)


def _join_owner(query: Select[Any]) -> Select[Any]:
    return query.outerjoin(_sort_owner, _sort_owner.id == Case.owner_id)


def _join_due(query: Select[Any]) -> Select[Any]:
    return query.outerjoin(_due, _due.c.case_id == Case.id)


CASE_SORTING = Sorting(
    keys=(
        SortKey("priority", "#", Case.priority),
        SortKey("name", "Customer", CASE_NAME),
        SortKey("worth", "Worth", Case.expected_value),
        SortKey("status", "Status", Case.customer_status),
        SortKey("owner", "Owner", _sort_owner.name, _join_owner),
        SortKey("due", "Due", _due.c.due, _join_due),
    ),
    default="priority",
    default_desc=False,
    tiebreak=Case.id,
    # The queue's own order: urgent cases (a public complaint) first.
    lead=(Case.urgent.desc(),),
)


@dataclass(frozen=True)
class CaseRow:
    """A case on a list, with its owner's name and its next open task's due date."""

    case: Case
    owner_name: str | None
    next_due: date | None

    @property
    def top_reason(self) -> str:
        return self.case.reasons[0] if self.case.reasons else ""


def _case_rows(
    db: Session, query: Select[Any], q: ListQuery, *, flags: bool = True
) -> ListPage[CaseRow]:
    query = query.add_columns(OWNER_NAME, NEXT_DUE)
    # The page shows each case's red-carpet flag and public post; the CSV reads neither,
    # so it leaves them unloaded (two IN queries over every row of a long export).
    query = query.options(
        selectinload(Case.red_carpet) if flags else lazyload(Case.red_carpet),
        *(() if flags else (lazyload(Case.post),)),
    )
    found = fetch(db, query, q, CASE_SORTING, Case.expected_value, scalars=False)
    found.rows = [CaseRow(c, owner, due) for c, owner, due in found.rows]
    return found


def queue(db: Session, actor: User, q: ListQuery, *, flags: bool = True) -> ListPage[CaseRow]:
    """The actor's open and working cases (the rep's queue)."""
    require(actor, Action.VIEW_OWN_QUEUE)
    query = select(Case).where(Case.owner_id == actor.id, Case.state != "closed")
    return _case_rows(db, query, q, flags=flags)


def all_cases(
    db: Session, actor: User, f: cases.CaseFilter, q: ListQuery, *, flags: bool = True
) -> ListPage[CaseRow]:
    """Every case matching the manager view's filters."""
    require(actor, Action.VIEW_ALL_CASES)
    return _case_rows(db, cases.filtered(select(Case), f), q, flags=flags)


CASE_CSV: list[CsvColumn[CaseRow]] = [
    CsvColumn("case_id", lambda r: r.case.id),
    CsvColumn("customer_id", lambda r: r.case.customer_id),
    CsvColumn("customer_name", lambda r: r.case.customer_name),
    CsvColumn("status", lambda r: r.case.customer_status),
    CsvColumn("tier", lambda r: r.case.tier),
    CsvColumn("worth", lambda r: r.case.expected_value),
    CsvColumn("odds", lambda r: r.case.winback_odds),
    CsvColumn("top_reason", lambda r: r.top_reason),
    CsvColumn("reasons", lambda r: "; ".join(r.case.reasons or [])),
    CsvColumn("state", lambda r: r.case.state),
    CsvColumn("outcome", lambda r: r.case.outcome),
    CsvColumn("owner", lambda r: r.owner_name),
    CsvColumn("next_due", lambda r: r.next_due.isoformat() if r.next_due else None),
    CsvColumn("urgent", lambda r: r.case.urgent),
]


def queue_csv(db: Session, actor: User, q: ListQuery) -> str:
    return to_csv(CASE_CSV, queue(db, actor, everything(q), flags=False).rows)


def cases_csv(db: Session, actor: User, f: cases.CaseFilter, q: ListQuery) -> str:
    return to_csv(CASE_CSV, all_cases(db, actor, f, everything(q), flags=False).rows)


# --- tasks ----------------------------------------------------------------------------

TASK_OWNER = _name_of(Task.owner_id, "owner_name")
_task_sort_owner = aliased(User)


def _join_task_owner(query: Select[Any]) -> Select[Any]:
    return query.outerjoin(_task_sort_owner, _task_sort_owner.id == Task.owner_id)


TASK_SORTING = Sorting(
    keys=(
        SortKey("due", "Due", Task.due_on),
        SortKey("name", "Customer", func.coalesce(Case.customer_name, Task.customer_id)),
        SortKey("worth", "Worth", Case.expected_value),
        SortKey("status", "Kind", Task.kind),
        SortKey("owner", "Owner", _task_sort_owner.name, _join_task_owner),
    ),
    default="due",
    default_desc=False,
    tiebreak=Task.id,
)


@dataclass(frozen=True)
class TaskRow:
    """A task with its case's customer name and worth, and its owner's name."""

    task: Task
    customer_name: str | None
    worth: float | None
    owner_name: str | None


def _task_rows(db: Session, query: Select[Any], q: ListQuery) -> ListPage[TaskRow]:
    query = query.add_columns(Case.customer_name, Case.expected_value, TASK_OWNER).outerjoin(
        Case, Case.id == Task.case_id
    )
    found = fetch(db, query, q, TASK_SORTING, Case.expected_value, scalars=False)
    found.rows = [TaskRow(*row) for row in found.rows]
    return found


def my_tasks(
    db: Session, actor: User, q: ListQuery, *, include_done: bool = False
) -> ListPage[TaskRow]:
    """The actor's tasks (open ones, or all with ``include_done``)."""
    require(actor, Action.VIEW_OWN_QUEUE)
    query = select(Task).where(Task.owner_id == actor.id)
    if not include_done:
        query = query.where(Task.done_at.is_(None))
    return _task_rows(db, query, q)


def overdue(db: Session, actor: User, q: ListQuery, on: date | None = None) -> ListPage[TaskRow]:
    """Every open task past its due date (managers)."""
    require(actor, Action.VIEW_TEAM_WORK)
    query = select(Task).where(Task.done_at.is_(None), Task.due_on < (on or tasks.today()))
    return _task_rows(db, query, q)


TASK_CSV: list[CsvColumn[TaskRow]] = [
    CsvColumn("task_id", lambda r: r.task.id),
    CsvColumn("due_on", lambda r: r.task.due_on.isoformat()),
    CsvColumn("kind", lambda r: r.task.kind),
    CsvColumn("title", lambda r: r.task.title),
    CsvColumn("customer_id", lambda r: r.task.customer_id),
    CsvColumn("customer_name", lambda r: r.customer_name),
    CsvColumn("case_id", lambda r: r.task.case_id),
    CsvColumn("worth", lambda r: r.worth),
    CsvColumn("owner", lambda r: r.owner_name),
    CsvColumn("done_at", lambda r: r.task.done_at.isoformat() if r.task.done_at else None),
    CsvColumn("result", lambda r: r.task.result),
]


def my_tasks_csv(db: Session, actor: User, q: ListQuery, *, include_done: bool = False) -> str:
    return to_csv(TASK_CSV, my_tasks(db, actor, everything(q), include_done=include_done).rows)


def overdue_csv(db: Session, actor: User, q: ListQuery) -> str:
    return to_csv(TASK_CSV, overdue(db, actor, everything(q)).rows)


# --- the red carpet -------------------------------------------------------------------

CARPET_OWNER = _name_of(RedCarpet.owner_id, "owner_name")
CARPET_SORTING = Sorting(
    keys=(
        SortKey("started", "Started", RedCarpet.started_at),
        SortKey("name", "Customer", func.coalesce(RedCarpet.customer_name, RedCarpet.customer_id)),
        SortKey("worth", "Worth", Case.expected_value),
        SortKey("remaining", "Experiences left", RedCarpet.remaining),
        SortKey("status", "Slipped", RedCarpet.slipped_at),
        SortKey("owner", "Owner", CARPET_OWNER),
    ),
    default="started",
    default_desc=True,
    tiebreak=RedCarpet.id,
)
CARPET_SHOWS = ("now", "ended")


@dataclass(frozen=True)
class CarpetRow:
    carpet: RedCarpet
    worth: float | None
    owner_name: str | None


def red_carpet(
    db: Session, actor: User, q: ListQuery, *, show: str = "now", ended_days: int = ENDED_SHOWN_DAYS
) -> ListPage[CarpetRow]:
    """Customers on the red carpet now, or (``show`` "ended") those whose period ended in
    the last ``ended_days`` days."""
    require(actor, Action.VIEW_RED_CARPET)
    query = select(RedCarpet, Case.expected_value, CARPET_OWNER).outerjoin(
        Case, Case.id == RedCarpet.case_id
    )
    if show == "ended":
        query = query.where(RedCarpet.ended_at >= utcnow() - timedelta(days=ended_days))
    else:
        query = query.where(RedCarpet.ended_at.is_(None))
    found = fetch(db, query, q, CARPET_SORTING, Case.expected_value, scalars=False)
    found.rows = [CarpetRow(*row) for row in found.rows]
    return found


CARPET_CSV: list[CsvColumn[CarpetRow]] = [
    CsvColumn("customer_id", lambda r: r.carpet.customer_id),
    CsvColumn("customer_name", lambda r: r.carpet.customer_name),
    CsvColumn("case_id", lambda r: r.carpet.case_id),
    CsvColumn("worth", lambda r: r.worth),
    CsvColumn("remaining", lambda r: r.carpet.remaining),
    CsvColumn("total", lambda r: r.carpet.total),
    CsvColumn("owner", lambda r: r.owner_name),
    CsvColumn("started_at", lambda r: r.carpet.started_at.isoformat()),
    CsvColumn("ended_at", lambda r: r.carpet.ended_at.isoformat() if r.carpet.ended_at else None),
    CsvColumn(
        "slipped_at", lambda r: r.carpet.slipped_at.isoformat() if r.carpet.slipped_at else None
    ),
]


def red_carpet_csv(db: Session, actor: User, q: ListQuery, *, show: str = "now") -> str:
    return to_csv(CARPET_CSV, red_carpet(db, actor, everything(q), show=show).rows)


# --- approvals ------------------------------------------------------------------------

ASKER_NAME = _name_of(Concession.requested_by, "asker_name")
APPROVAL_SORTING = Sorting(
    keys=(
        SortKey("asked", "Asked", Concession.requested_at),
        SortKey("name", "Customer", CASE_NAME),
        SortKey("worth", "Worth", Case.expected_value),
        SortKey("amount", "Amount asked", Concession.asked),
        SortKey("status", "Kind", Concession.kind),
        SortKey("owner", "Asked by", ASKER_NAME),
    ),
    default="asked",
    default_desc=False,
    tiebreak=Concession.id,
)


def approvals(db: Session, actor: User, q: ListQuery) -> ListPage[Concession]:
    """The pending requests ``actor`` may decide (oldest first unless sorted)."""
    require(actor, Action.DECIDE_CONCESSION)
    return fetch(db, concessions.pending_query(actor), q, APPROVAL_SORTING, Case.expected_value)


APPROVAL_CSV: list[CsvColumn[tuple[Concession, Case, str | None]]] = [
    CsvColumn("concession_id", lambda r: r[0].id),
    CsvColumn("requested_at", lambda r: r[0].requested_at.isoformat()),
    CsvColumn("case_id", lambda r: r[1].id),
    CsvColumn("customer_id", lambda r: r[1].customer_id),
    CsvColumn("customer_name", lambda r: r[1].customer_name),
    CsvColumn("worth", lambda r: r[1].expected_value),
    CsvColumn("kind", lambda r: r[0].kind),
    CsvColumn("asked", lambda r: r[0].asked),
    CsvColumn("route", lambda r: r[0].route),
    CsvColumn("asked_by", lambda r: r[2]),
    CsvColumn("note", lambda r: r[0].note),
]


def approvals_csv(db: Session, actor: User, q: ListQuery) -> str:
    require(actor, Action.DECIDE_CONCESSION)
    query = concessions.pending_query(actor).add_columns(Case, ASKER_NAME)
    found = fetch(db, query, everything(q), APPROVAL_SORTING, scalars=False)
    return to_csv(APPROVAL_CSV, [tuple(row) for row in found.rows])


# --- users ------------------------------------------------------------------------------

USER_SORTING = Sorting(
    keys=(
        SortKey("username", "Username", User.username),
        SortKey("name", "Name", User.name),
        SortKey("role", "Role", User.role),
        SortKey("staff", "Staff id", User.staff_id),
        SortKey("email", "E-mail", User.email),
        SortKey("active", "Active", User.active),
    ),
    default="username",
    default_desc=False,
    tiebreak=User.id,
)


def user_list(db: Session, actor: User, q: ListQuery) -> ListPage[User]:
    """Every desk user (active or not), sorted and paged, with the count."""
    require(actor, Action.LIST_USERS)
    return fetch(db, select(User), q, USER_SORTING)


USER_CSV: list[CsvColumn[User]] = [
    CsvColumn("user_id", lambda u: u.id),
    CsvColumn("username", lambda u: u.username),
    CsvColumn("name", lambda u: u.name),
    CsvColumn("role", lambda u: u.role),
    CsvColumn("staff_id", lambda u: u.staff_id),
    CsvColumn("email", lambda u: u.email),
    CsvColumn("active", lambda u: u.active),
    CsvColumn("added_at", lambda u: u.created_at.isoformat()),
    CsvColumn("limit_discount_pct", lambda u: u.limit_discount_pct),
    CsvColumn("limit_credit", lambda u: u.limit_credit),
    CsvColumn("limit_free_items", lambda u: u.limit_free_items),
]


def users_csv(db: Session, actor: User, q: ListQuery) -> str:
    return to_csv(USER_CSV, user_list(db, actor, everything(q)).rows)


def case_row(db: Session, case: Case) -> CaseRow:
    """One case as a list row (after a change to it, for the row shown again)."""
    owner, due = db.execute(select(OWNER_NAME, NEXT_DUE).where(Case.id == case.id)).one()
    return CaseRow(case, owner, due)


# --- the API's lists of one case or customer ---------------------------------------------


def _by_id(column: Any) -> Sorting:
    return Sorting((SortKey("id", "Id", column),), "id", True, column)


def _page_of(page: int, size: int) -> ListQuery:
    return ListQuery("id", True, page, size)


def case_calls(db: Session, actor: User, case_id: int, page: int, size: int) -> ListPage[Call]:
    """A case's calls, newest first, for anyone who may see the customer (as the
    customer page lists them)."""
    cases.get_case(db, actor, case_id)
    query = select(Call).where(Call.case_id == case_id)
    return fetch(db, query, _page_of(page, size), _by_id(Call.id))


def customer_tasks(
    db: Session, actor: User, customer_id: str, page: int, size: int
) -> ListPage[Task]:
    """A customer's tasks, newest first (as the customer page lists them)."""
    require(actor, Action.VIEW_CUSTOMER)
    query = select(Task).where(Task.customer_id == customer_id)
    return fetch(db, query, _page_of(page, size), _by_id(Task.id))


def customer_concessions(
    db: Session, actor: User, customer_id: str, page: int, size: int
) -> ListPage[Concession]:
    """The concessions asked on any of a customer's cases, newest first."""
    require(actor, Action.VIEW_CUSTOMER)
    query = (
        select(Concession)
        .join(Case, Case.id == Concession.case_id)
        .where(Case.customer_id == customer_id)
    )
    return fetch(db, query, _page_of(page, size), _by_id(Concession.id))
