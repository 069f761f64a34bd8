"""The document registry: documents, their cases, and the case-to-document field sync.

Every function takes the caller's session first and never commits. Reading a document
applies ``engine.org.access`` (clearance and involvement): anyone else gets NotFound, as if it
did not exist; a classification changes only through ``engine.registry.classification``. Numbers
come from ``numbering`` and attachments from ``attachments``; the
service-task operators and the after-step hook that keep documents in step with their cases
live in ``document_ops`` (listed in ``engine.wiring``, which plugs them into each ``Docroute``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from engine import clock
from engine.definitions import forms
from engine.errors import FormInvalid, NotAllowed
from engine.history import chain as history
from engine.models import Document, Instance
from engine.org import access, identity
from engine.org.identity import Actor
from engine.queries.views import CaseView, DocumentView

from . import doctypes, kinds, search
from .numbering import is_doc_number

COLUMNS = ("title", "doc_number", "doc_type", "classification", "urgency", "department")
STATUSES = ("open", "in_progress", "returned", "closed", "archived")


def _check_kind(kind: str) -> None:
    if kind not in kinds.KINDS:
        raise FormInvalid({"kind": f"unknown document kind {kind!r}; use one of "
                                   f"{', '.join(kinds.KINDS)}"})


def _normalise(values: dict[str, Any]) -> dict[str, Any]:
    # Chinese classification names (秘密, 机密 …) are accepted and stored by level name.
    values = dict(values)
    level = values.get("classification")
    if isinstance(level, str) and level in identity.CLEARANCE_ZH.values():
        values["classification"] = identity.clearance_name(identity.clearance_level(level))
    return values


def validate_fields(kind: str, values: dict[str, Any]) -> dict[str, Any]:
    """Check a kind's fields; returns them cleaned. Raises FormInvalid per field.

    Outgoing documents must also satisfy the routing rules (``doctypes``); the document
    number, when given, must have the statutory form.
    """
    _check_kind(kind)
    clean = forms.validate(kinds.schema(kind), _normalise(values))
    errors: dict[str, str] = {}
    number = clean.get("doc_number")
    if number and kind == "outgoing" and not is_doc_number(number):
        errors["doc_number"] = (f"发文字号格式应为“代字〔年份〕序号号” / {number!r} is not a "
                                f"document number like 深鹏办〔2026〕12号")
    if kind == "outgoing":
        # A draft may lack recipients and signer; a numbered (registered) one may not.
        for problem in doctypes.routing_problems(clean, complete=bool(number)):
            errors.setdefault(problem.field, problem.message)
    elif clean.get("doc_type") and not doctypes.BY_NAME[clean["doc_type"]].enabled \
            and kind != "incoming":
        errors["doc_type"] = f"this office does not issue a {clean['doc_type']}"
    if errors:
        raise FormInvalid(errors)
    return clean


def department_of(fields: dict[str, Any]) -> str:
    """The department a document belongs to: stated, drafting, leading or applying."""
    for key in ("department", "drafting_department", "lead_department",
                "applicant_department"):
        if fields.get(key):
            return str(fields[key])
    return ""


def _apply(document: Document, clean: dict[str, Any]) -> None:
    document.title = clean["title"]
    document.doc_number = clean.get("doc_number") or document.doc_number
    document.doc_type = clean.get("doc_type", "")
    document.classification = identity.clearance_level(clean.get("classification", "none"))
    document.urgency = clean.get("urgency", "")
    document.department = department_of(clean)
    document.fields = {k: v for k, v in clean.items() if k not in COLUMNS}


def create_document(session: Session, actor: Actor, kind: str, fields: dict[str, Any]
                    ) -> Document:
    """Register a document of ``kind`` with validated fields (no number is allocated here)."""
    if actor.is_auditor and not actor.is_admin:
        raise NotAllowed("auditors have read-only access")
    clean = validate_fields(kind, fields)
    level = identity.clearance_level(clean.get("classification", "none"))
    if not actor.may_see(level):
        raise NotAllowed("you may not register a document above your own clearance")
    document = Document(kind=kind, title="", created_by=actor.username, created_at=clock.now(),
                        status="open")
    _apply(document, clean)
    session.add(document)
    session.flush()
    history.append_system(session, "document_registered", actor.username,
                          {"document_id": document.id, "kind": kind,
                           "classification": clean.get("classification", "none")})
    return document


def get_document(session: Session, actor: Actor, document_id: int) -> Document:
    """The document row, if the actor may see it (``engine.org.access``); NotFound otherwise.

    For write paths that take the row (attach, archive); reads use ``visible_document``."""
    return access.get_document(session, actor, document_id)


def visible_document(session: Session, actor: Actor, document_id: int) -> DocumentView:
    """The document as plain values, if the actor may see it; NotFound otherwise (the
    document page and the API's document call both read it here)."""
    return DocumentView.from_row(access.get_document(session, actor, document_id))


def field_values(document: Document) -> dict[str, Any]:
    """All of a document's fields, columns included, as the kind's schema names them."""
    values: dict[str, Any] = dict(document.fields or {})
    values.update(title=document.title, doc_type=document.doc_type,
                  classification=identity.clearance_name(document.classification),
                  urgency=document.urgency)
    if document.doc_number:
        values["doc_number"] = document.doc_number
    if document.department:
        values.setdefault("department", document.department)
    return values


def update_document(session: Session, actor: Actor, document_id: int,
                    changes: dict[str, Any]) -> Document:
    """Change some fields (None removes one); the whole result is validated again.

    The classification is not one of them: sending the current level again is accepted,
    any other value is refused (``engine.registry.classification.reclassify`` changes it).
    """
    if actor.is_auditor and not actor.is_admin:
        raise NotAllowed("auditors have read-only access")
    document = get_document(session, actor, document_id)
    if document.status == "archived":
        raise NotAllowed("an archived document cannot be changed")
    known = set(kinds.schema(document.kind)["properties"])
    unknown = {k: f"unknown field {k!r}" for k in changes if k not in known}
    if unknown:
        raise FormInvalid(unknown)
    _keeps_classification(document, changes)
    merged = field_values(document)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    # Values the engine keeps beside the schema (seal register, voided numbers …) stay.
    extra = {k: v for k, v in merged.items() if k not in known}
    clean = validate_fields(document.kind, {k: v for k, v in merged.items() if k in known})
    _apply(document, clean)
    document.fields = {**document.fields, **extra}
    session.flush()
    return document


def _keeps_classification(document: Document, changes: dict[str, Any]) -> None:
    if "classification" not in changes:
        return
    current = identity.clearance_name(document.classification)
    value = changes["classification"]
    if value is not None and _normalise({"classification": value})["classification"] == current:
        return
    raise FormInvalid({"classification": (
        "密级只能通过定密/解密变更 / a classification is changed only by a classification "
        "decision with a reason: POST /api/v1/documents/{id}/classification")})


@dataclass(frozen=True)
class Search:
    """Filters for ``list_documents``; empty values do not filter."""

    q: str = ""
    kind: str = ""
    doc_type: str = ""
    department: str = ""
    status: str = ""
    date_from: date | None = None
    date_to: date | None = None
    limit: int = 50
    offset: int = 0


def _office_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=clock.OFFICE_TZ)


