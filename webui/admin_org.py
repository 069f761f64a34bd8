"""Administration of the organisation: users, groups, memberships, clearance."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine import DocrouteError
from engine.org import identity, organisation
from engine.queries import records
from engine.runtime import admin

from . import get_docroute
from .admin_base import bp
from .auth import current_actor
from .views import is_english

if TYPE_CHECKING:
    pass


def _flag(name: str) -> bool:
    return request.form.get(name) in ("on", "1", "true")


def _user_view(user: Any) -> dict[str, Any]:
    return {"username": user.username, "name": user.name, "title": user.title,
            "email": user.email, "clearance": identity.clearance_name(user.clearance),
            "groups": [g.key for g in user.groups],
            "group_names": [(g.name_en or g.name) if is_english() else g.name
                            for g in user.groups], "is_admin": user.is_admin,
            "is_auditor": user.is_auditor, "active": user.active}


def _group_view(group: Any) -> dict[str, Any]:
    return {"key": group.key, "name": group.name, "name_en": group.name_en,
            "kind": group.kind, "active": group.active}


@bp.route("/users", methods=["GET", "POST"])
def users() -> Any:
    status = 200
    if request.method == "POST":
        try:
            with get_docroute().session() as s:
                organisation.add_user(
                    s, current_actor(), request.form.get("username", ""),
                    request.form.get("name", ""), request.form.get("password", ""),
                    reason=request.form.get("reason", ""),
                    groups=request.form.getlist("groups"),
                    clearance=request.form.get("clearance", "none"),
                    is_admin=_flag("is_admin"), is_auditor=_flag("is_auditor"),
                    title=request.form.get("title", ""))
            flash(_("Added %(name)s.", name=request.form.get("username", "")), "success")
            return redirect(url_for("admin.users"))
        except (DocrouteError, ValueError) as error:
            flash(str(error), "error")
            status = 422
    with get_docroute().session() as s:
        people = [_user_view(u) for u in organisation.list_users(s)]
        groups = [_group_view(g) for g in organisation.list_groups(s)]
    return render_template("admin/users.html", users=people, groups=groups,
                           clearances=identity.CLEARANCES, form=request.form), status


@bp.route("/users/<username>", methods=["GET", "POST"])
def user(username: str) -> Any:
    status = 200
    if request.method == "POST":
        try:
            with get_docroute().session() as s:
                organisation.update_user(
                    s, current_actor(), username, reason=request.form.get("reason", ""),
                    name=request.form.get("name"), title=request.form.get("title"),
                    email=request.form.get("email"), clearance=request.form.get("clearance"),
                    groups=request.form.getlist("groups"), is_admin=_flag("is_admin"),
                    is_auditor=_flag("is_auditor"),
                    password=request.form.get("password") or None)
            flash(_("Saved %(name)s.", name=username), "success")
            return redirect(url_for("admin.user", username=username))
        except (DocrouteError, ValueError) as error:
            flash(str(error), "error")
            status = 422
    with get_docroute().session() as s:
        person = _user_view(identity.get_user(s, username))
        groups = [_group_view(g) for g in organisation.list_groups(s)]
        others = [_user_view(u) for u in organisation.active_users(s) if u.username != username]
        open_tasks = [{"id": t.id, "name": t.name, "title": t.title, "instance_id": t.instance_id,
                       "groups": list(t.candidate_groups or [])}
                      for t in records.assigned_tasks(s, username)]
    return render_template("admin/user.html", user=person, groups=groups, others=others,
                           open_tasks=open_tasks, clearances=identity.CLEARANCES), status


@bp.post("/users/<username>/deactivate")
def user_deactivate(username: str) -> Any:
    try:
        with get_docroute().session() as s:
            handed = admin.deactivate_user(s, current_actor(), username,
                                           request.form.get("reason", ""),
                                           successor=request.form.get("successor") or None)
        flash(_("Deactivated %(name)s; %(count)s open task(s) were handed over.",
                name=username, count=len(handed)), "success")
    except DocrouteError as error:
        flash(str(error), "error")
    return redirect(url_for("admin.user", username=username))


@bp.post("/users/<username>/reactivate")
def user_reactivate(username: str) -> Any:
    try:
        with get_docroute().session() as s:
            organisation.reactivate_user(s, current_actor(), username,
                                         request.form.get("reason", ""))
        flash(_("Reactivated %(name)s.", name=username), "success")
    except DocrouteError as error:
        flash(str(error), "error")
    return redirect(url_for("admin.user", username=username))


@bp.route("/groups", methods=["GET", "POST"])
def groups() -> Any:
    status = 200
    if request.method == "POST":
        try:
            with get_docroute().session() as s:
                organisation.add_group(s, current_actor(), request.form.get("key", ""),
                                       request.form.get("name", ""),
                                       reason=request.form.get("reason", ""),
                                       name_en=request.form.get("name_en", ""),
                                       kind=request.form.get("kind", "department"))
            flash(_("Added %(name)s.", name=request.form.get("key", "")), "success")
            return redirect(url_for("admin.groups"))
        except DocrouteError as error:
            flash(str(error), "error")
            status = 422
    with get_docroute().session() as s:
        rows = []
        for group in organisation.list_groups(s):
            view = _group_view(group)
            view["members"] = len([u for u in group.members if u.active])
            rows.append(view)
    return render_template("admin/groups.html", groups=rows, form=request.form), status


@bp.route("/groups/<key>", methods=["GET", "POST"])
def group(key: str) -> Any:
    status = 200
    if request.method == "POST":
        try:
            with get_docroute().session() as s:
                action = request.form.get("action", "save")
                reason = request.form.get("reason", "")
                if action in ("deactivate", "reactivate"):
                    organisation.set_group_active(s, current_actor(), key,
                                                  action == "reactivate", reason)
                else:
                    organisation.update_group(s, current_actor(), key, reason=reason,
                                              name=request.form.get("name"),
                                              name_en=request.form.get("name_en"),
                                              kind=request.form.get("kind"))
            flash(_("Saved %(name)s.", name=key), "success")
            return redirect(url_for("admin.group", key=key))
        except DocrouteError as error:
            flash(str(error), "error")
            status = 422
    with get_docroute().session() as s:
        found = identity.get_group(s, key)
        view = _group_view(found)
        members = [_user_view(u) for u in found.members]
    return render_template("admin/group.html", group=view, members=members), status
