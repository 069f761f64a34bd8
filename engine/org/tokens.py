"""API tokens: named, expiring, listed with their last use, revocable.

Only a token's SHA-256 is stored. Password resets and deactivations revoke every token of
the user (``identity.end_access``), so a leaked token does not outlive either.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, joinedload

from engine import clock
from engine.constants import MAX_EXPIRY_DAYS
from engine.errors import Conflict, DocrouteError, NotAllowed, NotFound
from engine.history import chain as history
from engine.models import ApiToken, User

if TYPE_CHECKING:  # identity imports this module
    from .identity import Actor

MAX_NAME = 128
# A token's last use is kept to the minute: recording every request would turn every API
# read into a write (on SQLite, a wait for the database's single write lock).
USE_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class TokenInfo:
    """What a token's owner and administrators see; never the token itself."""

    id: int
    username: str
    name: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def status(self) -> str:
        """``active``, ``expired`` or ``revoked``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= clock.now():
            return "expired"
        return "active"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"no user named {username!r}")
    return user


def create(session: Session, username: str, *, name: str = "",
           expires_days: int | None = None, actor: str | None = None) -> str:
    """A new random token for the user, returned once; only its hash is stored."""
    user = _user(session, username)
    if not user.active:
        raise Conflict(f"{user.name} is deactivated")
    name = name.strip()
    if len(name) > MAX_NAME:
        raise DocrouteError(f"a token's name has at most {MAX_NAME} characters")
    if expires_days is not None and not 1 <= expires_days <= MAX_EXPIRY_DAYS:
        raise DocrouteError(f"a token expires after 1 to {MAX_EXPIRY_DAYS} days")
    now = clock.now()
    token = "drt_" + secrets.token_urlsafe(32)
    expires = now + timedelta(days=expires_days) if expires_days else None
    session.add(ApiToken(user_id=user.id, token_hash=_hash(token), created_at=now, name=name,
                         expires_at=expires))
    session.flush()
    history.append_system(session, "token_created", actor or username, {
        "username": username, "name": name,
        "expires_at": expires.isoformat() if expires else None})
    return token


@dataclass(frozen=True)
class TokenUse:
    """A valid token's active user, and whether this use must be recorded."""

    token_id: int
    user: User
    record: bool


def find(session: Session, token: str) -> TokenUse | None:
    """The active user of a valid (unrevoked, unexpired) token, or None; it writes nothing.

    One statement reads the token, its user and the user's groups.
    """
    now = clock.now()
    row = session.execute(
        select(ApiToken.id, ApiToken.last_used_at, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == _hash(token), ApiToken.revoked_at.is_(None),
               or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now),
               User.active.is_(True))
        .options(joinedload(User.groups))
    ).unique().first()
    if row is None:
        return None
    token_id, last_used, user = row
    return TokenUse(token_id, user, last_used is None or now - last_used >= USE_RESOLUTION)


def record_use(session: Session, token_id: int) -> None:
    """Record that the token was used now (``TokenUse.record`` says when it is due)."""
    session.execute(update(ApiToken).where(ApiToken.id == token_id)
                    .values(last_used_at=clock.now())
                    .execution_options(synchronize_session=False))


def user_for(session: Session, token: str) -> User | None:
    """The active user a valid token belongs to, recording its use when due; None otherwise."""
    use = find(session, token)
    if use is None:
        return None
    if use.record:
        record_use(session, use.token_id)
    return use.user


def _info(row: ApiToken, username: str) -> TokenInfo:
    return TokenInfo(row.id, username, row.name, row.created_at, row.expires_at,
                     row.last_used_at, row.revoked_at)


def list_for(session: Session, username: str) -> list[TokenInfo]:
    """The user's tokens, newest first, revoked and expired ones included."""
    user = _user(session, username)
    rows = session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)
                           .order_by(ApiToken.id.desc()))
    return [_info(row, username) for row in rows]


def revoke(session: Session, actor: Actor, token_id: int) -> TokenInfo:
    """Revoke one token: its owner or an administrator. Unknown or foreign ids: NotFound."""
    row = session.get(ApiToken, token_id)
    user = session.get(User, row.user_id) if row is not None else None
    if row is None or user is None or (user.id != actor.id and not actor.is_admin):
        raise NotFound(f"no token with id {token_id}")
    if actor.is_auditor and not actor.is_admin and user.id != actor.id:
        raise NotAllowed("auditors have read-only access")
    if row.revoked_at is not None:
        raise Conflict(f"the token {token_id} is already revoked")
    row.revoked_at = clock.now()
    history.append_system(session, "token_revoked", actor.username, {
        "username": user.username, "token": token_id, "name": row.name})
    return _info(row, user.username)


def revoke_all(session: Session, user: User) -> int:
    """Revoke every live token of ``user``; returns how many."""
    result = session.execute(
        update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=clock.now()).execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)
