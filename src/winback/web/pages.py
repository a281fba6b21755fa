"""The desk's HTML pages. Each reads through the desk's service functions and each form
POST carries a CSRF token; writes redirect back (post/redirect/get)."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from datetime import date
from typing import Annotated, Any
from urllib.parse import quote, urlencode, urlsplit

from fastapi import APIRouter, BackgroundTasks, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from winback.desk import (
    audit,
    calls,
    cases,
    contact_rules,
    do_not_contact,
    lists,
    notices,
    readable,
    red_carpet,
    tasks,
    taxonomy,
    users,
)
from winback.desk import login as desk_login
from winback.desk.concessions import may_set_limits, rows_of_cases
from winback.desk.customer360 import customer_view, require_known
from winback.desk.db import parse_id
from winback.desk.models import CASE_STATES, CONTACT_CHANNELS, PERSON_OUTCOMES, ROLES, User
from winback.desk.passwords import MAX_LENGTH
from winback.desk.permissions import Action, may, require, require_case_work
from winback.errors import (
    Busy,
    InvalidInput,
    NotAuthenticated,
    PermissionDenied,
    ScanRunError,
    TooManyAttempts,
)
from winback.scan.runs import STATUSES, TIERS, ScanRun, read_run
from winback.web.deps import (
    Csrf,
    Db,
    LoginRequired,
    PageUser,
    Rules,
    export_after_close,
    page_session,
    page_user,
)
from winback.web.errors import retry_after, status_of
from winback.web.forms import FormErrors, field_of, redisplay
from winback.web.list_pages import csv_download, list_query, wants_csv
from winback.web.schemas import AfterId, BeforeId, Id
from winback.web.sessions import SessionCookies, csrf_matches
from winback.web.templating import amounts_of, owner_options, template_context

router = APIRouter(include_in_schema=False)


def render(request: Request, template: str, status: int = 200, **values: Any) -> HTMLResponse:
    response: HTMLResponse = request.app.state.templates.TemplateResponse(
        request, template, template_context(request, **values), status_code=status
    )
    return response


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    return render(request, "error.html", status=status, status_code=status, message=message)


def error_page_with_chrome(request: Request, status: int, message: str) -> HTMLResponse:
    """An error page for a request no route took (an unknown address): the logged-in
    user's full page, nav and search box included, when the session cookie names one."""
    with request.app.state.sessions() as db:
        # Logged out: the page without the nav, as for any logged-out visitor.
        with contextlib.suppress(LoginRequired):
            page_user(request, db)
        return error_page(request, status, message)


def back(url: str) -> RedirectResponse:
    """Post/redirect/get: a form POST answers with a 303 to the page to show next."""
    return RedirectResponse(url, status_code=303)


