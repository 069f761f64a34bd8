"""The JSON API under /api/v1, authenticated by per-user Bearer tokens.

It calls the same engine functions as the pages. Errors are JSON objects with an
``error`` sentence (and ``errors`` per field for 422); bad input never yields a 500.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, abort, g, jsonify, request
from sqlalchemy.orm import Session

from engine import Actor, NotAllowed, NotFound, definitions, forms, history, identity, runtime
from engine.ids import MAX_ID
from engine.inbox import InboxFilter, list_tasks
from engine.models import Definition, Instance, Task

from . import csrf, get_docroute
from .openapi import OPENAPI

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
        with get_docroute().session() as s:
            user = identity.user_for_token(s, token.strip())
            actor = Actor.of(user) if user is not None else None
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


def _actor() -> Actor:
    return g.actor


def _json_body() -> dict[str, Any]:
    if not request.data:
        return {}
    try:
        body = json.loads(request.data)
    except (ValueError, UnicodeDecodeError):
        abort(400, "the request body is not valid JSON")
    if not isinstance(body, dict):
        abort(400, "the request body must be a JSON object")
    return body


def _int_arg(name: str, default: int, maximum: int) -> int:
    try:
        value = int(request.args.get(name, default))
    except ValueError:
        abort(400, f"{name} must be a whole number")
    return max(0, min(value, maximum))


def _not_auditor(actor: Actor) -> None:
    if actor.is_auditor and not actor.is_admin:
        raise NotAllowed("auditors have read-only access")


# --- serialization ---------------------------------------------------------------------------


def task_json(row: Task) -> dict[str, Any]:
    return {
        "id": row.id, "name": row.name, "spec": row.spec, "instance_id": row.instance_id,
        "form_key": row.form_key, "assignee": row.assignee,
        "candidate_groups": list(row.candidate_groups or []),
        "due_at": row.due_at.isoformat() if row.due_at else None,
        "due_provisional": bool(row.due_provisional),
        "urgency": row.urgency, "reminder_level": row.reminder_level,
        "title": row.title, "process_key": row.process_key, "document_id": row.document_id,
        "created_at": row.created_at.isoformat(),
    }


def instance_json(instance: Instance) -> dict[str, Any]:
    document = instance.document
    return {
        "id": instance.id, "status": instance.status, "title": instance.title,
        "definition": {"key": instance.definition.key, "version": instance.definition.version,
                       "name": instance.definition.name},
        "definition_key": instance.definition.key,
        "definition_version": instance.definition.version,
        "document": None if document is None else {
            "id": document.id, "kind": document.kind, "title": document.title,
            "doc_number": document.doc_number,
            "classification": identity.clearance_name(document.classification),
            "urgency": document.urgency},
        "incident": instance.incident,
        "started_by": instance.started_by, "started_at": instance.started_at.isoformat(),
        "ended_at": instance.ended_at.isoformat() if instance.ended_at else None,
    }


def _start_form(s: Session, definition: Definition) -> dict[str, Any] | None:
    key = runtime.start_form_key(s, definition)
    return forms.resolve(s, forms.get(s, key, None).schema) if key else None


# --- calls ---------------------------------------------------------------------------


@bp.get("/openapi.json")
def openapi() -> Any:
    return jsonify(OPENAPI)


@bp.get("/definitions")
def list_definitions() -> Any:
    actor = _actor()
    with get_docroute().session() as s:
        return jsonify([
            {"key": d.key, "version": d.version, "name": d.name,
             "start_form": _start_form(s, d)}
            for d in definitions.list_latest(s) if runtime.may_start(d, actor)
        ])


@bp.post("/definitions/<key>/instances")
def start_instance(key: str) -> Any:
    actor = _actor()
    _not_auditor(actor)
    body = _json_body()
    data = body.get("data", {})
    document_id = body.get("document_id")
    if document_id is not None and not isinstance(document_id, int):
        abort(400, "document_id must be a whole number")
    if document_id is not None and not 0 <= document_id <= MAX_ID:
        raise NotFound(f"no document with id {document_id}")
    with get_docroute().session() as s:
        instance = runtime.start_case(s, actor, key, data, document_id=document_id)
        return jsonify(instance_json(instance)), 201


@bp.get("/instances/<int:instance_id>")
def get_instance(instance_id: int) -> Any:
    actor = _actor()
    with get_docroute().session() as s:
        # engine.access decides (clearance, then the document's rule or participation).
        instance = runtime.get_instance(s, instance_id, actor)
        return jsonify(instance_json(instance))


@bp.get("/instances/<int:instance_id>/history")
def instance_history(instance_id: int) -> Any:
    actor = _actor()
    with get_docroute().session() as s:
        runtime.get_instance(s, instance_id, actor)  # NotFound unless engine.access allows
        return jsonify([
            {"seq": e.seq, "type": e.type, "actor": e.actor, "at": e.at.isoformat(),
             "task_id": e.task_id, "task_name": e.task_name, "data": json.loads(e.payload),
             "hash": e.hash}
            for e in history.case_events(s, instance_id)
        ])


@bp.get("/tasks")
def tasks() -> Any:
    scope = request.args.get("scope", "all")
    if scope not in ("mine", "group", "all"):
        abort(400, "scope must be mine, group or all")
    flt = InboxFilter(scope=scope, limit=_int_arg("limit", 100, 500),
                      offset=_int_arg("offset", 0, 10**9),
                      process_key=request.args.get("process", ""))
    with get_docroute().session() as s:
        return jsonify([task_json(t) for t in list_tasks(s, _actor(), flt)])


@bp.get("/tasks/<task_id>")
def get_task(task_id: str) -> Any:
    actor = _actor()
    with get_docroute().session() as s:
        row = runtime.get_task_row(s, task_id, actor)
        instance = s.get_one(Instance, row.instance_id)
        body = task_json(row)
        body["form"] = runtime.task_form(s, instance, row)
        body["data"] = runtime.task_data(s, row)
        return jsonify(body)


@bp.post("/tasks/<task_id>/claim")
def claim(task_id: str) -> Any:
    actor = _actor()
    _not_auditor(actor)
    with get_docroute().session() as s:
        return jsonify(task_json(runtime.claim(s, task_id, actor)))


@bp.post("/tasks/<task_id>/unclaim")
def unclaim(task_id: str) -> Any:
    actor = _actor()
    _not_auditor(actor)
    with get_docroute().session() as s:
        return jsonify(task_json(runtime.unclaim(s, task_id, actor)))


@bp.post("/tasks/<task_id>/delegate")
def delegate(task_id: str) -> Any:
    actor = _actor()
    _not_auditor(actor)
    to = _json_body().get("to")
    if not isinstance(to, str) or not to:
        abort(400, "give the username to delegate to as {\"to\": \"NAME\"}")
    with get_docroute().session() as s:
        return jsonify(task_json(runtime.delegate(s, task_id, actor, to)))


@bp.post("/tasks/<task_id>/complete")
def complete(task_id: str) -> Any:
    actor = _actor()
    _not_auditor(actor)
    data = _json_body().get("data", {})
    with get_docroute().session() as s:
        instance = runtime.complete(s, task_id, actor, data)
        return jsonify(instance_json(instance))


from . import api_delegations as _api_delegations  # noqa: E402,F401  (委托 routes on bp)
from . import api_documents as _api_documents  # noqa: E402,F401  (document routes on bp)
from . import api_links as _api_links  # noqa: E402,F401  (linked-case routes on bp)
from . import api_reports as _api_reports  # noqa: E402,F401  (report routes on bp)
