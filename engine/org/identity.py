"""Users, groups, memberships, clearance, API tokens, and who may see what."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload
from werkzeug.security import check_password_hash, generate_password_hash

from engine import clock
from engine.constants import CLEARANCES
from engine.errors import Conflict, DocrouteError, NotFound
from engine.history import chain as history
from engine.models import Group, Membership, User

from . import passwords, tokens

CLEARANCE_ZH = {"none": "无", "confidential": "秘密", "secret": "机密", "top_secret": "绝密"}
SYSTEM_ACTOR = "system"
MAX_FAILED_LOGINS = 5  # in a row, per account
LOCK_MINUTES = 15


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


def add_account(session: Session, username: str, name: str, password: str,
                **options: object) -> User:
    """``add_user`` for every route where a person chooses the password (admin pages, CLI):
    the password policy (engine/passwords.py) applies."""
    passwords.require_acceptable(password, username=username.strip(), name=name)
    return add_user(session, username, name, password, **options)  # type: ignore[arg-type]


def add_user(session: Session, username: str, name: str, password: str, *,
             groups: Iterable[str] = (), clearance: str = "none", is_admin: bool = False,
             is_auditor: bool = False, title: str = "", actor: str = SYSTEM_ACTOR,
             password_hash: str | None = None) -> User:
    """Add a user without the password policy: for seeding (demo, fixtures); routes where a
    person picks the password call ``add_account``. ``password_hash`` (already hashed)
    spares hashing ``password`` again."""
    username = username.strip()
    if not username or len(username) > 64 or \
            not username.replace("_", "").replace(".", "").isalnum():
        raise DocrouteError("a username is 1 to 64 letters, digits, '.' and '_'")
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
    # One statement: the user joined with their groups (selectinload would take two).
    user = session.scalars(select(User).where(User.username == username)
                           .options(joinedload(User.groups))).unique().first()
    if user is None:
        raise NotFound(f"no user named {username!r}")
    return user


def find_user(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username))


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active, unlocked user with that password, or None (same answer for every failure).

    Failures are counted per account; after ``MAX_FAILED_LOGINS`` in a row the account is
    locked for ``LOCK_MINUTES``, even for the right password, and the lock is recorded.
    """
    user = find_user(session, username)
    now = clock.now()
    if user is None or not user.active or (user.locked_until is not None
                                           and user.locked_until > now):
        check_password_hash(_DUMMY_HASH, password)  # same cost whether or not the user exists
        return None
    if check_password_hash(user.password_hash, password):
        if user.failed_logins or user.locked_until is not None:
            user.failed_logins, user.locked_until = 0, None
        return user
    _count_failure(session, user, now)
    return None


def _count_failure(session: Session, user: User, now: datetime) -> None:
    if user.locked_until is not None:  # an expired lock: count afresh
        user.failed_logins, user.locked_until = 0, None
    user.failed_logins += 1
    if user.failed_logins >= MAX_FAILED_LOGINS:
        user.locked_until = now + timedelta(minutes=LOCK_MINUTES)
        history.append_system(session, "account_locked", SYSTEM_ACTOR, {
            "username": user.username, "failures": user.failed_logins,
            "until": user.locked_until.isoformat()})


_DUMMY_HASH = generate_password_hash("not a real password")


def set_password(session: Session, user: User, password: str, *, actor: str) -> None:
    """Set a password the policy accepts; every session and API token of the user ends."""
    passwords.require_acceptable(password, username=user.username, name=user.name)
    user.password_hash = hash_password(password)
    user.failed_logins, user.locked_until = 0, None
    revoked = end_access(session, user)
    history.append_system(session, "password_set", actor, {
        "username": user.username, "tokens_revoked": revoked})  # never the password


def session_user(session: Session, user_id: int, epoch: object) -> User | None:
    """The user a web session belongs to, with their groups (one statement), if the
    session is still valid (``session_valid``); None otherwise."""
    user = session.scalars(select(User).where(User.id == user_id)
                           .options(joinedload(User.groups))).unique().first()
    return user if session_valid(user, epoch) else None


def session_valid(user: User | None, epoch: object) -> bool:
    """Whether a web session that recorded ``epoch`` at login still belongs to ``user``."""
    return user is not None and user.active and epoch == user.session_epoch


def end_sessions(user: User) -> None:
    """End every web session of the user (logout): copied cookies stop working too."""
    user.session_epoch += 1


def end_access(session: Session, user: User) -> int:
    """End every session and revoke every API token: password reset and deactivation.

    Returns how many tokens were revoked.
    """
    end_sessions(user)
    return tokens.revoke_all(session, user)


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


# --- API tokens (engine/tokens.py) -------------------------------------------------------


def create_token(session: Session, username: str, *, name: str = "",
                 expires_days: int | None = None) -> str:
    """A new random token for the user; only its hash is stored."""
    return tokens.create(session, username, name=name, expires_days=expires_days)


def user_for_token(session: Session, token: str) -> User | None:
    """The active user of a valid (unrevoked, unexpired) token, or None."""
    return tokens.user_for(session, token)


def token_use(session: Session, token: str) -> tokens.TokenUse | None:
    """``tokens.find``: a valid token's user, read without writing."""
    return tokens.find(session, token)


def record_token_use(session: Session, token_id: int) -> None:
    tokens.record_use(session, token_id)
