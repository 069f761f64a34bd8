"""A user's unsubmitted form data for one open task: private to its author."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from engine import clock
from engine.models import Draft
from engine.org.identity import Actor


@dataclass(frozen=True)
class SavedDraft:
    data: dict[str, Any]
    saved_at: datetime


def get(session: Session, actor: Actor, task_id: str) -> SavedDraft | None:
    row = session.get(Draft, (actor.id, task_id))
    return SavedDraft(dict(row.data), row.saved_at) if row is not None else None


def save(session: Session, actor: Actor, task_id: str, data: dict[str, Any]) -> None:
    """Keep the actor's draft of a task (the caller has checked the task is theirs to see)."""
    row = session.get(Draft, (actor.id, task_id))
    if row is None:
        session.add(Draft(user_id=actor.id, task_id=task_id, data=data, saved_at=clock.now()))
    else:
        row.data, row.saved_at = data, clock.now()


def discard(session: Session, task_id: str) -> None:
    """Drop every draft of a task (it was completed, by whatever route)."""
    session.execute(delete(Draft).where(Draft.task_id == task_id))
