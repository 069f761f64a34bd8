"""Editing the organisation: users, groups (departments and roles), memberships, clearance.

Builds on ``engine.org.identity`` (which creates users and groups). Every change is one
event on the ``system`` history chain naming who made it, when and why. Nothing is ever
deleted: people and groups are deactivated, so history keeps pointing at them. Handing a
deactivated user's open tasks over is ``engine.runtime.admin.deactivate_user``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import Conflict, DocrouteError, NotAllowed
from engine.history import chain as history
from engine.models import Group, User

from . import identity
from .identity import Actor


def require_admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise NotAllowed("only administrators can change the organisation")


def require_reason(reason: str | None) -> str:
    """The trimmed reason; every administrative action must say why it was taken."""
    text = (reason or "").strip()
    if not text:
        raise DocrouteError("give a reason for this action; it is recorded in the history")
    if len(text) > 1000:
        raise DocrouteError("the reason is longer than 1000 characters")
    return text


def _groups(session: Session, keys: Iterable[str]) -> list[Group]:
    return [identity.get_group(session, key) for key in dict.fromkeys(k for k in keys if k)]


def update_user(session: Session, actor: Actor, username: str, *, reason: str,
                name: str | None = None, title: str | None = None, email: str | None = None,
                clearance: str | None = None, groups: Iterable[str] | None = None,
                is_admin: bool | None = None, is_auditor: bool | None = None,
                password: str | None = None) -> User:
    """Change the given fields of a user (``None`` = leave as is); records what changed."""
    require_admin(actor)
    reason = require_reason(reason)
    user = identity.get_user(session, username)
    changes: dict[str, Any] = {}

    def put(field: str, value: Any) -> None:
        if value is not None and getattr(user, field) != value:
            changes[field] = {"from": getattr(user, field), "to": value}
            setattr(user, field, value)

    put("name", name.strip() if name is not None else None)
    put("title", title)
    put("email", email)
    put("clearance", identity.clearance_level(clearance) if clearance is not None else None)
    if is_admin is False and user.is_admin and user.username == actor.username:
        raise Conflict("you cannot take away your own administrator rights")
    put("is_admin", is_admin)
    put("is_auditor", is_auditor)
    if groups is not None:
        wanted = _groups(session, groups)
        before = sorted(g.key for g in user.groups)
        after = sorted(g.key for g in wanted)
        if before != after:
            user.groups = wanted
            changes["groups"] = {"from": before, "to": after}
    if password:
        identity.set_password(session, user, password, actor=actor.username)
        changes["password"] = "reset"  # never the password itself
    session.flush()
    if changes:
        history.append_system(session, "user_changed", actor.username,
                              {"username": username, "changes": changes, "reason": reason})
    return user


def reactivate_user(session: Session, actor: Actor, username: str, reason: str) -> User:
    require_admin(actor)
    reason = require_reason(reason)
    user = identity.get_user(session, username)
    if user.active:
        raise Conflict(f"{user.name} is already active")
    user.active = True
    history.append_system(session, "user_reactivated", actor.username,
                          {"username": username, "reason": reason})
    return user


def update_group(session: Session, actor: Actor, key: str, *, reason: str,
                 name: str | None = None, name_en: str | None = None,
                 kind: str | None = None) -> Group:
    require_admin(actor)
    reason = require_reason(reason)
    group = identity.get_group(session, key)
    if kind is not None and kind not in ("department", "role"):
        raise DocrouteError("a group's kind is 'department' or 'role'")
    changes: dict[str, Any] = {}
    for field, value in (("name", name), ("name_en", name_en), ("kind", kind)):
        if value is not None and getattr(group, field) != value:
            changes[field] = {"from": getattr(group, field), "to": value}
            setattr(group, field, value)
    if changes:
        history.append_system(session, "group_changed", actor.username,
                              {"key": key, "changes": changes, "reason": reason})
    return group


def set_group_active(session: Session, actor: Actor, key: str, active: bool,
                     reason: str) -> Group:
    """Deactivate (or reactivate) a group: it stops receiving new tasks and choices.

    Refuses to deactivate a group that still has open tasks waiting for it; hand those
    over (reassign them) first, so no task is left where nobody sees it.
    """
    from engine.models import TaskGroup

    require_admin(actor)
    reason = require_reason(reason)
    group = identity.get_group(session, key)
    if group.active == active:
        raise Conflict(f"the group {key!r} is already {'active' if active else 'inactive'}")
    if not active:
        waiting = session.scalars(select(TaskGroup.task_id)
                                  .where(TaskGroup.group_key == key)).all()
        if waiting:
            raise Conflict(f"{len(waiting)} open task(s) still wait for the group {key!r}; "
                           "reassign them before deactivating it")
    group.active = active
    history.append_system(session, "group_activated" if active else "group_deactivated",
                          actor.username, {"key": key, "reason": reason})
    return group


def add_user(session: Session, actor: Actor, username: str, name: str, password: str, *,
             reason: str, groups: Iterable[str] = (), clearance: str = "none",
             is_admin: bool = False, is_auditor: bool = False, title: str = "") -> User:
    """``identity.add_user`` done by an administrator, with the reason recorded."""
    require_admin(actor)
    reason = require_reason(reason)
    user = identity.add_account(session, username, name, password, groups=list(groups),
                                clearance=clearance, is_admin=is_admin,
                                is_auditor=is_auditor, title=title, actor=actor.username)
    history.append_system(session, "reason", actor.username,
                          {"action": "user_added", "username": username, "reason": reason})
    return user


def add_group(session: Session, actor: Actor, key: str, name: str, *, reason: str,
              name_en: str = "", kind: str = "department") -> Group:
    require_admin(actor)
    reason = require_reason(reason)
    key = key.strip()
    if not key or not key.replace("_", "").isalnum() or not key.isascii():
        raise DocrouteError("a group key is ASCII letters, digits and '_' only "
                            "(diagrams name groups by key)")
    group = identity.add_group(session, key, name.strip() or key, name_en=name_en.strip(),
                               kind=kind, actor=actor.username)
    history.append_system(session, "reason", actor.username,
                          {"action": "group_added", "key": key, "reason": reason})
    return group


def list_users(session: Session) -> list[User]:
    return identity.list_users(session)


def list_groups(session: Session) -> list[Group]:
    return identity.list_groups(session)


def active_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).where(User.active.is_(True))
                                .order_by(User.username)))
