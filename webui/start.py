"""Start a case of a duty that routes no registered document: a meeting, 主动公开, 政务信息,
a request for a decision (事项审批), a follow-up (督办). The case starts empty; its first
task (筹备, 登记, 填写申请 …) is where the starter fills it in, so this page only starts it
and opens that task. Who may start which process is ``runtime.may_start``'s rule."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _

from engine import NotAllowed, definitions, runtime
from engine.queries import records

from . import get_docroute
from .auth import current_actor, staff_required

if TYPE_CHECKING:
    pass

bp = Blueprint("start", __name__, url_prefix="/start")
# The duties started here; documents are registered on their own pages (收文, 发文).
PROCESSES = ("meeting", "proactive_disclosure", "government_information", "item_approval",
             "supervision")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


@bp.get("/")
@staff_required
def index() -> Any:
    actor = current_actor()
    with get_docroute().session() as s:
        startable = [{"key": d.key, "name": d.name} for d in definitions.list_latest(s)
                     if d.key in PROCESSES and runtime.may_start(d, actor)]
    return render_template("start/index.html", processes=startable)


@bp.post("/<key>")
@staff_required
def new(key: str) -> Any:
    if key not in PROCESSES:
        abort(404)
    actor = current_actor()
    try:
        with get_docroute().session() as s:
            instance = runtime.start_case(s, actor, key, {})
            task = records.first_task_for(s, actor, instance.id)
            first = None if task is None else task.id
            case_id = instance.id
    except NotAllowed:
        flash(_("You may not start this kind of case."), "error")
        return redirect(url_for("start.index"))
    flash(_("The case has started."), "success")
    if first is not None:
        return redirect(url_for("tasks.task", task_id=first))
    return redirect(url_for("documents.case", instance_id=case_id))
