"""定密/解密: changing a document's classification, and the limits on setting one.

Who may change a classification (DOMAIN.md §1: "the organ that set a classification
decides its change or removal"):

* the office's confidentiality officers (保密员, the ``confidentiality_officers`` role
  group; see ``engine.org.access``);
* the person who set the current classification (``Document.classified_by``; the
  registrar while nobody has changed it since registration);
* administrators.

Each of them must see the document (``engine.org.access``), hold a clearance covering both
the old and the new level, and give a reason. Auditors never change anything.

A change is one transaction: the document, every case routing it and their open tasks
(the inbox projection) take the new level, so a raise takes the document out of every
lower-cleared inbox, task list and case view at once. Each case's history records a
``reclassified`` event (from, to, reason) and the system chain a
``document_reclassified`` event, so a document without a case is recorded too.

Nothing else changes a classification: a generic update refuses to
(``documents.update_document``), and case data may only raise one, never above the
submitter's own clearance (``check_submitted``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine import db
from engine.errors import FormInvalid, NotAllowed
from engine.history import chain as history
from engine.models import Document, Instance, Task
from engine.org import access, identity
from engine.org.identity import Actor

if TYPE_CHECKING:
    from engine.queries.views import DocumentView

FIELD = "classification"
MAX_REASON = 1000


def level_of(value: Any) -> int | None:
    """The level a submitted classification names (English or Chinese), or None."""
    if not isinstance(value, str):
        return None
    try:
        return identity.clearance_level(value)
    except ValueError:
        return None


def check_submitted(actor: Actor, data: dict[str, Any]) -> None:
    """Refuse case data that would classify a document above the submitter's clearance.

    Otherwise the submitter would make the document vanish from their own view, and
    from everyone's below that level, without being entitled to handle it.
    """
    level = level_of(data.get(FIELD))
    if level is not None and not actor.may_see(level):
        raise FormInvalid({FIELD: (
            f"密级不能高于您本人的涉密等级 / you cannot set a classification above your own "
            f"clearance ({identity.clearance_name(actor.clearance)})")})


def setter(document: Document | DocumentView) -> str:
    """Who set the document's current classification (the registrar by default)."""
    return document.classified_by or document.created_by


def may_reclassify(actor: Actor, document: Document | DocumentView) -> bool:
    """Whether the actor is one of the people who may change this document's level."""
    if actor.is_auditor and not actor.is_admin:
        return False
    if not actor.may_see(document.classification):
        return False
    return (actor.is_admin or access.CONFIDENTIALITY_OFFICERS in actor.groups
            or setter(document) == actor.username)


def _new_level(actor: Actor, document: Document, level: str) -> int:
    new = level_of(level)
    if new is None:
        raise FormInvalid({FIELD: f"unknown classification {level!r}; use one of "
                                  f"{', '.join(identity.CLEARANCES)}"})
    if not actor.may_see(new):
        raise FormInvalid({FIELD: "密级不能高于您本人的涉密等级 / you cannot set a "
                                  "classification above your own clearance"})
    if new == document.classification:
        raise FormInvalid({FIELD: f"the document is already classified "
                                  f"{identity.clearance_name(new)}"})
    return new


def _reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise FormInvalid({"reason": "定密、解密须说明理由 / give the reason for this "
                                     "classification decision; it is recorded"})
    if len(text) > MAX_REASON:
        raise FormInvalid({"reason": f"the reason is longer than {MAX_REASON} characters"})
    return text


def reclassify(session: Session, actor: Actor, document_id: int, level: str,
               reason: str | None) -> Document:
    """Raise or lower a document's classification (定密/解密); see the module docstring.

    Raises NotFound when the actor may not see the document, NotAllowed when they may
    not change its level, FormInvalid for a bad level or a missing reason.
    """
    if actor.is_auditor and not actor.is_admin:
        raise NotAllowed("auditors have read-only access")
    document = access.get_document(session, actor, document_id)
    if not may_reclassify(actor, document):
        raise NotAllowed("only a confidentiality officer (保密员), the person who set this "
                         "classification or an administrator may change it")
    new = _new_level(actor, document, level)
    text = _reason(reason)
    before = document.classification
    payload = {"document_id": document.id, "from": identity.clearance_name(before),
               "to": identity.clearance_name(new), "reason": text}
    cases = _lock_cases(session, document.id)
    document.classification, document.classified_by = new, actor.username
    propagate(session, document)
    for instance_id in cases:
        history.append_case(session, instance_id, "reclassified", actor.username, payload)
    history.append_system(session, "document_reclassified", actor.username, payload)
    session.flush()
    return document


def _lock_cases(session: Session, document_id: int) -> list[int]:
    # In id order, so two changes of one document never wait on each other crosswise.
    ids = list(session.scalars(select(Instance.id).where(Instance.document_id == document_id)
                               .order_by(Instance.id)))
    for instance_id in ids:
        db.lock_instance(session, instance_id)
    return ids


def propagate(session: Session, document: Document) -> None:
    """Give every case of the document and their open tasks the document's level."""
    level = document.classification
    session.execute(update(Instance).where(Instance.document_id == document.id)
                    .values(classification=level).execution_options(synchronize_session=False))
    session.execute(update(Task).where(Task.document_id == document.id)
                    .values(classification=level).execution_options(synchronize_session=False))
    for obj in list(session.identity_map.values()):
        # Rows already loaded in this session must show the new level too.
        if isinstance(obj, Instance | Task) and obj.document_id == document.id:
            obj.classification = level
    session.flush()
