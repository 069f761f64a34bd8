"""Linked-case calls of the JSON API: a case's linked cases, and 批示 -> 督办 in one call.

Registered on ``webui.api.bp`` (same token authentication and JSON errors). The rules are
the engine's (``engine.registry.links``): who may open a follow-up from an instruction, and which
linked cases a caller is cleared to see.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify

from engine.queries.views import CaseDetail
from engine.registry import links
from engine.registry.links import LinkedCase

from . import get_docroute
from .api_base import api_actor, bp, instance_json, not_auditor


def linked_case_json(case: LinkedCase) -> dict[str, Any]:
    return {"id": case.instance_id, "relation": case.relation, "direction": case.direction,
            "definition_key": case.process_key, "name": case.process_name,
            "title": case.title, "status": case.status, "open_tasks": list(case.open_tasks),
            "due_at": case.due_at.isoformat() if case.due_at else None,
            "started_at": case.started_at.isoformat(),
            "ended_at": case.ended_at.isoformat() if case.ended_at else None}


@bp.get("/instances/<int:instance_id>/links")
def instance_links(instance_id: int) -> Any:
    actor = api_actor()
    with get_docroute().session() as s:
        return jsonify([linked_case_json(c) for c in links.linked_cases(s, actor, instance_id)])


@bp.post("/instances/<int:instance_id>/supervision")
def supervise_instruction(instance_id: int) -> Any:
    actor = api_actor()
    not_auditor(actor)
    with get_docroute().session() as s:
        case = links.supervise_instruction(s, actor, instance_id)
        return jsonify(instance_json(CaseDetail.from_row(case))), 201
