"""User administration on the desk: roles, password resets, your own password, and
deactivation that ends a session and an API token at once (SQLite and PostgreSQL)."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from tests.desk.conftest import PASSWORD
from tests.desk.race import in_parallel
from tests.web.conftest import log_in
from winback.desk import users
from winback.desk.models import AuditEntry, User
from winback.errors import Conflict, InvalidInput

NEW = "violet kettle drums at noon"


def _actions(db: Session, user: User) -> list[str]:
    db.expire_all()
    query = select(AuditEntry.action).where(
        AuditEntry.entity == "user", AuditEntry.entity_id == str(user.id)
    )
    return list(db.scalars(query.order_by(AuditEntry.id)))


def test_an_admin_changes_a_role_and_the_limits_follow(
    client: TestClient, db: Session, people: dict[str, User]
) -> None:
    csrf = log_in(client, "admin")
    rep = people["rep"]
    done = client.post(f"/users/{rep.id}/role", data={"csrf_token": csrf, "role": "manager"})
    assert done.status_code == 303
    db.expire_all()
    assert (rep.role, rep.limit_credit) == ("manager", 500.0)
    assert "user.role" in _actions(db, rep)
    bad = client.post(f"/users/{rep.id}/role", data={"csrf_token": csrf, "role": "boss"})
    assert bad.status_code == 422
    assert "role &#39;boss&#39;: use one of" in bad.text
    mine = client.post(
        f"/users/{people['admin'].id}/role", data={"csrf_token": csrf, "role": "rep"}
    )
    assert mine.status_code == 409
    # A manager may not change roles at all.
    other = TestClient(client.app, follow_redirects=False)
    manager_csrf = log_in(other, "manager")
    refused = other.post(
        f"/users/{people['rep2'].id}/role", data={"csrf_token": manager_csrf, "role": "admin"}
    )
    assert refused.status_code == 403
    db.expire_all()
    assert people["rep2"].role == "rep"


def test_the_last_admin_keeps_the_role_even_when_two_demote_each_other(
    desk_engine: Engine, db: Session, people: dict[str, User]
) -> None:
    with pytest.raises(Conflict, match="the only active admin"):
        users.set_role(db, None, people["admin"].id, "rep")
    db.rollback()
    second = users.create_user(
        db, None, username="admin2", name="Admin Two", role="admin", password=PASSWORD
    )
    ids = [people["admin"].id, second.id]
    results = in_parallel(
        desk_engine,
        ids,
        lambda s, u, i: users.set_role(s, u, ids[(i + 1) % 2], "rep").role,
        threads=2,
    )
    assert sorted(str(r) if isinstance(r, Conflict) else r for r in results)[-1] == "rep"
    db.expire_all()
    admins = db.scalars(select(User).where(User.role == "admin", User.active.is_(True))).all()
    assert len(admins) == 1


def test_a_reset_shows_a_one_time_password_once_and_ends_their_sessions(
    app: FastAPI, client: TestClient, db: Session, people: dict[str, User]
) -> None:
    rep_client = TestClient(app, follow_redirects=False)
    log_in(rep_client, "rep")
    assert rep_client.get("/queue").status_code == 200
    csrf = log_in(client, "admin")
    reset = client.post(f"/users/{people['rep'].id}/password", data={"csrf_token": csrf})
    assert reset.status_code == 200
    assert reset.headers["cache-control"] == "no-store"
    found = re.search(r'<code id="one-time-password">([^<]+)</code>', reset.text)
    assert found
    one_time = found.group(1)
    assert one_time not in client.get("/users").text  # shown once
    assert rep_client.get("/queue").status_code == 303  # their session ended
    log_in(TestClient(app, follow_redirects=False), "rep", one_time)
    assert _actions(db, people["rep"]).count("user.password") == 1
    # An admin may set one instead; a weak one is refused beside the field.
    weak = client.post(
        f"/users/{people['rep'].id}/password", data={"csrf_token": csrf, "password": "password"}
    )
    assert weak.status_code == 422
    assert "the password is too short" in weak.text


def test_you_change_your_own_password_with_the_current_one(
    app: FastAPI, client: TestClient, db: Session, people: dict[str, User]
) -> None:
    elsewhere = TestClient(app, follow_redirects=False)
    log_in(elsewhere, "rep")
    csrf = log_in(client, "rep")
    wrong = client.post(
        "/account/password",
        data={"csrf_token": csrf, "current_password": "guess guess", "new_password": NEW},
    )
    assert wrong.status_code == 422
    assert "current_password: that is not your current password" in wrong.text
    assert 'aria-invalid="true"' in wrong.text
    before = dict(client.cookies)
    done = client.post(
        "/account/password",
        data={"csrf_token": csrf, "current_password": PASSWORD, "new_password": NEW},
    )
    assert done.status_code == 200, done.text
    assert "Your password is changed" in done.text
    # A double click: the second request, sent with the session as it was, changes nothing
    # (that session has ended; it is sent to log in with the new password).
    stale = TestClient(app, follow_redirects=False, cookies=before)
    again = stale.post(
        "/account/password",
        data={"csrf_token": csrf, "current_password": PASSWORD, "new_password": NEW},
    )
    assert again.status_code == 303
    assert _actions(db, people["rep"]).count("user.password") == 1
    # Through the API (a retried request), the same change again is taken as done.
    users.change_own_password(db, db.get(User, people["rep"].id), PASSWORD, NEW)  # type: ignore[arg-type]
    assert _actions(db, people["rep"]).count("user.password") == 1
    assert client.get("/queue").status_code == 200  # this session carries on
    assert elsewhere.get("/queue").status_code == 303  # the other one ended
    log_in(TestClient(app, follow_redirects=False), "rep", NEW)
    with pytest.raises(InvalidInput, match="new_password"):
        users.change_own_password(db, people["rep2"], PASSWORD, PASSWORD)


def test_deactivation_ends_a_session_and_a_token_at_once(
    app: FastAPI, client: TestClient, db: Session, people: dict[str, User]
) -> None:
    rep_client = TestClient(app, follow_redirects=False)
    log_in(rep_client, "rep")
    _, token = users.create_api_token(db, people["rep"], "laptop")
    bearer = {"Authorization": f"Bearer {token}"}
    assert rep_client.get("/queue").status_code == 200
    assert rep_client.get("/api/queue", headers=bearer).status_code == 200
    csrf = log_in(client, "admin")
    off = client.post(
        f"/users/{people['rep'].id}/active", data={"csrf_token": csrf, "active": "false"}
    )
    assert off.status_code == 303
    page = rep_client.get("/queue")
    assert page.status_code == 303
    assert page.headers["location"].startswith("/login")
    assert rep_client.get("/api/queue", headers=bearer).status_code == 401
    assert "user.update" in _actions(db, people["rep"])


def test_the_api_changes_roles_and_passwords(
    client: TestClient, db: Session, people: dict[str, User], tokens: dict[str, str]
) -> None:
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    rep = {"Authorization": f"Bearer {tokens['rep']}"}
    rep_id = people["rep"].id
    promoted = client.patch(f"/api/users/{rep_id}", json={"role": "executive"}, headers=admin)
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["role"] == "executive"
    assert client.patch(f"/api/users/{rep_id}", json={}, headers=admin).status_code == 422
    reset = client.post(f"/api/users/{rep_id}/password", json={}, headers=admin)
    assert reset.status_code == 200
    generated = reset.json()["password"]
    db.expire_all()
    assert users.authenticate(db, "rep", generated).id == rep_id
    wrong = client.post(
        "/api/me/password", json={"current_password": "nope", "new_password": NEW}, headers=rep
    )
    assert wrong.status_code == 422
    assert "not your current password" in wrong.json()["error"]["message"]
    done = client.post(
        "/api/me/password",
        json={"current_password": generated, "new_password": NEW},
        headers=rep,
    )
    assert done.status_code == 204
    db.expire_all()
    assert users.authenticate(db, "rep", NEW).id == rep_id


def test_an_email_address_is_set_on_the_account_page_and_by_an_admin(
    app: FastAPI, client: TestClient, db: Session, people: dict[str, User]
) -> None:
    rep = people["rep"]
    csrf = log_in(client, "rep")
    bad = client.post("/account/email", data={"csrf_token": csrf, "email": "rep at work"})
    assert bad.status_code == 422
    assert "give one address such as name@example.com" in bad.text
    assert 'value="rep at work"' in bad.text  # what was typed stays in the field
    done = client.post("/account/email", data={"csrf_token": csrf, "email": "rep@staff.example"})
    assert done.status_code == 200, done.text
    assert "Your daily digest of unread notices goes to rep@staff.example" in done.text
    db.expire_all()
    assert db.get(User, rep.id).email == "rep@staff.example"  # type: ignore[union-attr]
    # A rep may not set someone else's; an admin may, and sees it on the users page.
    other = client.post(
        f"/users/{people['rep2'].id}/email", data={"csrf_token": csrf, "email": "x@staff.example"}
    )
    assert other.status_code == 403
    admin = TestClient(app, follow_redirects=False)
    admin_csrf = log_in(admin, "admin")
    set_by_admin = admin.post(
        f"/users/{people['rep2'].id}/email",
        data={"csrf_token": admin_csrf, "email": "rep2@staff.example"},
    )
    assert set_by_admin.status_code == 303
    page = admin.get("/users")
    assert 'value="rep2@staff.example"' in page.text
    assert 'value="rep@staff.example"' in page.text
    assert _actions(db, people["rep2"]).count("user.email") == 1


def test_the_api_sets_email_addresses(
    client: TestClient, db: Session, people: dict[str, User], tokens: dict[str, str]
) -> None:
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    rep = {"Authorization": f"Bearer {tokens['rep']}"}
    mine = client.put("/api/me/email", json={"email": "rep@staff.example"}, headers=rep)
    assert mine.status_code == 200, mine.text
    assert mine.json()["email"] == "rep@staff.example"
    bad = client.put("/api/me/email", json={"email": "nope"}, headers=rep)
    assert bad.status_code == 422
    rep2_id = people["rep2"].id
    refused = client.patch(f"/api/users/{rep2_id}", json={"email": "a@b.example"}, headers=rep)
    assert refused.status_code == 403
    done = client.patch(
        f"/api/users/{rep2_id}", json={"email": "rep2@staff.example"}, headers=admin
    )
    assert done.status_code == 200
    assert done.json()["email"] == "rep2@staff.example"
    cleared = client.patch(f"/api/users/{rep2_id}", json={"email": ""}, headers=admin)
    assert cleared.json()["email"] is None
