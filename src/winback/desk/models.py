"""The desk's tables (SQLAlchemy 2). Alembic migrations in ``migrations/`` create them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, Literal, get_args

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# The desk's vocabularies: each a Literal type (the web's schemas use these types) and the
# tuple of its values in order (the desk's checks and pages use these), one from the other.
# The roles that hold work (cases, tasks, follow-ups, red carpets); admins run the desk.
WorkRole = Literal["manager", "executive", "rep"]
Role = Literal["admin", WorkRole]
CaseState = Literal["open", "working", "closed"]
# The case filter's states: "active" is open or working.
CaseStateChoice = Literal[CaseState, "active", "all"]
# How a case ends: people record these; winback sync records "returned" (what each counts
# as is winback.desk.outcomes.counted_outcome).
PersonOutcome = Literal["won_back", "will_return", "declined", "unreachable", "not_pursued"]
CaseOutcome = Literal["returned", PersonOutcome]
ActivityKind = Literal["contact", "note"]
ContactChannel = Literal["call", "email", "visit", "chat", "letter", "other"]
# The guided call's steps, in order (docs/desk.md describes each).
CallStep = Literal[
    "apology",
    "listening",
    "diagnosis",
    "verification",
    "asks",
    "plan",
    "offer",
    "outcome",
    "follow_up",
]
# Did the customer agree with the diagnosis? "yes" and "partly" verify the reasons.
Verified = Literal["yes", "partly"]
Verification = Literal[Verified, "no"]
OfferKind = Literal[
    "none",
    "apology_only",
    "price_break",
    "coupon",
    "credit",
    "free_items",
    "guarantee",
    "plus_extra",
]
TaskKind = Literal[
    "commitment", "follow_up", "slip_alert", "appreciation", "escalation", "campaign_call"
]
ConcessionKind = Literal["discount_pct", "credit", "free_items"]
# "withdrawn": the case closed while the request waited for a decision.
ConcessionState = Literal["granted", "pending", "countered", "refused", "withdrawn"]
ConcessionDecision = Literal["approve", "counter", "refuse"]
ExperienceSource = Literal["import", "api"]
# What started a pass of the cycle, and how it ended ("running" until it does).
PassTrigger = Literal["schedule", "command"]
PassOutcome = Literal["running", "succeeded", "failed"]
# Public posts: where one came from, what it says, and where matching left it.
PostOrigin = Literal["feed", "webhook", "import"]
PostSourceKind = Literal["feed", "webhook"]
PostKind = Literal["complaint", "praise", "neutral"]
# "matched": to a customer (by the matcher or a person); "triage": waiting for a person;
# "not_customer": a person said the author is no customer; "unmatched": nobody came close.
PostState = Literal["matched", "triage", "not_customer", "unmatched"]
# Who said a customer must not be contacted: a person on the desk, the customer through an
# e-mail's unsubscribe link, or an import.
ContactBlockSource = Literal["desk", "unsubscribe", "import"]
# A campaign is built as a draft (its audience drawn from a scan run, offers set) and
# launched once.
CampaignState = Literal["draft", "launched"]
# How a campaign reaches a treated member: an e-mail, a rep's call (the scan's rep tier),
# or nothing when no e-mail address is known.
CampaignChannel = Literal["email", "call", "none"]
# An outgoing e-mail's state in the outbox (docs/outreach.md): waiting, claimed by a sender,
# accepted by the SMTP server, refused for good (5xx), given up after retries (4xx), or
# unknown (a sender died between handing it over and recording the answer: a person checks),
# or blocked (the customer became do-not-contact after it was queued; never sent).
OutboxState = Literal["queued", "sending", "sent", "bounced", "failed", "unknown", "blocked"]

WORK_ROLES: tuple[WorkRole, ...] = get_args(WorkRole)
ROLES: tuple[Role, ...] = get_args(Role)
CASE_STATES: tuple[CaseState, ...] = get_args(CaseState)
CASE_STATE_CHOICES: tuple[CaseStateChoice, ...] = get_args(CaseStateChoice)
PERSON_OUTCOMES: tuple[PersonOutcome, ...] = get_args(PersonOutcome)
CASE_OUTCOMES: tuple[CaseOutcome, ...] = get_args(CaseOutcome)
ACTIVITY_KINDS: tuple[ActivityKind, ...] = get_args(ActivityKind)
CONTACT_CHANNELS: tuple[ContactChannel, ...] = get_args(ContactChannel)
CALL_STEPS: tuple[CallStep, ...] = get_args(CallStep)
VERIFIED: tuple[Verified, ...] = get_args(Verified)
VERIFICATIONS: tuple[Verification, ...] = get_args(Verification)
OFFER_KINDS: tuple[OfferKind, ...] = get_args(OfferKind)
TASK_KINDS: tuple[TaskKind, ...] = get_args(TaskKind)
CONCESSION_KINDS: tuple[ConcessionKind, ...] = get_args(ConcessionKind)
CONCESSION_STATES: tuple[ConcessionState, ...] = get_args(ConcessionState)
CONCESSION_DECISIONS: tuple[ConcessionDecision, ...] = get_args(ConcessionDecision)
EXPERIENCE_SOURCES: tuple[ExperienceSource, ...] = get_args(ExperienceSource)
PASS_TRIGGERS: tuple[PassTrigger, ...] = get_args(PassTrigger)
PASS_OUTCOMES: tuple[PassOutcome, ...] = get_args(PassOutcome)
POST_ORIGINS: tuple[PostOrigin, ...] = get_args(PostOrigin)
POST_SOURCE_KINDS: tuple[PostSourceKind, ...] = get_args(PostSourceKind)
POST_KINDS: tuple[PostKind, ...] = get_args(PostKind)
POST_STATES: tuple[PostState, ...] = get_args(PostState)
CONTACT_BLOCK_SOURCES: tuple[ContactBlockSource, ...] = get_args(ContactBlockSource)
CAMPAIGN_STATES: tuple[CampaignState, ...] = get_args(CampaignState)
CAMPAIGN_CHANNELS: tuple[CampaignChannel, ...] = get_args(CampaignChannel)
OUTBOX_STATES: tuple[OutboxState, ...] = get_args(OutboxState)
# What a notice tells its user (winback.desk.notices).
NoticeKind = Literal["concession_decided", "red_carpet_slip"]
NOTICE_KINDS: tuple[NoticeKind, ...] = get_args(NoticeKind)
# A new user's concession authority by role (percent discount, credit, free items);
# managers change it per user. Migration 0002 gives existing users the same.
STARTING_LIMITS: dict[str, tuple[float, float, int]] = {
    "rep": (10.0, 50.0, 1),
    "manager": (25.0, 500.0, 5),
    "executive": (50.0, 5000.0, 20),
    "admin": (0.0, 0.0, 0),
}


def utcnow() -> datetime:
    """Now in UTC, naive: both SQLite and PostgreSQL store it the same way."""
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class User(Base):
    """Someone who logs in to the desk."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    staff_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    # Where the daily digest of unread notices goes (None: no digest).
    email: Mapped[str | None] = mapped_column(String(320))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Raised to end every session of the user at once (password change, deactivation).
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # Concession authority: what the user may grant on one case without asking anyone.
    limit_discount_pct: Mapped[float] = mapped_column(Float, default=0.0)
    limit_credit: Mapped[float] = mapped_column(Float, default=0.0)
    limit_free_items: Mapped[int] = mapped_column(Integer, default=0)


