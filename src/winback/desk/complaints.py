"""Public posts on the desk: stored once, matched to a customer, and a complaint made an
urgent case at once.

* :func:`take_posts` stores each post once (its link, else its source and id, is the key,
  whatever arrives twice), reads its sentiment (VADER, offline), urgency (how angry times
  how many may read it) and the reason it suggests, matches its author
  (:mod:`winback.desk.matching`), and routes it: a customer's complaint opens an urgent
  case (or makes their open case urgent); a match below the policy's threshold waits in
  triage.
* :func:`confirm_post`, :func:`not_a_customer`: a person settles a post in triage.
* :func:`escalate_overdue`: an urgent case past its due time goes to a manager.
* :func:`record_reply`: how the business answered in public.
* Sources: :func:`add_source` (a feed or a signed webhook; managers and admins),
  :func:`verify_webhook` (HMAC signature, replay window).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from winback import clock
from winback.desk import audit, tasks
from winback.desk.assignment import Candidate, Contact, choose_owner
from winback.desk.cases import opened_audit
from winback.desk.db import write_lock
from winback.desk.matching import Directory, Match
from winback.desk.models import (
    POST_SOURCE_KINDS,
    Case,
    CaseActivity,
    PostSource,
    PublicPost,
    User,
    WebhookDelivery,
    utcnow,
)
from winback.desk.permissions import Action, require
from winback.desk.scan_fields import case_fields
from winback.errors import Conflict, InvalidInput, NotAuthenticated, NotFound
from winback.ledger import reads
from winback.ledger.store import Ledger
from winback.policy import Complaints, Policy
from winback.scan.runs import ScanRun

SYSTEM_NAME = "winback complaints"
MAX_TEXT = 20_000
# A case opened by a post, with no scan row for the customer: its status says why.
COMPLAINT_STATUS = "complained"
# Words that suggest the reason a post complains about: reason code <- words (folded).
REASON_WORDS: dict[str, tuple[str, ...]] = {
    "delivery": ("late", "deliver", "shipping", "shipped", "arrived", "courier", "parcel"),
    "billing": ("charged", "charge", "refund", "invoice", "bill", "overcharg", "twice"),
    "product_quality": ("broke", "broken", "quality", "faulty", "defect", "damaged", "wrong"),
    "service": ("rude", "staff", "support", "nobody answered", "ignored", "service"),
    "price": ("price", "expensive", "prices", "cost", "went up"),
    "competitor": ("competitor", "switched to", "cheaper elsewhere"),
}


@dataclass
class IncomingPost:
    """A post as a source hands it over (a feed entry, a webhook body, an imported row)."""

    origin: str  # POST_ORIGINS
    source_name: str
    text: str
    external_id: str | None = None
    url: str | None = None
    author: str | None = None
    location: str | None = None
    posted_at: datetime | None = None
    followers: int | None = None
    source_id: int | None = None
    reach: int = 1000
    # An imported row may carry the customer the business matched already.
    customer_id: str | None = None


@dataclass
class TakeResult:
    """What :func:`take_posts` did."""

    stored: int = 0
    duplicates: int = 0
    matched: int = 0
    triage: int = 0
    complaints: int = 0
    praise: int = 0
    cases_opened: int = 0
    cases_made_urgent: int = 0
    posts: list[PublicPost] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {k: v for k, v in vars(self).items() if isinstance(v, int)}


@dataclass
class Routing:
    """What routing needs from the other rooms: the ledger (customers, contacts) and the
    latest scan run (the customer's tier and reasons), either of them possibly absent."""

    ledger: Ledger | None = None
    run: ScanRun | None = None
    directory: Directory | None = None
    today: date | None = None


def dedupe_key(post: IncomingPost) -> str:
    """The post's identity: its link when it has one, else its source and id."""
    if post.url and post.url.strip():
        basis = "url\n" + post.url.strip()
    elif post.external_id:
        basis = f"id\n{post.source_name}\n{post.external_id}"
    else:
        basis = f"text\n{post.source_name}\n{post.author or ''}\n{post.text}"
    return hashlib.sha256(basis.encode()).hexdigest()


@cache
def _analyser() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


# Phrases of a customer complaint that VADER's general lexicon scores as neutral ("my
# order arrived late and nobody answered" is 0.0 to it): each pulls the score down.
COMPLAINT_CUES = (
    "never again", "nobody", "no one", "late", "refund", "refuse", "charged", "twice",
    "broke", "broken", "rude", "ignored", "waiting", "still not", "cancel", "lost my",
    "wrong", "done with", "scam", "avoid", "ruined", "not answered", "no answer",
)  # fmt: skip
CUE_WEIGHT = 0.25


def sentiment(text: str) -> float:
    """-1 (angry) to 1 (delighted): VADER's compound score of ``text`` (offline, rule
    based), less ``CUE_WEIGHT`` for each complaint phrase it holds (``COMPLAINT_CUES``)
    unless VADER finds it clearly happy (0.5 or more)."""
    score = float(_analyser().polarity_scores(text or "")["compound"])
    if score < 0.5:
        folded = (text or "").casefold()
        score -= CUE_WEIGHT * sum(cue in folded for cue in COMPLAINT_CUES)
    return round(max(-1.0, min(1.0, score)), 4)


def kind_of(score: float, rules: Complaints) -> str:
    if score < rules.complaint_below:
        return "complaint"
    if score > -rules.complaint_below:
        return "praise"
    return "neutral"


def urgency(score: float, audience: int) -> float:
    """0 to 1: how angry (the negative part of the sentiment) times how far it may reach
    (log-scaled: 10 readers count 0.6 of the weight, a million all of it)."""
    anger = max(0.0, -score)
    reach = 0.5 + 0.5 * min(1.0, math.log10(1 + max(audience, 0)) / 6)
    return round(anger * reach, 3)


def suggested_reason(text: str) -> str | None:
    """The reason code the post's words point to most, if any."""
    folded = (text or "").casefold()
    hits = {code: sum(w in folded for w in words) for code, words in REASON_WORDS.items()}
    best = max(hits, key=lambda c: hits[c])
    return best if hits[best] else None


def due_time(start: datetime, hours: float, rules: Complaints) -> datetime:
    """``start`` (naive UTC) plus ``hours`` of business hours (the policy's working day and
    weekdays, in the business's timezone), as naive UTC."""
    first, last = rules.business_hours
    days = set(rules.business_days) or {0, 1, 2, 3, 4}
    moment = clock.local(start)
    left = timedelta(hours=hours)
    for _ in range(3660):  # ten years of days: a policy with no working time ends here
        day_start = moment.replace(hour=first, minute=0, second=0, microsecond=0)
        day_end = moment.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(hours=last)
        if moment.weekday() in days and moment < day_end:
            moment = max(moment, day_start)
            if moment + left <= day_end:
                return clock.naive_utc(moment + left)
            left -= day_end - moment
        moment = (moment + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    raise InvalidInput("the policy's [complaints] business hours leave no working time")


# --- taking posts in -------------------------------------------------------------------


def take_posts(
    db: Session,
    incoming: Sequence[IncomingPost],
    directory: Directory,
    policy: Policy,
    routing: Routing,
    *,
    orders: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> TakeResult:
    """Store, match and route ``incoming`` (see the module's docstring); commits. Safe
    under parallel callers: a post stored by another first counts as a duplicate, and a
    customer's open case is made urgent rather than opened twice."""
    rules = policy.complaints
    result = TakeResult()
    now = now or utcnow()
    keys = [dedupe_key(post) for post in incoming]
    seen = _stored_keys(db, keys)
    for post, key in zip(incoming, keys, strict=True):
        if key in seen:
            result.duplicates += 1
            continue
        seen.add(key)
        score = sentiment(post.text)
        audience = post.followers if post.followers is not None else post.reach
        match = _match(post, directory, orders)
        matched = match.customer_id is not None and match.confidence >= rules.match_threshold
        row = PublicPost(
            dedupe_key=key,
            origin=post.origin,
            source_id=post.source_id,
            source_name=post.source_name[:100],
            external_id=(post.external_id or None) and post.external_id[:500],
            url=(post.url or None) and post.url.strip()[:2000],
            author=(post.author or None) and post.author.strip()[:300],
            location=(post.location or None) and post.location.strip()[:300],
            text=(post.text or "").strip()[:MAX_TEXT],
            posted_at=post.posted_at,
            received_at=now,
            followers=post.followers,
            sentiment=score,
            kind=kind_of(score, rules),
            urgency=urgency(score, audience),
            reason=suggested_reason(post.text),
            state="matched" if matched else "triage",
            customer_id=match.customer_id if matched else None,
            confidence=round(match.confidence, 4),
            match_method=match.method,
            candidates=list(match.candidates),
        )
        try:
            with db.begin_nested():
                db.add(row)
                db.flush()
        except IntegrityError:  # a parallel caller stored it first
            result.duplicates += 1
            continue
        result.stored += 1
        result.posts.append(row)
        result.complaints += row.kind == "complaint"
        result.praise += row.kind == "praise"
        audit.record(
            db,
            None,
            "post.store",
            "post",
            row.id,
            None,
            {"state": row.state, "customer_id": row.customer_id, "kind": row.kind},
            system_name=SYSTEM_NAME,
        )
        if matched:
            result.matched += 1
            _route(db, None, row, policy, routing, now, result)
        else:
            result.triage += 1
    db.commit()
    return result


def new_posts(db: Session, incoming: Sequence[IncomingPost]) -> list[IncomingPost]:
    """Those of ``incoming`` not stored yet (each once, in order)."""
    keys = [dedupe_key(post) for post in incoming]
    seen = _stored_keys(db, keys)
    fresh = []
    for post, key in zip(incoming, keys, strict=True):
        if key not in seen:
            seen.add(key)
            fresh.append(post)
    return fresh


def _stored_keys(db: Session, keys: Sequence[str]) -> set[str]:
    """Which of ``keys`` are stored already (500 to a query)."""
    found: set[str] = set()
    for i in range(0, len(keys), 500):
        chunk = keys[i : i + 500]
        found.update(
            db.scalars(select(PublicPost.dedupe_key).where(PublicPost.dedupe_key.in_(chunk)))
        )
    return found


def _match(post: IncomingPost, directory: Directory, orders: Mapping[str, str] | None) -> Match:
    if post.customer_id and post.customer_id in directory.customers:
        return Match(post.customer_id, 1.0, "imported", (post.customer_id,))
    return directory.match(post.author, post.text, location=post.location, orders=orders)


def _route(
    db: Session,
    actor: User | None,
    post: PublicPost,
    policy: Policy,
    routing: Routing,
    now: datetime,
    result: TakeResult | None = None,
) -> Case | None:
    """A matched complaint: the customer's open case made urgent, or an urgent case opened.
    Praise and neutral posts stay on the customer's record only."""
    if post.kind != "complaint" or post.customer_id is None:
        return None
    due = due_time(now, policy.complaints.due_hours, policy.complaints)
    note = f"Public complaint on {post.source_name}: {post.text[:2000]}"
    if post.url:
        note += f"\n{post.url}"
    write_lock(db)
    case = _open_case_of(db, post.customer_id)
    opened = case is None
    if case is None:
        try:
            with db.begin_nested():
                case = _new_case(db, post, policy, routing, now)
        except IntegrityError:  # a parallel caller opened the customer's case first
            case = _open_case_of(db, post.customer_id)
            opened = False
        if case is None:
            raise Conflict(f"customer {post.customer_id}'s case changed meanwhile; try again")
    before = {"urgent": case.urgent, "due_at": case.due_at, "post_id": case.post_id}
    case.urgent, case.post_id, case.updated_at = True, post.id, now
    case.due_at = min(case.due_at, due) if case.due_at and case.state != "closed" else due
    case.escalated_at = case.escalated_at if before["urgent"] else None
    post.case_id = case.id
    db.add(CaseActivity(case_id=case.id, user_id=None, kind="note", text=note))
    after = {"urgent": True, "due_at": case.due_at, "post_id": post.id, "opened": opened}
    audit.record(db, actor, "case.urgent", "case", case.id, before, after, system_name=SYSTEM_NAME)
    if result is not None:
        result.cases_opened += opened
        # A case already urgent (an earlier complaint) is not made urgent again.
        result.cases_made_urgent += not opened and not before["urgent"]
    return case


def _open_case_of(db: Session, customer_id: str) -> Case | None:
    return db.scalar(
        select(Case)
        .where(Case.customer_id == customer_id, Case.state != "closed")
        .with_for_update()
    )


def _scan_row(run: ScanRun | None, customer_id: str) -> dict[str, Any] | None:
    if run is None:
        return None
    from winback.desk.scan_fields import RUN_COLUMNS

    table = run.customers(RUN_COLUMNS)
    import pyarrow.compute as pc

    found = table.filter(pc.equal(table.column("customer_id"), customer_id)).to_pylist()
    return found[0] if found else None


def _new_case(
    db: Session, post: PublicPost, policy: Policy, routing: Routing, now: datetime
) -> Case:
    customer_id = post.customer_id or ""
    row = _scan_row(routing.run, customer_id)
    history, owners = reads.contact_history(routing.ledger, [customer_id])
    users = [Candidate(u.id, u.role, u.staff_id) for u in tasks.possible_owners(db)]
    load = {
        int(owner): int(count)
        for owner, count in db.execute(
            select(Case.owner_id, func.count())
            .where(Case.state != "closed", Case.owner_id.is_not(None))
            .group_by(Case.owner_id)
        ).all()
        if owner is not None
    }
    owner_id, why = choose_owner(
        policy.assignment,
        tier=row["tier"] if row else None,
        as_of=routing.today or clock.today(),
        contacts=[Contact(t.staff_id, t.last, t.count) for t in history.get(customer_id, [])],
        account_owner=owners.get(customer_id),
        users=users,
        load=load,
    )
    if row is not None:
        fields = case_fields(row)
        run_id = routing.run.info.run_id if routing.run else ""
    else:
        known = routing.directory.customers.get(customer_id) if routing.directory else None
        fields = {
            "customer_name": known.name if known else None,
            "segment": None,
            "customer_status": COMPLAINT_STATUS,
            "reasons": [],
            "decision_reasons": [],
            "priority": 0,
            "intangibles": {},
            # The order the case knows of: a later one closes it as returned (sync).
            "last_order_date": reads.last_orders(routing.ledger, [customer_id]).get(customer_id),
        }
        run_id = ""
    fields["reasons"] = [f"public complaint: {post.text[:120]}", *fields["reasons"]]
    worth = reads.values_before(routing.ledger, [customer_id])
    case = Case(
        customer_id=customer_id,
        state="open",
        contacted=False,
        owner_id=owner_id,
        run_id=run_id,
        reasons_text="\n".join(fields["reasons"]).lower(),
        value_before=worth.get(customer_id, fields.get("revenue_last_year")),
        opened_at=now,
        updated_at=now,
        **fields,
    )
    db.add(case)
    db.flush()
    audit.record(
        db,
        None,
        "case.open",
        "case",
        case.id,
        None,
        opened_audit(case, f"public complaint; {why}", post_id=post.id),
        system_name=SYSTEM_NAME,
    )
    return case


# --- triage ----------------------------------------------------------------------------


def triage(db: Session, actor: User, limit: int = 100) -> list[PublicPost]:
    """Posts waiting for a person, complaints and the most urgent first."""
    require(actor, Action.TRIAGE_POSTS)
    query = (
        select(PublicPost)
        .where(PublicPost.state == "triage")
        .order_by(PublicPost.urgency.desc(), PublicPost.id)
        .limit(limit)
    )
    return list(db.scalars(query))


def recent_posts(db: Session, actor: User, limit: int = 100) -> list[PublicPost]:
    require(actor, Action.VIEW_CUSTOMER)
    return list(db.scalars(select(PublicPost).order_by(PublicPost.id.desc()).limit(limit)))


def posts_of_customer(db: Session, actor: User, customer_id: str) -> list[PublicPost]:
    require(actor, Action.VIEW_CUSTOMER)
    query = select(PublicPost).where(PublicPost.customer_id == customer_id)
    return list(db.scalars(query.order_by(PublicPost.id.desc())))


def get_post(db: Session, actor: User, post_id: int) -> PublicPost:
    require(actor, Action.VIEW_CUSTOMER)
    post = db.get(PublicPost, post_id)
    if post is None:
        raise NotFound(f"no public post {post_id}")
    return post


def _triaged(db: Session, post_id: int) -> PublicPost:
    write_lock(db)
    post = db.get(PublicPost, post_id, with_for_update=True, populate_existing=True)
    if post is None:
        raise NotFound(f"no public post {post_id}")
    if post.state != "triage":
        raise Conflict(f"post {post_id} is settled already ({post.state.replace('_', ' ')})")
    return post


def confirm_post(
    db: Session,
    actor: User,
    post_id: int,
    customer_id: str,
    policy: Policy,
    routing: Routing,
) -> PublicPost:
    """A person says who wrote the post (one of its candidates, or another customer): it
    is theirs, and a complaint opens their urgent case now."""
    require(actor, Action.TRIAGE_POSTS)
    customer_id = customer_id.strip()
    if not customer_id:
        raise InvalidInput("say which customer wrote the post (their customer id)")
    known = routing.directory
    if known is not None and customer_id not in known.customers:
        raise NotFound(f"no customer {customer_id!r} in the ledger: check the id")
    post = _triaged(db, post_id)
    before = {"state": post.state, "customer_id": post.customer_id}
    now = utcnow()
    post.state, post.customer_id = "matched", customer_id
    post.decided_by, post.decided_at = actor.id, now
    post.match_method = "confirmed" if customer_id in post.candidates else "picked"
    audit.record(db, actor, "post.confirm", "post", post.id, before, {"state": "matched",
                 "customer_id": customer_id, "how": post.match_method})  # fmt: skip
    _route(db, actor, post, policy, routing, now)
    db.commit()
    return post


def not_a_customer(db: Session, actor: User, post_id: int) -> PublicPost:
    """A person says the author is no customer: the post leaves triage, kept on record."""
    require(actor, Action.TRIAGE_POSTS)
    post = _triaged(db, post_id)
    post.state, post.decided_by, post.decided_at = "not_customer", actor.id, utcnow()
    audit.record(
        db, actor, "post.not_customer", "post", post.id, {"state": "triage"},
        {"state": "not_customer"},
    )  # fmt: skip
    db.commit()
    return post


def record_reply(
    db: Session, actor: User, post_id: int, reply: str, reply_url: str = ""
) -> PublicPost:
    """How the business answered the post in public (whoever may work its case)."""
    from winback.desk.permissions import require_case_work

    post = get_post(db, actor, post_id)
    if post.case_id is not None and (case := db.get(Case, post.case_id)) is not None:
        require_case_work(actor, case)
    else:
        require(actor, Action.TRIAGE_POSTS)
    reply = reply.strip()
    if not reply:
        raise InvalidInput("write what the business answered in public")
    before = {"reply": post.reply}
    post.reply, post.reply_url = reply[:5000], reply_url.strip()[:2000] or None
    post.replied_at, post.replied_by = utcnow(), actor.id
    audit.record(db, actor, "post.reply", "post", post.id, before, {"reply": post.reply})
    db.commit()
    return post


# --- escalation ------------------------------------------------------------------------


def escalate_overdue(db: Session, *, now: datetime | None = None) -> int:
    """Every urgent case past its due time and not answered (nobody contacted the
    customer, no public reply recorded) nor escalated yet goes to a manager: the least
    busy manager gets an escalation task on the case (due today); the case keeps its
    owner. Returns how many were escalated; commits."""
    now = now or utcnow()
    answered = (
        select(PublicPost.id)
        .where(PublicPost.id == Case.post_id, PublicPost.reply.is_not(None))
        .exists()
    )
    due = select(Case).where(
        Case.urgent.is_(True),
        Case.state != "closed",
        Case.contacted.is_(False),
        ~answered,
        Case.due_at < now,
        Case.escalated_at.is_(None),
    )
    if db.scalar(select(func.count()).select_from(due.subquery())) == 0:
        db.rollback()  # nothing to write: no transaction left open
        return 0
    write_lock(db)
    overdue = list(db.scalars(due.with_for_update().execution_options(populate_existing=True)))
    managers = [u for u in tasks.possible_owners(db) if u.role == "manager"]
    for case in overdue:
        manager = min(managers, key=lambda u: (_open_tasks(db, u.id), u.id), default=None)
        case.escalated_at = now
        title = (
            f"Escalated: the public complaint of {case.customer_name or case.customer_id} "
            f"was due {case.due_at:%Y-%m-%d %H:%M} UTC and is not answered"
        )
        tasks.add_task(
            db,
            None,
            kind="escalation",
            title=title,
            customer_id=case.customer_id,
            owner_id=manager.id if manager else None,
            due_on=clock.today(now),
            case_id=case.id,
            system_name=SYSTEM_NAME,
        )
        audit.record(
            db,
            None,
            "case.escalate",
            "case",
            case.id,
            {"escalated_at": None},
            {"escalated_at": now, "manager_id": manager.id if manager else None},
            system_name=SYSTEM_NAME,
        )
    db.commit()
    return len(overdue)


def _open_tasks(db: Session, user_id: int) -> int:
    from winback.desk.models import Task

    query = select(func.count()).where(Task.owner_id == user_id, Task.done_at.is_(None))
    return int(db.scalar(query) or 0)


def escalated_cases(db: Session, actor: User) -> list[Case]:
    """Urgent cases escalated and still open, the longest overdue first (managers)."""
    require(actor, Action.VIEW_ALL_CASES)
    query = select(Case).where(Case.escalated_at.is_not(None), Case.state != "closed")
    return list(db.scalars(query.order_by(Case.due_at, Case.id)))


# --- sources ---------------------------------------------------------------------------


def sources(db: Session, actor: User | None = None) -> list[PostSource]:
    if actor is not None:
        require(actor, Action.MANAGE_SOURCES)
    return list(db.scalars(select(PostSource).order_by(PostSource.name)))


def add_source(
    db: Session, actor: User | None, *, name: str, kind: str, url: str = "", reach: int = 1000
) -> tuple[PostSource, str | None]:
    """Add a feed (``url``) or a webhook (a new secret, returned once: the sender signs
    with it). ``actor`` None: the policy file's feeds, added by the cycle."""
    if actor is not None:
        require(actor, Action.MANAGE_SOURCES)
    name = name.strip()
    if not name:
        raise InvalidInput("give the source a name")
    if kind not in POST_SOURCE_KINDS:
        raise InvalidInput(f"kind {kind!r}: use one of {', '.join(POST_SOURCE_KINDS)}")
    url = url.strip()
    if kind == "feed" and not url.startswith(("http://", "https://")):
        raise InvalidInput(f"feed {name!r}: give its address, starting http:// or https://")
    if reach < 0:
        raise InvalidInput("reach is a number of readers: 0 or more")
    if db.scalar(select(PostSource.id).where(PostSource.name == name)) is not None:
        raise Conflict(f"there is a source called {name!r} already")
    secret = secrets.token_urlsafe(32) if kind == "webhook" else None
    source = PostSource(
        name=name[:100], kind=kind, url=url or None, secret=secret, reach=reach, failures=0
    )
    db.add(source)
    db.flush()
    audit.record(db, actor, "source.add", "source", source.id, None,
                 {"name": source.name, "kind": kind, "url": source.url},
                 system_name=SYSTEM_NAME)  # fmt: skip
    db.commit()
    return source, secret


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The webhook signature: hex HMAC-SHA256 of ``<timestamp>.<body>`` under ``secret``."""
    message = timestamp.encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify_webhook(
    db: Session,
    source_name: str,
    timestamp: str,
    signature: str,
    body: bytes,
    rules: Complaints,
    *,
    now: datetime | None = None,
) -> PostSource:
    """The webhook source whose secret signed ``body`` at ``timestamp``, inside the replay
    window and never seen before; NotAuthenticated otherwise (nothing is stored). The
    signature is remembered for the window (flushed; the caller commits)."""
    now = now or utcnow()
    source = db.scalar(
        select(PostSource).where(
            PostSource.name == source_name.strip(),
            PostSource.kind == "webhook",
            PostSource.active.is_(True),
        )
    )
    if source is None or not source.secret or not signature or not timestamp:
        raise NotAuthenticated("unsigned or unknown source: sign the post with the source's secret")
    given = signature.removeprefix("sha256=").strip().lower()
    if not hmac.compare_digest(given, sign(source.secret, timestamp, body)):
        raise NotAuthenticated("the signature does not match the body and the source's secret")
    try:
        sent = datetime.fromtimestamp(int(timestamp), UTC).replace(tzinfo=None)
    except (ValueError, OverflowError, OSError):
        raise NotAuthenticated("the timestamp is not a number of seconds since 1970") from None
    window = timedelta(seconds=rules.webhook_window_seconds)
    if abs(now - sent) > window:
        raise NotAuthenticated(
            f"the post was signed at {sent:%Y-%m-%d %H:%M:%S} UTC, outside the "
            f"{rules.webhook_window_seconds}-second window: sign it afresh"
        )
    write_lock(db)
    db.execute(delete(WebhookDelivery).where(WebhookDelivery.received_at < now - 2 * window))
    try:
        with db.begin_nested():
            db.add(WebhookDelivery(signature=given, received_at=now))
            db.flush()
    except IntegrityError:
        raise NotAuthenticated("this signed post was received already: a replay") from None
    return source
