"""Tasks: work with a due date on someone's queue.

Four kinds: a ``commitment`` made on a call (the plan of action), a ``follow_up`` that
checks whether the problem is solved (scheduled again until the customer confirms it is),
a red-carpet ``slip_alert``, and an ``appreciation`` touch when a red-carpet period ends.
A task is overdue when it is not done and its due date has passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from winback import clock
from winback.desk import audit
from winback.desk.models import TASK_KINDS, Case, Task, User, utcnow
from winback.desk.permissions import Action, holds_work_sql, may, may_hold_work, require
from winback.errors import Conflict, InvalidInput, NotFound, PermissionDenied

MAX_TITLE = 500


def today() -> date:
    """The business's date (``WINBACK_TIMEZONE``), by which due dates are judged."""
    return clock.today()


def add_task(
    db: Session,
    actor: User | None,
    *,
    kind: str,
    title: str,
    customer_id: str,
    owner_id: int | None,
    due_on: date,
    case_id: int | None = None,
    call_id: int | None = None,
    system_name: str = audit.SYSTEM,
) -> Task:
    """Put a task on ``owner_id``'s queue (flushed and audited; the caller commits).

    The callers check the actor may work the case; this checks the task itself.
    """
    if kind not in TASK_KINDS:
        raise InvalidInput(f"task kind {kind!r}: use one of {', '.join(TASK_KINDS)}")
    title = title.strip()
    if not title:
        raise InvalidInput("a task needs a title: say what is to be done")
    check_holder(db, owner_id, "tasks")
    task = Task(
        kind=kind,
        title=title[:MAX_TITLE],
        customer_id=customer_id,
        case_id=case_id,
        call_id=call_id,
        owner_id=owner_id,
        due_on=due_on,
        created_by=actor.id if actor else None,
    )
    db.add(task)
    db.flush()
    audit.record(
        db,
        actor,
        "task.create",
        "task",
        task.id,
        None,
        {"kind": kind, "title": task.title, "owner_id": owner_id, "due_on": due_on},
        system_name=system_name,
    )
    return task


def default_owner(db: Session, case_owner_id: int | None, actor: User) -> int | None:
    """Who follows a case up: its owner, else the actor; nobody (a manager assigns it)
    when neither may hold tasks."""
    for candidate in (case_owner_id, actor.id):
        user = db.get(User, candidate) if candidate is not None else None
        if may_hold_work(user):
            return candidate
    return None


def possible_owners(db: Session) -> list[User]:
    """Who may be given work (:func:`~winback.desk.permissions.may_hold_work`), by name."""
    query = select(User).where(holds_work_sql())
    return list(db.scalars(query.order_by(User.name)))


def check_holder(db: Session, user_id: int | None, work: str) -> None:
    """Refuse to give ``work`` ("cases", "tasks") to a user who may not hold work
    (unknown, deactivated or an admin); None (nobody) is always allowed."""
    if user_id is not None and not may_hold_work(db.get(User, user_id)):
        raise InvalidInput(f"user {user_id} cannot take {work} (unknown, inactive or admin)")


def get_task(db: Session, actor: User, task_id: int) -> Task:
    task = db.get(Task, task_id)
    if task is None:
        raise NotFound(f"no task {task_id}")
    if task.owner_id != actor.id and not may(actor, Action.WORK_ANY_CASE):
        raise PermissionDenied(f"task {task_id} is not yours")
    return task


def my_tasks(db: Session, actor: User, *, include_done: bool = False) -> list[Task]:
    """The actor's tasks, soonest due first (one indexed query)."""
    require(actor, Action.VIEW_OWN_QUEUE)
    query = select(Task).where(Task.owner_id == actor.id)
    if not include_done:
        query = query.where(Task.done_at.is_(None))
    return list(db.scalars(query.order_by(Task.due_on, Task.id)))


def tasks_of_case(db: Session, case_ids: list[int]) -> list[Task]:
    if not case_ids:
        return []
    query = select(Task).where(Task.case_id.in_(case_ids)).order_by(Task.due_on, Task.id)
    return list(db.scalars(query))


def open_commitments(db: Session, case_id: int) -> list[Task]:
    """The case's commitments not yet done, soonest due first."""
    query = select(Task).where(
        Task.case_id == case_id, Task.kind == "commitment", Task.done_at.is_(None)
    )
    return list(db.scalars(query.order_by(Task.due_on, Task.id)))