def local_path(target: str | None, fallback: str = "/") -> str:
    """``target`` when it is a path on this site (never //host, a scheme or a backslash),
    else ``fallback``: what a ``next`` field or a referer may send a browser to."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return fallback


# --- logging in and out ---------------------------------------------------------------


@router.get("/login")
def login_form(request: Request, next: str = "/") -> Response:
    cookies: SessionCookies = request.app.state.cookies
    session = page_session(request) or cookies.new()
    request.state.session = session
    response = render(request, "login.html", next=local_path(next), error=None)
    cookies.write(request, response, session)
    return response


@router.post("/login")
async def login(
    request: Request,
    db: Db,
    username: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=MAX_LENGTH)],
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    cookies: SessionCookies = request.app.state.cookies
    session = page_session(request)
    if not csrf_matches(session, csrf_token):
        raise PermissionDenied("the login form is stale; reload the page and try again")
    address = request.client.host if request.client else "unknown"
    checks: desk_login.PasswordChecks = request.app.state.password_checks
    try:
        # A login waits its turn among the password checks here, on the event loop (no
        # thread held while it waits), then runs the throttle and argon2 in a thread.
        async with checks.turn():
            user = await run_in_threadpool(
                desk_login.check_login,
                db,
                username,
                password,
                address,
                throttle=request.app.state.login_throttle,
            )
    except (NotAuthenticated, TooManyAttempts, Busy) as exc:
        # 401 for a wrong password, 429 in a lock-out, 503 when too many checks run at once.
        request.state.session = session
        status, _ = status_of(exc)
        refused = render(
            request, "login.html", status=status, next=local_path(next), error=str(exc)
        )
        refused.headers.update(retry_after(exc))
        return refused
    response = back(local_path(next))
    # A new session (and CSRF token) at login: nothing from before it carries over.
    cookies.write(request, response, cookies.new(user.id, user.session_epoch))
    return response


@router.post("/logout", dependencies=[Csrf])
def logout(request: Request, db: Db, user: PageUser) -> Response:
    users.log_out(db, user)
    response = back("/login")
    request.app.state.cookies.clear(response)
    return response


# --- queues ---------------------------------------------------------------------------


@router.get("/")
def home(user: PageUser) -> Response:
    return back("/cases" if may(user, Action.VIEW_ALL_CASES) else "/queue")


def _moved(request: Request) -> str | None:
    """The confirmation after a bulk reassign (``?moved=N`` on the redirect)."""
    moved = request.query_params.get("moved", "")
    if not moved.isdigit():
        return None
    n = int(moved)
    return (
        f"{n} case{'' if n == 1 else 's'} reassigned."
        if n
        else "Nothing to move: the ticked cases had that owner already."
    )


def queue_page(request: Request, db: Db, user: PageUser) -> Response:
    """My open cases, one line each: sorted, paged and totalled in SQL; ``?format=csv``
    downloads the whole queue in the same order; ``?reasons=all`` opens every reason."""
    q = list_query(request, lists.CASE_SORTING, keep=("reasons",))
    if wants_csv(request):
        return csv_download(lists.queue_csv(db, user, q), "my-queue")
    result = lists.queue(db, user, q)
    all_reasons = request.query_params.get("reasons") == "all"
    others = tuple(kv for kv in q.extra if kv[0] != "reasons")
    toggle = q.params(extra=others if all_reasons else (*others, ("reasons", "all")))
    return render(
        request,
        "queue.html",
        result=result,
        all_reasons=all_reasons,
        reasons_link=toggle,
        last_closed=contact_rules.last_closed(db, [r.case.customer_id for r in result.rows]),
        notices=notices.unread(db, user),
        options=owner_options(tasks.possible_owners(db)) if may(user, Action.REASSIGN_CASE) else "",
        bulk_done=_moved(request),
    )


@router.get("/queue")
def queue(request: Request, db: Db, user: PageUser) -> Response:
    return queue_page(request, db, user)


@router.post("/notices/{notice_id}/read", dependencies=[Csrf])
def notice_read(notice_id: Id, db: Db, user: PageUser) -> Response:
    notices.mark_read(db, user, notice_id)
    return back("/queue")


@router.post("/notices/read", dependencies=[Csrf])
def notices_read(db: Db, user: PageUser) -> Response:
    notices.mark_read(db, user)
    return back("/queue")


def cases_page(request: Request, db: Db, user: PageUser) -> Response:
    """All cases under the filter of the query string, sorted, paged and totalled in SQL
    (``?format=csv``: the whole filtered list). A filter value the desk cannot read (a
    worth of "lots") is shown back in the filter form with why, over all cases."""
    query = dict(request.query_params)
    try:
        f = cases.CaseFilter.from_query(query)
    except InvalidInput as exc:
        if wants_csv(request):
            raise
        request.state.forms = FormErrors(
            "filter", query, {field_of(str(exc), query, exc.field): str(exc)}
        )
        f = cases.CaseFilter()
    q = list_query(request, lists.CASE_SORTING)
    q = replace(q, extra=tuple((k, str(v)) for k, v in f.as_query().items()))
    if wants_csv(request):
        return csv_download(lists.cases_csv(db, user, f, q), "cases")
    result = lists.all_cases(db, user, f, q)
    people = users.list_users(db, user)
    return render(
        request,
        "cases.html",
        status=422 if getattr(request.state, "forms", None) else 200,
        result=result,
        f=f,
        query=urlencode(f.as_query()),
        saved=cases.list_filters(db, user),
        people=people,
        options=owner_options(people),
        statuses=STATUSES,
        tiers=TIERS,
        states=("active", *CASE_STATES, "all"),
        all_reasons=False,
        bulk_done=_moved(request),
    )


@router.get("/cases")
def all_cases(request: Request, db: Db, user: PageUser) -> Response:
    return cases_page(request, db, user)


def _bulk_assign(
    request: Request, db: Db, user: PageUser, case_ids: list[str], owner_id: str
) -> str:
    """Reassign the ticked cases at once; the query string of the list to go back to,
    with how many moved."""
    if not owner_id.strip():
        raise InvalidInput("owner_id: choose who gets the ticked cases", field="owner_id")
    owner = None if owner_id == "none" else parse_id(owner_id, "owner_id", "choose a user")
    ids = [parse_id(i, "case_ids", "tick the cases to reassign") for i in case_ids]
    moved = cases.reassign_many(db, user, ids, owner)
    return urlencode([*request.query_params.multi_items(), ("moved", str(len(moved)))])


@router.post("/queue/bulk-assign", dependencies=[Csrf, redisplay(queue_page, "bulk")])
def queue_bulk_assign(
    request: Request,
    db: Db,
    user: PageUser,
    case_ids: Annotated[list[str], Form()] = [],  # noqa: B006 (FastAPI copies it)
    owner_id: Annotated[str, Form()] = "",
) -> Response:
    return back("/queue?" + _bulk_assign(request, db, user, case_ids, owner_id))


@router.post("/cases/bulk-assign", dependencies=[Csrf, redisplay(cases_page, "bulk")])
def cases_bulk_assign(
    request: Request,
    db: Db,
    user: PageUser,
    case_ids: Annotated[list[str], Form()] = [],  # noqa: B006 (FastAPI copies it)
    owner_id: Annotated[str, Form()] = "",
) -> Response:
    return back("/cases?" + _bulk_assign(request, db, user, case_ids, owner_id))


@router.post("/cases/filters", dependencies=[Csrf, redisplay(cases_page, "save-filter")])
async def save_filter(request: Request, db: Db, user: PageUser) -> Response:
    form = dict(await request.form())
    f = cases.CaseFilter.from_query({k: v for k, v in form.items() if isinstance(v, str)})
    cases.save_filter(db, user, str(form.get("name", "")), f)
    return back("/cases?" + urlencode(f.as_query()))


@router.post("/filters/{filter_id}/delete", dependencies=[Csrf])
def delete_filter(filter_id: Id, db: Db, user: PageUser) -> Response:
    cases.delete_filter(db, user, filter_id)
    return back("/cases")


@router.post("/cases/{case_id}/assign", dependencies=[Csrf])
def assign(
    request: Request,
    case_id: Id,
    db: Db,
    user: PageUser,
    owner_id: Annotated[str, Form()] = "",
) -> Response:
    owner = parse_id(owner_id, "owner_id", "choose a user") if owner_id else None
    case = cases.reassign(db, user, case_id, owner)
    if request.headers.get("HX-Request"):
        people = users.list_users(db, user)
        return render(
            request,
            "_case_row.html",
            row=lists.case_row(db, case),
            options=owner_options(people),
            all_reasons=False,
        )
    referer = urlsplit(request.headers.get("referer", ""))
    came_from = referer.path + (f"?{referer.query}" if referer.query else "")
    return back(local_path(came_from) if referer.path else f"/customers/{quote(case.customer_id)}")


# --- a customer and the work on their case -------------------------------------------


@router.get("/customers/{customer_id}")
def customer(request: Request, customer_id: str, db: Db, user: PageUser) -> Response:
    run = request.app.state.latest_run()
    view = customer_view(
        db,
        user,
        customer_id,
        run=run,
        ledger=request.app.state.ledger,
        timeline=request.app.state.timeline,
        money=amounts_of(request),
    )
    # One read of each thing the page shows (tests/web/test_customer_queries.py counts
    # them): the view's own reads (people, red carpet, posts, cases) are not repeated.
    open_id = view.open_case.id if view.open_case else None
    reassign = open_id is not None and may(user, Action.REASSIGN_CASE)
    case_ids = [c.id for c in view.cases]
    given = rows_of_cases(db, case_ids, view.who.by_id if view.who else None)
    every_reason = taxonomy.reason_codes(db, active_only=False)
    return render(
        request,
        "customer.html",
        view=view,
        calls=calls.calls_of_cases(db, case_ids),
        customer_tasks=tasks.tasks_of_customer(db, customer_id),
        reason_labels={r.code: r.label for r in every_reason},
        reason_choices=[r for r in every_reason if r.active],
        is_overdue=tasks.is_overdue,
        due_label=tasks.due_label,
        assignable=tasks.possible_owners(db) if reassign else [],
        channels=CONTACT_CHANNELS,
        outcomes=PERSON_OUTCOMES,
        concessions=[r for r in given if r.concession.case_id == open_id],
        # What earlier cases gave stays on view after they close.
        past_concessions=[r for r in given if r.concession.case_id != open_id],
        red_carpet=red_carpet.shown(db, user, view.latest_red_carpet),
        public_posts=view.public_posts,
        contact_block=do_not_contact.current(db, view.customer_id),
        last_closed=contact_rules.latest_closed(view.cases),
        scan_as_of=scan_date(request, run, view.scan),
        who=view.who,
    )


def require_customer(request: Request, db: Db, user: User, customer_id: str) -> None:
    """404 (NotFound) unless the desk, the latest scan or the ledger knows the customer:
    the API's lists of a customer's tasks or concessions never answer an empty page for a
    mistyped id."""
    state = request.app.state
    require_known(
        db, user, customer_id, run=state.latest_run(), ledger=state.ledger, timeline=state.timeline
    )


def scan_date(request: Request, latest: ScanRun | None, scan: dict[str, Any] | None) -> date | None:
    """The "today" of the scan a customer page shows: the run the open case was last
    synced from, else the latest run (None when it cannot be read)."""
    run_id = (scan or {}).get("run_id")
    run = latest
    if run_id and (latest is None or latest.info.run_id != run_id):
        path = request.app.state.settings.runs_dir / str(run_id)
        try:
            run = read_run(path) if path.parent == request.app.state.settings.runs_dir else None
        except ScanRunError:
            run = None
    if run is None:
        return None
    try:
        return date.fromisoformat(run.info.as_of)
    except ValueError:
        return None


def case_customer_page(request: Request, db: Db, user: PageUser) -> Response:
    """The customer page of the case in the path: where a refused case form shows again."""
    case = cases.get_case(db, user, int(request.path_params["case_id"]))
    return customer(request, case.customer_id, db, user)


def customer_page(request: Request, db: Db, user: PageUser) -> Response:
    """The customer page of the customer in the path, for a refused form on it."""
    return customer(request, request.path_params["customer_id"], db, user)


@router.post(
    "/cases/{case_id}/activity", dependencies=[Csrf, redisplay(case_customer_page, "activity")]
)
def activity(
    case_id: Id,
    db: Db,
    user: PageUser,
    kind: Annotated[str, Form()] = "contact",
    channel: Annotated[str, Form()] = "",
    text: Annotated[str, Form()] = "",
) -> Response:
    cases.log_activity(db, user, case_id, kind=kind, channel=channel or None, text=text)
    return back(f"/customers/{quote(cases.get_case(db, user, case_id).customer_id, safe='')}")


@router.post("/cases/{case_id}/close", dependencies=[Csrf])
def close(
    request: Request,
    background: BackgroundTasks,
    case_id: Id,
    db: Db,
    user: PageUser,
    rules: Rules,
    outcome: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
    follow_up_on: Annotated[str, Form()] = "",
    follow_up_title: Annotated[str, Form()] = "",
    confirm: Annotated[str, Form()] = "",
) -> Response:
    """Two requests close a case: the form's answers are checked and shown back for
    confirmation (nothing written), and only the confirmation (``confirm=yes``) closes."""
    due = calls.parse_date(follow_up_on, "follow_up_on") if follow_up_on.strip() else None
    if confirm != "yes":
        case = cases.get_case(db, user, case_id)
        require_case_work(user, case)
        cases.check_close(db, case, outcome, follow_up_on=due)
        return render(
            request,
            "close_confirm.html",
            case=case,
            outcome=outcome.strip(),
            note=note,
            follow_up_on=due,
            follow_up_title=follow_up_title,
            coming_back=outcome.strip() in cases.COMING_BACK,
            follow_up_task=cases.open_follow_up(db, case.id),
        )
    case = cases.close_case(
        db,
        user,
        case_id,
        outcome,
        note,
        policy=rules,
        follow_up_on=due,
        follow_up_title=follow_up_title,
    )
    export_after_close(request, background)
    return back(f"/customers/{quote(case.customer_id, safe='')}")


# --- the audit log, users, and your account ------------------------------------------


@router.get("/audit")
def audit_log(
    request: Request,
    db: Db,
    user: PageUser,
    before_id: BeforeId = None,
    after_id: AfterId = None,
    entity: str = "",
) -> Response:
    """The audit log in words, newest first, a hundred entries a page, of one kind or all."""
    kind = entity if entity in readable.AUDIT_KINDS else ""
    entries = audit.read_log(
        db, user, before_id=before_id, after_id=after_id, entity=kind or None, limit=100
    )
    who = readable.people(db)
    money = amounts_of(request)
    shown = [
        (e, readable.entry_sentence(e, who), readable.entry_summary(e, who, money)) for e in entries
    ]
    older = bool(entries) and audit.has_entries(db, entity=kind or None, below=entries[-1].id)
    newer = bool(entries) and audit.has_entries(db, entity=kind or None, above=entries[0].id)
    return render(
        request,
        "audit.html",
        entries=shown,
        entity=kind,
        kinds=readable.AUDIT_KINDS,
        older=older,
        newer=newer,
        first_id=entries[0].id if entries else None,
        last_id=entries[-1].id if entries else None,
    )


def users_page(
    request: Request, db: Db, user: PageUser, one_time: tuple[User, str] | None = None
) -> Response:
    """The users, sorted and paged in SQL with the count (``?format=csv``: all of them)."""
    q = list_query(request, lists.USER_SORTING)
    if wants_csv(request):
        return csv_download(lists.users_csv(db, user, q), "users")
    result = lists.user_list(db, user, q)
    settable = {u.id for u in result.rows if may_set_limits(user, u)}
    return render(
        request, "users.html", result=result, roles=ROLES, settable=settable, one_time=one_time
    )


@router.get("/users")
def user_list(request: Request, db: Db, user: PageUser) -> Response:
    return users_page(request, db, user)


@router.post("/users", dependencies=[Csrf, redisplay(users_page, "add-user")])
def user_add(
    db: Db,
    user: PageUser,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    role: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    staff_id: Annotated[str, Form()] = "",
    email: Annotated[str, Form(max_length=320)] = "",
) -> Response:
    users.create_user(
        db,
        user,
        username=username,
        name=name,
        role=role,
        password=password,
        staff_id=staff_id or None,
        email=email,
    )
    return back("/users")


@router.post(
    "/users/{user_id}/email", dependencies=[Csrf, redisplay(users_page, "email-{user_id}")]
)
def user_email(
    user_id: Id, db: Db, user: PageUser, email: Annotated[str, Form(max_length=320)] = ""
) -> Response:
    """An admin sets (or, blank, removes) a user's e-mail address for the daily digest."""
    require(user, Action.MANAGE_USERS)
    users.set_email(db, user, user_id, email)
    return back("/users")