class ApiToken(Base):
    """A per-user token for the JSON API; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(12))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)


class Case(Base):
    """One customer's win-back case, made and refreshed by winback sync from scan runs."""

    __tablename__ = "cases"
    __table_args__ = (
        # One open case per customer, enforced by the database itself.
        Index(
            "ix_cases_one_open_per_customer",
            "customer_id",
            unique=True,
            sqlite_where=text("state != 'closed'"),
            postgresql_where=text("state != 'closed'"),
        ),
        Index("ix_cases_customer", "customer_id"),
        # The rep queue: my open cases in priority order.
        Index("ix_cases_queue", "owner_id", "state", "priority"),
        # The manager view: open cases by priority, filtered by tier or status.
        Index("ix_cases_state_priority", "state", "priority"),
        Index("ix_cases_tier", "tier", "state", "priority"),
        Index("ix_cases_status", "customer_status", "state", "priority"),
        Index("ix_cases_value", "state", "expected_value"),
        # The lists' partial indexes over the open cases (their sort orders, the worth
        # totals) and the open tasks by due date are migration 0013's: they differ by
        # database (NULLS LAST) and are made there only.
        # The dashboard: closed cases by closing time, with what its headline sums
        # (migration 0012).
        Index(
            "ix_cases_headline",
            "state",
            "closed_at",
            "outcome",
            "contacted",
            "value_before",
            "revenue_last_year",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(100))
    customer_name: Mapped[str | None] = mapped_column(String(300))
    segment: Mapped[str | None] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(20), default="open")
    outcome: Mapped[str | None] = mapped_column(String(30))
    contacted: Mapped[bool] = mapped_column(Boolean, default=False)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Lower is sooner: the scan's rank; cases off the ranked list sort last.
    priority: Mapped[int] = mapped_column(Integer)
    # From the scan run that last touched the case.
    run_id: Mapped[str] = mapped_column(String(64))
    customer_status: Mapped[str] = mapped_column(String(20))
    decision: Mapped[str | None] = mapped_column(String(20))
    tier: Mapped[str | None] = mapped_column(String(20))
    rank: Mapped[int | None] = mapped_column(Integer)
    p_alive: Mapped[float | None] = mapped_column(Float)
    predicted_value: Mapped[float | None] = mapped_column(Float)
    winback_odds: Mapped[float | None] = mapped_column(Float)
    expected_value: Mapped[float | None] = mapped_column(Float)
    revenue: Mapped[float | None] = mapped_column(Float)
    revenue_last_year: Mapped[float | None] = mapped_column(Float)
    last_order_date: Mapped[date | None] = mapped_column(Date)
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    decision_reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Lower-cased reasons joined by newlines, so the manager view can filter with LIKE.
    reasons_text: Mapped[str] = mapped_column(Text, default="")
    intangibles: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    opened_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)
    # The customer's revenue over the year up to their last order when the case opened:
    # what the business stands to lose (the reasons x revenue dashboard weighs by it).
    value_before: Mapped[float | None] = mapped_column(Float)
    # Set when a follow-up records that the customer confirms the problem is solved.
    problem_solved_at: Mapped[datetime | None] = mapped_column(DateTime)
    # The ledger batch that holds this case's outcome (winback_outcomes); None = not yet.
    outcome_batch: Mapped[int | None] = mapped_column(Integer)
    # A public complaint made the case urgent: it sorts first on every queue, is due by
    # ``due_at`` and escalates to a manager at ``escalated_at`` when that passes.
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    post_id: Mapped[int | None] = mapped_column(Integer)  # the public post (no foreign key)
    due_at: Mapped[datetime | None] = mapped_column(DateTime)
    escalated_at: Mapped[datetime | None] = mapped_column(DateTime)
    # The customer's red carpet in progress, if any: the flag every view of the case shows.
    # Read-only; the desk's case reads (winback.desk.cases) load it with the rows.
    red_carpet: Mapped[RedCarpet | None] = relationship(
        primaryjoin="and_(Case.customer_id == foreign(RedCarpet.customer_id), "
        "RedCarpet.ended_at.is_(None))",
        viewonly=True,
        uselist=False,
    )
    # The public post that made the case urgent, loaded with the case (read-only).
    post: Mapped[PublicPost | None] = relationship(
        primaryjoin="Case.post_id == foreign(PublicPost.id)",
        viewonly=True,
        uselist=False,
        lazy="selectin",
    )


