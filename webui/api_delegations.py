"""委托 through the JSON API: a person records, lists and ends their own delegations.

Registered on ``webui.api.bp``. The rules are the engine's (``engine.org.orgchart``): the
absent person or an administrator records a delegation, the delegate must be someone who
may hold those tasks, and every change is an event on the system history.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from flask import abort, jsonify

from engine.org import orgchart

from . import get_docroute
from .api_base import api_actor, bp, json_body, not_auditor

if TYPE_CHECKING:
    from engine.models import Delegation


def delegation_json(row: Delegation) -> dict[str, Any]:
    return {"id": row.id, "from": row.from_user, "to": row.to_user,
            "starts_on": row.starts_on.isoformat(), "ends_on": row.ends_on.isoformat(),
            "scope": list(row.scope or []), "reason": row.reason,
            "created_by": row.created_by, "created_at": row.created_at.isoformat(),
            "ended_at": row.revoked_at.isoformat() if row.revoked_at else None}


def _day(body: dict[str, Any], name: str) -> date:
    try:
        return date.fromisoformat(str(body.get(name) or ""))
    except ValueError:
        abort(400, f"{name} must be a date (YYYY-MM-DD)")


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name, "")
    if not isinstance(value, str):
        abort(400, f"{name} must be text")
    return value


@bp.get("/delegations")
def list_delegations() -> Any:
    actor = api_actor()
    with get_docroute().session() as s:
        rows = orgchart.delegations(s) if actor.is_admin \
            else orgchart.delegations_of(s, actor.username)
        return jsonify([delegation_json(r) for r in rows])


@bp.post("/delegations")
def add_delegation() -> Any:
    actor = api_actor()
    not_auditor(actor)
    body = json_body()
    scope = body.get("scope", [])
    if not isinstance(scope, list) or not all(isinstance(k, str) for k in scope):
        abort(400, "scope must be a list of process keys (empty: every process)")
    with get_docroute().session() as s:
        row = orgchart.add_delegation(
            s, actor, _text(body, "from") or actor.username, _text(body, "to"),
            starts_on=_day(body, "starts_on"), ends_on=_day(body, "ends_on"), scope=scope,
            reason=_text(body, "reason"))
        return jsonify(delegation_json(row)), 201


@bp.post("/delegations/<int:delegation_id>/end")
def end_delegation(delegation_id: int) -> Any:
    actor = api_actor()
    not_auditor(actor)
    body = json_body()
    with get_docroute().session() as s:
        row = orgchart.revoke_delegation(s, actor, delegation_id, reason=_text(body, "reason"))
        return jsonify(delegation_json(row))
