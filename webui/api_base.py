"""The API blueprint and what every API module shares: token authentication, the JSON
body and argument helpers, and the task and case JSON shapes.

A leaf module: ``api``, ``api_documents``, ``api_links`` and ``api_reports`` import it;
``create_app`` imports each of them once, by name.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from flask import Blueprint, abort, g, jsonify, request

from engine import Actor, NotAllowed
from engine.ids import MAX_ID
from engine.org import identity

from . import csrf, get_docroute

if TYPE_CHECKING:
    from engine.queries.views import CaseDetail, TaskView

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)


_UNCHECKED = object()


def bearer_actor() -> Actor | None:
    """The actor of this request's ``Authorization: Bearer`` token, or None.

    The token is looked up once per request and remembered on ``g``: the app-wide
    read-only rule for auditors (``webui/audit.py``) runs before this blueprint's hook and
    needs the same answer, and a second lookup cost a tenth of an API call's CPU.
    """
    cached = g.get("bearer_actor", _UNCHECKED)
    if cached is not _UNCHECKED:
        return cached  # type: ignore[return-value]
    actor = None
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        docroute = get_docroute()
        with docroute.reading() as s:  # most requests only read the token
            use = identity.token_use(s, token.strip())
            actor = Actor.of(use.user) if use is not None else None
        if use is not None and use.record:
            with docroute.session() as s:
                identity.record_token_use(s, use.token_id)
    g.bearer_actor = actor
    return actor


@bp.before_request
def _authenticate() -> Any:
    if request.endpoint == "api.openapi":
        return None
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return jsonify({"error": "authentication required: send 'Authorization: Bearer "
                                 "TOKEN' (create one with 'docroute token create NAME')"}), 401
    actor = bearer_actor()
    if actor is None:
        return jsonify({"error": "the token is not valid"}), 401
    g.actor = actor
    return None


@bp.url_value_preprocessor
def _ids_in_range(endpoint: str | None, values: dict[str, Any] | None) -> None:
    for value in (values or {}).values():
        if isinstance(value, int) and not 0 <= value <= MAX_ID:
            abort(404)


def api_actor() -> Actor:
    return g.actor


def json_body() -> dict[str, Any]:
    if not request.data:
        return {}
    try:
        body = json.loads(request.data)
    except (ValueError, UnicodeDecodeError):
        abort(400, "the request body is not valid JSON")
    if not isinstance(body, dict):
        abort(400, "the request body must be a JSON object")
    return body


def int_arg(name: str, default: int, maximum: int) -> int:
    try:
        value = int(request.args.get(name, default))
    except ValueError:
        abort(400, f"{name} must be a whole number")
    return max(0, min(value, maximum))


def not_auditor(actor: Actor) -> None:
    if actor.is_auditor and not actor.is_admin:
        raise NotAllowed("auditors have read-only access")


# --- serialization ---------------------------------------------------------------------------


def task_json(row: TaskView) -> dict[str, Any]:
    return {
        "id": row.id, "name": row.name, "spec": row.spec, "instance_id": row.instance_id,
        "form_key": row.form_key, "assignee": row.assignee,
        "candidate_groups": list(row.candidate_groups),
        "due_at": row.due_at.isoformat() if row.due_at else None,
        "due_provisional": row.due_provisional,
        "urgency": row.urgency, "reminder_level": row.reminder_level,
        "title": row.title, "process_key": row.process_key, "document_id": row.document_id,
        "created_at": row.created_at.isoformat(),
    }


def instance_json(detail: CaseDetail) -> dict[str, Any]:
    instance, document = detail.case, detail.document
    return {
        "id": instance.id, "status": instance.status, "title": instance.title,
        "definition": {"key": instance.definition_key, "version": instance.definition_version,
                       "name": instance.definition_name},
        "definition_key": instance.definition_key,
        "definition_version": instance.definition_version,
        "document": None if document is None else {
            "id": document.id, "kind": document.kind, "title": document.title,
            "doc_number": document.doc_number,
            "classification": identity.clearance_name(document.classification),
            "urgency": document.urgency},
        "incident": instance.incident,
        "started_by": instance.started_by, "started_at": instance.started_at.isoformat(),
        "ended_at": instance.ended_at.isoformat() if instance.ended_at else None,
    }
