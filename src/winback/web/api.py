"""The JSON API under /api: everything the pages do, for scripts and other systems.

Every call needs ``Authorization: Bearer <token>`` (make one on the account page or with
POST /api/tokens). Errors are ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Query, Request

from winback import cycle
from winback.desk import audit, cases, users
from winback.desk.customer360 import customer_view
from winback.desk.permissions import Action, require, require_case_work
from winback.errors import InvalidInput
from winback.web.deps import ApiUser, Db, Rules, export_after_close
from winback.web.errors import ERROR_RESPONSES
from winback.web.schemas import (
    ActivityCreate,
    ActivityPublic,
    AuditLimit,
    AuditPublic,
    BeforeId,
    CaseClose,
    CasePage,
    CasePublic,
    CaseReassign,
    CustomerPublic,
    EmailChange,
    EventPublic,
    FilterCreate,
    FilterPublic,
    FilterQuery,
    Id,
    PageNumber,
    PageSize,
    PasswordChange,
    PasswordReset,
    PasswordResetDone,
    RedCarpetFlag,
    SyncPublic,
    TokenCreate,
    TokenCreated,
    TokenPublic,
    UserCreate,
    UserPublic,
    UserUpdate,
)

router = APIRouter(prefix="/api", tags=["desk"], responses=ERROR_RESPONSES)


def _page(result: cases.Page) -> CasePage:
    # The desk's case reads carry each case's red-carpet flag (Case.red_carpet).
    return CasePage.model_validate(result, from_attributes=True)


@router.get("/me", response_model=UserPublic)
def me(user: ApiUser) -> Any:
    """Who the token belongs to."""
    return user


@router.get("/queue", response_model=CasePage)
def queue(
    db: Db, user: ApiUser, page: PageNumber = 1, size: PageSize = cases.PAGE_SIZE
) -> CasePage:
    """My open cases, first to call first."""
    return _page(cases.my_queue(db, user, page, size))


@router.get("/cases", response_model=CasePage)
def list_cases(
    db: Db,
    user: ApiUser,
    query: Annotated[FilterQuery, Query()],
    page: PageNumber = 1,
    size: PageSize = cases.PAGE_SIZE,
) -> CasePage:
    """All cases matching the filters (managers and admins)."""
    f = cases.CaseFilter.from_query(query.model_dump())
    return _page(cases.search_cases(db, user, f, page, size))


@router.get("/cases/{case_id}", response_model=CasePublic)
def get_case(case_id: Id, db: Db, user: ApiUser) -> CasePublic:
    return CasePublic.model_validate(cases.get_case(db, user, case_id))


@router.post("/cases/{case_id}/activities", response_model=ActivityPublic, status_code=201)
def add_activity(case_id: Id, body: ActivityCreate, db: Db, user: ApiUser) -> Any:
    """Log a contact with the customer (the case becomes "working") or a note."""
    return cases.log_activity(
        db, user, case_id, kind=body.kind, channel=body.channel, text=body.text
    )


@router.post("/cases/{case_id}/close", response_model=CasePublic)
def close_case(
    case_id: Id,
    body: CaseClose,
    request: Request,
    background: BackgroundTasks,
    db: Db,
    user: ApiUser,
    rules: Rules,
) -> CasePublic:
    """Close the case with its outcome (``confirm`` true: a close cannot be undone); the
    outcome goes to the ledger for the scan, and a win-back puts the customer on the red
    carpet (the policy's [red_carpet] section). won_back and will_return need a contact on
    record (a logged contact or a call that reached its outcome), no offer waiting for
    approval or refused, and a first follow-up (``follow_up_on``)."""
    require_case_work(user, cases.get_case(db, user, case_id))
    if not body.confirm:
        raise InvalidInput(
            "confirm: closing a case cannot be undone; send confirm: true to close it"
        )
    case = cases.close_case(
        db,
        user,
        case_id,
        body.outcome,
        body.note,
        policy=rules,
        follow_up_on=body.follow_up_on,
        follow_up_title=body.follow_up_title,
    )
    export_after_close(request, background)
    return CasePublic.model_validate(case)


@router.post("/cases/{case_id}/assign", response_model=CasePublic)
def assign_case(case_id: Id, body: CaseReassign, db: Db, user: ApiUser) -> CasePublic:
    """Give the case to another user, or to nobody (managers and admins)."""
    return CasePublic.model_validate(cases.reassign(db, user, case_id, body.owner_id))


@router.get("/customers/{customer_id}", response_model=CustomerPublic)
def customer(customer_id: str, request: Request, db: Db, user: ApiUser) -> CustomerPublic:
    """The customer 360: scan, cases and timeline."""
    view = customer_view(
        db,
        user,
        customer_id,
        run=request.app.state.latest_run(),
        ledger=request.app.state.ledger,
        timeline=request.app.state.timeline,
    )
    return CustomerPublic(
        customer_id=view.customer_id,
        name=view.name,
        profile=view.profile,
        scan=view.scan,
        cases=[CasePublic.model_validate(c) for c in view.cases],
        timeline=[EventPublic.model_validate(asdict(e)) for e in view.timeline],
        red_carpet=RedCarpetFlag.model_validate(view.red_carpet) if view.red_carpet else None,
        sweet_spot=view.sweet_spot,
        doubtful_contact=view.doubtful_contact,
    )


@router.get("/filters", response_model=list[FilterPublic])
def list_filters(db: Db, user: ApiUser) -> Any:
    return cases.list_filters(db, user)


@router.post("/filters", response_model=FilterPublic, status_code=201)
def save_filter(body: FilterCreate, db: Db, user: ApiUser) -> Any:
    f = cases.CaseFilter.from_query(body.query.model_dump())
    return cases.save_filter(db, user, body.name, f)


@router.delete("/filters/{filter_id}", status_code=204)
def delete_filter(filter_id: Id, db: Db, user: ApiUser) -> None:
    cases.delete_filter(db, user, filter_id)


@router.get("/audit", response_model=list[AuditPublic])
def read_audit(
    db: Db,
    user: ApiUser,
    entity: str | None = None,
    entity_id: str | None = None,
    before_id: BeforeId = None,
    limit: AuditLimit = 100,
) -> Any:
    """The audit log, newest first (managers and admins). Page with before_id."""
    return audit.read_log(
        db, user, entity=entity, entity_id=entity_id, before_id=before_id, limit=limit
    )


@router.get("/users", response_model=list[UserPublic])
def list_users(db: Db, user: ApiUser) -> Any:
    return users.list_users(db, user)


@router.post("/users", response_model=UserPublic, status_code=201)
def create_user(body: UserCreate, db: Db, user: ApiUser) -> Any:
    return users.create_user(
        db,
        user,
        username=body.username,
        name=body.name,
        role=body.role,
        password=body.password,
        staff_id=body.staff_id,
        email=body.email,
    )


@router.patch("/users/{user_id}", response_model=UserPublic)
def update_user(user_id: Id, body: UserUpdate, db: Db, user: ApiUser) -> Any:
    """Deactivate or reactivate a user (their sessions end; deactivation revokes their
    tokens), change their role, set their e-mail address, or several at once."""
    if body.active is None and body.role is None and body.email is None:
        raise InvalidInput("give active, role, email or several")
    target = users.get_user(db, user_id)
    if body.email is not None:
        require(user, Action.MANAGE_USERS)
        target = users.set_email(db, user, user_id, body.email)
    if body.role is not None:
        target = users.set_role(db, user, user_id, body.role)
    if body.active is not None:
        target = users.set_active(db, user, user_id, body.active)
    return target


@router.post("/users/{user_id}/password", response_model=PasswordResetDone)
def reset_password(
    request: Request, user_id: Id, body: PasswordReset, db: Db, user: ApiUser
) -> PasswordResetDone:
    """Reset another user's password (admins): to ``password``, or to a generated one
    returned this once. Their sessions end."""
    with request.app.state.password_checks.slot():
        chosen = users.reset_password(db, user, user_id, body.password)
    return PasswordResetDone(user_id=user_id, password=None if body.password else chosen)


@router.post("/me/password", status_code=204)
def change_password(request: Request, body: PasswordChange, db: Db, user: ApiUser) -> None:
    """Change my own password, giving the current one. My desk sessions end; my API
    tokens stay."""
    with request.app.state.password_checks.slot():
        users.change_own_password(db, user, body.current_password, body.new_password)


@router.put("/me/email", response_model=UserPublic)
def change_email(body: EmailChange, db: Db, user: ApiUser) -> Any:
    """Set (or, empty, remove) my e-mail address: where my daily digest of unread notices
    goes when the desk sends e-mail."""
    return users.set_email(db, user, user.id, body.email)


@router.get("/tokens", response_model=list[TokenPublic])
def list_tokens(db: Db, user: ApiUser) -> Any:
    return users.list_api_tokens(db, user)


@router.post("/tokens", response_model=TokenCreated, status_code=201)
def create_token(body: TokenCreate, db: Db, user: ApiUser) -> TokenCreated:
    """A new API token; the response carries it this once."""
    token, plain = users.create_api_token(db, user, body.name)
    return TokenCreated(
        id=token.id, name=token.name, prefix=token.prefix, created_at=token.created_at, token=plain
    )


@router.delete("/tokens/{token_id}", status_code=204)
def revoke_token(token_id: Id, db: Db, user: ApiUser) -> None:
    users.revoke_api_token(db, user, token_id)


@router.post("/sync", response_model=SyncPublic)
def sync(request: Request, background: BackgroundTasks, db: Db, user: ApiUser) -> SyncPublic:
    """Turn the latest scan run into cases (managers and admins). The customer timeline
    copy is rebuilt after the answer is sent."""
    require(user, Action.SYNC_CASES)
    settings = request.app.state.settings
    result = cycle.sync(
        settings, cycle.policy_in_force(settings), db=db, actor=user, rebuild_timeline=False
    )
    background.add_task(cycle.refresh_timeline, settings)
    return SyncPublic(run_id=result.run_id, **result.counts())
