"""Administration of cases: find, suspend, resume, terminate, retry, reassign, migrate."""

from __future__ import annotations

import json
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine import DocrouteError, definitions, history
from engine.org import organisation
from engine.runtime import admin
from engine.runtime.admin import CaseFilter, Refusal

from . import get_docroute
from .admin_base import bp, status_label
from .auth import current_actor

STATUSES = ("running", "suspended", "error", "completed", "terminated")
ACTIONS = {"suspend": admin.suspend, "resume": admin.resume, "terminate": admin.terminate,
           "retry": admin.retry}


def refusal_text(refusal: Refusal) -> str:
    """A migration refusal in the user's language (the engine gives code and values)."""
    p = dict(refusal.params)
    texts = {
        "status": lambda: _("only running or suspended cases can move; this one is "
                            "%(status)s.", status=status_label(p["status"])),
        "same_version": lambda: _("the case already runs on version %(version)s.", **p),
        "task_missing": lambda: _("the case waits at %(task)s, which the new version does "
                                  "not have.", **p),
        "task_type": lambda: _("the case waits at %(task)s, which is a %(new_type)s in the "
                               "new version, not a %(old_type)s.", **p),
        "no_start": lambda: _("the case's history does not begin with its start."),
        "not_reached": lambda: _("the completed step %(task)s is not reached on version "
                                 "%(version)s, so the path the case took would be "
                                 "invalidated.", **p),
        "incident": lambda: _("the case has had an incident; cases with incidents are not "
                              "moved automatically."),
        "unknown_event": lambda: _("the case's history has a “%(event)s” event that a "
                                   "migration cannot carry over.", **p),
        "step_fails": lambda: _("replaying the step “%(step)s” on version %(version)s "
                                "fails: %(error)s", **p),
        "waits_elsewhere": lambda: _("on version %(version)s the case would wait at "
                                     "%(would)s instead of %(was)s.", **p),
        "ends": lambda: _("on the new version the case would end at once."),
    }
    text = texts.get(refusal.code)
    return text() if text else str(refusal)


def _case_row(instance: Any) -> dict[str, Any]:
    document = instance.document
    return {"id": instance.id, "title": instance.title, "status": instance.status,
            "key": instance.definition.key, "version": instance.definition.version,
            "process": instance.definition.name,
            "doc_number": document.doc_number if document else None,
            "started_by": instance.started_by, "started_at": instance.started_at,
            "updated_at": instance.updated_at, "incident": instance.incident}


@bp.get("/cases")
def cases() -> Any:
    args = request.args
    flt = CaseFilter(process=args.get("process", ""),
                     status=args.get("status", "") if args.get("status") in STATUSES else "",
                     title=args.get("title", ""), doc_number=args.get("doc_number", ""),
                     version=args.get("version", type=int))
    with get_docroute().session() as s:
        rows = [_case_row(i) for i in admin.find_cases(s, current_actor(), flt)]
        processes = definitions.latest_names(s)
    return render_template("admin/cases.html", cases=rows, flt=flt, statuses=STATUSES,
                           processes=processes)


@bp.get("/cases/<int:case_id>")
def case(case_id: int) -> Any:
    actor = current_actor()
    target_id = request.args.get("target", type=int)
    with get_docroute().session() as s:
        instance = admin.case(s, actor, case_id)
        row = _case_row(instance)
        tasks = [{"id": t.id, "name": t.name, "assignee": t.assignee,
                  "groups": list(t.candidate_groups or []), "due_at": t.due_at,
                  "created_at": t.created_at} for t in admin.open_tasks(s, case_id)]
        events = [{"seq": e.seq, "type": e.type, "actor": e.actor, "at": e.at,
                   "task_name": e.task_name, "reason": json.loads(e.payload).get("reason"),
                   "payload": _short(e.payload)}
                  for e in history.case_events(s, case_id)]
        versions = [{"id": d.id, "version": d.version} for d, _n in definitions.list_all(s)
                    if d.key == instance.definition.key
                    and d.version > instance.definition.version]
        plan = None
        # Checking replays the whole history, so it runs only when asked for.
        if target_id and versions and instance.status in ("running", "suspended"):
            checked, _wf = admin.plan_migration(s, actor, case_id, target_id)
            plan = {"target_id": checked.target.id, "version": checked.target.version,
                    "possible": checked.possible,
                    "reasons": [refusal_text(r) for r in checked.reasons],
                    "waiting_at": checked.waiting_at}
        people = [{"username": u.username, "name": u.name}
                  for u in organisation.active_users(s)]
    movable = bool(versions) and row["status"] in ("running", "suspended")
    return render_template("admin/case.html", case=row, tasks=tasks, events=events,
                           versions=versions if movable else [], plan=plan, people=people)


