"""The rows the pages and the API read: one place for each lookup, none in the web layer.

Each function takes the caller's session and reads; none writes. Visibility is not decided
here: callers reach a case or a document through ``engine.org.access`` (or a runtime call
that applies it) first, and these functions fill in what belongs to it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from engine.models import Definition, Document, Form, Group, Instance, Task, User


def case(session: Session, instance_id: int) -> Instance | None:
    """The case row by id (the caller has applied the visibility rule)."""
    return session.get(Instance, instance_id)


def case_of_id(session: Session, instance_id: int) -> Instance:
    """The case row by id, which must exist (the caller has just acted on it)."""
    return session.get_one(Instance, instance_id)


def case_of(session: Session, task: Task) -> Instance:
    """The case a task belongs to."""
    return session.get_one(Instance, task.instance_id)


def cases(session: Session, ids: Iterable[int]) -> list[Instance]:
    """The cases with these ids that exist, in the order given."""
    wanted = list(ids)
    found = {i.id: i for i in session.scalars(select(Instance).where(Instance.id.in_(wanted)))}
    return [found[i] for i in wanted if i in found]


def case_tasks(session: Session, instance_id: int) -> list[Task]:
    """A case's open tasks, oldest first."""
    return list(session.scalars(select(Task).where(Task.instance_id == instance_id)
                                .order_by(Task.created_at, Task.id)))


def document_cases(session: Session, document_id: int) -> list[Instance]:
    """The cases that route a document, first started first."""
    return list(session.scalars(select(Instance).where(Instance.document_id == document_id)
                                .order_by(Instance.started_at)))


def assigned_tasks(session: Session, username: str) -> list[Task]:
    """The open tasks assigned to one person (what a deactivation must hand over)."""
    return list(session.scalars(select(Task).where(Task.assignee == username)
                                .order_by(Task.created_at, Task.id)))


def definition_xml(session: Session, ids: Iterable[int]) -> dict[int, str]:
    """The diagram XML of each deployed definition id."""
    return {d.id: d.xml for d in session.scalars(
        select(Definition).where(Definition.id.in_(list(ids))))}


def newest_forms_first(session: Session) -> list[Form]:
    """Every deployed form version, each key's newest version first."""
    return list(session.scalars(select(Form).order_by(Form.key, Form.version.desc())))


def documents_newest_first(query: Select[Any], kind: str = "", limit: int = 200
                           ) -> Select[Any]:
    """A documents query (``access.visible_documents``) narrowed to a kind, newest first."""
    if kind:
        query = query.where(Document.kind == kind)
    return query.order_by(Document.created_at.desc()).limit(limit)


def display_names(session: Session, *, english: bool) -> dict[str, str]:
    """Usernames and group keys -> the names people read (groups in the reader's language)."""
    names = {u: n for u, n in session.execute(select(User.username, User.name))}
    for key, name, name_en in session.execute(select(Group.key, Group.name, Group.name_en)):
        names[key] = (name_en or name) if english else name
    return names
