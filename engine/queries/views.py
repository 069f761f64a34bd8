"""Plain frozen values of the rows pages and the API read: cases, tasks, documents, their
attachments, forms.

A read function returns these instead of live ORM rows, so a template or a JSON
serializer can neither lazy-load, nor change a row, nor reach a relationship after its
session has ended. Each ``from_row`` copies what it reads while the session is open (a
JSON column as a copy of its dict) and follows only the relationships it shows:
``CaseView`` its process definition, ``CaseDetail`` also the case's document. Turning
rows into views issues the statements the serializers' attribute reads used to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import object_session

from engine.models import Attachment, Document, Form, Instance, Task
from engine.runtime import state


@dataclass(frozen=True, slots=True)
class TaskView:
    """An open task as the task projection holds it."""

    id: str
    instance_id: int
    spec: str
    name: str
    form_key: str | None
    lane: str | None
    assignee: str | None
    candidate_groups: tuple[str, ...]
    designated: str | None
    due_at: datetime | None
    due_provisional: bool
    urgency: str
    reminder_level: str
    document_id: int | None
    process_key: str
    document_kind: str
    title: str
    classification: int
    created_at: datetime
    claimed_at: datetime | None

    @classmethod
    def from_row(cls, row: Task) -> TaskView:
        return cls(id=row.id, instance_id=row.instance_id, spec=row.spec, name=row.name,
                   form_key=row.form_key, lane=row.lane, assignee=row.assignee,
                   candidate_groups=tuple(row.candidate_groups or ()),
                   designated=row.designated, due_at=row.due_at,
                   due_provisional=bool(row.due_provisional), urgency=row.urgency,
                   reminder_level=row.reminder_level, document_id=row.document_id,
                   process_key=row.process_key, document_kind=row.document_kind,
                   title=row.title, classification=row.classification,
                   created_at=row.created_at, claimed_at=row.claimed_at)


@dataclass(frozen=True, slots=True)
class CaseView:
    """A case with its process's key, version and name (never its workflow state)."""

    id: int
    status: str
    title: str
    definition_id: int
    definition_key: str
    definition_version: int
    definition_name: str
    document_id: int | None
    classification: int
    form_versions: dict[str, int]
    incident: str | None
    started_by: str
    started_at: datetime
    ended_at: datetime | None

    @classmethod
    def from_row(cls, row: Instance) -> CaseView:
        session = object_session(row)
        definition = (state.definition_info(session, row) if session is not None
                      else row.definition)
        return cls(id=row.id, status=row.status, title=row.title,
                   definition_id=row.definition_id, definition_key=definition.key,
                   definition_version=definition.version, definition_name=definition.name,
                   document_id=row.document_id, classification=row.classification,
                   form_versions=dict(row.form_versions or {}), incident=row.incident,
                   started_by=row.started_by, started_at=row.started_at,
                   ended_at=row.ended_at)


@dataclass(frozen=True, slots=True)
class DocumentView:
    """A registered document: its columns and its kind's fields."""

    id: int
    kind: str
    title: str
    doc_number: str | None
    doc_type: str
    classification: int
    classified_by: str
    urgency: str
    department: str
    status: str
    fields: dict[str, Any]
    created_by: str
    created_at: datetime

    @classmethod
    def from_row(cls, row: Document) -> DocumentView:
        return cls(id=row.id, kind=row.kind, title=row.title, doc_number=row.doc_number,
                   doc_type=row.doc_type, classification=row.classification,
                   classified_by=row.classified_by, urgency=row.urgency,
                   department=row.department, status=row.status,
                   fields=dict(row.fields or {}), created_by=row.created_by,
                   created_at=row.created_at)


@dataclass(frozen=True, slots=True)
class CaseDetail:
    """A case and the document it routes, as one case call of the API shows them."""

    case: CaseView
    document: DocumentView | None

    @classmethod
    def from_row(cls, row: Instance) -> CaseDetail:
        document = row.document
        return cls(case=CaseView.from_row(row),
                   document=None if document is None else DocumentView.from_row(document))


@dataclass(frozen=True, slots=True)
class FormView:
    """One deployed version of a user-task form."""

    id: int
    key: str
    version: int
    schema: dict[str, Any]
    sha256: str
    deployed_by: str
    deployed_at: datetime

    @classmethod
    def from_row(cls, row: Form) -> FormView:
        return cls(id=row.id, key=row.key, version=row.version, schema=dict(row.schema),
                   sha256=row.sha256, deployed_by=row.deployed_by,
                   deployed_at=row.deployed_at)


@dataclass(frozen=True, slots=True)
class AttachmentView:
    """One stored version of a document's attachment (its metadata, never its bytes)."""

    id: int
    document_id: int
    name: str
    version: int
    sha256: str
    size: int
    content_type: str
    uploaded_by: str
    uploaded_at: datetime

    @classmethod
    def from_row(cls, row: Attachment) -> AttachmentView:
        return cls(id=row.id, document_id=row.document_id, name=row.name,
                   version=row.version, sha256=row.sha256, size=row.size,
                   content_type=row.content_type, uploaded_by=row.uploaded_by,
                   uploaded_at=row.uploaded_at)
