"""docroute's web UI and JSON API: a Flask app factory and one blueprint per area."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask
    from flask_babel import Babel
    from flask_limiter import Limiter
    from flask_wtf.csrf import CSRFProtect

    from engine import Docroute

    csrf: CSRFProtect
    limiter: Limiter
    babel: Babel

LANGUAGES = ("zh", "en")
_EXTENSIONS: dict[str, Any] = {}


def __getattr__(name: str) -> Any:
    """``csrf``, ``limiter`` and ``babel``, made on first use: the command line imports
    this package and must not load Flask to print its help (tests/test_cli_startup.py)."""
    if name not in ("csrf", "limiter", "babel"):
        raise AttributeError(f"module 'webui' has no attribute {name!r}")
    if not _EXTENSIONS:
        from flask_babel import Babel
        from flask_limiter import Limiter
        from flask_limiter.util import get_remote_address
        from flask_wtf.csrf import CSRFProtect

        _EXTENSIONS.update(csrf=CSRFProtect(), babel=Babel(), limiter=Limiter(
            key_func=get_remote_address, storage_uri="memory://", default_limits=[]))
    return _EXTENSIONS[name]


def create_app(config: dict[str, Any] | None = None, docroute: Docroute | None = None) -> Flask:
    """Build the app: defaults, then DOCROUTE_* environment, then ``config`` (tests)."""
    from flask import Flask

    from engine import Docroute, Settings

    from . import safety

    app = Flask(__name__, instance_relative_config=False)
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=False,
        MAX_CONTENT_LENGTH=None,
        WTF_CSRF_TIME_LIMIT=None,
        BABEL_DEFAULT_LOCALE="zh",
        BABEL_TRANSLATION_DIRECTORIES=str(Path(__file__).parent / "translations"),
        RATELIMIT_ENABLED=True,
    )
    app.config.from_prefixed_env("DOCROUTE")
    if config:
        app.config.update(config)
    if docroute is None:
        docroute = Docroute(Settings.from_env())
    app.extensions["docroute"] = docroute
    settings = docroute.settings
    app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_CONTENT_LENGTH"] or (
        max(settings.max_attachment_bytes, settings.max_diagram_bytes) + 1024 * 1024)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _secret_key(settings.home)

    __getattr__("csrf").init_app(app)
    __getattr__("limiter").init_app(app)
    safety.init_app(app)  # before any route: it installs the id converter
    __getattr__("babel").init_app(app, locale_selector=select_locale)
    _register(app)
    app.after_request(_security_headers)
    return app


def _register(app: Flask) -> None:
    """Every blueprint and its pages, listed once: no module registers itself on import."""
    from . import (
        account,
        admin,
        admin_authority,
        admin_base,
        admin_calendar,
        admin_cases,
        admin_forms,
        admin_org,
        admin_targets,
        api,
        api_base,
        api_delegations,
        api_documents,
        api_links,
        api_reports,
        assets,
        audit,
        auth,
        case_links,
        checkpoints,
        documents,
        errors,
        inbox,
        reports,
        start,
        tasks,
        views,
    )

    # Modules that add pages to a shared blueprint (admin_base.bp, api_base.bp).
    _pages = (admin, admin_authority, admin_calendar, admin_cases, admin_forms, admin_org,
              admin_targets, api, api_delegations, api_documents, api_links, api_reports)
    if any(page.bp not in (admin_base.bp, api_base.bp) for page in _pages):
        raise RuntimeError("an admin or API page module must use the shared blueprint")
    errors.init_app(app)
    auth.init_app(app)
    audit.init_app(app)  # auditors are read-only everywhere (after auth loads the user)
    for blueprint in (auth.bp, inbox.bp, tasks.bp, documents.bp, admin_base.bp, audit.bp,
                      api_base.bp, account.bp, checkpoints.bp):
        app.register_blueprint(blueprint)
    reports.init_app(app)  # KPI pages and the disclosure annual report
    case_links.init_app(app)  # linked cases and 批示 -> 督办 on a case's page
    start.init_app(app)  # cases of the duties that route no registered document
    views.init_app(app)
    assets.init_app(app)  # content-hashed static URLs, cached a year


def _secret_key(home: Path) -> str:
    # Kept in the instance folder so sessions survive restarts; created on first run.
    home.mkdir(parents=True, exist_ok=True)
    path = home / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def select_locale() -> str:
    """The user's chosen language, else the browser's Accept-Language, else Chinese."""
    from flask import g, request, session

    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return chosen
    actor = getattr(g, "actor", None)
    if actor is not None and getattr(g, "user_locale", None) in LANGUAGES:
        return g.user_locale
    return request.accept_languages.best_match(LANGUAGES) or "zh"


def _security_headers(response: Any) -> Any:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    # bpmn-js styles its SVG inline; scripts come only from this origin.
    headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self' data:; object-src 'none'; "
        "frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
    )
    return response


def get_docroute() -> Docroute:
    from flask import current_app

    return current_app.extensions["docroute"]
