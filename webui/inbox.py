"""The staff inbox: my tasks and my groups' tasks, claim / release / delegate, notifications."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from engine import Actor, Conflict, DocrouteError, NotAllowed, NotFound, clock, definitions, runtime
from engine.deadlines import notify
from engine.ids import parse_id
from engine.org import access, identity
from engine.queries import handled
from engine.queries.inbox import (
    LEVELS,
    InboxFilter,
    InboxRow,
    list_rows,
)
from engine.queries.inbox import counts as inbox_counts

from . import get_docroute, notices
from .auth import current_actor, staff_required
from .registration import startable_kinds
from .safety import safe_next
from .views import one_language, people_and_groups

bp = Blueprint("inbox", __name__)
SCOPES = ("all", "mine", "group")
PAGE = 50


def _filter() -> InboxFilter:
    scope = request.args.get("scope", "all")
    try:
        page = max(1, int(request.args.get("page", "1")))
    except ValueError:
        page = 1
    return InboxFilter(scope=scope if scope in SCOPES else "all",
                       process_key=request.args.get("process", "")[:128],
                       document_kind=request.args.get("kind", "")[:32],
                       overdue=request.args.get("overdue") == "1",
                       search=request.args.get("q", "").strip()[:100],
                       level=level if (level := request.args.get("level", "")) in LEVELS else "",
                       limit=PAGE + 1, offset=(page - 1) * PAGE)


@bp.get("/")
def index() -> Any:
    actor = current_actor()
    flt = _filter()
    with get_docroute().reading() as s:  # reads only: no wait for SQLite's write lock
        rows = list_rows(s, actor, flt)
        more = len(rows) > PAGE
        names = people_and_groups(s)
        tasks = [_row_view(row, names) for row in rows[:PAGE]]
        processes = definitions.latest_names(s)
        startable = startable_kinds(s, actor)
        counts, levels = inbox_counts(s, actor)
    page = flt.offset // PAGE + 1
    return render_template("inbox/index.html", tasks=tasks, flt=flt, processes=processes,
                           startable=startable,
                           counts=counts, levels=levels, page=page, more=more,
                           now=clock.now(),
                           filtered=bool(flt.process_key or flt.document_kind or flt.overdue
                                         or flt.search or flt.level))


def _row_view(line: InboxRow, names: dict[str, str]) -> dict[str, Any]:
    row = line.task
    # A 收文 is filed under its 收文号; everything else under its own 文号 (发文字号).
    number = line.receipt_number or line.doc_number
    return {"id": row.id, "name": row.name, "title": row.title, "doc_number": number,
            "document_id": row.document_id, "source_org": line.source_org,
            "source_number": line.source_number, "received_at": line.received_at,
            "process_key": row.process_key, "due_at": row.due_at, "urgency": row.urgency,
            "due_provisional": row.due_provisional,
            "reminder_level": row.reminder_level, "assignee": row.assignee,
            "assignee_name": names.get(row.assignee or "", row.assignee),
            "group_names": "、".join(names.get(g, g) for g in row.candidate_groups),
            "candidate_groups": list(row.candidate_groups), "instance_id": row.instance_id,
            "overdue": row.due_at is not None and row.due_at < clock.now(),
            "classification": row.classification}


def stale_task_message() -> str:
    return _("This task is no longer open: someone else has completed or taken it, or the "
             "case has moved on. Your inbox shows what is open now.")


def flash_engine_error(error: DocrouteError) -> None:
    """An engine refusal as a sentence in the user's language."""
    if isinstance(error, Conflict | NotFound):
        flash(stale_task_message(), "error")
    elif isinstance(error, NotAllowed):
        # The engine's refusal says which rule stopped it (separation of duties, authority).
        flash(f'{_("You may not do this.")} {one_language(error)}', "error")
    else:
        flash(str(error), "error")


@bp.get("/done")
def done() -> Any:
    """已办: the steps I completed, with where each case stands now."""
    actor = current_actor()
    try:
        page = max(1, int(request.args.get("page", "1")))
    except ValueError:
        page = 1
    with get_docroute().session() as s:
        steps = handled.handled_steps(s, actor, limit=PAGE + 1, offset=(page - 1) * PAGE)
        names = people_and_groups(s)
    rows = [{"step": step, "holders": [
        (name, names.get(who, who) if who else "、".join(names.get(g, g) for g in groups))
        for name, who, groups in step.open_steps]} for step in steps[:PAGE]]
    return render_template("inbox/done.html", rows=rows, page=page, more=len(steps) > PAGE)


@bp.post("/tasks/<task_id>/claim")
@staff_required
def claim(task_id: str) -> Any:
    try:
        with get_docroute().session() as s:
            row = runtime.claim(s, task_id, current_actor())
            name = row.name
    except DocrouteError as error:
        flash_engine_error(error)
        return redirect(url_for("inbox.index"))
    from .views import en_name

    flash(_("You have claimed “%(name)s”; it is now in your own list.", name=en_name(name)),
          "success")
    return redirect(url_for("tasks.task", task_id=task_id))


@bp.post("/tasks/<task_id>/unclaim")
@staff_required
def unclaim(task_id: str) -> Any:
    try:
        with get_docroute().session() as s:
            runtime.unclaim(s, task_id, current_actor())
    except DocrouteError as error:
        flash_engine_error(error)
        return redirect(url_for("inbox.index"))
    flash(_("Released: the task is back in its group's list."), "success")
    return redirect(url_for("inbox.index"))


@bp.post("/tasks/<task_id>/delegate")
@staff_required
def delegate(task_id: str) -> Any:
    to = request.form.get("to", "").strip()
    if not to:
        flash(_("Choose the person to delegate to."), "error")
        return redirect(url_for("tasks.task", task_id=task_id))
    try:
        with get_docroute().session() as s:
            runtime.delegate(s, task_id, current_actor(), to)
            target = identity.find_user(s, to)
            name = target.name if target else to
    except NotAllowed:
        flash(_("That person is not cleared for this document."), "error")
        return redirect(url_for("tasks.task", task_id=task_id))
    except NotFound as error:
        if "user" in str(error):
            flash(_("No active user with that name."), "error")
            return redirect(url_for("tasks.task", task_id=task_id))
        flash_engine_error(error)
        return redirect(url_for("inbox.index"))
    except DocrouteError as error:
        flash_engine_error(error)
        return redirect(url_for("inbox.index"))
    flash(_("Delegated to %(name)s.", name=name), "success")
    return redirect(url_for("inbox.index"))


def delegates(s: Session, actor: Actor, classification: int) -> list[dict[str, str]]:
    """The people (not the actor) who could hold a task of that level: the picker's choices."""
    return [{"username": u.username, "name": u.name, "title": u.title}
            for u in identity.list_users(s)
            if u.id != actor.id and access.hold_refusal(u, classification) is None]


# --- notifications -----------------------------------------------------------------------------


@bp.get("/notifications")
def notifications() -> Any:
    actor = current_actor()
    with get_docroute().session() as s:
        items = notices.render(s, notify.list_notifications(s, actor.id, 100))
    return render_template("inbox/notifications.html", items=items)


@bp.post("/notifications/read")
def notifications_read() -> Any:
    actor = current_actor()
    ids = [i for i in map(parse_id, request.form.getlist("id")) if i is not None] or None
    with get_docroute().session() as s:
        notify.mark_read(s, actor.id, ids)
    return redirect(safe_next(request.form.get("next"), url_for("inbox.notifications")))
