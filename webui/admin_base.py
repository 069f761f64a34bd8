"""The admin blueprint and what every admin page shares: the gate, labels, uploads.

A leaf module: the admin page modules (``admin``, ``admin_forms``, ``admin_org``,
``admin_cases``, ``admin_calendar``, ``admin_authority``, ``admin_targets``) import it, it
imports none of them, and ``create_app`` imports each page module once, by name.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    request,
)
from flask_babel import gettext as _

from . import get_docroute, views
from .auth import current_actor

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
def _administrators_only() -> None:
    if not current_actor().is_admin:
        abort(403)


@bp.app_context_processor
def _labels() -> dict[str, Any]:
    return {"clearance_label": clearance_label, "status_label": status_label,
            "basis_label": basis_label, "target_label": target_label}


def target_label(target: Any) -> str:
    if target.unit == "hours":
        return _("%(n)s hours", n=target.amount)
    return _("%(n)s working days", n=target.amount)


def basis_label(basis: str) -> str:
    labels = {"official": _("official"), "provisional": _("provisional"),
              "missing": _("missing")}
    return labels.get(basis, basis)


def clearance_label(name: str) -> str:
    labels = {"none": _("none"), "confidential": _("confidential (秘密)"),
              "secret": _("secret (机密)"), "top_secret": _("top secret (绝密)")}
    return labels.get(name, name)


def status_label(status: str) -> str:
    """A case status in the office's one glossary (views.STATUS), as on every other page."""
    return views.status_label(status)


def max_upload() -> int:
    return get_docroute().settings.max_diagram_bytes


def too_large_message(size: int | None = None) -> str:
    limit = max_upload() / (1024 * 1024)
    return _("The file is larger than %(limit).0f MB, the limit for diagrams and forms; "
             "nothing was read or deployed.", limit=limit)


def read_upload(field: str = "file") -> tuple[str, bytes] | None:
    """(file name, bytes) of an uploaded file, or None after flashing why not.

    Reads at most the limit plus one byte, so an oversized file is refused before any
    parsing.
    """
    upload = request.files.get(field)
    if upload is None or not upload.filename:
        flash(_("Choose a file to upload."), "error")
        return None
    data = upload.stream.read(max_upload() + 1)
    if len(data) > max_upload():
        flash(too_large_message(), "error")
        return None
    return PurePath(upload.filename).name, data
