"""A person's own API tokens and 委托 (delegations for leave), and every user's tokens for
administrators."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine import DocrouteError, definitions
from engine.ids import parse_id
from engine.org import authority, identity, orgchart, tokens

from . import get_docroute
from .auth import admin_required, current_actor

bp = Blueprint("account", __name__)


def _listing(username: str) -> list[tokens.TokenInfo]:
    with get_docroute().session() as s:
        return tokens.list_for(s, username)


@bp.route("/account/tokens", methods=["GET", "POST"])
def my_tokens() -> Any:
    actor = current_actor()
    created = None
    status = 200
    if request.method == "POST":
        days = request.form.get("expires_days", "").strip()
        try:
            expires = int(days) if days else None
        except ValueError:
            expires = 0  # refused below with the engine's sentence
        try:
            with get_docroute().session() as s:
                created = identity.create_token(s, actor.username,
                                                name=request.form.get("name", ""),
                                                expires_days=expires)
        except DocrouteError as error:
            flash(str(error), "error")
            status = 422
    return render_template("account/tokens.html", owner=actor.username, own=True,
                           tokens=_listing(actor.username), created=created), status


@bp.route("/admin/users/<username>/tokens")
@admin_required
def user_tokens(username: str) -> Any:
    return render_template("account/tokens.html", owner=username, own=False,
                           tokens=_listing(username), created=None)


@bp.post("/account/tokens/revoke")
def revoke() -> Any:
    actor = current_actor()
    token_id = parse_id(request.form.get("id", ""))
    try:
        if token_id is None:
            raise DocrouteError(_("Choose a token to revoke."))
        with get_docroute().session() as s:
            info = tokens.revoke(s, actor, token_id)
        flash(_("Revoked the token “%(name)s”.", name=info.name or info.id), "success")
        owner = info.username
    except DocrouteError as error:
        flash(str(error), "error")
        owner = actor.username
    if owner != actor.username:
        return redirect(url_for("account.user_tokens", username=owner))
    return redirect(url_for("account.my_tokens"))


# --- 委托: a person records their own delegation for leave ---------------------------------


def _day(name: str) -> date:
    try:
        return date.fromisoformat(request.form.get(name, ""))
    except ValueError:
        raise DocrouteError(_("Give the dates as YYYY-MM-DD.")) from None


def _delegation_view(username: str) -> dict[str, Any]:
    with get_docroute().session() as s:
        me = identity.get_user(s, username)
        candidates = [{"username": u.username, "name": u.name}
                      for u in authority.delegates(s, me)]
        rows = orgchart.delegations_of(s, username)
        names = {u.username: u.name for u in identity.list_users(s)}
        # Administrators and auditors hold no tasks, so have nothing to delegate.
        staff = any(group.active for group in me.groups)
        return {"candidates": candidates if staff else [], "staff": staff, "names": names,
                "processes": definitions.latest_names(s),
                "delegations": [{"id": d.id, "from_user": d.from_user, "to_user": d.to_user,
                                 "starts_on": d.starts_on, "ends_on": d.ends_on,
                                 "scope": d.scope or [], "reason": d.reason,
                                 "created_by": d.created_by, "created_at": d.created_at,
                                 "ended_at": d.revoked_at} for d in rows]}


@bp.route("/account/delegations", methods=["GET", "POST"])
def my_delegations() -> Any:
    actor = current_actor()
    status = 200
    if request.method == "POST":
        try:
            with get_docroute().session() as s:
                if request.form.get("action") == "end":
                    orgchart.revoke_delegation(s, actor, parse_id(request.form.get("id", ""))
                                               or 0, reason=request.form.get("reason", ""))
                else:
                    orgchart.add_delegation(s, actor, actor.username,
                                            request.form.get("to_user", ""),
                                            starts_on=_day("starts_on"),
                                            ends_on=_day("ends_on"),
                                            scope=request.form.getlist("scope"),
                                            reason=request.form.get("reason", ""))
            flash(_("Saved. The change is recorded with its reason."), "success")
            return redirect(url_for("account.my_delegations"))
        except DocrouteError as error:
            flash(str(error), "error")
            status = 422
    return render_template("account/delegations.html", form=request.form,
                           **_delegation_view(actor.username)), status
