"""The guided call, follow-up tasks and the reason taxonomy: pages and API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, BackgroundTasks, Form, Request
from fastapi import Body as BodyParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from winback.desk import calls, do_not_contact, lists, red_carpet, tasks, taxonomy
from winback.desk.cases import get_case
from winback.desk.concessions import rows_of_cases
from winback.desk.customer360 import sweet_spot_of
from winback.desk.db import parse_id
from winback.desk.models import (
    CALL_STEPS,
    OFFER_KINDS,
    PERSON_OUTCOMES,
    VERIFICATIONS,
    Call,
    CallStep,
    OfferKind,
    PersonOutcome,
    Task,
    TaskKind,
    Verification,
    Verified,
)
from winback.desk.permissions import Action, require
from winback.ledger import reads
from winback.web.call_steps import openapi_body, step_answers
from winback.web.deps import ApiUser, Csrf, Db, PageUser, Rules, export_after_close
from winback.web.errors import ERROR_RESPONSES
from winback.web.forms import redisplay
from winback.web.list_pages import PAGE_ONLY, csv_download, list_query, wants_csv
from winback.web.pages import back, render, require_customer
from winback.web.schemas import (
    Body,
    Id,
    IdField,
    IsoDate,
    ListMeta,
    PageNumber,
    PageSize,
    UtcDateTime,
    list_meta,
)

api_router = APIRouter(prefix="/api", tags=["desk"], responses=ERROR_RESPONSES)
page_router = APIRouter(include_in_schema=False)


# --- schemas ---------------------------------------------------------------------------


class CallPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    case_id: int
    user_id: int
    source: str
    step: CallStep
    started_at: UtcDateTime
    updated_at: UtcDateTime
    finished_at: UtcDateTime | None
    apology: str
    listening: str
    reasons: list[str]
    verification: Verification | None
    correction: str
    customer_words: str
    asks: str
    offer_kind: OfferKind | None
    offer_text: str
    offer_concession_id: int | None
    outcome: PersonOutcome | None


class TaskPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: TaskKind
    title: str
    customer_id: str
    case_id: int | None
    call_id: int | None
    owner_id: int | None
    due_on: date
    done_at: UtcDateTime | None
    result: str
    overdue: bool = False


class CallPage(ListMeta):
    calls: list[CallPublic]


class TaskPage(ListMeta):
    tasks: list[TaskPublic]


class CommitmentIn(Body):
    text: str = Field(min_length=1, max_length=500)
    owner_id: IdField
    due_on: IsoDate


class CallLogged(Body):
    """A call that already happened, every step at once."""

    occurred_at: datetime
    apology: str
    listening: str
    reasons: list[str] = Field(min_length=1)
    verification: Verified
    correction: str = ""
    customer_words: str = ""
    asks: str
    commitments: list[CommitmentIn] = Field(min_length=1)
    offer_kind: OfferKind = "none"
    offer_text: str = ""
    offer_amount: float | None = None
    offer_concession_id: IdField | None = None
    outcome: PersonOutcome
    follow_up_on: IsoDate | None = None
    follow_up_title: str = ""


class TaskDone(Body):
    result: str = ""
    solved: StrictBool | None = None
    next_due: IsoDate | None = None


class OverduePublic(BaseModel):
    owner_id: int | None
    owner_name: str
    overdue: int
    oldest_due: date


class ReasonPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    label: str
    active: bool


class ReasonCreate(Body):
    label: str = Field(min_length=1, max_length=200)
    code: str = ""


class ReasonUpdate(Body):
    label: str | None = None
    active: StrictBool | None = None


def _task_public(task: Task) -> TaskPublic:
    public = TaskPublic.model_validate(task)
    public.overdue = tasks.is_overdue(task)
    return public


# --- API: calls ------------------------------------------------------------------------


@api_router.post("/cases/{case_id}/calls", response_model=CallPublic, status_code=201)
def api_start_call(case_id: Id, response: Response, db: Db, user: ApiUser) -> Any:
    """Start a guided call on the case (201), or get the one under way (200)."""
    under_way = calls.open_call(db, case_id)
    call = calls.start_call(db, user, case_id)
    if under_way is not None and under_way.id == call.id:
        response.status_code = 200
    return call


@api_router.post("/cases/{case_id}/calls/logged", response_model=CallPublic, status_code=201)
def api_log_call(
    case_id: Id,
    body: CallLogged,
    request: Request,
    background: BackgroundTasks,
    db: Db,
    user: ApiUser,
    rules: Rules,
) -> Any:
    """Log a call after the fact: every step at once, with the same checks as the desk."""
    logged = calls.LoggedCall(
        **body.model_dump(exclude={"commitments"}),
        commitments=[calls.Commitment(**c.model_dump()) for c in body.commitments],
    )
    call = calls.log_call(db, user, case_id, logged, policy=rules)
    export_after_close(request, background)
    return call


@api_router.get("/calls/{call_id}", response_model=CallPublic)
def api_get_call(call_id: Id, db: Db, user: ApiUser) -> Any:
    return calls.get_call(db, user, call_id)[0]


@api_router.post(
    "/calls/{call_id}/steps/{step}", response_model=CallPublic, openapi_extra=openapi_body()
)
def api_save_step(
    call_id: Id,
    step: CallStep,
    body: Annotated[dict[str, Any], BodyParam()],
    request: Request,
    background: BackgroundTasks,
    db: Db,
    user: ApiUser,
    rules: Rules,
) -> Any:
    """Answer one step; the body is that step's schema (apology: ``apology``; diagnosis:
    ``reasons``; verification: ``verification``, ``correction``, ``customer_words`` ...).
    A key the step does not know is answered 422."""
    answers = step_answers(step, body)
    call = calls.save_step(db, user, call_id, step, answers, policy=rules)
    if step == "outcome":
        export_after_close(request, background)
    return call


@api_router.post("/calls/{call_id}/commitments", response_model=TaskPublic, status_code=201)
def api_add_commitment(call_id: Id, body: CommitmentIn, db: Db, user: ApiUser) -> TaskPublic:
    task = calls.add_commitment(db, user, call_id, calls.Commitment(**body.model_dump()))
    return _task_public(task)


# --- API: tasks and reasons ------------------------------------------------------------


@api_router.get("/tasks", response_model=list[TaskPublic])
def api_tasks(db: Db, user: ApiUser, include_done: bool = False) -> list[TaskPublic]:
    """My tasks, soonest due first; ``overdue`` marks those past their date."""
    return [_task_public(t) for t in tasks.my_tasks(db, user, include_done=include_done)]


@api_router.get("/cases/{case_id}/calls", response_model=CallPage, dependencies=[PAGE_ONLY])
def api_case_calls(
    case_id: Id, db: Db, user: ApiUser, page: PageNumber = 1, size: PageSize = 50
) -> CallPage:
    """A case's calls, newest first (anyone who may see the customer)."""
    found = lists.case_calls(db, user, case_id, page, size)
    calls_ = [CallPublic.model_validate(c) for c in found.rows]
    return CallPage(calls=calls_, **list_meta(found))


