"""Public posts on the web: the signed webhook that social-listening tools and support
desks post to, the triage list, the sources, and the public reply on a case.

The webhook (``POST /api/public-posts``) needs no token: it is signed. Headers:
``X-Winback-Source`` (the source's name on the desk), ``X-Winback-Timestamp`` (seconds
since 1970, UTC) and ``X-Winback-Signature`` (``sha256=`` and the hex HMAC-SHA256 of
``<timestamp>.<body>`` under the source's secret). A post signed outside the policy's
replay window, or whose signature was seen before, is refused with 401 and stored nowhere.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Header, Request, Security
from fastapi.responses import Response
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from winback import cycle
from winback.desk import complaints
from winback.desk.complaints import IncomingPost
from winback.desk.permissions import Action, require
from winback.errors import InvalidInput
from winback.web.deps import ApiUser, Csrf, Db, PageUser, Rules
from winback.web.errors import ERROR_RESPONSES
from winback.web.pages import back, render
from winback.web.schemas import Id, UtcDateTime

api_router = APIRouter(prefix="/api", tags=["public posts"], responses=ERROR_RESPONSES)

# The webhook's own security scheme in the OpenAPI document: a signature, not a token. The
# handler checks it (with the source and the timestamp); a missing one is the desk's 401.
signed = APIKeyHeader(
    name="X-Winback-Signature",
    scheme_name="webhookSignature",
    description="sha256= and the hex HMAC-SHA256 of `<X-Winback-Timestamp>.<body>` under "
    "the source's secret (with the X-Winback-Source and X-Winback-Timestamp headers).",
    auto_error=False,
)
page_router = APIRouter(include_in_schema=False)
MAX_BODY = 100_000


class PostIn(BaseModel):
    """A post as the webhook receives it."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(None, max_length=500, description="The post's id at its source.")
    url: str | None = Field(None, max_length=2000, description="Link to the post.")
    author: str | None = Field(
        None, max_length=300, description='Name or handle; "Name, Region, Country" gives a place.'
    )
    text: str = Field(min_length=1, max_length=20_000, description="What it says.")
    location: str | None = Field(None, max_length=300, description="Where the author is.")
    posted_at: datetime | None = Field(None, description="When it was published.")
    followers: int | None = Field(None, ge=0, description="The author's audience, if known.")


class PostPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    origin: str
    source_name: str
    url: str | None
    author: str | None
    text: str
    posted_at: UtcDateTime | None
    received_at: UtcDateTime
    sentiment: float
    kind: str
    urgency: float
    reason: str | None
    state: str
    customer_id: str | None
    confidence: float
    match_method: str
    candidates: list[str]
    case_id: int | None
    reply: str | None
    reply_url: str | None


class Received(BaseModel):
    stored: int
    duplicates: int
    post: PostPublic | None


class Confirm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: str = Field(min_length=1, max_length=100)