def tasks_of_customer(db: Session, customer_id: str) -> list[Task]:
    query = select(Task).where(Task.customer_id == customer_id)
    return list(db.scalars(query.order_by(Task.due_on, Task.id)))


@dataclass(frozen=True)
class OverdueByOwner:
    owner_id: int | None
    owner_name: str
    overdue: int
    oldest_due: date


def overdue_by_owner(db: Session, actor: User, on: date | None = None) -> list[OverdueByOwner]:
    """Managers' view: how many open tasks each person has past their due date."""
    require(actor, Action.VIEW_TEAM_WORK)
    on = on or today()
    rows = db.execute(
        select(Task.owner_id, func.count(), func.min(Task.due_on))
        .where(Task.done_at.is_(None), Task.due_on < on)
        .group_by(Task.owner_id)
    ).all()
    names = {u.id: u.name for u in db.scalars(select(User))}
    out = [
        OverdueByOwner(owner, names.get(owner, "unassigned") if owner else "unassigned", n, oldest)
        for owner, n, oldest in rows
    ]
    return sorted(out, key=lambda r: (-r.overdue, r.oldest_due))


def overdue_tasks(db: Session, actor: User, on: date | None = None) -> list[Task]:
    """Every overdue task, oldest first (managers)."""
    require(actor, Action.VIEW_TEAM_WORK)
    on = on or today()
    query = select(Task).where(Task.done_at.is_(None), Task.due_on < on)
    return list(db.scalars(query.order_by(Task.due_on, Task.id).limit(500)))


def complete_task(
    db: Session,
    actor: User,
    task_id: int,
    *,
    result: str = "",
    solved: bool | None = None,
    next_due: date | None = None,
) -> Task:
    """Mark a task done. A follow-up says whether the customer confirms the problem is
    solved: if not, the next follow-up's date is required, so follow-ups go on until it is."""
    task = get_task(db, actor, task_id)
    if task.done_at is not None:
        raise Conflict(f"task {task_id} is done already")
    case = db.get(Case, task.case_id) if task.case_id else None
    if task.kind == "follow_up":
        promised = open_commitments(db, task.case_id) if task.case_id else []
        if promised:
            listed = "; ".join(f"task {c.id} {c.title!r} due {c.due_on}" for c in promised[:5])
            raise Conflict(
                f"follow-up {task_id}: a commitment on case {task.case_id} is still open "
                f"({listed}). Keep the promise and mark it done before the follow-up"
            )
        if solved is None:
            raise InvalidInput(
                "a follow-up needs an answer: does the customer confirm the problem is solved?"
            )
        if not solved and next_due is None:
            raise InvalidInput(
                "the customer does not confirm the problem is solved: give the date of the "
                "next follow-up"
            )
        if not solved and next_due is not None and next_due < today():
            raise InvalidInput(f"the next follow-up ({next_due}) cannot be in the past")
    task.done_at, task.done_by = utcnow(), actor.id
    task.result = result.strip()[:5000]
    after: dict[str, object] = {"done": True, "result": task.result}
    if task.kind == "follow_up":
        after["solved"] = solved
        if solved and case is not None and case.problem_solved_at is None:
            case.problem_solved_at = utcnow()
        elif not solved and next_due is not None:
            owner = db.get(User, task.owner_id) if task.owner_id else None
            if not may_hold_work(owner):
                # The owner has left: whoever recorded this answer follows up next.
                owner = actor if may_hold_work(actor) else None
            following = add_task(
                db,
                actor,
                kind="follow_up",
                title=task.title,
                customer_id=task.customer_id,
                owner_id=owner.id if owner else None,
                due_on=next_due,
                case_id=task.case_id,
                call_id=task.call_id,
            )
            after["next_task"] = following.id
    audit.record(db, actor, "task.done", "task", task.id, {"done": False}, after)
    db.commit()
    return task


def is_overdue(task: Task, on: date | None = None) -> bool:
    return task.done_at is None and task.due_on < (on or today())


def due_label(task: Task, on: date | None = None) -> str:
    """ "overdue by 3 days", "due today", "due in 2 days", or when it was done."""
    if task.done_at is not None:
        done: datetime = task.done_at
        return f"done {done:%Y-%m-%d}"
    days = (task.due_on - (on or today())).days
    if days < 0:
        return f"overdue by {-days} day{'s' if days != -1 else ''}"
    if days == 0:
        return "due today"
    return f"due in {days} day{'s' if days != 1 else ''}"
