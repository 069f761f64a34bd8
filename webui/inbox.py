"""The staff inbox and task pages."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine import Conflict, FormInvalid, NotFound, runtime
from engine.inbox import InboxFilter, list_tasks
from engine.models import Instance

from . import get_docroute
from .auth import current_actor, staff_required
from .formdata import parse_form

bp = Blueprint("inbox", __name__)


@bp.get("/")
def index() -> Any:
    actor = current_actor()
    scope = request.args.get("scope", "all")
    flt = InboxFilter(scope=scope if scope in ("mine", "group", "all") else "all",
                      search=request.args.get("q", ""))
    with get_docroute().session() as s:
        tasks = list_tasks(s, actor, flt)
        return render_template("inbox/index.html", tasks=tasks, flt=flt)


@bp.route("/tasks/<task_id>", methods=["GET", "POST"])
def task(task_id: str) -> Any:
    actor = current_actor()
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    with get_docroute().session() as s:
        try:
            row = runtime.get_task_row(s, task_id, actor)
        except (Conflict, NotFound) as error:
            flash(str(error), "error")
            return redirect(url_for("inbox.index"))
        instance = s.get(Instance, row.instance_id)
        schema = runtime.task_form(s, instance, row)
        values = runtime.task_data(s, row)
    if request.method == "POST":
        staff_required(lambda: None)()
        values.update(request.form.to_dict())
        try:
            with get_docroute().session() as s:
                runtime.complete(s, task_id, actor, parse_form(schema, request.form))
            flash(_("Done: %(name)s", name=row.name), "success")
            return redirect(url_for("inbox.index"))
        except FormInvalid as error:
            errors = error.errors
        except Conflict as error:
            flash(str(error), "error")
            return redirect(url_for("inbox.index"))
    return render_template("inbox/task.html", task=row, instance=instance, schema=schema,
                           values=values, errors=errors), 422 if errors else 200


@bp.post("/tasks/<task_id>/claim")
@staff_required
def claim(task_id: str) -> Any:
    with get_docroute().session() as s:
        runtime.claim(s, task_id, current_actor())
    return redirect(url_for("inbox.task", task_id=task_id))


@bp.post("/tasks/<task_id>/unclaim")
@staff_required
def unclaim(task_id: str) -> Any:
    with get_docroute().session() as s:
        runtime.unclaim(s, task_id, current_actor())
    return redirect(url_for("inbox.index"))