class CaseActivity(Base):
    """Something a person did on a case: a contact with the customer, or a note."""

    __tablename__ = "case_activities"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(20))  # contact | note
    channel: Mapped[str | None] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text, default="")


class SavedFilter(Base):
    """A manager's named set of case filters."""

    __tablename__ = "saved_filters"
    __table_args__ = (UniqueConstraint("user_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(100))
    query: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class SyncRecord(Base):
    """A scan run that winback sync has turned into cases."""

    __tablename__ = "sync_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[str] = mapped_column(String(64), index=True)
    synced_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class AuditEntry(Base):
    """One change: who, when, what, before and after. Append-only (a trigger refuses
    UPDATE and DELETE)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_entity", "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_name: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(50))
    entity: Mapped[str] = mapped_column(String(30))
    entity_id: Mapped[str] = mapped_column(String(100))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class ReasonCode(Base):
    """One entry of the editable taxonomy of reasons customers leave."""

    __tablename__ = "reason_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(50), unique=True)
    label: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class Call(Base):
    """A guided call on a case: each step's answer is saved as it is given."""

    __tablename__ = "calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # "page" for a call worked step by step, "api" for one logged after the fact.
    source: Mapped[str] = mapped_column(String(10), default="page")
    step: Mapped[str] = mapped_column(String(20), default="apology")  # the next to answer
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    apology: Mapped[str] = mapped_column(Text, default="")
    listening: Mapped[str] = mapped_column(Text, default="")
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)  # reason codes
    verification: Mapped[str | None] = mapped_column(String(10))  # VERIFICATIONS
    correction: Mapped[str] = mapped_column(Text, default="")
    customer_words: Mapped[str] = mapped_column(Text, default="")
    asks: Mapped[str] = mapped_column(Text, default="")
    offer_kind: Mapped[str | None] = mapped_column(String(20))  # OFFER_KINDS
    offer_text: Mapped[str] = mapped_column(Text, default="")  # a note on the offer
    # The concession the offer gives (granted on the spot or sent for approval), if any;
    # no foreign key, as concessions.call_id points back here.
    offer_concession_id: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str | None] = mapped_column(String(30))


