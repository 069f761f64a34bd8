"""Document calls of the JSON API: register, search, read, attach, download.

Registered on ``webui.api.bp`` (same token authentication and JSON errors). A document
the caller may not see (``engine.org.access``: clearance and involvement) answers 404, exactly
like one that does not exist; its classification changes only through its own call.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import abort, jsonify, request, send_file
from sqlalchemy.orm import Session

from engine import Actor
from engine.deadlines import chase
from engine.org import identity
from engine.queries.views import AttachmentView, CaseView, DocumentView
from engine.registry import attachments, classification, documents
from engine.registry.documents import Search

from . import get_docroute
from .api_base import api_actor, bp, int_arg, json_body, not_auditor


def attachment_json(row: AttachmentView, document_id: int) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "version": row.version, "size": row.size,
            "sha256": row.sha256, "content_type": row.content_type,
            "uploaded_by": row.uploaded_by, "uploaded_at": row.uploaded_at.isoformat(),
            "url": f"/api/v1/documents/{document_id}/attachments/{row.id}"}


def document_json(document: DocumentView) -> dict[str, Any]:
    return {
        "id": document.id, "kind": document.kind, "title": document.title,
        "doc_number": document.doc_number, "doc_type": document.doc_type,
        "classification": identity.clearance_name(document.classification),
        "urgency": document.urgency, "department": document.department,
        "status": document.status, "fields": document.fields,
        "created_by": document.created_by, "created_at": document.created_at.isoformat(),
    }


def _case_json(instance: CaseView) -> dict[str, Any]:
    return {"id": instance.id, "status": instance.status, "title": instance.title,
            "definition_key": instance.definition_key,
            "definition_version": instance.definition_version,
            "started_at": instance.started_at.isoformat(),
            "ended_at": instance.ended_at.isoformat() if instance.ended_at else None}


def _full(s: Session, actor: Actor, document: DocumentView) -> dict[str, Any]:
    body = document_json(document)
    withheld = bool(document.fields.get(attachments.WITHHELD_FIELD))
    body["attachments"] = [{**attachment_json(a, document.id), "withheld": withheld}
                           for a in attachments.list_for(s, document.id)]
    body["cases"] = [_case_json(i) for i in documents.cases_of(s, actor, document.id)]
    return body


def _limits() -> attachments.Limits:
    settings = get_docroute().settings
    return attachments.Limits(settings.attachments_dir, settings.max_attachment_bytes)


def _date_arg(name: str) -> date | None:
    raw = request.args.get(name, "")
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        abort(400, f"{name} must be a date like 2026-03-02")


@bp.post("/documents")
def create_document() -> Any:
    actor = api_actor()
    not_auditor(actor)
    body = json_body()
    kind = body.get("kind")
    fields = body.get("fields", {})
    if not isinstance(kind, str) or not isinstance(fields, dict):
        abort(400, 'send {"kind": KIND, "fields": {...}}')
    with get_docroute().session() as s:
        document = documents.create_document(s, actor, kind, fields)
        return jsonify(_full(s, actor, DocumentView.from_row(document))), 201


@bp.get("/documents")
def list_documents() -> Any:
    flt = Search(q=request.args.get("q", ""), kind=request.args.get("kind", ""),
                 doc_type=request.args.get("doc_type", ""),
                 department=request.args.get("department", ""),
                 status=request.args.get("status", ""),
                 date_from=_date_arg("from"), date_to=_date_arg("to"),
                 limit=int_arg("limit", 50, 500), offset=int_arg("offset", 0, 10**9))
    with get_docroute().session() as s:
        return jsonify([document_json(d) for d in documents.list_documents(s, api_actor(), flt)])


@bp.get("/documents/<int:document_id>")
def get_document(document_id: int) -> Any:
    actor = api_actor()
    with get_docroute().session() as s:
        return jsonify(_full(s, actor, documents.visible_document(s, actor, document_id)))


@bp.patch("/documents/<int:document_id>")
def update_document(document_id: int) -> Any:
    actor = api_actor()
    not_auditor(actor)
    fields = json_body().get("fields", {})
    if not isinstance(fields, dict):
        abort(400, 'send {"fields": {...}}')
    with get_docroute().session() as s:
        document = documents.update_document(s, actor, document_id, fields)
        return jsonify(_full(s, actor, DocumentView.from_row(document)))


@bp.post("/documents/<int:document_id>/classification")
def reclassify(document_id: int) -> Any:
    """定密/解密 (engine.registry.classification): ``{"classification": LEVEL, "reason": TEXT}``."""
    actor = api_actor()
    not_auditor(actor)
    body = json_body()
    level, reason = body.get("classification"), body.get("reason")
    if not isinstance(level, str) or not isinstance(reason, str):
        abort(400, 'send {"classification": LEVEL, "reason": "..."}')
    with get_docroute().session() as s:
        document = DocumentView.from_row(
            classification.reclassify(s, actor, document_id, level, reason))
        if not actor.may_see(document.classification):
            return jsonify({"id": document.id, "classification": level}), 200
        return jsonify(_full(s, actor, document))


@bp.post("/documents/<int:document_id>/attachments")
def upload_attachment(document_id: int) -> Any:
    actor = api_actor()
    not_auditor(actor)
    limits = _limits()
    # Refuse on the declared size before the body is read at all.
    declared = request.content_length
    if declared is not None and declared > limits.max_bytes + attachments.ENVELOPE:
        raise attachments.too_large(limits)
    with get_docroute().session() as s:
        document = documents.get_document(s, actor, document_id)
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            abort(400, "send the file as multipart/form-data in the field 'file'")
        row = attachments.add(s, limits, actor, document, upload.filename, upload.stream,
                              declared)
        return jsonify(attachment_json(AttachmentView.from_row(row), document.id)), 201


@bp.get("/documents/<int:document_id>/attachments/<int:attachment_id>")
def download_attachment(document_id: int, attachment_id: int) -> Any:
    actor = api_actor()
    with get_docroute().session() as s:
        document = documents.get_document(s, actor, document_id)
        row, path = attachments.content_path(_limits(), s, document, attachment_id)
        name, content_type = row.name, row.content_type
    return send_file(path, mimetype=content_type, as_attachment=True, download_name=name,
                     max_age=0, etag=False)


@bp.post("/cases/<int:instance_id>/chase")
def chase_case(instance_id: int) -> Any:
    """催办 (engine.deadlines.chase): ``{"note": TEXT}`` optional; notifies the current holders."""
    actor = api_actor()
    not_auditor(actor)
    body = request.get_json(silent=True) or {}
    note = body.get("note", "") if isinstance(body, dict) else ""
    if not isinstance(note, str):
        abort(400, 'send {"note": "..."}')
    with get_docroute().session() as s:
        result = chase.chase(s, actor, instance_id, note)
    return jsonify({"instance_id": result.instance_id, "tasks": result.tasks,
                    "notified": result.notified})
