"""Inbox queries over the task projection: never deserializes a workflow."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Select, and_, case, exists, func, or_, select
from sqlalchemy.orm import Session

from . import clock, search
from .identity import Actor
from .models import Task, TaskGroup

LEVEL_ORDER = {"escalated": 0, "red": 1, "yellow": 2, "blue": 3, "": 4}
URGENCY_ORDER = {"特急": 0, "加急": 1}


@dataclass(frozen=True)
class InboxFilter:
    scope: str = "all"  # mine | group | all
    process_key: str = ""
    document_kind: str = ""
    overdue: bool = False
    search: str = ""
    limit: int = 50
    offset: int = 0
    extra: dict[str, str] = field(default_factory=dict)


def _visible(actor: Actor, scope: str) -> Select[tuple[Task]]:
    query = select(Task).where(Task.classification <= actor.clearance)
    in_groups = and_(Task.assignee.is_(None), exists().where(
        TaskGroup.task_id == Task.id, TaskGroup.group_key.in_(sorted(actor.groups))))
    if scope == "mine":
        return query.where(Task.assignee == actor.username)
    if scope == "group":
        return query.where(in_groups)
    return query.where(or_(Task.assignee == actor.username, in_groups))


def list_tasks(session: Session, actor: Actor, flt: InboxFilter) -> list[Task]:
    """Open tasks the actor may work on, most pressing first (overdue, urgency, due date)."""
    query = _visible(actor, flt.scope)
    if flt.process_key:
        query = query.where(Task.process_key == flt.process_key)
    if flt.document_kind:
        query = query.where(Task.document_kind == flt.document_kind)
    if flt.overdue:
        query = query.where(Task.due_at < clock.now())
    if flt.search.strip():
        query = query.where(search.task_matches(session, flt.search))
    urgency = case({k: v for k, v in URGENCY_ORDER.items()}, value=Task.urgency, else_=2)
    query = query.order_by(Task.due_at.is_(None), Task.due_at, urgency, Task.created_at)
    return list(session.scalars(query.limit(min(flt.limit, 500)).offset(flt.offset)))


def count_tasks(session: Session, actor: Actor, scope: str = "all") -> int:
    query = _visible(actor, scope).with_only_columns(func.count())
    return int(session.scalar(query) or 0)


def is_overdue(task: Task, now: datetime | None = None) -> bool:
    return task.due_at is not None and task.due_at < (now or clock.now())
