"""Administration of step targets: how long a step may take by urgency, for tasks whose
diagram gives no due date. Changes go through ``engine.deadlines.step_targets``."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine import DocrouteError
from engine.deadlines import step_targets

from . import get_docroute
from .admin_base import bp
from .auth import current_actor


@bp.get("/step-targets")
def step_targets_page() -> Any:
    with get_docroute().session() as s:
        rows = step_targets.list_rows(s)
        steps = step_targets.user_steps(s)
    return render_template("admin/step_targets.html", rows=rows, steps=steps,
                           defaults=step_targets.DEFAULTS, urgencies=step_targets.URGENCIES)


@bp.post("/step-targets")
def step_targets_save() -> Any:
    form = request.form
    try:
        with get_docroute().session() as s:
            if form.get("action") == "remove":
                step_targets.remove_target(s, current_actor(), form.get("process_key", ""),
                                           form.get("step", ""), form.get("urgency", ""))
                flash(_("The target was removed; the more general one applies again."),
                      "success")
            else:
                step_targets.set_target(s, current_actor(), form.get("process_key", "*"),
                                        form.get("step", "*") or "*", form.get("urgency", ""),
                                        form.get("amount", ""), form.get("unit", ""))
                flash(_("The target was saved. It applies to tasks that open from now on."),
                      "success")
    except DocrouteError as error:
        flash(str(error), "error")
    return redirect(url_for("admin.step_targets_page"))
