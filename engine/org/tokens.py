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
from sqlalchemy.orm import Session

from engine import clock
from engine.constants import MAX_EXPIRY_DAYS
from engine.errors import Conflict, DocrouteError, NotAllowed, NotFound
from engine.history import chain as history
from engine.models import ApiToken, User

if TYPE_CHECKING:  # identity imports this module
    from .identity import Actor

MAX_NAME = 128


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


def user_for(session: Session, token: str) -> User | None:
    """The active user a valid token belongs to, recording its use; None otherwise.

    One statement finds the token and records its use, so authenticating costs one round
    trip to the tokens table.
    """
    now = clock.now()
    user_id = session.execute(
        update(ApiToken)
        .where(ApiToken.token_hash == _hash(token), ApiToken.revoked_at.is_(None),
               or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now))
        .values(last_used_at=now)
        .returning(ApiToken.user_id)
        .execution_options(synchronize_session=False)
    ).scalar()
    if user_id is None:
        return None
    user = session.get(User, user_id)
    return user if user is not None and user.active else None


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