def _short(payload: str) -> str:
    text = json.dumps(json.loads(payload), ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 300 else text[:297] + "…"


@bp.post("/cases/<int:case_id>/<action>")
def case_action(case_id: int, action: str) -> Any:
    operation = ACTIONS.get(action)
    if operation is None:
        abort(404)
    try:
        with get_docroute().session() as s:
            operation(s, current_actor(), case_id, request.form.get("reason", ""))
        flash(_("Done. The action and its reason are in the case history."), "success")
    except DocrouteError as error:
        flash(str(error), "error")
    return redirect(url_for("admin.case", case_id=case_id))


@bp.post("/cases/<int:case_id>/migrate")
def case_migrate(case_id: int) -> Any:
    target = request.form.get("target", type=int)
    try:
        with get_docroute().session() as s:
            moved = admin.migrate(s, current_actor(), case_id, request.form.get("reason", ""),
                                  target)
            version = moved.definition.version
        flash(_("The case now runs on version %(version)s.", version=version), "success")
    except admin.MigrationRefused as error:
        for refusal in error.reasons:
            flash(refusal_text(refusal), "error")
    except DocrouteError as error:
        flash(str(error), "error")
    return redirect(url_for("admin.case", case_id=case_id))


@bp.post("/tasks/<task_id>/reassign")
def task_reassign(task_id: str) -> Any:
    case_id = request.form.get("case_id", type=int)
    try:
        with get_docroute().session() as s:
            admin.reassign(s, current_actor(), task_id, request.form.get("reason", ""),
                           request.form.get("to") or None)
        flash(_("The task was reassigned."), "success")
    except DocrouteError as error:
        flash(str(error), "error")
    if case_id:
        return redirect(url_for("admin.case", case_id=case_id))
    return redirect(url_for("admin.cases"))


@bp.route("/processes/<int:definition_id>/migrate", methods=["GET", "POST"])
def migrate_version(definition_id: int) -> Any:
    """Every running case of one version: which can move to the newest, and why not."""
    actor = current_actor()
    app = get_docroute()
    with app.session() as s:
        source = definitions.get(s, definition_id)
        target = definitions.latest(s, source.key)
        assert target is not None
        info = {"id": source.id, "key": source.key, "name": source.name,
                "version": source.version, "target": target.version, "target_id": target.id}
        ids = [i.id for i in admin.migratable_cases(s, actor, definition_id)]
    moved: list[int] = []
    if request.method == "POST":
        reason = request.form.get("reason", "")
        try:
            organisation.require_reason(reason)
        except DocrouteError as error:
            flash(str(error), "error")
            return redirect(url_for("admin.migrate_version", definition_id=definition_id))
        for case_id in ids:
            try:
                with app.session() as s:  # one transaction per case: a refusal moves no other
                    admin.migrate(s, actor, case_id, reason, target.id)
                moved.append(case_id)
            except DocrouteError:
                continue
        flash(_("Moved %(moved)s of %(total)s case(s) to version %(version)s.",
                moved=len(moved), total=len(ids), version=target.version), "success")
        return redirect(url_for("admin.migrate_version", definition_id=definition_id))
    plans = []
    with app.session() as s:
        for case_id in ids:
            plan, _wf = admin.plan_migration(s, actor, case_id, target.id)
            instance = admin.case(s, actor, case_id)
            plans.append({"id": case_id, "title": instance.title, "possible": plan.possible,
                          "reasons": [refusal_text(r) for r in plan.reasons],
                          "waiting_at": plan.waiting_at})
    return render_template("admin/migrate.html", source=info, plans=plans)
