"""The rows the pages and the API read: one place for each lookup, none in the web layer.

Each function takes the caller's session and reads; none writes. Reads return plain
frozen values (``engine.queries.views``), never live rows. Visibility is decided by
``engine.org.access``: the functions that take an actor apply it; the others fill in
what belongs to a case or a document the caller has already reached through it.

A function whose name ends in ``_row`` or ``_rows`` returns ORM rows on purpose: it feeds
engine calls that take a row (``runtime.task_form``, ``authority.holders``, a case's
timeline and diagram), never a template or a JSON body.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.models import Definition, Document, Form, Group, Instance, Task, User
from engine.org import access
from engine.org.identity import Actor
from engine.queries.views import CaseDetail, CaseView, DocumentView, FormView, TaskView
from engine.registry import search

_KEPT = "docroute.rows_behind_views"


def _keep(session: Session, rows: Sequence[Any]) -> None:
    """Hold rows behind the views for the session's life.

    The identity map forgets a row nobody references, so a page that reads a case's
    timeline, diagram and links after its view would read the case again for each;
    held here, those reads find it (a page's session lives one request).
    """
    session.info.setdefault(_KEPT, []).extend(rows)


def case(session: Session, instance_id: int) -> CaseView | None:
    """The case by id (the caller has applied the visibility rule)."""
    row = session.get(Instance, instance_id)
    return None if row is None else CaseView.from_row(row)


def case_of_id(session: Session, instance_id: int) -> CaseView:
    """The case by id, which must exist (the caller has just acted on it)."""
    return CaseView.from_row(session.get_one(Instance, instance_id))


def case_detail(session: Session, actor: Actor, instance_id: int) -> CaseDetail:
    """The case and its document if the actor may see it; NotFound otherwise."""
    return CaseDetail.from_row(access.get_case(session, actor, instance_id))


def visible_case(session: Session, actor: Actor, instance_id: int) -> CaseView:
    """The case if the actor may see it (``engine.org.access``); NotFound otherwise."""
    row = access.get_case(session, actor, instance_id)
    _keep(session, [row])
    return CaseView.from_row(row)


def case_row(session: Session, task: Task) -> Instance:
    """The case row a task belongs to, for engine calls that take the row."""
    return session.get_one(Instance, task.instance_id)


def cases(session: Session, ids: Iterable[int]) -> list[CaseView]:
    """The cases with these ids that exist, in the order given."""
    wanted = list(ids)
    found = {i.id: i for i in session.scalars(select(Instance).where(Instance.id.in_(wanted)))}
    return [CaseView.from_row(found[i]) for i in wanted if i in found]


def _open_task_rows(session: Session, instance_id: int) -> list[Task]:
    return list(session.scalars(select(Task).where(Task.instance_id == instance_id)
                                .order_by(Task.created_at, Task.id)))


def case_tasks(session: Session, instance_id: int) -> list[TaskView]:
    """A case's open tasks, oldest first."""
    return [TaskView.from_row(row) for row in _open_task_rows(session, instance_id)]


def first_task_for(session: Session, actor: Actor, instance_id: int, *,
                   claimable: bool = False) -> TaskView | None:
    """The oldest open task of a case the actor may open (``runtime.can_see_task``).

    With ``claimable``, only one the actor holds or may claim: never one an
    administrator sees in someone else's hands (the step to go on with after completing).
    """
    from engine.runtime import cases as runtime_cases  # runtime imports much; keep this light

    for row in _open_task_rows(session, instance_id):
        if claimable:
            may = row.assignee == actor.username or (
                row.assignee is None and runtime_cases.can_see_task(row, actor))
        else:
            may = runtime_cases.can_see_task(row, actor)
        if may:
            return TaskView.from_row(row)
    return None


def document_cases(session: Session, document_id: int) -> list[CaseView]:
    """The cases that route a document, first started first."""
    rows = document_case_rows(session, document_id)
    _keep(session, rows)
    return [CaseView.from_row(row) for row in rows]


def document_case_rows(session: Session, document_id: int) -> list[Instance]:
    """``document_cases`` as rows, for a case's timeline, diagram and 办文单."""
    return list(session.scalars(select(Instance).where(Instance.document_id == document_id)
                                .order_by(Instance.started_at)))


def assigned_tasks(session: Session, username: str) -> list[TaskView]:
    """The open tasks assigned to one person (what a deactivation must hand over)."""
    return [TaskView.from_row(row) for row in session.scalars(
        select(Task).where(Task.assignee == username).order_by(Task.created_at, Task.id))]


def definition_xml(session: Session, ids: Iterable[int]) -> dict[int, str]:
    """The diagram XML of each deployed definition id."""
    return {d.id: d.xml for d in session.scalars(
        select(Definition).where(Definition.id.in_(list(ids))))}


def newest_forms_first(session: Session) -> list[FormView]:
    """Every deployed form version, each key's newest version first."""
    return [FormView.from_row(row) for row in session.scalars(
        select(Form).order_by(Form.key, Form.version.desc()))]


def visible_documents(session: Session, actor: Actor, *, q: str = "", kind: str = "",
                      limit: int = 200) -> list[DocumentView]:
    """The documents the actor may see (``engine.org.access``), matching what a clerk
    typed and of one kind if given, newest first."""
    query = access.visible_documents(actor)
    if q:
        query = query.where(search.document_matches(session, q))
    if kind:
        query = query.where(Document.kind == kind)
    query = query.order_by(Document.created_at.desc()).limit(limit)
    return [DocumentView.from_row(row) for row in session.scalars(query)]


def display_names(session: Session, *, english: bool) -> dict[str, str]:
    """Usernames and group keys -> the names people read (groups in the reader's language)."""
    names = {u: n for u, n in session.execute(select(User.username, User.name))}
    for key, name, name_en in session.execute(select(Group.key, Group.name, Group.name_en)):
        names[key] = (name_en or name) if english else name
    return names
