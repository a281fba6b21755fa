"""Public complaints end to end: Atom and RSS feeds served on the loopback, polled by the
cycle's scheduled pass; the signed webhook; triage settled through the API (SQLite and
PostgreSQL)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tests.desk.conftest import (  # noqa: F401 (fixtures)
    _cheap_password_hashing,
    db,
    desk_engine,
    people,
    postgres_engine,
    sqlite_template,
)
from winback import cycle
from winback.desk import complaints, users
from winback.desk.models import Case, PostSource, PublicPost, User
from winback.ledger.importer import import_file
from winback.ledger.store import Ledger
from winback.settings import Settings, load_settings
from winback.web.app import create_app

CUSTOMERS = """customer_id,name,email,region,country
c1,Ada Lovelace,ada@example.com,West,GB
c2,Jon Smith,jon@example.com,North,US
c3,Ben Hart,,East,US
"""
ANGRY = "Never again with Acme: my order arrived two weeks late and nobody answered."


def atom(*entries: tuple[str, str, str]) -> bytes:
    items = "".join(
        f"<entry><id>{i}</id><title>Review</title><link href='https://reviews.example/{i}'/>"
        f"<author><name>{who}</name></author><updated>2026-11-20T10:00:00Z</updated>"
        f"<summary>{text}</summary></entry>"
        for i, who, text in entries
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'>"
        f"<title>Alerts</title><id>alerts</id><updated>2026-11-20T10:00:00Z</updated>{items}</feed>"
    ).encode()


def rss(*entries: tuple[str, str, str]) -> bytes:
    items = "".join(
        f"<item><guid>{i}</guid><title>Blog comment</title><link>https://blog.example/{i}</link>"
        f"<author>{who}</author><description>{text}</description>"
        "<pubDate>Fri, 20 Nov 2026 10:00:00 GMT</pubDate></item>"
        for i, who, text in entries
    )
    return (
        "<?xml version='1.0'?><rss version='2.0'><channel><title>Comments</title>"
        f"<link>https://blog.example/</link><description>c</description>{items}</channel></rss>"
    ).encode()


class Feeds:
    """Feeds on a loopback HTTP server: path -> (body, ETag); every request recorded."""

    def __init__(self) -> None:
        self.docs: dict[str, tuple[bytes, str]] = {}
        self.seen: list[tuple[str, str | None, int]] = []
        feeds = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                doc = feeds.docs.get(self.path)
                asked = self.headers.get("If-None-Match")
                if doc is None:
                    status, body, etag = 500, b"broken", None
                elif asked == doc[1]:
                    status, body, etag = 304, b"", doc[1]
                else:
                    status, body, etag = 200, doc[0], doc[1]
                feeds.seen.append((self.path, asked, status))
                self.send_response(status)
                if etag:
                    self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def serve(self, path: str, body: bytes) -> None:
        self.docs[path] = (body, f'"{len(self.seen)}-{hash(body) & 0xFFFF}"')


@pytest.fixture
def feeds() -> Iterator[Feeds]:
    served = Feeds()
    thread = threading.Thread(target=served.server.serve_forever, daemon=True)
    thread.start()
    yield served
    served.server.shutdown()
    served.server.server_close()


@pytest.fixture
def workspace(tmp_path: Path, desk_engine: Engine, feeds: Feeds) -> Settings:  # noqa: F811
    settings = load_settings(
        home=tmp_path / "ws",
        desk_url=desk_engine.url.render_as_string(hide_password=False),
        secret_key="k" * 40,
    )
    settings.home.mkdir(parents=True)
    source = tmp_path / "customers.csv"
    source.write_text(CUSTOMERS, encoding="utf-8")
    import_file(Ledger(settings.ledger_dir), "customers", source, rejects_dir=settings.rejects_dir)
    (settings.home / "policy.toml").write_text(
        "[[complaints.feeds]]\n"
        f'name = "alerts"\nurl = "{feeds.url}/atom.xml"\nreach = 50000\n'
        "[[complaints.feeds]]\n"
        f'name = "comments"\nurl = "{feeds.url}/rss.xml"\n'
        "[[complaints.feeds]]\n"
        f'name = "gone"\nurl = "{feeds.url}/broken"\n',
        encoding="utf-8",
    )
    return settings


def _count(db: Session, model: Any) -> int:  # noqa: F811
    db.expire_all()
    return int(db.scalar(select(func.count()).select_from(model)) or 0)


def test_feeds_polled_by_the_pass_open_an_urgent_case_once_and_triage_the_misspelt(
    workspace: Settings,
    feeds: Feeds,
    db: Session,  # noqa: F811
    people: dict[str, User],  # noqa: F811
) -> None:
    feeds.serve("/atom.xml", atom(("a-1", "A reader", f"{ANGRY} Write to ada@example.com")))
    feeds.serve("/rss.xml", rss(("r-1", "Jonn Smyth", ANGRY)))

    first = cycle.run_pass(workspace)
    assert first is not None
    assert first.error is None
    assert first.counts["posts_stored"] == 2
    assert first.counts["posts_cases_opened"] == 1
    assert first.counts["posts_triage"] == 1
    assert first.counts["feeds_failed"] == 1
    case = db.scalars(select(Case)).one()
    assert case.customer_id == "c1"
    assert case.urgent
    assert case.post is not None
    assert "ada@example.com" in case.post.text
    gone = db.scalars(select(PostSource).where(PostSource.name == "gone")).one()
    assert gone.failures == 1
    assert gone.retry_after is not None

    # The same posts fetched again: conditional requests answered 304, nothing opened;
    # the broken feed backs off and is not asked.
    asked_before = len(feeds.seen)
    second = cycle.run_pass(workspace)
    assert second is not None
    again = feeds.seen[asked_before:]
    assert sorted(path for path, _, _ in again) == ["/atom.xml", "/rss.xml"]
    assert all(etag is not None and status == 304 for _, etag, status in again)
    assert second.counts["feeds_waiting"] == 1
    # A changed feed holding the old post and a new one: only the new one is stored.
    feeds.serve(
        "/atom.xml",
        atom(
            ("a-1", "A reader", f"{ANGRY} Write to ada@example.com"),
            ("a-2", "Ben Hart", "Acme won me back, brilliant service, thank you!"),
        ),
    )
    third = cycle.run_pass(workspace)
    assert third is not None
    assert third.counts["posts_stored"] == 1
    assert third.counts["posts_duplicates"] == 1
    assert third.counts["posts_praise"] == 1
    assert _count(db, Case) == 1
    assert _count(db, PublicPost) == 3

    # The misspelt name waits in triage; a manager confirms it and the case opens.
    _, token = users.create_api_token(db, people["manager"], "triage")
    auth = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(workspace, engine=db.get_bind())) as client:  # type: ignore[arg-type]
        waiting = client.get("/api/posts/triage", headers=auth).json()
        assert [p["candidates"] for p in waiting] == [["c2"]]
        refused = client.get("/api/posts/triage", headers={"Authorization": "Bearer nope"})
        assert refused.status_code == 401
        done = client.post(
            f"/api/posts/{waiting[0]['id']}/confirm", json={"customer_id": "c2"}, headers=auth
        )
        assert done.status_code == 200, done.text
        assert done.json()["state"] == "matched"
        queue = client.get("/api/cases", headers=auth).json()["cases"]
        assert [c["urgent"] for c in queue] == [True, True]
        assert all(c["due_at"] is not None and c["post_id"] for c in queue)
    opened = db.scalars(select(Case).where(Case.customer_id == "c2")).one()
    assert opened.urgent
    assert opened.due_at is not None


def _signed(secret: str, body: bytes, source: str = "listening", **more: str) -> dict[str, str]:
    stamp = more.get("stamp", str(int(time.time())))
    return {
        "X-Winback-Source": source,
        "X-Winback-Timestamp": stamp,
        "X-Winback-Signature": "sha256=" + complaints.sign(secret, stamp, body),
        "Content-Type": "application/json",
    }


def test_a_signed_webhook_post_opens_the_case_and_unsigned_or_replayed_ones_are_refused(
    workspace: Settings,
    db: Session,  # noqa: F811
    people: dict[str, User],  # noqa: F811
) -> None:
    _, token = users.create_api_token(db, people["manager"], "hooks")
    auth = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(workspace, engine=db.get_bind())) as client:  # type: ignore[arg-type]
        made = client.post(
            "/api/sources", json={"name": "listening", "kind": "webhook"}, headers=auth
        ).json()
        secret = made["secret"]
        said = {"id": "t-1", "author": "Ben Hart", "text": ANGRY, "followers": 12000}
        body = json.dumps({**said, "url": "https://social.example/t-1"}).encode()
        headers = _signed(secret, body)
        taken = client.post("/api/public-posts", content=body, headers=headers)
        assert taken.status_code == 202, taken.text
        assert taken.json()["post"]["customer_id"] == "c3"
        case = db.scalars(select(Case).where(Case.customer_id == "c3")).one()
        assert case.urgent

        other = json.dumps({"id": "t-2", "author": "Ada Lovelace", "text": ANGRY}).encode()
        unsigned = client.post(
            "/api/public-posts", content=other, headers={"X-Winback-Source": "listening"}
        )
        replayed = client.post("/api/public-posts", content=body, headers=headers)
        forged = client.post("/api/public-posts", content=other, headers=headers)
        stale = client.post(
            "/api/public-posts",
            content=other,
            headers=_signed(secret, other, stamp=str(int(time.time()) - 3600)),
        )
        assert [r.status_code for r in (unsigned, replayed, forged, stale)] == [401] * 4
        assert unsigned.json()["error"]["code"] == "not_authenticated"
        # Sent again, freshly signed: accepted, and stored once.
        resent = client.post(
            "/api/public-posts",
            content=body,
            headers=_signed(secret, body, stamp=str(int(time.time()) + 1)),
        )
        assert resent.status_code == 202
        assert resent.json()["duplicates"] == 1
        assert _count(db, PublicPost) == 1
        assert _count(db, Case) == 1

        # A misspelt name through the webhook waits in triage; confirmed, it opens the case.
        typo = json.dumps({"id": "t-3", "author": "Jonn Smyth", "text": ANGRY}).encode()
        waiting = client.post("/api/public-posts", content=typo, headers=_signed(secret, typo))
        assert waiting.status_code == 202
        post = waiting.json()["post"]
        assert post["state"] == "triage"
        assert _count(db, Case) == 1
        confirmed = client.post(
            f"/api/posts/{post['id']}/confirm", json={"customer_id": "c2"}, headers=auth
        )
        assert confirmed.status_code == 200
        assert _count(db, Case) == 2
