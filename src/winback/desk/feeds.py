"""Polling the RSS and Atom feeds a business watches (Google Alerts, a review site, a blog's
comments): conditional requests, so an unchanged feed costs one 304, and back-off per
source, so a feed that fails waits longer each time before it is asked again.

:func:`poll_feeds` returns the feeds' entries as posts; the cycle hands them to
:func:`winback.desk.complaints.take_posts`, which stores each once.
"""

from __future__ import annotations

import calendar
import html
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import feedparser
from sqlalchemy import select
from sqlalchemy.orm import Session

from winback.desk import complaints
from winback.desk.complaints import IncomingPost
from winback.desk.models import PostSource, utcnow
from winback.errors import WinbackError
from winback.policy import Policy

TIMEOUT_SECONDS = 10.0
MAX_BYTES = 5_000_000
MAX_BACKOFF = timedelta(days=1)
USER_AGENT = "winback-feeds/1 (+https://github.com/winback)"
_TAG = re.compile(r"<[^>]+>")


@dataclass
class PollResult:
    """What one poll of the feeds did."""

    polled: int = 0
    unchanged: int = 0  # answered 304 Not Modified
    failed: int = 0
    waiting: int = 0  # backing off after failures
    entries: int = 0
    problems: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {f"feeds_{k}": v for k, v in vars(self).items() if isinstance(v, int)}


def add_policy_feeds(db: Session, policy: Policy) -> int:
    """The policy file's ``[[complaints.feeds]]`` as sources (new names only); how many."""
    have = set(db.scalars(select(PostSource.name)))
    added = 0
    for feed in policy.complaints.feeds:
        if feed.name not in have:
            complaints.add_source(db, None, name=feed.name, kind="feed", url=feed.url,
                                  reach=feed.reach)  # fmt: skip
            added += 1
    return added


def poll_feeds(
    db: Session, policy: Policy, *, now: datetime | None = None
) -> tuple[list[IncomingPost], PollResult]:
    """Every active feed not backing off, asked for what changed since last time. Commits
    each source's new state (its ETag, Last-Modified, failures and next try)."""
    now = now or utcnow()
    result = PollResult()
    posts: list[IncomingPost] = []
    feeds = db.scalars(
        select(PostSource).where(PostSource.kind == "feed", PostSource.active.is_(True))
    ).all()
    for source in feeds:
        if source.retry_after is not None and source.retry_after > now:
            result.waiting += 1
            continue
        source.last_polled_at = now
        try:
            got = _fetch(source)
        except (OSError, ValueError, WinbackError) as exc:
            result.failed += 1
            source.failures += 1
            pause = timedelta(minutes=policy.complaints.backoff_minutes)
            source.retry_after = now + min(pause * 2 ** (source.failures - 1), MAX_BACKOFF)
            source.last_error = f"{type(exc).__name__}: {exc}"[:1000]
            result.problems.append(
                f"feed {source.name!r}: {source.last_error} (next try after "
                f"{source.retry_after:%Y-%m-%d %H:%M} UTC)"
            )
            db.commit()
            continue
        result.polled += 1
        source.failures, source.retry_after, source.last_error = 0, None, None
        if got is None:
            result.unchanged += 1
        else:
            body, etag, modified = got
            source.etag, source.last_modified = etag, modified
            found = entries_of(body, source)
            result.entries += len(found)
            posts += found
        db.commit()
    return posts, result


def _fetch(source: PostSource) -> tuple[bytes, str | None, str | None] | None:
    """The feed's body with its ETag and Last-Modified, or None when it has not changed."""
    if not source.url or not source.url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) address: {source.url!r}")
    request = urllib.request.Request(source.url, headers={"User-Agent": USER_AGENT})
    if source.etag:
        request.add_header("If-None-Match", source.etag)
    if source.last_modified:
        request.add_header("If-Modified-Since", source.last_modified)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            body = response.read(MAX_BYTES + 1)
            headers = response.headers
    except urllib.error.HTTPError as exc:
        if exc.code == 304:
            return None
        raise ValueError(f"the server answered {exc.code} {exc.reason}") from None
    if len(body) > MAX_BYTES:
        raise ValueError(f"the feed is larger than {MAX_BYTES:,} bytes")
    return body, headers.get("ETag"), headers.get("Last-Modified")


def _plain(text: str | None) -> str:
    return " ".join(html.unescape(_TAG.sub(" ", text or "")).split())


def _when(entry: Any) -> datetime | None:
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    if not parsed:
        return None
    return datetime.fromtimestamp(calendar.timegm(parsed), UTC).replace(tzinfo=None)


def entries_of(body: bytes, source: PostSource) -> list[IncomingPost]:
    """The posts in an RSS or Atom document (ValueError when it is neither)."""
    parsed = feedparser.parse(body)
    if parsed.bozo and not parsed.entries:
        raise ValueError(f"not an RSS or Atom feed ({parsed.get('bozo_exception')})")
    posts = []
    for entry in parsed.entries:
        title, summary = _plain(entry.get("title")), _plain(entry.get("summary"))
        text = summary if title and summary.startswith(title) else f"{title}. {summary}".strip()
        posts.append(
            IncomingPost(
                origin="feed",
                source_name=source.name,
                source_id=source.id,
                reach=source.reach,
                text=text.strip(". ") if not summary else text,
                external_id=entry.get("id") or None,
                url=entry.get("link") or None,
                author=entry.get("author") or None,
                posted_at=_when(entry),
            )
        )
    return posts