@router.post("/users/{user_id}/active", dependencies=[Csrf])
def user_active(
    user_id: Id, db: Db, user: PageUser, active: Annotated[str, Form()] = "false"
) -> Response:
    users.set_active(db, user, user_id, active == "true")
    return back("/users")


@router.post("/users/{user_id}/role", dependencies=[Csrf, redisplay(users_page, "role-{user_id}")])
def user_role(user_id: Id, db: Db, user: PageUser, role: Annotated[str, Form()] = "") -> Response:
    users.set_role(db, user, user_id, role)
    return back("/users")


@router.post(
    "/users/{user_id}/password", dependencies=[Csrf, redisplay(users_page, "reset-{user_id}")]
)
def user_reset_password(
    request: Request,
    user_id: Id,
    db: Db,
    user: PageUser,
    password: Annotated[str, Form(max_length=MAX_LENGTH)] = "",
) -> Response:
    """Reset a user's password: to the one typed, else to a random one shown in this
    answer only (a reload does not show it again; the admin gives it to the person)."""
    chosen = users.reset_password(db, user, user_id, password)
    if password:
        return back("/users")
    response = users_page(request, db, user, one_time=(users.get_user(db, user_id), chosen))
    response.headers["Cache-Control"] = "no-store"
    return response


def account_page(
    request: Request, db: Db, user: PageUser, new_token: str | None = None, notice: str = ""
) -> Response:
    require(user, Action.OWN_API_TOKENS)
    return render(
        request,
        "account.html",
        tokens=users.list_api_tokens(db, user),
        new_token=new_token,
        notice=notice,
    )