@api_router.get("/customers/{customer_id}/tasks", response_model=TaskPage, dependencies=[PAGE_ONLY])
def api_customer_tasks(
    customer_id: str,
    request: Request,
    db: Db,
    user: ApiUser,
    page: PageNumber = 1,
    size: PageSize = 50,
) -> TaskPage:
    """A customer's tasks, done or not, newest first; ``overdue`` marks the late ones.
    404 when neither the desk, the latest scan nor the ledger knows the customer."""
    require_customer(request, db, user, customer_id)
    found = lists.customer_tasks(db, user, customer_id, page, size)
    return TaskPage(tasks=[_task_public(t) for t in found.rows], **list_meta(found))


@api_router.get("/tasks/overdue", response_model=list[OverduePublic])
def api_overdue(db: Db, user: ApiUser) -> Any:
    """Overdue work by person (managers, executives, admins)."""
    return tasks.overdue_by_owner(db, user)


@api_router.post("/tasks/{task_id}/done", response_model=TaskPublic)
def api_task_done(task_id: Id, body: TaskDone, db: Db, user: ApiUser) -> TaskPublic:
    """Mark a task done; a follow-up says whether the problem is solved (if not, next_due)."""
    task = tasks.complete_task(
        db, user, task_id, result=body.result, solved=body.solved, next_due=body.next_due
    )
    return _task_public(task)


