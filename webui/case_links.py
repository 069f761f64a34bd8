"""Linked cases on a case's page: a meeting's decisions and their follow-up cases with
their progress, and the one-click 批示 -> 督办 for an incoming document's instruction.
The rules are ``engine.registry.links``'s."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, flash, redirect, url_for
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from engine import Conflict, NotAllowed
from engine.registry import links

from . import get_docroute
from .auth import current_actor, staff_required

if TYPE_CHECKING:
    from engine.queries.views import CaseView

bp = Blueprint("case_links", __name__)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


def view(s: Session, instance: CaseView) -> dict[str, Any]:
    """What the case page shows of the case's links (plain values for the template)."""
    actor = current_actor()
    return {"links": links.linked_cases(s, actor, instance.id),
            "may_open_supervision": links.may_open_supervision(s, actor, instance.id)}


@bp.post("/cases/<int:instance_id>/supervision")
@staff_required
def open_supervision(instance_id: int) -> Any:
    try:
        with get_docroute().session() as s:
            case = links.supervise_instruction(s, current_actor(), instance_id)
            new_id = case.id
    except (Conflict, NotAllowed) as error:
        flash(str(error), "error")
        return redirect(url_for("documents.case", instance_id=instance_id))
    flash(_("The instruction is now follow-up case %(id)d.", id=new_id), "success")
    return redirect(url_for("documents.case", instance_id=new_id))
