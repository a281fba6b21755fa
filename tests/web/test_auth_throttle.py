"""Login throttling per account and per client address, held in the desk database, and
the cap on password checks at once: through the login form, and with real parallel
requests against the app served by uvicorn (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import serve
from tests.desk.conftest import PASSWORD
from tests.web.conftest import csrf_of
from winback.desk import login, users
from winback.desk.models import AuditEntry, LoginThrottle, User, utcnow

WRONG = "not the password at all"


class CountingHasher:
    """The tests' cheap hasher, counting the password checks it runs (and, when ``gate``
    is set, holding each check until the gate opens)."""

    def __init__(self, inner: Any, gate: threading.Event | None = None) -> None:
        self.inner = inner
        self.gate = gate
        self.verified = 0
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def verify(self, hash: str, password: str) -> bool:
        with self._lock:
            self.verified += 1
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            if self.gate is not None:
                self.gate.wait(timeout=30)
            result: bool = self.inner.verify(hash, password)
            return result
        finally:
            with self._lock:
                self.running -= 1

    def hash(self, password: str) -> str:
        result: str = self.inner.hash(password)
        return result

    def check_needs_rehash(self, hash: str) -> bool:
        result: bool = self.inner.check_needs_rehash(hash)
        return result


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> CountingHasher:
    hasher = CountingHasher(users.hasher)
    monkeypatch.setattr(users, "hasher", hasher)
    return hasher


def attempt(client: TestClient, username: str, password: str) -> httpx.Response:
    page = client.get("/login")
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_of(page.text)},
    )


def test_the_right_password_is_refused_after_five_failures_for_the_account(
    client: TestClient, people: dict[str, User], counting: CountingHasher
) -> None:
    assert [attempt(client, "rep", WRONG).status_code for _ in range(5)] == [401] * 5
    locked = attempt(client, "rep", PASSWORD)
    assert locked.status_code == 429
    assert "too many failed logins for this account: try again in 15 minutes" in locked.text
    assert locked.headers["Retry-After"] == "900"
    assert counting.verified == 5  # the refused attempt ran no password check
    assert client.get("/queue").status_code == 303
    # Another account from the same address is not locked.
    assert attempt(client, "manager", PASSWORD).status_code == 303


def test_the_lock_out_ends_after_fifteen_minutes(
    client: TestClient, people: dict[str, User], monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(5):
        attempt(client, "rep", WRONG)
    later = utcnow() + timedelta(minutes=14)
    monkeypatch.setattr(login, "utcnow", lambda: later)
    still = attempt(client, "rep", PASSWORD)
    assert still.status_code == 429
    assert "try again in 1 minute" in still.text
    later = later + timedelta(minutes=1, seconds=1)
    assert attempt(client, "rep", PASSWORD).status_code == 303


def test_a_successful_login_clears_the_accounts_count(
    client: TestClient, people: dict[str, User]
) -> None:
    for _ in range(4):
        assert attempt(client, "rep", WRONG).status_code == 401
    assert attempt(client, "rep", PASSWORD).status_code == 303
    assert [attempt(client, "rep", WRONG).status_code for _ in range(4)] == [401] * 4
    assert attempt(client, "rep", PASSWORD).status_code == 303


def test_an_unknown_username_is_locked_out_like_a_known_one(
    client: TestClient, people: dict[str, User], counting: CountingHasher, db: Session
) -> None:
    known = [attempt(client, "rep", WRONG) for _ in range(6)]
    unknown = [attempt(client, "nobody", WRONG) for _ in range(6)]
    assert [a.status_code for a in known] == [401] * 5 + [429]
    assert [a.status_code for a in unknown] == [401] * 5 + [429]
    # The same answers, word for word: nothing tells a real account from a made-up one.
    assert "wrong username or password" in known[0].text
    assert known[0].text == unknown[0].text
    assert known[5].text == unknown[5].text
    assert counting.verified == 10  # five argon2 checks each, no more
    # Neither the typed name nor the address is stored, only digests of them.
    keys = db.scalars(select(LoginThrottle.key)).all()
    assert sorted(k.split(":")[0] for k in keys) == ["account", "account", "address"]
    assert all(len(k.split(":")[1]) == 64 for k in keys)
    # A real user's lock-out is in the audit log; the unknown name is not.
    rows = db.scalars(select(AuditEntry).where(AuditEntry.action == "login.locked")).all()
    assert {(r.entity, r.entity_id) for r in rows} == {("user", str(people["rep"].id))}


def test_an_address_is_locked_after_twenty_failures_across_accounts(
    client: TestClient, people: dict[str, User]
) -> None:
    answers = [attempt(client, f"guess{i % 5}", WRONG).status_code for i in range(20)]
    assert answers == [401] * 20
    locked = attempt(client, "rep", PASSWORD)
    assert locked.status_code == 429
    assert "too many failed logins for your address: try again in 15 minutes" in locked.text


def _parallel_logins(base: str, logins: list[tuple[str, str]]) -> list[httpx.Response]:
    """Each (username, password) from its own browser session, posted all at once."""
    start = threading.Barrier(len(logins))

    def one(username: str, password: str) -> httpx.Response:
        with httpx.Client(base_url=base, timeout=60) as browser:
            page = browser.get("/login")
            data = {"username": username, "password": password, "csrf_token": csrf_of(page.text)}
            start.wait(timeout=60)
            return browser.post("/login", data=data)

    with ThreadPoolExecutor(len(logins)) as pool:
        return list(pool.map(lambda pair: one(*pair), logins))


def test_thirty_parallel_wrong_passwords_get_five_checks_then_429(
    app: FastAPI,
    people: dict[str, User],
    counting: CountingHasher,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The default cap (a few checks at once) and line: the thirty wait their turn.
    with serve(app) as base:
        answers = _parallel_logins(base, [("rep", WRONG)] * 30)
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [401] * 5 + [429] * 25
        assert counting.verified == 5
        right = _parallel_logins(base, [("rep", PASSWORD)])[0]
        assert right.status_code == 429


def test_forty_parallel_guesses_from_one_address_get_twenty_checks(
    app: FastAPI,
    people: dict[str, User],
    counting: CountingHasher,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with serve(app) as base:
        # Ten names, four guesses each: no account reaches its limit, the address does.
        answers = _parallel_logins(base, [(f"guess{i % 10}", WRONG) for i in range(40)])
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [401] * 20 + [429] * 20
        assert counting.verified == 20
        assert all("your address" in a.text for a in answers if a.status_code == 429)


def _held_checks(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch, checks: login.PasswordChecks
) -> tuple[CountingHasher, threading.Event]:
    """The app with ``checks``, and a hasher whose checks wait until the gate opens."""
    gate = threading.Event()
    held = CountingHasher(users.hasher, gate)
    monkeypatch.setattr(users, "hasher", held)
    app.state.password_checks = checks
    return held, gate


def _until(condition: Any, what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, f"waited 30 s for {what}"
        time.sleep(0.02)


def _hold_two(pool: ThreadPoolExecutor, base: str, held: CountingHasher) -> list[Any]:
    """Two logins whose checks start and wait at the gate, holding both places."""
    first = [pool.submit(_parallel_logins, base, [(f"user{i}", WRONG)]) for i in range(2)]
    _until(lambda: held.running == 2, "two checks to start")
    return first


def test_logins_beyond_the_cap_wait_their_turn_and_are_all_checked(
    app: FastAPI, people: dict[str, User], monkeypatch: pytest.MonkeyPatch
) -> None:
    checks = login.PasswordChecks(2, queue=6, wait=60)
    held, gate = _held_checks(app, monkeypatch, checks)
    with serve(app) as base, ThreadPoolExecutor(3) as pool:
        first = _hold_two(pool, base, held)
        later = pool.submit(_parallel_logins, base, [(f"other{i}", WRONG) for i in range(6)])
        _until(lambda: checks.waiting == 6, "six logins in line")
        assert held.verified == 2  # the six wait in line without a check
        gate.set()
        answers = [f.result()[0] for f in first] + later.result()
    assert [a.status_code for a in answers] == [401] * 8
    assert held.verified == 8
    assert held.most_at_once == 2  # the cap held while the line moved
    assert (checks.running, checks.waiting) == (0, 0)


def test_logins_beyond_the_line_are_refused_at_once_with_503(
    app: FastAPI, people: dict[str, User], monkeypatch: pytest.MonkeyPatch
) -> None:
    checks = login.PasswordChecks(2, queue=2, wait=60)
    held, gate = _held_checks(app, monkeypatch, checks)
    with serve(app) as base, ThreadPoolExecutor(3) as pool:
        first = _hold_two(pool, base, held)
        waiting = pool.submit(_parallel_logins, base, [("wait0", WRONG), ("wait1", WRONG)])
        _until(lambda: checks.waiting == 2, "two logins in line")
        began = time.monotonic()
        refused = _parallel_logins(base, [(f"other{i}", WRONG) for i in range(6)])
        took = time.monotonic() - began
        gate.set()
        assert [f.result()[0].status_code for f in first] == [401, 401]
        assert [a.status_code for a in waiting.result()] == [401, 401]
    assert [a.status_code for a in refused] == [503] * 6
    assert all(a.headers["Retry-After"] == "1" for a in refused)
    assert "busy checking other logins; try again in a second" in refused[0].text
    assert took < 10  # answered at once, not queued behind the held checks
    assert held.verified == 4
    assert held.most_at_once == 2


def test_a_login_that_waits_past_its_bound_is_refused_with_503_and_gives_its_place_back(
    app: FastAPI, people: dict[str, User], monkeypatch: pytest.MonkeyPatch
) -> None:
    checks = login.PasswordChecks(2, queue=10, wait=0.5)
    held, gate = _held_checks(app, monkeypatch, checks)
    with serve(app) as base, ThreadPoolExecutor(2) as pool:
        first = _hold_two(pool, base, held)
        began = time.monotonic()
        refused = _parallel_logins(base, [(f"other{i}", WRONG) for i in range(3)])
        took = time.monotonic() - began
        assert checks.waiting == 0  # they left the line
        gate.set()
        assert [f.result()[0].status_code for f in first] == [401, 401]
        # Nothing was lost: both places are free again, and a login gets one at once.
        assert (checks.running, checks.waiting) == (0, 0)
        assert _parallel_logins(base, [("rep", PASSWORD)])[0].status_code == 303
    assert [a.status_code for a in refused] == [503] * 3
    assert took >= 0.5
    assert held.verified == 3
