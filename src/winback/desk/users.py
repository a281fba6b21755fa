"""Users, passwords (argon2) and API tokens (random, stored as SHA-256)."""

from __future__ import annotations

import hashlib
import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from winback.desk import audit
from winback.desk.db import write_lock
from winback.desk.models import ROLES, STARTING_LIMITS, ApiToken, User, utcnow
from winback.desk.passwords import check_password
from winback.desk.permissions import Action, require
from winback.errors import Conflict, InvalidInput, NotAuthenticated, NotFound

TOKEN_PREFIX = "wb_"
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,79}$")
# One address, no spaces or brackets: what the outbox accepts as a recipient.
_EMAIL = re.compile(r"^[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+\.[^@\s<>()\[\],;:\"]+$")
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
        "email": user.email,
        "active": user.active,
    }


def checked_email(email: str | None) -> str | None:
    """``email`` trimmed (None when blank), or InvalidInput naming the field."""
    email = (email or "").strip()
    if not email:
        return None
    if len(email) > 320 or not _EMAIL.match(email):
        raise InvalidInput(
            f"e-mail {email!r}: give one address such as name@example.com, or leave it blank",
            field="email",
        )
    return email


def set_email(db: Session, actor: User | None, user_id: int, email: str | None) -> User:
    """Set (or, blank, remove) where a user's daily digest of notices goes: their own by
    anyone, anyone's by an admin (or the command line when ``actor`` is None)."""
    if actor is not None:
        require(actor, Action.CHANGE_OWN_EMAIL if actor.id == user_id else Action.MANAGE_USERS)
    address = checked_email(email)
    user = db.get(User, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}")
    if user.email == address:
        return user
    before = public(user)
    user.email = address
    audit.record(db, actor, "user.email", "user", user.id, *audit.changes(before, public(user)))
    db.commit()
    return user


def create_user(
    db: Session,
    actor: User | None,
    *,
    username: str,
    name: str,
    role: str,
    password: str,
    staff_id: str | None = None,
    email: str | None = None,
) -> User:
    """Add a user. ``actor`` None means the command line (``winback user add``)."""
    if actor is not None:
        require(actor, Action.MANAGE_USERS)
    username = username.strip().lower()
    if not _USERNAME.match(username):
        raise InvalidInput(
            f"username {username!r}: use 2-80 lower-case letters, digits, '.', '_' or '-'"
        )
    _check_role(role)
    address = checked_email(email)
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
        email=address,
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


def _check_role(role: str) -> None:
    if not role:
        raise InvalidInput(f"role: choose one of {', '.join(ROLES)}", field="role")
    if role not in ROLES:
        raise InvalidInput(f"role {role!r}: use one of {', '.join(ROLES)}", field="role")


def set_role(db: Session, actor: User | None, user_id: int, role: str) -> User:
    """Change a user's role (an admin, or the command line when ``actor`` is None). The
    user's concession limits become the new role's starting ones, so a rep made manager
    gets a manager's and a manager made rep loses them; managers adjust them after."""
    if actor is not None:
        require(actor, Action.MANAGE_USERS)
    _check_role(role)
    # The user's row and every admin's, locked in id order: two admins demoting each
    # other at once cannot leave the desk without one.
    write_lock(db)
    locked = db.scalars(
        select(User)
        .where(or_(User.id == user_id, User.role == "admin"))
        .order_by(User.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    user = next((u for u in locked if u.id == user_id), None)
    if user is None:
        raise NotFound(f"no user {user_id}")
    if actor is not None and user.id == actor.id:
        raise Conflict("you cannot change your own role; another admin can")
    if user.role == role:
        return user
    if user.role == "admin" and _other_admins(db, user.id) == 0:
        raise Conflict(f"{user.username} is the only active admin; make another admin first")
    before = public(user) | _limits(user)
    user.role = role
    user.limit_discount_pct, user.limit_credit, user.limit_free_items = STARTING_LIMITS[role]
    audit.record(
        db,
        actor,
        "user.role",
        "user",
        user.id,
        *audit.changes(before, public(user) | _limits(user)),
    )
    db.commit()
    return user


def _limits(user: User) -> dict[str, object]:
    return {
        "limit_discount_pct": user.limit_discount_pct,
        "limit_credit": user.limit_credit,
        "limit_free_items": user.limit_free_items,
    }


def _other_admins(db: Session, user_id: int) -> int:
    query = select(func.count()).where(
        User.role == "admin", User.active.is_(True), User.id != user_id
    )
    return db.scalar(query.select_from(User)) or 0


def new_password() -> str:
    """A random password the policy accepts, for a new user or a reset."""
    while True:
        password = secrets.token_urlsafe(12)
        try:
            check_password(password)
        except InvalidInput:  # a random one almost never fails; draw again if it does
            continue
        return password


def reset_password(db: Session, actor: User | None, user_id: int, password: str = "") -> str:
    """Reset another user's password (an admin, or the command line): to ``password``
    when given, else to a new random one, returned here to be shown once. Every session
    of the user ends; their API tokens stay (they are not the password)."""
    if actor is not None:
        require(actor, Action.MANAGE_USERS)
        if actor.id == user_id:
            raise Conflict(
                "change your own password on your account page (it asks for the current one)"
            )
    chosen = password or new_password()
    set_password(db, actor, user_id, chosen, how="reset")
    return chosen


def change_own_password(db: Session, user: User, current: str, new: str) -> None:
    """``user`` changes their own password, giving the current one. Their other sessions
    end (the caller gives this one a fresh cookie)."""
    require(user, Action.CHANGE_OWN_PASSWORD)
    try:
        hasher.verify(user.password_hash, current)
    except (VerificationError, InvalidHashError):
        if new and _is_password(user, new):
            return  # a double click: the first request changed it already
        raise InvalidInput(
            "current_password: that is not your current password", field="current_password"
        ) from None
    if new == current:
        raise InvalidInput(
            "new_password: choose a password other than the current one", field="new_password"
        )
    try:
        check_password(new, username=user.username, name=user.name)
    except InvalidInput as exc:
        raise InvalidInput(f"new password: {exc}", field="new_password") from None
    set_password(db, user, user.id, new, how="changed")


def _is_password(user: User, password: str) -> bool:
    try:
        return bool(hasher.verify(user.password_hash, password))
    except (VerificationError, InvalidHashError):
        return False


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


def set_password(
    db: Session, actor: User | None, user_id: int, password: str, *, how: str = "changed"
) -> None:
    """Change a password: your own, or anyone's as an admin (or from the command line).
    Every session of the user ends at once."""
    user = get_user(db, user_id)
    if actor is not None and actor.id != user.id:
        require(actor, Action.MANAGE_USERS)
    check_password(password, username=user.username, name=user.name)
    user.password_hash = hasher.hash(password)
    user.session_epoch += 1
    audit.record(db, actor, "user.password", "user", user.id, None, {"password": how})
    db.commit()


def get_user(db: Session, user_id: int) -> User:
    user = db.get(User, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}")
    return user


def by_username(db: Session, username: str) -> User:
    """The user with this login name, else NotFound (the command line names users so)."""
    user = db.scalar(select(User).where(User.username == username.strip().lower()))
    if user is None:
        raise NotFound(f"no user {username!r}")
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