class Reply(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reply: str = Field(min_length=1, max_length=5000)
    reply_url: str = Field("", max_length=2000)


class SourceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    kind: str = Field(description="feed or webhook")
    url: str = Field("", max_length=2000)
    reach: int = Field(1000, ge=0, le=10**10)


class SourcePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    kind: str
    url: str | None
    reach: int
    active: bool
    failures: int
    retry_after: UtcDateTime | None
    last_polled_at: UtcDateTime | None
    last_error: str | None


class SourceMade(SourcePublic):
    secret: str | None = Field(None, description="The webhook's secret: shown this once.")


@api_router.post("/public-posts", response_model=Received, status_code=202)
async def webhook(
    request: Request,
    db: Db,
    policy: Rules,
    source: Annotated[str, Header(alias="X-Winback-Source")] = "",
    timestamp: Annotated[str, Header(alias="X-Winback-Timestamp")] = "",
    signature: Annotated[str | None, Security(signed)] = None,
) -> Received:
    """Take a post from a signed source (see the module's notes): stored once, matched,
    and a customer's complaint opens their urgent case at once."""
    body = await request.body()
    if len(body) > MAX_BODY:
        raise InvalidInput(f"the post is larger than {MAX_BODY:,} bytes")
    sender = complaints.verify_webhook(
        db, source, timestamp, signature or "", body, policy.complaints
    )
    try:
        given = PostIn.model_validate_json(body)
    except ValidationError as exc:
        db.rollback()
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidInput(f"the post's JSON: {problems}") from None
    post = IncomingPost(
        origin="webhook",
        source_name=sender.name,
        source_id=sender.id,
        reach=sender.reach,
        external_id=given.id,
        url=given.url,
        author=given.author,
        text=given.text,
        location=given.location,
        posted_at=given.posted_at.replace(tzinfo=None) if given.posted_at else None,
        followers=given.followers,
    )
    settings = request.app.state.settings
    done = cycle.take_public_posts(settings, db, policy, [post])
    stored = done.posts[0] if done.posts else None
    return Received(
        stored=done.stored,
        duplicates=done.duplicates,
        post=PostPublic.model_validate(stored) if stored else None,
    )


@api_router.get("/posts/triage", response_model=list[PostPublic])
def triage_api(db: Db, user: ApiUser) -> list[PostPublic]:
    """Posts waiting for a person to say who wrote them (managers and admins)."""
    return [PostPublic.model_validate(p) for p in complaints.triage(db, user)]


@api_router.post("/posts/{post_id}/confirm", response_model=PostPublic)
def confirm_api(
    request: Request, post_id: Id, body: Confirm, db: Db, user: ApiUser, policy: Rules
) -> Any:
    """Say which customer wrote a post in triage (one of its candidates or another): a
    complaint opens their urgent case now."""
    require(user, Action.TRIAGE_POSTS)
    routing = cycle.routing_of(request.app.state.settings)
    return complaints.confirm_post(db, user, post_id, body.customer_id, policy, routing)


@api_router.post("/posts/{post_id}/not-a-customer", response_model=PostPublic)
def not_customer_api(post_id: Id, db: Db, user: ApiUser) -> Any:
    """Say the author of a post in triage is no customer."""
    return complaints.not_a_customer(db, user, post_id)


@api_router.post("/posts/{post_id}/reply", response_model=PostPublic)
def reply_api(post_id: Id, body: Reply, db: Db, user: ApiUser) -> Any:
    """Record how the business answered the post in public."""
    return complaints.record_reply(db, user, post_id, body.reply, body.reply_url)


@api_router.get("/sources", response_model=list[SourcePublic])
def sources_api(db: Db, user: ApiUser) -> Any:
    """The feeds and webhooks public posts come from (managers and admins)."""
    return complaints.sources(db, user)


@api_router.post("/sources", response_model=SourceMade, status_code=201)
def add_source_api(body: SourceIn, db: Db, user: ApiUser) -> SourceMade:
    """Add a feed, or a webhook (its secret is in the answer, this once)."""
    made, secret = complaints.add_source(
        db, user, name=body.name, kind=body.kind, url=body.url, reach=body.reach
    )
    return SourceMade(**SourcePublic.model_validate(made).model_dump(), secret=secret)


# --- pages -----------------------------------------------------------------------------


def _complaints_page(
    request: Request, db: Any, user: Any, *, secret: tuple[str, str] | None
) -> Response:
    """The complaints page: triage, escalated cases, recent posts and sources (and a new
    source's webhook secret, shown once)."""
    return render(
        request,
        "complaints.html",
        waiting=complaints.triage(db, user),
        escalated=complaints.escalated_cases(db, user),
        recent=complaints.recent_posts(db, user, 50),
        sources=complaints.sources(db, user),
        secret=secret,
    )


@page_router.get("/complaints")
def complaints_page(request: Request, db: Db, user: PageUser) -> Response:
    require(user, Action.TRIAGE_POSTS)
    return _complaints_page(request, db, user, secret=None)


@page_router.post("/posts/{post_id}/confirm", dependencies=[Csrf])
def confirm_page(
    request: Request,
    post_id: Id,
    db: Db,
    user: PageUser,
    policy: Rules,
    customer_id: Annotated[str, Form(max_length=100)] = "",
    other: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    require(user, Action.TRIAGE_POSTS)
    routing = cycle.routing_of(request.app.state.settings)
    chosen = other.strip() or customer_id
    complaints.confirm_post(db, user, post_id, chosen, policy, routing)
    return back("/complaints")


@page_router.post("/posts/{post_id}/not-a-customer", dependencies=[Csrf])
def not_customer_page(post_id: Id, db: Db, user: PageUser) -> Response:
    complaints.not_a_customer(db, user, post_id)
    return back("/complaints")


@page_router.post("/posts/{post_id}/reply", dependencies=[Csrf])
def reply_page(
    post_id: Id,
    db: Db,
    user: PageUser,
    reply: Annotated[str, Form(max_length=5000)],
    reply_url: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    post = complaints.record_reply(db, user, post_id, reply, reply_url)
    return back(f"/customers/{post.customer_id}" if post.customer_id else "/complaints")


@page_router.post("/sources", dependencies=[Csrf])
def add_source_page(
    request: Request,
    db: Db,
    user: PageUser,
    name: Annotated[str, Form(max_length=100)],
    kind: Annotated[str, Form(max_length=10)],
    url: Annotated[str, Form(max_length=2000)] = "",
    reach: Annotated[int, Form(ge=0, le=10**10)] = 1000,
) -> Response:
    made, secret = complaints.add_source(db, user, name=name, kind=kind, url=url, reach=reach)
    if secret is None:
        return back("/complaints")
    return _complaints_page(request, db, user, secret=(made.name, secret))
