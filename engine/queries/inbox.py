"""Inbox queries over the task projection: never deserializes a workflow."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, any_, case, func, or_, select, union_all
from sqlalchemy.orm import Session

from engine import clock
from engine.models import Document, Task, TaskGroup
from engine.org import orgchart
from engine.org.identity import Actor
from engine.queries.views import TaskView
from engine.registry import search

LEVEL_ORDER = {"escalated": 0, "red": 1, "yellow": 2, "blue": 3, "": 4}
# The inbox's urgency counts, in the order the page shows them.
LEVELS = ("blue", "yellow", "red", "overdue", "escalated")
URGENCY_ORDER = {"特急": 0, "加急": 1}


@dataclass(frozen=True)
class InboxFilter:
    scope: str = "all"  # mine | group | all
    process_key: str = ""
    document_kind: str = ""
    overdue: bool = False
    search: str = ""
    level: str = ""  # a reminder colour (LEVELS), or "overdue"
    limit: int = 50
    offset: int = 0
    extra: dict[str, str] = field(default_factory=dict)


def _standing_in(standing: dict[str, list[str]]) -> ColumnElement[bool] | None:
    """Tasks of the people the actor stands in for under a 委托, within its processes."""
    parts = [and_(Task.assignee == who, Task.process_key.in_(keys)) if keys
             else Task.assignee == who for who, keys in sorted(standing.items())]
    return or_(*parts) if parts else None


def _visible(actor: Actor, scope: str, dialect: str,
             standing: dict[str, list[str]] | None = None) -> Select[Task]:
    """Open tasks of one scope that the actor may see.

    Written so that both databases start from the actor's few rows, never from all
    tasks (measured in docs/benchmarks.md, "Inbox"): group tasks are found through
    ``ix_task_groups_group_task`` and the actor's own through ``ix_tasks_assignee_due``,
    then fetched by primary key. An ``OR`` across the two (the obvious form) makes both
    databases read every task. PostgreSQL still prefers a full scan to a thousand key
    lookups when it sees a join, so it gets the ids as one array (``= ANY(ARRAY(...))``,
    evaluated once), which it can only answer through the key.
    """
    query = select(Task).where(Task.classification <= actor.clearance)
    stand_in = _standing_in(standing or {})
    if scope == "mine":
        if stand_in is not None:
            return query.where(or_(Task.assignee == actor.username, stand_in))
        return query.where(Task.assignee == actor.username)
    ids: Select[str] = select(TaskGroup.task_id).where(
        TaskGroup.group_key.in_(sorted(actor.groups)))
    if scope == "group":
        return query.where(_id_among(ids, dialect), Task.assignee.is_(None))
    mine = select(Task.id).where(Task.assignee == actor.username)
    # A group task someone else has claimed has another assignee: keep only unclaimed.
    if stand_in is not None:
        theirs = select(Task.id).where(Task.assignee.in_(sorted(standing or {})))
        return query.where(_id_among(union_all(mine, ids, theirs), dialect),
                           or_(Task.assignee == actor.username, Task.assignee.is_(None),
                               stand_in))
    return query.where(_id_among(union_all(mine, ids), dialect),
                       or_(Task.assignee == actor.username, Task.assignee.is_(None)))


def _id_among(ids: Any, dialect: str) -> ColumnElement[bool]:
    if dialect == "postgresql":
        return Task.id == any_(func.array(ids.scalar_subquery()))
    return Task.id.in_(ids)


def list_tasks(session: Session, actor: Actor, flt: InboxFilter) -> list[TaskView]:
    """Open tasks the actor may work on, most pressing first (overdue, urgency, due date)."""
    return [TaskView.from_row(row) for row in session.scalars(list_query(session, actor, flt))]


def list_query(session: Session, actor: Actor, flt: InboxFilter) -> Select[Task]:
    """The statement of ``list_tasks`` (exposed so benchmarks can EXPLAIN it)."""
    query = _visible(actor, flt.scope, _dialect(session),
                     orgchart.standing_in_for(session, actor.username))
    if flt.process_key:
        query = query.where(Task.process_key == flt.process_key)
    if flt.document_kind:
        query = query.where(Task.document_kind == flt.document_kind)
    if flt.overdue or flt.level == "overdue":
        query = query.where(Task.due_at < clock.now())
    elif flt.level in LEVELS:
        query = query.where(Task.reminder_level == flt.level)
    if flt.search.strip():
        query = query.where(search.task_matches(session, flt.search))
    urgency = case({k: v for k, v in URGENCY_ORDER.items()}, value=Task.urgency, else_=2)
    query = query.order_by(Task.due_at.is_(None), Task.due_at, urgency, Task.created_at)
    return query.limit(min(flt.limit, 500)).offset(flt.offset)


@dataclass(frozen=True, slots=True)
class InboxRow:
    """An inbox line: the task and the registry columns of its document."""

    task: TaskView
    doc_number: str | None
    receipt_number: str | None
    source_org: str | None
    source_number: str | None
    received_at: str | None


def list_rows(session: Session, actor: Actor, flt: InboxFilter) -> list[InboxRow]:
    """``list_tasks`` with each document's numbers, sending organ and time received, in
    the same one query (a page of 50 never costs 50 more)."""
    fields = Document.fields
    query = (list_query(session, actor, flt)
             .outerjoin(Document, Document.id == Task.document_id)
             .add_columns(Document.doc_number, fields["receipt_number"].as_string(),
                          fields["source_org"].as_string(),
                          fields["source_number"].as_string(),
                          fields["received_at"].as_string()))
    return [InboxRow(TaskView.from_row(task), *columns)
            for task, *columns in session.execute(query)]


def count_levels(session: Session, actor: Actor) -> dict[str, int]:
    """How many of the actor's open tasks stand at each reminder colour, and how many
    are overdue."""
    return counts(session, actor)[1]


def counts(session: Session, actor: Actor) -> tuple[dict[str, int], dict[str, int]]:
    """The inbox tabs' counts (``count_scopes``) and the reminder colours'
    (``count_levels``), in one pass over the tasks the actor sees: a page needs both, and
    each pass costs a thousand key lookups at office scale.

    Every assigned task the actor sees is theirs or one they stand in for (``mine``);
    every unassigned one is a group task.
    """
    now = clock.now()

    def tally(condition: ColumnElement[bool]) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    query = _visible(actor, "all", _dialect(session),
                     orgchart.standing_in_for(session, actor.username)).with_only_columns(
        tally(Task.assignee.is_not(None)), tally(Task.assignee.is_(None)),
        *(tally(Task.reminder_level == level) for level in ("blue", "yellow", "red",
                                                              "escalated")),
        tally(Task.due_at < now))
    mine, group, blue, yellow, red, escalated, overdue = map(int, session.execute(query).one())
    return ({"all": mine + group, "mine": mine, "group": group},
            {"blue": blue, "yellow": yellow, "red": red, "overdue": overdue,
             "escalated": escalated})


def count_tasks(session: Session, actor: Actor, scope: str = "all") -> int:
    return int(session.scalar(count_query(session, actor, scope)) or 0)


def count_query(session: Session, actor: Actor, scope: str = "all") -> Select[int]:
    """The statement of ``count_tasks`` (exposed so benchmarks can EXPLAIN it)."""
    return _visible(actor, scope, _dialect(session),
                    orgchart.standing_in_for(session, actor.username)
                    ).with_only_columns(func.count())


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def is_overdue(task: Task | TaskView, now: datetime | None = None) -> bool:
    return task.due_at is not None and task.due_at < (now or clock.now())


def count_scopes(session: Session, actor: Actor) -> dict[str, int]:
    """The inbox tabs' counts: ``mine``, ``group`` and ``all`` (their sum: a group task
    is unassigned, one of mine is not)."""
    return counts(session, actor)[0]
