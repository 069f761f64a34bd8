"""The JSON API under /api/v1, authenticated by per-user Bearer tokens.

It calls the same engine functions as the pages. Errors are JSON objects with an
``error`` sentence (and ``errors`` per field for 422); bad input never yields a 500.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from flask import abort, jsonify, request
from sqlalchemy.orm import Session

from engine import NotFound, definitions, history, runtime
from engine.definitions import forms
from engine.ids import MAX_ID
from engine.queries import records
from engine.queries.inbox import InboxFilter, list_rows
from engine.queries.views import CaseDetail, TaskView

from . import get_docroute
from .api_base import api_actor, bp, instance_json, int_arg, json_body, not_auditor, task_json
from .openapi import OPENAPI

if TYPE_CHECKING:
    from engine.models import Definition


def _start_form(s: Session, definition: Definition) -> dict[str, Any] | None:
    key = runtime.start_form_key(s, definition)
    return forms.resolve(s, forms.get(s, key, None).schema) if key else None


# --- calls ---------------------------------------------------------------------------


@bp.get("/openapi.json")
def openapi() -> Any:
    return jsonify(OPENAPI)


@bp.get("/definitions")
def list_definitions() -> Any:
    actor = api_actor()
    with get_docroute().session() as s:
        return jsonify([
            {"key": d.key, "version": d.version, "name": d.name,
             "start_form": _start_form(s, d)}
            for d in definitions.list_latest(s) if runtime.may_start(d, actor)
        ])


@bp.post("/definitions/<key>/instances")
def start_instance(key: str) -> Any:
    actor = api_actor()
    not_auditor(actor)
    body = json_body()
    data = body.get("data", {})
    document_id = body.get("document_id")
    if document_id is not None and not isinstance(document_id, int):
        abort(400, "document_id must be a whole number")
    if document_id is not None and not 0 <= document_id <= MAX_ID:
        raise NotFound(f"no document with id {document_id}")
    with get_docroute().session() as s:
        instance = runtime.start_case(s, actor, key, data, document_id=document_id)
        return jsonify(instance_json(CaseDetail.from_row(instance))), 201


@bp.get("/instances/<int:instance_id>")
def get_instance(instance_id: int) -> Any:
    actor = api_actor()
    with get_docroute().session() as s:
        # engine.org.access decides (clearance, then the document's rule or participation).
        return jsonify(instance_json(records.case_detail(s, actor, instance_id)))


@bp.get("/instances/<int:instance_id>/history")
def instance_history(instance_id: int) -> Any:
    actor = api_actor()
    with get_docroute().session() as s:
        runtime.get_instance(s, instance_id, actor)  # NotFound unless engine.org.access allows
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
    flt = InboxFilter(scope=scope, limit=int_arg("limit", 100, 500),
                      offset=int_arg("offset", 0, 10**9),
                      process_key=request.args.get("process", ""))
    with get_docroute().reading() as s:
        # The inbox page's query: one visibility rule for both.
        return jsonify([task_json(line.task) for line in list_rows(s, api_actor(), flt)])


@bp.get("/tasks/<task_id>")
def get_task(task_id: str) -> Any:
    actor = api_actor()
    with get_docroute().session() as s:
        row = runtime.get_task_row(s, task_id, actor)
        instance = records.case_row(s, row)
        body = task_json(TaskView.from_row(row))
        body["form"] = runtime.task_form(s, instance, row)
        body["data"] = runtime.task_data(s, row)
        return jsonify(body)


@bp.post("/tasks/<task_id>/claim")
def claim(task_id: str) -> Any:
    actor = api_actor()
    not_auditor(actor)
    with get_docroute().session() as s:
        return jsonify(task_json(TaskView.from_row(runtime.claim(s, task_id, actor))))


@bp.post("/tasks/<task_id>/unclaim")
def unclaim(task_id: str) -> Any:
    actor = api_actor()
    not_auditor(actor)
    with get_docroute().session() as s:
        return jsonify(task_json(TaskView.from_row(runtime.unclaim(s, task_id, actor))))


@bp.post("/tasks/<task_id>/delegate")
def delegate(task_id: str) -> Any:
    actor = api_actor()
    not_auditor(actor)
    to = json_body().get("to")
    if not isinstance(to, str) or not to:
        abort(400, "give the username to delegate to as {\"to\": \"NAME\"}")
    with get_docroute().session() as s:
        return jsonify(task_json(TaskView.from_row(runtime.delegate(s, task_id, actor, to))))


@bp.post("/tasks/<task_id>/complete")
def complete(task_id: str) -> Any:
    actor = api_actor()
    not_auditor(actor)
    data = json_body().get("data", {})
    with get_docroute().session() as s:
        instance = runtime.complete(s, task_id, actor, data)
        return jsonify(instance_json(CaseDetail.from_row(instance)))
