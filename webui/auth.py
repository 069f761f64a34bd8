"""Logging in and out, the current user on every request, and access decorators."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _

from engine import Actor
from engine.org import identity

from . import LANGUAGES, get_docroute, limiter
from .safety import safe_next

bp = Blueprint("auth", __name__)
F = TypeVar("F", bound=Callable[..., Any])
PUBLIC_ENDPOINTS = {"auth.login", "auth.set_language", "static"}


def init_app(app: Flask) -> None:
    app.before_request(_load_actor)


def _load_actor() -> Any:
    g.actor = None
    if request.blueprint == "api" or request.path.startswith("/api/"):
        return None  # the API authenticates with tokens only (and 404s in JSON, no redirect)
    user_id = session.get("user_id")
    if user_id is not None:
        with get_docroute().reading() as s:
            user = identity.session_user(s, user_id, session.get("epoch"))
            if user is not None:
                g.actor = Actor.of(user)
                g.user_locale = user.locale
            else:
                session.clear()
    if g.actor is None and request.endpoint not in PUBLIC_ENDPOINTS:
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    return None


def current_actor() -> Actor:
    actor = g.get("actor")
    if actor is None:
        abort(401)
    return actor


def admin_required(view: F) -> F:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_actor().is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def auditor_required(view: F) -> F:
    """Auditors and administrators."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        actor = current_actor()
        if not (actor.is_auditor or actor.is_admin):
            abort(403)
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def staff_required(view: F) -> F:
    """Anyone who may act on cases: auditors are read-only everywhere."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_actor().is_auditor and not current_actor().is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def _safe_next(target: str | None) -> str:
    return safe_next(target, url_for("inbox.index"))


def _failed(response: Response) -> bool:
    # Only failed attempts count: an office behind one NAT logs in many people a minute.
    return response.status_code == 401


def _account_key() -> str:
    return "login-account:" + request.form.get("username", "").strip().lower()[:64]


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("10 per minute", methods=["POST"], deduct_when=_failed)
@limiter.limit("10 per minute", methods=["POST"], deduct_when=_failed, key_func=_account_key)
def login() -> Any:
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        with get_docroute().session() as s:
            user = identity.authenticate(s, username, password)
            if user is not None:
                session.clear()
                session["user_id"] = user.id
                # Logout, a password reset or deactivation bump the epoch: every copy of
                # this cookie stops working then.
                session["epoch"] = user.session_epoch
                session.permanent = True
                return redirect(_safe_next(request.args.get("next")))
        flash(_("Wrong username or password. After %(count)d failed attempts in a row an "
                "account is locked for %(minutes)d minutes.",
                count=identity.MAX_FAILED_LOGINS, minutes=identity.LOCK_MINUTES), "error")
        return render_template("auth/login.html", username=username), 401
    return render_template("auth/login.html", username="")


@bp.route("/logout", methods=["POST"])
def logout() -> Any:
    lang = session.get("lang")
    actor = g.get("actor")
    if actor is not None:
        with get_docroute().session() as s:
            user = s.get(identity.User, actor.id)
            if user is not None:
                identity.end_sessions(user)
    session.clear()
    if lang:
        session["lang"] = lang
    return redirect(url_for("auth.login"))


@bp.route("/language", methods=["POST"])
def set_language() -> Any:
    lang = request.form.get("lang", "")
    if lang in LANGUAGES:
        session["lang"] = lang
        actor = g.get("actor")
        if actor is not None:
            with get_docroute().session() as s:
                user = s.get(identity.User, actor.id)
                if user is not None:
                    user.locale = lang
    return redirect(_safe_next(request.form.get("next")))
