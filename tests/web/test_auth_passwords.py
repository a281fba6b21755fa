"""The password policy, wherever a password is set: the desk, the API, the users page and
the command line; and the login form's cap on what it will check."""

from __future__ import annotations

import secrets

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.desk.conftest import PASSWORD
from tests.web.conftest import csrf_of, log_in
from tests.web.test_auth_throttle import CountingHasher
from winback.cli import app as cli_app
from winback.desk import users
from winback.desk.models import User
from winback.errors import InvalidInput

# Each weak password with the reason the refusal gives.
WEAK = [
    ("aaaaaaaaaa", "too short: 10 characters; use at least 12"),
    ("password12", "too short: 10 characters; use at least 12"),
    ("aaaaaaaaaaaa", "one character repeated"),
    (" " * 12, "only spaces"),
    ("\t \n" * 5, "only spaces"),
    ("jonathan.smith", "the user's username"),
    ("Jonathan  Smith", "the user's name"),
    ("qwerty123456", "common passwords seen in breaches"),
    ("Leavemealone", "common passwords seen in breaches"),
    ("jonathansmith1", "too easy to guess"),
    ("abcdefghijklmnop", "too easy to guess"),
    ("x7Q" * 67, "too long: 201 characters; use at most 200"),
]


@pytest.mark.parametrize(("password", "reason"), WEAK)
def test_a_weak_password_is_refused_with_its_reason(
    db: Session, password: str, reason: str
) -> None:
    with pytest.raises(InvalidInput, match=reason):
        users.create_user(
            db,
            None,
            username="jonathan.smith",
            name="Jonathan Smith",
            role="rep",
            password=password,
        )
    assert db.scalar(select(func.count()).select_from(User)) == 0


@pytest.mark.parametrize("password", [PASSWORD, secrets.token_urlsafe(9), "ž" * 3 + "é9Qz!x" * 2])
def test_a_strong_password_is_accepted(db: Session, password: str) -> None:
    user = users.create_user(db, None, username="jo", name="Jo", role="rep", password=password)
    assert users.authenticate(db, "jo", password).id == user.id


def test_a_password_change_follows_the_same_rules(db: Session, people: dict[str, User]) -> None:
    rep = people["rep"]
    with pytest.raises(InvalidInput, match="common passwords seen in breaches"):
        users.set_password(db, rep, rep.id, "1qaz2wsx3edc")
    with pytest.raises(InvalidInput, match="one character repeated"):
        users.set_password(db, people["admin"], rep.id, "z" * 20)
    users.set_password(db, rep, rep.id, "plum orchard lantern")
    assert users.authenticate(db, "rep", "plum orchard lantern").id == rep.id


def test_the_api_refuses_a_weak_password_saying_why(
    client: TestClient, tokens: dict[str, str]
) -> None:
    auth = {"Authorization": f"Bearer {tokens['admin']}"}
    body = {"username": "newbie", "role": "rep", "password": "qwerty123456"}
    answer = client.post("/api/users", json=body, headers=auth)
    assert answer.status_code == 422
    assert "common passwords seen in breaches" in answer.json()["error"]["message"]
    short = client.post("/api/users", json={**body, "password": "password12"}, headers=auth)
    assert short.status_code == 422
    assert "at least 12 characters" in short.json()["error"]["message"]
    long = client.post("/api/users", json={**body, "password": "x7Q" * 67}, headers=auth)
    assert long.status_code == 422
    assert "at most 200 characters" in long.json()["error"]["message"]


def test_the_users_page_caps_a_password_where_the_api_does(
    client: TestClient, people: dict[str, User], db: Session
) -> None:
    csrf = log_in(client, "admin")
    form = {"username": "newbie", "role": "rep", "csrf_token": csrf}
    huge = client.post("/users", data={**form, "password": "ab1" * 166_667})
    assert huge.status_code == 422
    assert "too long: 500,001 characters; use at most 200" in huge.text
    weak = client.post("/users", data={**form, "password": " " * 10})
    assert weak.status_code == 422
    assert "too short: 10 characters" in weak.text
    assert db.scalar(select(User.id).where(User.username == "newbie")) is None
    ok = client.post("/users", data={**form, "password": "plum orchard lantern"})
    assert ok.status_code == 303


def test_the_login_form_does_not_check_a_password_longer_than_any_allowed(
    client: TestClient, people: dict[str, User], monkeypatch: pytest.MonkeyPatch
) -> None:
    counting = CountingHasher(users.hasher)
    monkeypatch.setattr(users, "hasher", counting)
    page = client.get("/login")
    answer = client.post(
        "/login",
        data={"username": "rep", "password": "a" * 500_000, "csrf_token": csrf_of(page.text)},
    )
    assert answer.status_code == 422
    assert counting.verified == 0


def test_the_command_line_refuses_a_weak_password(
    desk_engine: Engine, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("WINBACK_HOME", str(tmp_path / "ws"))
    monkeypatch.setenv("WINBACK_DESK_URL", desk_engine.url.render_as_string(hide_password=False))
    done = CliRunner().invoke(
        cli_app,
        ["user", "add", "bob", "--role", "rep", "--password-stdin"],
        input="password1234\n",
    )
    assert isinstance(done.exception, InvalidInput)
    assert "common passwords seen in breaches" in str(done.exception)
