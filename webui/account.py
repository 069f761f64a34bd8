"""A person's own API tokens, and every user's tokens for administrators."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine import DocrouteError
from engine.ids import parse_id
from engine.org import identity, tokens

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
