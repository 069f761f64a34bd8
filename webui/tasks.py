"""The task page: the document, earlier opinions, and the task's form.

Completing, saving a draft and sending back (退回) all post to the same page. A task that
someone else completed or changed meanwhile sends the user back to the inbox with a
message, never to an error page; a second click on the same button finds the task gone
and does the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from engine import Actor, Conflict, DocrouteError, FormInvalid, NotFound, clock, runtime
from engine.org import authority
from engine.queries import records
from engine.queries.views import CaseDetail, TaskView
from engine.runtime import drafts

from . import get_docroute
from .auth import current_actor, staff_required
from .documents import attachment_views, document_view
from .formdata import friendly_errors, parse_form, with_defaults
from .inbox import flash_engine_error, stale_task_message
from .timeline import case_timeline, opinion_entries
from .views import en_name, is_english, people_and_groups

if TYPE_CHECKING:
    from engine.models import Instance, Task

bp = Blueprint("tasks", __name__)
RETURN_VALUE = "return"


def decision_options(schema: dict[str, Any]) -> tuple[bool, list[Any]]:
    """Whether the form offers 退回 (decision=return), and its other decision values."""
    decision = (schema.get("properties") or {}).get("decision") or {}
    values = list(decision.get("enum") or [])
    return RETURN_VALUE in values, [v for v in values if v != RETURN_VALUE]


def _page(s: Session, actor: Actor, row: Task, values: dict[str, Any],
          errors: dict[str, str]) -> dict[str, Any]:
    instance = records.case_row(s, row)
    detail = CaseDetail.from_row(instance)
    schema = runtime.task_form(s, instance, row)
    can_return, other_decisions = decision_options(schema)
    draft = drafts.get(s, actor, row.id)
    return {
        "task": TaskView.from_row(row), "instance": detail.case, "schema": schema,
        "values": values, "errors": errors, "document": document_view(detail.document),
        "attachments": attachment_views(s, instance.document_id),
        "opinions": opinion_entries(case_timeline(s, detail.case)), "can_return": can_return,
        "other_decisions": other_decisions, "draft_saved_at": draft.saved_at if draft else None,
        "delegates": _holders(s, actor, instance, row),
        "process_name": detail.case.definition_name, "now": clock.now(),
        "mine": row.assignee == actor.username,
        "assignee_name": people_and_groups(s).get(row.assignee or "", row.assignee),
    }


def _holders(s: Session, actor: Actor, instance: Instance, row: Task) -> list[dict[str, str]]:
    """Whom the task may be delegated to: those who may hold it (engine.org.authority)."""
    return [{"username": u.username, "name": u.name, "title": u.title}
            for u in authority.holders(s, instance, row) if u.username != actor.username]


def _load(s: Session, actor: Actor, task_id: str) -> Task:
    return runtime.get_task_row(s, task_id, actor)


@bp.get("/tasks/<task_id>")
def task(task_id: str) -> Any:
    actor = current_actor()
    try:
        with get_docroute().session() as s:
            row = _load(s, actor, task_id)
            values = runtime.task_data(s, row)
            draft = drafts.get(s, actor, task_id)
            if draft is not None:
                values.update(draft.data)
            instance = records.case_row(s, row)
            values = with_defaults(runtime.task_form(s, instance, row), values, is_english())
            return render_template("inbox/task.html", **_page(s, actor, row, values, {}))
    except (Conflict, NotFound):
        flash(stale_task_message(), "error")
        return redirect(url_for("inbox.index"))


@bp.post("/tasks/<task_id>")
@staff_required
def submit(task_id: str) -> Any:
    actor = current_actor()
    action = request.form.get("action", "complete")
    try:
        with get_docroute().session() as s:
            row = _load(s, actor, task_id)
            instance = records.case_row(s, row)
            schema = runtime.task_form(s, instance, row)
            data = parse_form(schema, request.form)
            if action == "return":
                data["decision"] = RETURN_VALUE
            elif action == "draft":
                return _save_draft(s, actor, row, data)
    except (Conflict, NotFound):
        flash(stale_task_message(), "error")
        return redirect(url_for("inbox.index"))
    return _complete(actor, task_id, schema, data, action)


def _save_draft(s: Session, actor: Actor, row: Task, data: dict[str, Any]) -> Any:
    drafts.save(s, actor, row.id, data)
    flash(_("Draft saved. Only you can see it until you submit."), "success")
    return redirect(url_for("tasks.task", task_id=row.id))


def _complete(actor: Actor, task_id: str, schema: dict[str, Any], data: dict[str, Any],
              action: str) -> Any:
    try:
        with get_docroute().session() as s:
            row = _load(s, actor, task_id)
            name, instance_id = row.name, row.instance_id
            runtime.complete(s, task_id, actor, data)
            following = _next_task(s, actor, instance_id)
    except FormInvalid as error:
        return _invalid(actor, task_id, schema, data, error)
    except (Conflict, NotFound):
        flash(stale_task_message(), "error")
        return redirect(url_for("inbox.index"))
    except DocrouteError as error:
        flash_engine_error(error)
        return redirect(url_for("inbox.index"))
    if action == "return":
        flash(_("Sent back: “%(name)s”.", name=en_name(name)), "success")
    else:
        flash(_("Done: “%(name)s”.", name=en_name(name)), "success")
    if following is not None:
        flash(_("Your next step in this case: “%(name)s”.", name=en_name(following.name)),
              "info")
        return redirect(url_for("tasks.task", task_id=following.id))
    return redirect(url_for("inbox.index"))


def _invalid(actor: Actor, task_id: str, schema: dict[str, Any], data: dict[str, Any],
             error: FormInvalid) -> Any:
    errors = friendly_errors(schema, data, error.errors)
    try:
        with get_docroute().session() as s:
            row = _load(s, actor, task_id)
            values = runtime.task_data(s, row)
            values.update(data)
            page = _page(s, actor, row, values, errors)
            flash(_("Please correct the marked fields."), "error")
            # 200, not 422: browsers log a failed resource load for a 4xx page.
            return render_template("inbox/task.html", **page)
    except (Conflict, NotFound):
        flash(stale_task_message(), "error")
        return redirect(url_for("inbox.index"))


def _next_task(s: Session, actor: Actor, instance_id: int) -> TaskView | None:
    """A task of the same case that this person may do right away (e.g. 签收 → 登记)."""
    return records.first_task_for(s, actor, instance_id, claimable=True)