@api_router.get("/reasons", response_model=list[ReasonPublic])
def api_reasons(db: Db, user: ApiUser, include_retired: bool = False) -> Any:
    require(user, Action.VIEW_CUSTOMER)
    return taxonomy.reason_codes(db, active_only=not include_retired)


@api_router.post("/reasons", response_model=ReasonPublic, status_code=201)
def api_add_reason(body: ReasonCreate, db: Db, user: ApiUser) -> Any:
    return taxonomy.add_reason(db, user, body.label, body.code)


@api_router.patch("/reasons/{reason_id}", response_model=ReasonPublic)
def api_update_reason(reason_id: Id, body: ReasonUpdate, db: Db, user: ApiUser) -> Any:
    return taxonomy.update_reason(db, user, reason_id, label=body.label, active=body.active)


# --- pages -----------------------------------------------------------------------------


@page_router.post("/cases/{case_id}/calls", dependencies=[Csrf])
def start_call(case_id: Id, db: Db, user: PageUser) -> Response:
    call = calls.start_call(db, user, case_id)
    return back(f"/calls/{call.id}")


def _call_page(request: Request, db: Db, user: PageUser, call: Call, step: str | None) -> Response:
    case = get_case(db, user, call.case_id)
    showing = step if step in CALL_STEPS else call.step
    if call.finished_at is None and CALL_STEPS.index(showing) > CALL_STEPS.index(call.step):
        showing = call.step
    incidents = reads.latest_incidents(request.app.state.ledger, case.customer_id)
    spot = sweet_spot_of(request.app.state.latest_run(), case.customer_id)
    return render(
        request,
        "call.html",
        call=call,
        case=case,
        showing=showing,
        steps=CALL_STEPS,
        labels=taxonomy.reason_labels(db),
        reasons=taxonomy.reason_codes(db),
        suggestion=call.apology or calls.suggested_apology(case, incidents),
        incidents=incidents,
        sweet_spot=(spot or {}).get("sweet_spot"),
        doubtful_contact=(spot or {}).get("doubtful_contact"),
        offer=calls.suggested_offer(spot),
        commitments=[t for t in tasks.tasks_of_case(db, [case.id]) if t.call_id == call.id],
        people=tasks.possible_owners(db),
        verifications=VERIFICATIONS,
        offer_kinds=OFFER_KINDS,
        outcomes=PERSON_OUTCOMES,
        no_conversation=calls.NO_CONVERSATION,
        follow_up_required=calls.FOLLOW_UP_REQUIRED,
        today=tasks.today(),
        concessions=rows_of_cases(db, [case.id]),
        offer_concessions=calls.OFFER_CONCESSIONS,
        history=calls.answers_of(db, call.id),
        quote=quote,
        profile=reads.customer_profile(
            request.app.state.ledger, case.customer_id, request.app.state.timeline
        )
        or {},
        contact_block=do_not_contact.current(db, case.customer_id),
    )


def call_offer_page(request: Request, db: Db, user: PageUser, call_id: int) -> Response:
    """The call's offer step: where a concession refused from it shows again."""
    call, _ = calls.get_call(db, user, call_id)
    return _call_page(request, db, user, call, "offer")


@page_router.get("/calls/{call_id}")
def call_page(
    request: Request, call_id: Id, db: Db, user: PageUser, step: str | None = None
) -> Response:
    call, _ = calls.get_call(db, user, call_id)
    return _call_page(request, db, user, call, step)


@page_router.post("/calls/{call_id}/steps/{step}", dependencies=[Csrf])
async def save_step(
    request: Request,
    background: BackgroundTasks,
    call_id: Id,
    step: str,
    db: Db,
    user: PageUser,
    rules: Rules,
) -> Response:
    form = await request.form()
    answers: dict[str, Any] = {k: v for k, v in form.items() if isinstance(v, str)}
    answers["reasons"] = [v for v in form.getlist("reasons") if isinstance(v, str)]

    def work() -> str:
        # Database work and the ledger export block: off the event loop.
        call = calls.save_step(db, user, call_id, step, answers, policy=rules)
        if step == "outcome":
            export_after_close(request, background)
        if call.finished_at is not None:
            case = get_case(db, user, call.case_id)
            return f"/customers/{quote(case.customer_id, safe='')}"
        return f"/calls/{call.id}"

    return back(await run_in_threadpool(work))


