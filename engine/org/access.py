"""Who may see a document or a case: ONE rule that every page, API call, search and export uses.

The rule, in order:

1. **Clearance.** A document (or case) classified above the actor's clearance does not
   exist for them, whoever they are.
2. **Office-wide readers.** Within their clearance, administrators (they operate every
   case), auditors (they read every case's history, read-only for everything else) and
   confidentiality officers (保密员, members of the ``confidentiality_officers`` role
   group: they review every classification) see every document and case.
3. **Involvement.** Everyone else sees a document only while involved in it:

   * they registered it (``created_by``);
   * they acted in one of its cases: an event on the case's chain names them (they
     started it, completed, claimed, released or delegated one of its tasks);
   * they may work one of its open tasks now: as its assignee, or as a member of a
     candidate group of a task nobody has claimed.

   A case without a document follows the same rule with "acted in it" and "may work one
   of its open tasks" (``case_participant``); a case routing a document is visible
   exactly when its document is.

Everything else answers ``NotFound``, worded like a missing id: pages and API alike give
404, so nobody learns that a document exists. Being able to *see* a document is not being
allowed to change it: writes check their own rules (auditors never write; a
classification changes only through ``engine.registry.classification``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, and_, exists, or_, select
from sqlalchemy.orm import Session

from engine.errors import NotFound
from engine.models import Document, Event, Instance, Task, TaskGroup, User

from .identity import Actor

CONFIDENTIALITY_OFFICERS = "confidentiality_officers"  # 保密员 role group key


def office_wide(actor: Actor) -> bool:
    """Whether the actor sees every document their clearance covers (rule 2)."""
    return actor.is_admin or actor.is_auditor or CONFIDENTIALITY_OFFICERS in actor.groups


def open_task_clause(actor: Actor) -> Any:
    """SQL: the ``tasks`` row is one the actor may work now (assignee or unclaimed group)."""
    in_group = and_(Task.assignee.is_(None), exists().where(
        TaskGroup.task_id == Task.id, TaskGroup.group_key.in_(sorted(actor.groups))))
    return or_(Task.assignee == actor.username, in_group)


def _involved(actor: Actor) -> Any:
    acted = select(Instance.document_id).join(Event, Event.instance_id == Instance.id) \
        .where(Event.actor == actor.username, Instance.document_id.is_not(None))
    working = select(Task.document_id).where(Task.document_id.is_not(None),
                                             open_task_clause(actor))
    return or_(Document.created_by == actor.username, Document.id.in_(acted),
               Document.id.in_(working))


def visible_documents(actor: Actor) -> Select[Any]:
    """A select of every document the actor may see; callers add filters and order."""
    query = select(Document).where(Document.classification <= actor.clearance)
    if office_wide(actor):
        return query
    return query.where(_involved(actor))


def visible_document_ids(actor: Actor) -> Select[Any]:
    """The ids of ``visible_documents``, for ``IN`` filters and joins."""
    return visible_documents(actor).with_only_columns(Document.id)


def may_see_document(session: Session, actor: Actor, document_id: int) -> bool:
    found = session.scalar(visible_document_ids(actor).where(Document.id == document_id))
    return found is not None


def get_document(session: Session, actor: Actor, document_id: int) -> Document:
    """The document if the actor may see it; NotFound (as for a missing id) otherwise."""
    document: Document | None = session.scalar(
        visible_documents(actor).where(Document.id == document_id))
    if document is None:
        raise NotFound(f"no document with id {document_id}")
    return document


def case_participant(session: Session, instance_id: int, actor: Actor) -> bool:
    """Whether the actor acted in the case or may work one of its open tasks now."""
    acted = session.scalar(select(Event.id).where(Event.instance_id == instance_id,
                                                  Event.actor == actor.username).limit(1))
    if acted is not None:
        return True
    working = session.scalar(select(Task.id).where(
        Task.instance_id == instance_id, Task.classification <= actor.clearance,
        open_task_clause(actor)).limit(1))
    return working is not None


def may_see_case(session: Session, actor: Actor, instance: Instance) -> bool:
    """The case rule: clearance, then its document's rule, or participation without one."""
    if not actor.may_see(instance.classification):
        return False
    if instance.document_id is not None:
        return may_see_document(session, actor, instance.document_id)
    return office_wide(actor) or case_participant(session, instance.id, actor)


def get_case(session: Session, actor: Actor, instance_id: int) -> Instance:
    """The case if the actor may see it; NotFound (as for a missing id) otherwise."""
    instance = session.get(Instance, instance_id)
    if instance is None or not may_see_case(session, actor, instance):
        raise NotFound(f"no case with id {instance_id}")
    return instance


def visible_cases_clause(actor: Actor) -> Any:
    """SQL condition on ``Instance``: the case is one the actor may see (``may_see_case``)."""
    cleared = Instance.classification <= actor.clearance
    if office_wide(actor):
        return cleared
    acted = select(Event.instance_id).where(Event.actor == actor.username,
                                            Event.instance_id.is_not(None))
    working = select(Task.instance_id).where(open_task_clause(actor))
    return and_(cleared, or_(
        Instance.document_id.in_(visible_document_ids(actor)),
        and_(Instance.document_id.is_(None),
             or_(Instance.id.in_(acted), Instance.id.in_(working)))))


def hold_refusal(user: User, classification: int) -> str | None:
    """Why ``user`` can never complete a task of that classification, or None if they can.

    Delegation and reassignment call this, so a task never lands with someone who could
    only sit on it: a deactivated account, an auditor (read-only), an administrator-only
    account (an administrator who belongs to no group: a technical account, not office
    staff), or a person whose clearance is below the task's document.
    """
    if not user.active:
        return f"{user.name} is no longer active"
    if user.is_auditor:
        return f"{user.name} is an auditor and has read-only access"
    if user.is_admin and not any(g.active for g in user.groups):
        return f"{user.name} is an administrator account that does not work on cases"
    if user.clearance < classification:
        return f"{user.name} is not cleared for this document"
    return None
