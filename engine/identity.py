"""Users, groups, memberships, clearance, API tokens, and who may see what."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload
from werkzeug.security import check_password_hash, generate_password_hash

from . import clock, history
from .errors import Conflict, DocrouteError, NotFound
from .models import ApiToken, Group, Membership, User

CLEARANCES = ("none", "confidential", "secret", "top_secret")
CLEARANCE_ZH = {"none": "无", "confidential": "秘密", "secret": "机密", "top_secret": "绝密"}
SYSTEM_ACTOR = "system"


def clearance_level(name: str) -> int:
    """``'secret'`` -> 2; also accepts the Chinese names. Raises ValueError on anything else."""
    for level, (en, zh) in enumerate(zip(CLEARANCES, CLEARANCE_ZH.values(), strict=True)):
        if name in (en, zh):
            return level
    raise ValueError(f"unknown clearance {name!r}; use one of {', '.join(CLEARANCES)}")


def clearance_name(level: int) -> str:
    return CLEARANCES[max(0, min(level, len(CLEARANCES) - 1))]


@dataclass(frozen=True)
class Actor:
    """Who is acting, as the engine needs it: plain values, no ORM object."""

    id: int
    username: str
    name: str
    clearance: int
    groups: frozenset[str]
    is_admin: bool = False
    is_auditor: bool = False

    @classmethod
    def of(cls, user: User) -> Actor:
        return cls(user.id, user.username, user.name, user.clearance,
                   frozenset(g.key for g in user.groups if g.active), user.is_admin,
                   user.is_auditor)

    def may_see(self, classification: int) -> bool:
        return classification <= self.clearance


SYSTEM = Actor(0, SYSTEM_ACTOR, "docroute", len(CLEARANCES) - 1, frozenset(), is_admin=True)


# --- users -------------------------------------------------------------------------------


def hash_password(password: str) -> str:
    return generate_password_hash(password)


def add_user(session: Session, username: str, name: str, password: str, *,
             groups: Iterable[str] = (), clearance: str = "none", is_admin: bool = False,
             is_auditor: bool = False, title: str = "", actor: str = SYSTEM_ACTOR,
             password_hash: str | None = None) -> User:
    """Add a user; ``password_hash`` (already hashed) spares hashing ``password`` again."""
    username = username.strip()
    if not username or not username.replace("_", "").replace(".", "").isalnum():
        raise DocrouteError("a username is letters, digits, '.' and '_' only")
    if len(password) < 8:
        raise DocrouteError("a password needs at least 8 characters")
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise Conflict(f"the user {username!r} already exists")
    user = User(username=username, name=name or username,
                password_hash=password_hash or hash_password(password),
                clearance=clearance_level(clearance), is_admin=is_admin, is_auditor=is_auditor,
                title=title, created_at=clock.now())
    user.groups = [get_group(session, key) for key in groups]
    session.add(user)
    session.flush()
    history.append_system(session, "user_added", actor, {
        "username": username, "groups": sorted(groups), "clearance": clearance,
        "admin": is_admin, "auditor": is_auditor})
    return user


def get_user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username)
                          .options(selectinload(User.groups)))
    if user is None:
        raise NotFound(f"no user named {username!r}")
    return user


def find_user(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username))


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user with that password, or None (same answer for every failure)."""
    user = find_user(session, username)
    if user is None or not user.active:
        check_password_hash(_DUMMY_HASH, password)  # same cost whether or not the user exists
        return None
    return user if check_password_hash(user.password_hash, password) else None


_DUMMY_HASH = generate_password_hash("not a real password")


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).options(selectinload(User.groups))
                                .order_by(User.username)))


def members(session: Session, group_key: str) -> list[User]:
    return list(session.scalars(select(User).join(Membership).join(Group)
                                .where(Group.key == group_key, User.active.is_(True))
                                .order_by(User.username)))


# --- groups --------------------------------------------------------------------------------


def add_group(session: Session, key: str, name: str, *, name_en: str = "",
              kind: str = "department", actor: str = SYSTEM_ACTOR) -> Group:
    if kind not in ("department", "role"):
        raise DocrouteError("a group's kind is 'department' or 'role'")
    if session.scalar(select(Group).where(Group.key == key)) is not None:
        raise Conflict(f"the group {key!r} already exists")
    group = Group(key=key, name=name, name_en=name_en, kind=kind)
    session.add(group)
    session.flush()
    history.append_system(session, "group_added", actor, {"key": key, "name": name,
                                                          "kind": kind})
    return group


def get_group(session: Session, key: str) -> Group:
    group = session.scalar(select(Group).where(Group.key == key))
    if group is None:
        raise NotFound(f"no group with key {key!r}")
    return group


def list_groups(session: Session) -> list[Group]:
    return list(session.scalars(select(Group).order_by(Group.kind, Group.key)))


def group_keys_by_name(session: Session) -> dict[str, str]:
    """Map every group key and display name (zh and en) to its key, for lanes."""
    mapping: dict[str, str] = {}
    for group in session.scalars(select(Group)):
        for label in (group.key, group.name, group.name_en):
            if label:
                mapping.setdefault(label, group.key)
    return mapping


# --- API tokens --------------------------------------------------------------------------------


def create_token(session: Session, username: str) -> str:
    """A new random token for the user; only its hash is stored."""
    user = get_user(session, username)
    token = "drt_" + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_hash=_token_hash(token), created_at=clock.now()))
    session.flush()
    history.append_system(session, "token_created", username, {"username": username})
    return token


def user_for_token(session: Session, token: str) -> User | None:
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _token_hash(token)))
    if row is None:
        return None
    user = session.get(User, row.user_id)
    return user if user is not None and user.active else None


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