@page_router.post("/calls/{call_id}/commitments", dependencies=[Csrf])
def add_commitment(
    call_id: Id,
    db: Db,
    user: PageUser,
    text: Annotated[str, Form()] = "",
    owner_id: Annotated[str, Form()] = "",
    due_on: Annotated[str, Form()] = "",
) -> Response:
    from winback.desk.calls import Commitment, parse_date

    owner = parse_id(owner_id, "owner_id", "choose the commitment's owner") if owner_id else user.id
    calls.add_commitment(db, user, call_id, Commitment(text, owner, parse_date(due_on, "due_on")))
    return back(f"/calls/{call_id}?step=plan")


def tasks_page(request: Request, db: Db, user: PageUser) -> Response:
    """My tasks, sorted, paged and totalled in SQL (``?done=true`` with the done ones,
    ``?format=csv`` the whole list)."""
    done = request.query_params.get("done", "") == "true"
    q = list_query(request, lists.TASK_SORTING, keep=("done",))
    if wants_csv(request):
        return csv_download(lists.my_tasks_csv(db, user, q, include_done=done), "my-tasks")
    result = lists.my_tasks(db, user, q, include_done=done)
    return render(
        request,
        "tasks.html",
        result=result,
        flags=red_carpet.flags_for(db, [r.task.customer_id for r in result.rows]),
        is_overdue=tasks.is_overdue,
        due_label=tasks.due_label,
        today=tasks.today(),
        done=done,
    )


@page_router.get("/tasks")
def task_list(request: Request, db: Db, user: PageUser) -> Response:
    return tasks_page(request, db, user)


@page_router.post(
    "/tasks/{task_id}/done", dependencies=[Csrf, redisplay(tasks_page, "task-{task_id}")]
)
def task_done(
    task_id: Id,
    db: Db,
    user: PageUser,
    result: Annotated[str, Form()] = "",
    solved: Annotated[str, Form()] = "",
    next_due: Annotated[str, Form()] = "",
) -> Response:
    from winback.desk.calls import parse_date

    tasks.complete_task(
        db,
        user,
        task_id,
        result=result,
        solved={"yes": True, "no": False}.get(solved),
        next_due=parse_date(next_due, "next_due") if next_due else None,
    )
    return back("/tasks")


@page_router.get("/tasks/overdue")
def overdue_page(request: Request, db: Db, user: PageUser) -> Response:
    """Every overdue task, sorted, paged and totalled in SQL, with the count by person."""
    q = list_query(request, lists.TASK_SORTING)
    if wants_csv(request):
        return csv_download(lists.overdue_csv(db, user, q), "overdue")
    result = lists.overdue(db, user, q)
    return render(
        request,
        "overdue.html",
        by_owner=tasks.overdue_by_owner(db, user),
        result=result,
        flags=red_carpet.flags_for(db, [r.task.customer_id for r in result.rows]),
        due_label=tasks.due_label,
    )


def reasons_page(request: Request, db: Db, user: PageUser) -> Response:
    require(user, Action.EDIT_REASONS)
    return render(request, "reasons.html", reasons=taxonomy.reason_codes(db, active_only=False))


@page_router.get("/reasons")
def reasons(request: Request, db: Db, user: PageUser) -> Response:
    return reasons_page(request, db, user)


@page_router.post("/reasons", dependencies=[Csrf, redisplay(reasons_page, "add-reason")])
def reasons_add(
    db: Db, user: PageUser, label: Annotated[str, Form()] = "", code: Annotated[str, Form()] = ""
) -> Response:
    taxonomy.add_reason(db, user, label, code)
    return back("/reasons")


@page_router.post(
    "/reasons/{reason_id}", dependencies=[Csrf, redisplay(reasons_page, "reason-{reason_id}")]
)
def reasons_update(
    reason_id: Id,
    db: Db,
    user: PageUser,
    label: Annotated[str, Form()] = "",
    active: Annotated[str, Form()] = "",
) -> Response:
    taxonomy.update_reason(
        db,
        user,
        reason_id,
        label=label or None,
        active={"true": True, "false": False}.get(active),
    )
    return back("/reasons")