@router.get("/account")
def account(request: Request, db: Db, user: PageUser) -> Response:
    return account_page(request, db, user)


@router.post("/account/password", dependencies=[Csrf, redisplay(account_page, "password")])
async def password_change(
    request: Request,
    db: Db,
    user: PageUser,
    current_password: Annotated[str, Form(max_length=MAX_LENGTH)] = "",
    new_password: Annotated[str, Form(max_length=MAX_LENGTH)] = "",
) -> Response:
    """Change my own password (the current one required). My other sessions end; this
    one carries on under a fresh cookie."""
    checks: desk_login.PasswordChecks = request.app.state.password_checks
    # Two argon2 runs (the check and the new hash): a place among the password checks.
    async with checks.turn():
        await run_in_threadpool(users.change_own_password, db, user, current_password, new_password)
    cookies: SessionCookies = request.app.state.cookies
    session = cookies.new(user.id, user.session_epoch)
    request.state.session = session
    response = account_page(
        request, db, user, notice="Your password is changed; your other sessions have ended."
    )
    cookies.write(request, response, session)
    return response


@router.post("/account/email", dependencies=[Csrf, redisplay(account_page, "email")])
def email_change(
    request: Request, db: Db, user: PageUser, email: Annotated[str, Form(max_length=320)] = ""
) -> Response:
    """Set (or, blank, remove) my e-mail address: where my daily digest of notices goes."""
    users.set_email(db, user, user.id, email)
    notice = (
        f"Your daily digest of unread notices goes to {user.email}."
        if user.email
        else "You get no e-mail digest (no address)."
    )
    return account_page(request, db, user, notice=notice)


@router.post("/account/tokens", dependencies=[Csrf, redisplay(account_page, "token")])
def token_add(request: Request, db: Db, user: PageUser, name: Annotated[str, Form()]) -> Response:
    _, plain = users.create_api_token(db, user, name)
    # Shown in this response only; a reload does not show it again.
    return account_page(request, db, user, new_token=plain)


@router.post("/account/tokens/{token_id}/revoke", dependencies=[Csrf])
def token_revoke(token_id: Id, db: Db, user: PageUser) -> Response:
    users.revoke_api_token(db, user, token_id)
    return back("/account")
