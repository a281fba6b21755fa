"""Who is asking: logins, sessions, CSRF, API tokens."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from itsdangerous import URLSafeTimedSerializer

from tests.web.conftest import csrf_of, log_in
from winback.desk.models import User
from winback.web.sessions import COOKIE

PAGES = ["/", "/queue", "/cases", "/customers/c1", "/audit", "/users", "/account"]
API = ["/api/me", "/api/queue", "/api/cases", "/api/customers/c1", "/api/audit", "/api/users"]


@pytest.mark.parametrize("path", PAGES)
def test_pages_send_strangers_to_the_login_page(client: TestClient, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize("path", API)
def test_api_refuses_calls_without_a_token(client: TestClient, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "not_authenticated"
    bad = client.get(path, headers={"Authorization": "Bearer wb_not-a-token"})
    assert bad.status_code == 401


def test_login_sets_a_signed_httponly_lax_cookie(
    client: TestClient, people: dict[str, User]
) -> None:
    page = client.get("/login")
    answer = client.post(
        "/login",
        data={
            "username": "rep",
            "password": "correct horse battery",
            "csrf_token": csrf_of(page.text),
        },
    )
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "samesite=lax" in cookie.lower()
    assert "Max-Age=43200" in cookie
    assert client.get("/queue").status_code == 200


def test_wrong_password_is_refused(client: TestClient, people: dict[str, User]) -> None:
    page = client.get("/login")
    answer = client.post(
        "/login",
        data={"username": "rep", "password": "guess guess!", "csrf_token": csrf_of(page.text)},
    )
    assert answer.status_code == 401
    assert "wrong username or password" in answer.text
    assert client.get("/queue").status_code == 303


def test_login_without_the_csrf_token_is_refused(
    client: TestClient, people: dict[str, User]
) -> None:
    client.get("/login")
    answer = client.post("/login", data={"username": "rep", "password": "correct horse battery"})
    assert answer.status_code == 403


def test_login_never_redirects_to_another_host(client: TestClient, people: dict[str, User]) -> None:
    page = client.get("/login?next=//evil.example/x")
    answer = client.post(
        "/login",
        data={
            "username": "rep",
            "password": "correct horse battery",
            "csrf_token": csrf_of(page.text),
            "next": "//evil.example/x",
        },
    )
    assert answer.headers["location"] == "/"


def test_a_form_post_without_the_csrf_token_is_refused(
    client: TestClient, people: dict[str, User], scanned: None
) -> None:
    csrf = log_in(client, "manager")
    assert client.post("/cases/filters", data={"name": "x"}).status_code == 403
    assert (
        client.post("/cases/filters", data={"name": "x", "csrf_token": "forged"}).status_code == 403
    )
    ok = client.post("/cases/filters", data={"name": "x", "csrf_token": csrf})
    assert ok.status_code == 303
    htmx = client.post("/cases/filters", data={"name": "y"}, headers={"X-CSRF-Token": csrf})
    assert htmx.status_code == 303


def test_logout_ends_the_session_even_for_a_kept_cookie(
    client: TestClient, people: dict[str, User]
) -> None:
    csrf = log_in(client, "rep")
    kept = client.cookies.get(COOKIE)
    assert client.post("/logout", data={"csrf_token": csrf}).status_code == 303
    client.cookies.set(COOKIE, kept or "")
    assert client.get("/queue").status_code == 303


def test_an_expired_session_must_log_in_again(
    app: FastAPI, client: TestClient, people: dict[str, User], monkeypatch: pytest.MonkeyPatch
) -> None:
    log_in(client, "rep")
    assert client.get("/queue").status_code == 200
    monkeypatch.setattr(app.state.cookies, "max_age", -1)
    assert client.get("/queue").status_code == 303


def test_a_forged_cookie_is_ignored(
    app: FastAPI, client: TestClient, people: dict[str, User]
) -> None:
    forged = URLSafeTimedSerializer("not the key", salt="winback-session").dumps(
        {"u": people["admin"].id, "e": 0, "c": "x"}
    )
    client.cookies.set(COOKIE, forged)
    assert client.get("/users").status_code == 303


def test_a_deactivated_users_session_ends(client: TestClient, people: dict[str, User], db) -> None:  # type: ignore[no-untyped-def]
    from winback.desk import users

    log_in(client, "rep")
    users.set_active(db, people["admin"], people["rep"].id, False)
    assert client.get("/queue").status_code == 303


def test_pages_a_role_may_not_see_answer_403(client: TestClient, people: dict[str, User]) -> None:
    log_in(client, "rep")
    for path in ("/cases", "/audit", "/users"):
        assert client.get(path).status_code == 403, path


def test_the_generated_session_key_is_made_once_and_kept_private(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from winback.settings import load_settings

    first = load_settings(home=tmp_path / "ws").session_secret
    again = load_settings(home=tmp_path / "ws").session_secret
    assert first == again
    assert len(first) >= 32
    assert (tmp_path / "ws" / "secret_key").stat().st_mode & 0o077 == 0
    assert load_settings(home=tmp_path / "ws", secret_key="s" * 32).session_secret == "s" * 32
