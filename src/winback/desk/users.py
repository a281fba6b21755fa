"""Users, passwords (argon2) and API tokens (random, stored as SHA-256)."""

from __future__ import annotations

import hashlib
import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from winback.desk import audit
from winback.desk.models import ROLES, STARTING_LIMITS, ApiToken, User, utcnow
from winback.desk.passwords import check_password
from winback.desk.permissions import Action, require
from winback.errors import Conflict, InvalidInput, NotAuthenticated, NotFound

TOKEN_PREFIX = "wb_"
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,79}$")
# Replaced by cheaper settings in the tests; argon2-cffi's defaults otherwise.
hasher = PasswordHasher()
_dummy_hash: str | None = None


def _dummy() -> str:
    """A hash to verify against when the user is unknown, so both cases take as long."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = hasher.hash("not a password anyone has")
    return _dummy_hash


def public(user: User) -> dict[str, object]:
    return {
        "id": user.id,
        "username": user.username,
        "name": user.name,
        "role": user.role,
        "staff_id": user.staff_id,
        "active": user.active,
    }


def create_user(
    db: Session,
    actor: User | None,
    *,
    username: str,
    name: str,
    role: str,
    password: str,
    staff_id: str | None = None,
) -> User:
    """Add a user. ``actor`` None means the command line (``winback user add``)."""
    if actor is not None:
        require(actor, Action.MANAGE_USERS)
    username = username.strip().lower()
    if not _USERNAME.match(username):
        raise InvalidInput(
            f"username {username!r}: use 2-80 lower-case letters, digits, '.', '_' or '-'"
        )
    if role not in ROLES:
        raise InvalidInput(f"role {role!r}: use one of {', '.join(ROLES)}")
    check_password(password, username=username, name=name)
    if db.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"the username {username!r} is taken")
    if staff_id and db.scalar(select(User.id).where(User.staff_id == staff_id)) is not None:
        raise Conflict(f"staff id {staff_id!r} belongs to another user")
    pct, credit, items = STARTING_LIMITS[role]
    user = User(
        username=username,
        name=name.strip() or username,
        role=role,
        staff_id=staff_id or None,
        password_hash=hasher.hash(password),
        active=True,
        session_epoch=0,
        limit_discount_pct=pct,
        limit_credit=credit,
        limit_free_items=items,
    )
    db.add(user)
    db.flush()
    audit.record(db, actor, "user.create", "user", user.id, None, public(user))
    db.commit()
    return user


def set_active(db: Session, actor: User, user_id: int, active: bool) -> User:
    """Deactivate (or reactivate) a user. Either way their sessions end; deactivation
    revokes their API tokens for good, so a reactivated user makes new ones."""
    require(actor, Action.MANAGE_USERS)
    user = get_user(db, user_id)
    if user.id == actor.id and not active:
        raise Conflict("you cannot deactivate yourself")
    before = public(user)
    user.active = active
    user.session_epoch += 1
    was, now = audit.changes(before, public(user))
    if not active:
        now["tokens_revoked"] = _revoke_all_tokens(db, user)
    audit.record(db, actor, "user.update", "user", user.id, was, now)
    db.commit()
    return user


def _revoke_all_tokens(db: Session, user: User) -> int:
    """Revoke every live API token of ``user``; how many there were."""
    live = db.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    ).all()
    for token in live:
        token.revoked_at = utcnow()
    return len(live)


def set_password(db: Session, actor: User | None, user_id: int, password: str) -> None:
    """Change a password: your own, or anyone's as an admin (or from the command line)."""
    user = get_user(db, user_id)
    if actor is not None and actor.id != user.id:
        require(actor, Action.MANAGE_USERS)
    check_password(password, username=user.username, name=user.name)
    user.password_hash = hasher.hash(password)
    user.session_epoch += 1
    audit.record(db, actor, "user.password", "user", user.id, None, {"password": "changed"})
    db.commit()


def get_user(db: Session, user_id: int) -> User:
    user = db.get(User, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}")
    return user


def list_users(db: Session, actor: User) -> list[User]:
    require(actor, Action.LIST_USERS)
    return list(db.scalars(select(User).order_by(User.username)))


def authenticate(db: Session, username: str, password: str) -> User:
    """The active user with this username and password, else NotAuthenticated."""
    user = db.scalar(select(User).where(User.username == username.strip().lower()))
    try:
        hasher.verify(user.password_hash if user else _dummy(), password)
    except (VerificationError, InvalidHashError):
        raise NotAuthenticated("wrong username or password") from None
    if user is None or not user.active:
        raise NotAuthenticated("wrong username or password")
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
        db.commit()
    return user


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_token(db: Session, actor: User, name: str) -> tuple[ApiToken, str]:
    """A new token for ``actor``; the plain token is returned here once and never stored."""
    require(actor, Action.OWN_API_TOKENS)
    name = name.strip()
    if not name:
        raise InvalidInput("give the token a name (what it is for)")
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=actor.id, name=name[:100], prefix=plain[:10], token_hash=_digest(plain)
    )
    db.add(token)
    db.flush()
    audit.record(
        db,
        actor,
        "token.create",
        "token",
        token.id,
        None,
        {"name": token.name, "prefix": token.prefix},
    )
    db.commit()
    return token, plain


def list_api_tokens(db: Session, actor: User) -> list[ApiToken]:
    require(actor, Action.OWN_API_TOKENS)
    query = select(ApiToken).where(ApiToken.user_id == actor.id, ApiToken.revoked_at.is_(None))
    return list(db.scalars(query.order_by(ApiToken.id)))


def revoke_api_token(db: Session, actor: User, token_id: int) -> None:
    require(actor, Action.OWN_API_TOKENS)
    token = db.get(ApiToken, token_id)
    if token is None or token.user_id != actor.id or token.revoked_at is not None:
        raise NotFound(f"you have no token {token_id}")
    token.revoked_at = utcnow()
    audit.record(
        db, actor, "token.revoke", "token", token.id, {"revoked": False}, {"revoked": True}
    )
    db.commit()


def user_for_token(db: Session, plain: str) -> User:
    """The active user owning this API token, else NotAuthenticated. One indexed query."""
    token = db.scalar(
        select(ApiToken).where(ApiToken.token_hash == _digest(plain), ApiToken.revoked_at.is_(None))
    )
    user = db.get(User, token.user_id) if token else None
    if token is None or user is None or not user.active:
        raise NotAuthenticated("unknown or revoked API token")
    return user


def count_users(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(User)) or 0


def log_out(db: Session, user: User) -> None:
    """End every session of ``user`` (the signed cookies carry the old epoch)."""
    user.session_epoch += 1
    audit.record(db, user, "user.logout", "user", user.id, None, None)
    db.commit()
