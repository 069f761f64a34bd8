"""已办: the steps a person completed, with where each case stands now.

Read from the hash-chained events (every completion names its actor) and the task
projection (the steps open now), so it never deserializes a workflow. A case whose
classification rose above the person's clearance since leaves the list, like everywhere
else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.models import Document, Event, Instance, Task
from engine.org.identity import Actor


@dataclass(frozen=True)
class HandledStep:
    """One completed step and its case's current state."""

    task_name: str
    completed_at: datetime
    instance_id: int
    document_id: int | None
    title: str
    doc_number: str | None
    case_status: str  # running | completed | suspended | terminated | error
    open_steps: list[tuple[str, str | None, list[str]]] = field(default_factory=list)
    # (step name, assignee or None, candidate groups) of each step open now


def handled_steps(session: Session, actor: Actor, *, limit: int = 50, offset: int = 0
                  ) -> list[HandledStep]:
    """The steps ``actor`` completed, newest first, paged."""
    rows = session.execute(
        select(Event.task_name, Event.at, Instance.id, Instance.document_id, Instance.title,
               Instance.status, Document.title, Document.doc_number)
        .join(Instance, Instance.id == Event.instance_id)
        .outerjoin(Document, Document.id == Instance.document_id)
        .where(Event.type == "completed", Event.actor == actor.username,
               Event.task_id.is_not(None), Instance.classification <= actor.clearance)
        .order_by(Event.at.desc(), Event.id.desc())
        .limit(max(0, min(limit, 500))).offset(max(0, offset))).all()
    open_now: dict[int, list[tuple[str, str | None, list[str]]]] = {}
    ids = sorted({row[2] for row in rows})
    if ids:
        for task in session.scalars(select(Task).where(Task.instance_id.in_(ids))
                                    .order_by(Task.created_at)):
            open_now.setdefault(task.instance_id, []).append(
                (task.name, task.assignee, list(task.candidate_groups or [])))
    return [HandledStep(name or "", at, case_id, document_id, doc_title or title or "",
                        number, status, open_now.get(case_id, []))
            for name, at, case_id, document_id, title, status, doc_title, number in rows]


@dataclass(frozen=True)
class OpenStep:
    """A step open now in a document's case: what, who holds it, by when."""

    name: str
    assignee: str | None
    groups: list[str]
    due_at: datetime | None


def open_steps(session: Session, document_ids: list[int]) -> dict[int, list[OpenStep]]:
    """Document id -> the steps open now in its cases, soonest due first (one query)."""
    found: dict[int, list[OpenStep]] = {}
    if not document_ids:
        return found
    rows = session.scalars(select(Task).where(Task.document_id.in_(sorted(set(document_ids))))
                           .order_by(Task.due_at.is_(None), Task.due_at, Task.created_at))
    for task in rows:
        if task.document_id is not None:
            found.setdefault(task.document_id, []).append(OpenStep(
                task.name, task.assignee, list(task.candidate_groups or []), task.due_at))
    return found