class CallAnswer(Base):
    """One answer given to a step of a call, kept for good: answering a step again adds a
    row, so a rejected diagnosis and the customer's correction stay on record.
    Append-only."""

    __tablename__ = "call_answers"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id"), index=True)
    step: Mapped[str] = mapped_column(String(20))  # CALL_STEPS
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Task(Base):
    """Work with a due date on someone's queue: a commitment made on a call, a follow-up,
    a red-carpet slip alert, or an appreciation touch."""

    __tablename__ = "tasks"
    __table_args__ = (
        Index("ix_tasks_owner_open", "owner_id", "done_at", "due_on"),
        Index("ix_tasks_open_due", "done_at", "due_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # TASK_KINDS
    title: Mapped[str] = mapped_column(String(500))
    customer_id: Mapped[str] = mapped_column(String(100), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    due_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    done_at: Mapped[datetime | None] = mapped_column(DateTime)
    done_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    result: Mapped[str] = mapped_column(Text, default="")


class Concession(Base):
    """Something given to win a customer back: asked by one user, granted within their
    authority or decided by a manager or executive."""

    __tablename__ = "concessions"
    __table_args__ = (Index("ix_concessions_state", "state", "route"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"))
    kind: Mapped[str] = mapped_column(String(20))  # CONCESSION_KINDS
    asked: Mapped[float] = mapped_column(Float)
    granted: Mapped[float | None] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(20))  # CONCESSION_STATES
    # Who must decide: "self" (within the asker's limit), "manager" or "executive".
    route: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, default="")
    requested_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    decision_note: Mapped[str] = mapped_column(Text, default="")


class RedCarpet(Base):
    """A won-back customer's red-carpet period: the next ``total`` experiences."""

    __tablename__ = "red_carpets"
    __table_args__ = (
        Index(
            "ix_red_carpets_one_active",
            "customer_id",
            unique=True,
            sqlite_where=text("ended_at IS NULL"),
            postgresql_where=text("ended_at IS NULL"),
        ),
        Index("ix_red_carpets_customer", "customer_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(100))
    customer_name: Mapped[str | None] = mapped_column(String(300))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    total: Mapped[int] = mapped_column(Integer)
    remaining: Mapped[int] = mapped_column(Integer)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)
    slipped_at: Mapped[datetime | None] = mapped_column(DateTime)


class Experience(Base):
    """One order or interaction of a red-carpet customer, and the gesture given."""

    __tablename__ = "experiences"
    __table_args__ = (UniqueConstraint("red_carpet_id", "source", "ref"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    red_carpet_id: Mapped[int] = mapped_column(ForeignKey("red_carpets.id"), index=True)
    customer_id: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(10))  # EXPERIENCE_SOURCES
    kind: Mapped[str] = mapped_column(String(30))  # order, interaction, or the caller's word
    ref: Mapped[str] = mapped_column(String(200))  # order id, interaction id, caller's id
    occurred_at: Mapped[datetime] = mapped_column(DateTime)
    gesture: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class CyclePass(Base):
    """One pass of the periodic cycle (inbox, scan, sync, red carpet, timeline): when it
    ran, how it ended, what it did. ``slot`` is the scheduled time it ran for: unique, so
    several servers on one desk database run each scheduled pass once."""

    __tablename__ = "cycle_passes"
    __table_args__ = (Index("ix_cycle_passes_started_at", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    slot: Mapped[str | None] = mapped_column(String(40), unique=True)
    trigger: Mapped[str] = mapped_column(String(20))  # PASS_TRIGGERS
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    outcome: Mapped[str] = mapped_column(String(20), default="running")  # PASS_OUTCOMES
    step: Mapped[str] = mapped_column(String(40), default="")
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    host: Mapped[str] = mapped_column(String(200), default="")


class CycleLock(Base):
    """The lease that lets one pass of the cycle run at a time across processes and
    servers (PostgreSQL uses an advisory lock instead; this row serves SQLite)."""

    __tablename__ = "cycle_lock"

    id: Mapped[int] = mapped_column(primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(200))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime)


class LoginThrottle(Base):
    """Login attempts counted for one account or one client address (``key``: which, and a
    SHA-256 of the name or address, so no typed username or password is kept): the
    attempts in the window that began at ``window_start``, and when a lock-out ends."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime)


class PostSource(Base):
    """Where public posts come from: a feed the cycle polls, or a signed webhook."""

    __tablename__ = "post_sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(10))  # POST_SOURCE_KINDS
    url: Mapped[str | None] = mapped_column(String(2000))
    # The webhook's HMAC key (the sender holds the same); None for a feed.
    secret: Mapped[str | None] = mapped_column(String(200))
    reach: Mapped[int] = mapped_column(Integer, default=1000)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Conditional requests: what the feed's server last said.
    etag: Mapped[str | None] = mapped_column(String(500))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    last_polled_at: Mapped[datetime | None] = mapped_column(DateTime)
    # Back-off: failures in a row, and no poll before ``retry_after``.
    failures: Mapped[int] = mapped_column(Integer, default=0)
    retry_after: Mapped[datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class PublicPost(Base):
    """A public post, stored once (``dedupe_key``: its link, else its source and id),
    with what it says, who wrote it and where matching left it."""

    __tablename__ = "public_posts"
    __table_args__ = (Index("ix_public_posts_state", "state", "received_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(64), unique=True)
    origin: Mapped[str] = mapped_column(String(10))  # POST_ORIGINS
    source_id: Mapped[int | None] = mapped_column(ForeignKey("post_sources.id"))
    source_name: Mapped[str] = mapped_column(String(100))
    external_id: Mapped[str | None] = mapped_column(String(500))
    url: Mapped[str | None] = mapped_column(String(2000))
    author: Mapped[str | None] = mapped_column(String(300))
    location: Mapped[str | None] = mapped_column(String(300))
    text: Mapped[str] = mapped_column(Text, default="")
    posted_at: Mapped[datetime | None] = mapped_column(DateTime)
    received_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    followers: Mapped[int | None] = mapped_column(Integer)
    sentiment: Mapped[float] = mapped_column(Float, default=0.0)
    kind: Mapped[str] = mapped_column(String(10))  # POST_KINDS
    urgency: Mapped[float] = mapped_column(Float, default=0.0)
    reason: Mapped[str | None] = mapped_column(String(50))  # a reason code, suggested
    state: Mapped[str] = mapped_column(String(20))  # POST_STATES
    customer_id: Mapped[str | None] = mapped_column(String(100), index=True)
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    match_method: Mapped[str] = mapped_column(String(50), default="none")
    candidates: Mapped[list[str]] = mapped_column(JSON, default=list)
    case_id: Mapped[int | None] = mapped_column(Integer, index=True)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    # How the business answered in public (recorded on the desk).
    reply: Mapped[str | None] = mapped_column(Text)
    reply_url: Mapped[str | None] = mapped_column(String(2000))
    replied_at: Mapped[datetime | None] = mapped_column(DateTime)
    replied_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class WebhookDelivery(Base):
    """A signature the webhook accepted, kept for the replay window: the same one again is
    a replay and is refused."""

    __tablename__ = "webhook_deliveries"

    signature: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(DateTime, index=True)


class ContactBlock(Base):
    """A customer who must not be contacted (do-not-contact): no win-back case, call or
    campaign reaches them while the block stands. One row a customer; lifting the block
    keeps the row with ``lifted_at`` set, so the history stays."""

    __tablename__ = "contact_blocks"

    customer_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    source: Mapped[str] = mapped_column(String(20))  # CONTACT_BLOCK_SOURCES
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    lifted_at: Mapped[datetime | None] = mapped_column(DateTime)
    lifted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class Campaign(Base):
    """A win-back campaign: an audience drawn from one scan run, its offers, and (once
    launched) its randomised holdout and the window over which its lift is measured."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(20), default="draft")  # CAMPAIGN_STATES
    run_id: Mapped[str] = mapped_column(String(64))
    run_as_of: Mapped[date] = mapped_column(Date)
    # The audience filters as given (tiers, segments, statuses, reason, value, risk).
    filters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    holdout_share: Mapped[float] = mapped_column(Float)
    window_days: Mapped[int] = mapped_column(Integer)
    # The e-mail's template (subject and body, desk/emails.py's form); "" = the default.
    template: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    launched_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    launched_at: Mapped[datetime | None] = mapped_column(DateTime)
    # The holdout's random seed, recorded so the draw can be repeated and checked.
    seed: Mapped[int | None] = mapped_column(Integer)
    ends_on: Mapped[date | None] = mapped_column(Date)
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class CampaignOffer(Base):
    """One offer of a campaign; ``kind`` matches the policy's reason -> offer mapping."""

    __tablename__ = "campaign_offers"
    __table_args__ = (UniqueConstraint("campaign_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    text: Mapped[str] = mapped_column(Text)
    # What the offer gives, checked against the builder's concession limits.
    concession_kind: Mapped[str | None] = mapped_column(String(20))  # CONCESSION_KINDS
    amount: Mapped[float] = mapped_column(Float, default=0.0)


class CampaignMember(Base):
    """One customer of a campaign's audience: the offer that fits their reasons and, once
    launched, whether they are held out, their single-use code and how they are reached."""

    __tablename__ = "campaign_members"
    __table_args__ = (
        UniqueConstraint("campaign_id", "customer_id"),
        Index("ix_campaign_members_customer", "customer_id", "holdout"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    customer_id: Mapped[str] = mapped_column(String(100))
    customer_name: Mapped[str | None] = mapped_column(String(300))
    tier: Mapped[str | None] = mapped_column(String(20))
    segment: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str | None] = mapped_column(String(20))
    expected_value: Mapped[float | None] = mapped_column(Float)
    winback_odds: Mapped[float | None] = mapped_column(Float)
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    offer_id: Mapped[int | None] = mapped_column(ForeignKey("campaign_offers.id"))
    holdout: Mapped[bool] = mapped_column(Boolean, default=False)
    # Unguessable and single-use; None for the holdout and before launch.
    code: Mapped[str | None] = mapped_column(String(40), unique=True)
    channel: Mapped[str | None] = mapped_column(String(10))  # CAMPAIGN_CHANNELS
    task_id: Mapped[int | None] = mapped_column(Integer)


class OutboxMessage(Base):
    """One e-mail to send, under an idempotency ``key`` (one row a key, ever): queued, then
    claimed by a sender (``claim_id``, ``claimed_at``), then sent, bounced, failed or
    unknown. ``message_id`` (the Message-ID header) is fixed when it is queued, so a copy
    found on the mail server can be matched to its row."""

    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_messages_state_id", "state", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    customer_id: Mapped[str] = mapped_column(String(100), index=True)
    campaign_id: Mapped[int | None] = mapped_column(Integer, index=True)
    to_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)
    headers: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    message_id: Mapped[str] = mapped_column(String(250), unique=True)
    state: Mapped[str] = mapped_column(String(12), default="queued")  # OUTBOX_STATES
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime | None] = mapped_column(DateTime)  # a 4xx retry waits
    claim_id: Mapped[str | None] = mapped_column(String(120), index=True)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Notice(Base):
    """Something a user is told on the desk: their concession request was decided, a
    red-carpet customer of theirs slipped. Shown on their queue until they mark it read."""

    __tablename__ = "notices"
    __table_args__ = (Index("ix_notices_user_unread", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(30))  # NOTICE_KINDS
    text: Mapped[str] = mapped_column(String(500))
    # A path on the desk to go to (the customer's page), or "".
    link: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(DateTime)