def search_query(session: Session, actor: Actor, flt: Search) -> Select[Any]:
    """The documents the actor may see (``engine.org.access``) matching ``flt``."""
    query = access.visible_documents(actor)
    if flt.q.strip():
        query = query.where(search.document_matches(session, flt.q))
    for column, value in ((Document.kind, flt.kind), (Document.doc_type, flt.doc_type),
                          (Document.department, flt.department),
                          (Document.status, flt.status)):
        if value:
            query = query.where(column == value)
    if flt.date_from:
        query = query.where(Document.created_at >= _office_start(flt.date_from))
    if flt.date_to:
        query = query.where(Document.created_at < _office_start(flt.date_to + timedelta(1)))
    return query.order_by(Document.created_at.desc(), Document.id.desc())


def list_documents(session: Session, actor: Actor, flt: Search | None = None
                   ) -> list[DocumentView]:
    """Documents the actor may see, newest first, filtered and paged."""
    flt = flt or Search()
    query = search_query(session, actor, flt)
    query = query.limit(max(0, min(flt.limit, 500))).offset(max(0, flt.offset))
    return [DocumentView.from_row(row) for row in session.scalars(query)]


# --- cases --------------------------------------------------------------------------------


def cases_of(session: Session, actor: Actor, document_id: int) -> list[CaseView]:
    """The cases routing a document, oldest first."""
    get_document(session, actor, document_id)
    return [CaseView.from_row(row) for row in session.scalars(
        select(Instance).where(Instance.document_id == document_id)
        .order_by(Instance.started_at, Instance.id))]


def link_case(session: Session, actor: Actor, document_id: int, instance_id: int) -> Instance:
    """Attach a case started without a document to one (a case routes one document)."""
    document = get_document(session, actor, document_id)
    instance = access.get_case(session, actor, instance_id)
    if instance.document_id not in (None, document.id):
        raise NotAllowed("this case already routes another document")
    instance.document_id, instance.document = document.id, document
    instance.classification = max(instance.classification, document.classification)
    if document.status == "open":
        document.status = "in_progress"
    session.flush()
    return instance


def archive_document(session: Session, document: Document) -> None:
    """Mark a document archived; a classified one keeps metadata only (attachments withheld)."""
    from .attachments import WITHHELD_FIELD

    document.status = "archived"
    if document.classification > 0:
        document.fields = {**(document.fields or {}), WITHHELD_FIELD: True}
    session.flush()


