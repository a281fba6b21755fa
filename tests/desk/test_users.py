"""Users, passwords and API tokens."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.desk.conftest import PASSWORD
from winback.desk import users
from winback.desk.models import ApiToken, AuditEntry, User
from winback.errors import Conflict, InvalidInput, NotAuthenticated


def test_password_is_stored_as_an_argon2_hash_and_checked(
    db: Session, people: dict[str, User]
) -> None:
    rep = people["rep"]
    assert rep.password_hash.startswith("$argon2id$")
    assert PASSWORD not in rep.password_hash
    assert users.authenticate(db, "REP ", PASSWORD).id == rep.id
    with pytest.raises(NotAuthenticated):
        users.authenticate(db, "rep", "wrong password!")
    with pytest.raises(NotAuthenticated):
        users.authenticate(db, "nobody", PASSWORD)


def test_deactivated_user_cannot_log_in_and_loses_sessions(
    db: Session, people: dict[str, User]
) -> None:
    epoch = people["rep"].session_epoch
    users.set_active(db, people["admin"], people["rep"].id, False)
    assert people["rep"].session_epoch == epoch + 1
    with pytest.raises(NotAuthenticated):
        users.authenticate(db, "rep", PASSWORD)


def test_usernames_are_unique_and_checked(db: Session, people: dict[str, User]) -> None:
    with pytest.raises(Conflict, match="taken"):
        users.create_user(db, None, username="rep", name="x", role="rep", password=PASSWORD)
    with pytest.raises(InvalidInput, match="role"):
        users.create_user(db, None, username="zed", name="x", role="boss", password=PASSWORD)
    with pytest.raises(InvalidInput, match="too short: 5 characters; use at least 12"):
        users.create_user(db, None, username="zed", name="x", role="rep", password="short")


def test_api_token_is_shown_once_stored_hashed_and_revocable(
    db: Session, people: dict[str, User]
) -> None:
    token, plain = users.create_api_token(db, people["rep"], "laptop")
    stored = db.scalars(select(ApiToken)).one()
    assert plain.startswith("wb_")
    assert plain not in stored.token_hash
    assert users.user_for_token(db, plain).id == people["rep"].id
    users.revoke_api_token(db, people["rep"], token.id)
    with pytest.raises(NotAuthenticated):
        users.user_for_token(db, plain)


def test_token_of_a_deactivated_user_stops_working(db: Session, people: dict[str, User]) -> None:
    _, plain = users.create_api_token(db, people["manager"], "script")
    users.set_active(db, people["admin"], people["manager"].id, False)
    with pytest.raises(NotAuthenticated):
        users.user_for_token(db, plain)


def test_reactivating_a_user_does_not_bring_back_their_tokens_or_sessions(
    db: Session, people: dict[str, User]
) -> None:
    manager, admin = people["manager"], people["admin"]
    _, first = users.create_api_token(db, manager, "script")
    _, second = users.create_api_token(db, manager, "laptop")
    epoch = manager.session_epoch
    users.set_active(db, admin, manager.id, False)
    users.set_active(db, admin, manager.id, True)
    for plain in (first, second):
        with pytest.raises(NotAuthenticated):
            users.user_for_token(db, plain)
    assert users.list_api_tokens(db, manager) == []
    assert manager.session_epoch == epoch + 2  # cookies carrying the old epoch stay dead
    update = db.scalars(
        select(AuditEntry).where(AuditEntry.action == "user.update").order_by(AuditEntry.id)
    ).first()
    assert update is not None
    assert update.after == {"active": False, "tokens_revoked": 2}
    _, fresh = users.create_api_token(db, manager, "new laptop")
    assert users.user_for_token(db, fresh).id == manager.id
